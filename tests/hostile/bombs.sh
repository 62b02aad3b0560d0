#!/bin/sh
# Synthetic bombs (tests/hostile/make-bombs.py): each must come back promptly, in
# bounded memory, with its anomaly code and without a crash.
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
"$py" "$srcdir/tests/hostile/make-bombs.py" "$tmp/bombs" || { fail "make the bombs"; exit 1; }

# Memory is only meaningful without sanitizers (their shadow memory is large).
# Under the sanitizers (5-10x slower, on a loaded machine) the deadline is
# out of reach and not what that run looks for: memory errors are.
if [ -n "${CLAW_SANITIZED:-}" ]; then mem="" san="--sanitized --set limits.max_time=30s"; else mem="--max-rss-mb 400" san=""; fi

bomb() { # bomb FILE CODE...
    f="$1"; shift
    "$py" "$srcdir/tests/hostile/sweep.py" --claw "$CLAW" --label "bomb $f" --max-seconds 30 \
        $mem $san --expect "$@" -- "$tmp/bombs/$f"
}
bomb nesting-10000.eml LIMIT_PARTS LIMIT_DEPTH GMIME_NESTING_OVERFLOW
bomb parts-100000.eml LIMIT_PARTS
# Expanding up to the 512 MiB archive budget takes about the 2 s deadline on
# this hardware, so either limit may be the one that stops it.
bomb zip-recursive.eml "LIMIT_ARCHIVE_BYTES|LIMIT_TIME"
bomb zip-overlap.eml ZIP_OVERLAPPING_ENTRIES
bomb base64-line-50mb.eml LONG_LINE
bomb headers-100000.eml LIMIT_HEADER_BYTES
bomb nul-bare-cr.eml NUL_BYTES BARE_CR
bomb encoded-crlf.eml HEADER_CONTROL_CHARS

# Inputs that once crashed (found by fuzzing): still one line each, no crash.
"$py" "$srcdir/tests/hostile/sweep.py" --claw "$CLAW" --label "saved crash inputs (tests/hostile/regressions)" \
    --max-seconds 60 $mem $san -- "$srcdir/tests/hostile/regressions"

# Nothing from a message may start a line of its own in either output form.
"$CLAW" scan --json "$tmp/bombs/encoded-crlf.eml" > "$tmp/json"
check "encoded CR/LF: JSON stays one line" [ "$(wc -l < "$tmp/json")" -eq 1 ]
"$CLAW" scan "$tmp/bombs/encoded-crlf.eml" > "$tmp/text"
if grep -qE '^(X-Injected|Bcc|From):' "$tmp/text" || grep -q "$(printf '\r')" "$tmp/text" ||
   grep -q "$(printf '\033')" "$tmp/text"; then
    fail "encoded CR/LF/ESC: summary has an injected line or raw control"
else
    ok "encoded CR/LF/ESC: summary has no injected line or raw control"
fi
# A tight deadline: the message is unscannable, never silently clean.
"$CLAW" scan --json --set limits.max_time=1ms "$tmp/bombs/zip-recursive.eml" > "$tmp/out"
check "deadline overrun: LIMIT_TIME and unscannable" \
    sh -c "grep -q '\"code\":\"LIMIT_TIME\"' '$tmp/out' && grep -q '\"unscannable\":true' '$tmp/out'"
# Each limit alone: the deadline is set out of reach, so that on a loaded
# machine the time limit cannot stop the message before the one tested.
"$CLAW" scan --json --set limits.max_time=600s --set limits.max_decoded_bytes=1m "$tmp/bombs/base64-line-50mb.eml" > "$tmp/out"
check "decoded-bytes limit: LIMIT_DECODED_BYTES" grep -q '"code":"LIMIT_DECODED_BYTES"' "$tmp/out"
"$CLAW" scan --json --set limits.max_time=600s --set limits.max_message_bytes=1m "$tmp/bombs/base64-line-50mb.eml" > "$tmp/out"
check "message-size limit: LIMIT_MESSAGE_BYTES" grep -q '"code":"LIMIT_MESSAGE_BYTES"' "$tmp/out"
"$CLAW" scan --json --set limits.max_time=600s --set limits.max_archive_members=5 "$tmp/bombs/zip-recursive.eml" > "$tmp/out"
check "archive-member limit: LIMIT_ARCHIVE_MEMBERS" grep -q '"code":"LIMIT_ARCHIVE_MEMBERS"' "$tmp/out"
[ "$n_fail" -eq 0 ]
