#!/bin/sh
# clawd's memory under hostile LMTP clients stays under a bound, and a DATA
# ended by a bare LF is answered at once. Each client (tests/tools/lmtp-hostile.py)
# samples clawd's VmRSS every 20 ms while it runs:
#   - 60 MB of pipelined commands (VRFY: 39 bytes back for 8) whose replies
#     are not read (clawd stops reading while 64 KiB of replies wait);
#   - six sessions each sending 64 MB of a DATA they do not end, then end
#     (the [clawd] memory_budget of 96m: those it cannot hold are told 452);
#   - one 90 MB message (received into one buffer, handed on without a copy);
#   - a session holding the whole budget: another's DATA is told 452 until
#     it ends, then goes through;
#   - a message sent one byte a write: stored exactly as before (the DATA
#     reader keeps its state between reads);
#   - "\n.\n" and its mixed forms: 554 and the session closed, at once.
# Before the bound, this test saw clawd at 341 MiB (pipelining), 679 MiB
# (unfinished DATAs), 357 MiB (the 90 MB message) and 378 MiB (the spent
# budget), and each bare-LF DATA waited for the idle timeout.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
hostile="$py $srcdir/tests/tools/lmtp-hostile.py"
A="$tmp/archive"
sock="$tmp/clawd.sock"
bound_kb=262144 # 256 MiB
cat > "$tmp/clawd.conf" <<EOF
[log]
level = notice
[archive]
path = $A
threads = 2
[clawd]
socket = $sock
memory_budget = 96m
EOF
pid=
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
json() { # json FILE EXPRESSION: EXPRESSION over the JSON object j in FILE
    "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
under_bound() { # under_bound FILE: the peak RSS the client saw is under the bound
    peak=$(json "$1" 'j["peak_rss_kb"]')
    echo "# $(json "$1" 'j["mode"]'): clawd peaked at $((peak / 1024)) MiB" >&2
    [ "$peak" -gt 0 ] && [ "$peak" -lt $bound_kb ]
}
# Under ASan (tests/sanitize.sh) memory is the sanitizer's: the protocol
# is checked, the bound is not.
rss_check() { # rss_check NAME FILE
    if [ -n "$CLAW_SANITIZED" ]; then skip "$1" "RSS under a sanitizer"; else check "$1" under_bound "$2"; fi
}

check "clawd starts" clawd_start "$tmp/clawd.conf" "$sock"

# --- replies nobody reads ---------------------------------------------------
$hostile --socket "$sock" --pid $pid pipeline 60 > "$tmp/pipeline" 2>&1
check "pipelining without reading: clawd stops reading (under 8 MB taken before the client read)" \
    [ "$(json "$tmp/pipeline" 'j["sent_before_reading"] < 8 << 20')" = True ]
check "...then every one of the commands is answered once the client reads" \
    [ "$(json "$tmp/pipeline" 'j["replies"] == j["commands"] and j["sent"] == 60 << 20')" = True ]
rss_check "...and clawd stayed under 256 MiB" "$tmp/pipeline"

# --- DATA that does not end ---------------------------------------------------
$hostile --socket "$sock" --pid $pid unfinished 6 64 > "$tmp/unfinished" 2>&1
check "six unfinished 64 MB DATAs, then ended: each told 250 or 452 4.3.1" \
    [ "$(json "$tmp/unfinished" 'all(r in ("250 2.0.0", "452 4.3.1") for r in j["replies"])')" = True ]
check "...the budget refused some (452)" \
    [ "$(json "$tmp/unfinished" 'sum(r.startswith("452") for r in j["replies"])')" -ge 1 ]
rss_check "...and clawd stayed under 256 MiB" "$tmp/unfinished"

# --- one large message ---------------------------------------------------------
$hostile --socket "$sock" --pid $pid large 90 > "$tmp/large" 2>&1
check "a 90 MB message is stored (250)" [ "$(json "$tmp/large" 'j["reply"][:3]')" = 250 ]
rss_check "...and clawd stayed under 256 MiB" "$tmp/large"

# --- the budget spent -----------------------------------------------------------
$hostile --socket "$sock" --pid $pid spent 96 > "$tmp/spent" 2>&1
check "while one session holds the budget, another's DATA is told 452 4.3.1" \
    [ "$(json "$tmp/spent" 'j["other_data"][:9]')" = "452 4.3.1" ]
check "...the one holding it stores its message (250)" [ "$(json "$tmp/spent" 'j["hog"][:3]')" = 250 ]
check "...and the other's DATA goes through after it (354, 250)" \
    [ "$(json "$tmp/spent" 'j["other_again"] + j["other"][:3]')" = 354250 ]
rss_check "...and clawd stayed under 256 MiB" "$tmp/spent"

# --- the DATA reader, one byte at a time ----------------------------------------
$hostile --socket "$sock" --pid $pid trickle > "$tmp/trickle" 2>&1
id=$(json "$tmp/trickle" 'j["id"]')
check "a message sent one byte a write is stored (250)" [ -n "$id" ]
"$CLAW" --config "$tmp/clawd.conf" show --raw "$id" > "$tmp/trickle.raw" 2>&1
printf 'Subject: trickle\nMessage-ID: <trickle@hostile.example>\n\n.one dot\n..two dots\nbare\rCR\nCR CR LF\r\n\r\n.\nend\n' \
    > "$tmp/trickle.expected"
check "...as sent: doubled dots made single, CRLF made LF, bare CRs kept" \
    cmp -s "$tmp/trickle.raw" "$tmp/trickle.expected"

# --- a DATA ended by a bare LF --------------------------------------------------
for end in LF.LF CRLF.LF LF.CRLF; do
    tail=$(echo "$end" | sed 's/CR/\\r/g; s/LF/\\n/g')
    $hostile --socket "$sock" --pid $pid --timeout 10 bare-lf "b'$tail'" > "$tmp/bare" 2>&1
    check "DATA ended by $end: 554 within 2 s, not the idle timeout" \
        [ "$(json "$tmp/bare" 'j.get("reply", "")[:3] == "554" and j["seconds"] < 2')" = True ]
    check "...and the session closed: what follows is not read as commands" \
        [ "$(json "$tmp/bare" 'j.get("reply", "")[:3] == "554" and j["then"][:3] in ("421", "clo")')" = True ]
done
$hostile --socket "$sock" --pid $pid bare-lf "b'\r\n.\r\n'" > "$tmp/bare" 2>&1
check "bare LFs inside a message ended by CRLF.CRLF: stored as before (250)" \
    [ "$(json "$tmp/bare" 'j["reply"][:3] + j["then"][:3]')" = 250250 ]

# --- afterwards -------------------------------------------------------------------
"$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$sock" --generate 3 > "$tmp/after" 2>&1
check "afterwards ordinary mail is stored (the budget was given back)" grep -q '"250": 3' "$tmp/after"
hwm=$(awk '$1 == "VmHWM:" { print $2 }' /proc/$pid/status)
echo "# clawd's VmHWM over the whole test: $((hwm / 1024)) MiB" >&2
if [ -n "$CLAW_SANITIZED" ]; then
    skip "clawd's peak RSS over the whole test (VmHWM) is under 256 MiB" "RSS under a sanitizer"
else
    check "clawd's peak RSS over the whole test (VmHWM) is under 256 MiB" [ "$hwm" -lt $bound_kb ]
fi
kill -TERM $pid
wait $pid
check "clawd exits 0 on TERM" [ $? -eq 0 ]
check "no crash or sanitizer report in the log" sh -c "! grep -Eq 'ERROR: |runtime error|Segmentation' '$tmp/clawd.log'"
[ "$n_fail" -eq 0 ]
