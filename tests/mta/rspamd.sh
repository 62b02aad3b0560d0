#!/bin/sh
# The rspamd module (plugin/rspamd/) inside a real rspamd 3.4 with its stock
# rules (tests/mta/rspamd-lib.sh: foreground, loopback, DNS answered NXDOMAIN by a
# local stub). Messages go to /checkv2; the answer's symbols, action and
# milter headers are checked against `claw scan` on the same files.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/rspamd-lib.sh"
fx="$srcdir/tests/fixtures"
py="${PYTHON3:-python3}"

if [ "$(id -u)" -ne 0 ] || ! command -v rspamd > /dev/null; then
    skip "rspamd module" "needs root and rspamd (apt-get install rspamd)"
    exit 0
fi
trap 'rspamd_stop; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
# One DNS stub for rspamd and for the module's DMARC lookups ($DMARC_CONF).
dns_stub_start

# What _rspamd reads: the library, the module, both configurations.
install -m 644 "${CLAW_LIB:-$builddir/lib/.libs/libclaw.so}" "$tmp/libclaw.so"
# Weights of the site's own: rspamd's symbols must score what Clawback does.
printf '[policy]\nprotected_domains = corp.example\n[weights]\nREPLY_TO_DIVERTS = 5\nURL_IP_LITERAL = 4.5\n%s\n' \
    "$DMARC_CONF" > "$tmp/clawback.conf"
chmod 644 "$tmp/clawback.conf"

checkv2() { # checkv2 FILE -> the JSON answer in $tmp/answer
    curl -s --data-binary @"$1" "http://127.0.0.1:$RSPAMD_PORT/checkv2" > "$tmp/answer"
}

# The answer against claw scan: "ok" or what differs.
compare() { # compare FILE
    "$CLAW" --config "$tmp/clawback.conf" scan --json "$1" > "$tmp/claw.json"
    "$py" - "$tmp/answer" "$tmp/claw.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
c = json.loads(open(sys.argv[2]).readline())
want = sorted("CLAWBACK_" + r["rule"] for r in c["rules"])
got = sorted(s for s in a.get("symbols", {}) if s.startswith("CLAWBACK_") and s != "CLAWBACK_CHECK")
problems = []
if got != want:
    problems.append("symbols %s, claw scan %s" % (got, want))
def escape(s):  # as claw scan's text form and the module write them
    bad = set(range(0x20)) | {0x7f} | set(range(0x80, 0xa0)) | {0x200e, 0x200f} | \
        set(range(0x2028, 0x202f)) | set(range(0x2066, 0x206a))
    return "".join("\\u%04x" % ord(ch) if ord(ch) in bad else ch for ch in s)
for r in c["rules"]:
    sym = a["symbols"].get("CLAWBACK_" + r["rule"], {})
    opts = sym.get("options", [])
    if escape(r["detail"]) not in opts:
        problems.append("no detail for %s" % r["rule"])
    if abs(sym.get("score", -1) - r["score"]) > 1e-6:
        problems.append("%s scores %s in rspamd, %s in Clawback" % (r["rule"], sym.get("score"), r["score"]))
add = a.get("milter", {}).get("add_headers", {})
if "X-Clawback-Id" not in add or "X-Clawback-Verdict" not in add:
    problems.append("milter headers missing: %s" % sorted(add))
else:
    v = add["X-Clawback-Verdict"]
    v = v["value"] if isinstance(v, dict) else v
    # The module evaluates DMARC (claw scan without an envelope does not);
    # the stub has no record for any From domain.
    if v != "%s; score=%g; dmarc=none" % (c["action"], c["score"]):
        problems.append("X-Clawback-Verdict %r for %s" % (v, c["action"]))
    # libclaw's claw_verdict_rules_header(), through the module's FFI.
    r = add.get("X-Clawback-Rules", "")
    r = r["value"] if isinstance(r, dict) else r
    if r != ", ".join(x["rule"] for x in c["rules"]):
        problems.append("X-Clawback-Rules %r" % r)
if c["action"] == "reject" and a.get("action") != "reject":
    problems.append("rspamd action %s for a Clawback reject" % a.get("action"))
print("ok" if not problems else "; ".join(problems))
EOF
}

rspamd_clawback_dir "$tmp/local" "$tmp/libclaw.so" "$tmp/clawback.conf"
if ! RSPAMD_LOG_LEVEL=info rspamd_start "$tmp/rspamd" "$tmp/local"; then
    fail "rspamd starts with the module"
    exit 1
fi
ok "rspamd starts with the module"
check "the module says it is loaded" grep -q "clawback: libclaw" "$RSPAMD_LOG"

for f in plain.eml html-phish.eml attachments.eml; do
    checkv2 "$fx/$f"
    r=$(compare "$fx/$f")
    check "$f: CLAWBACK_* symbols, details, headers and action match claw scan ($r)" [ "$r" = ok ]
done
checkv2 "$fx/html-phish.eml"
check "html-phish.eml: rspamd's action is reject" grep -q '"action":"reject"' "$tmp/answer"
check "html-phish.eml: [weights] sets the scores: REPLY_TO_DIVERTS 5, doubled for free-mail (10); URL_IP_LITERAL 4.5" \
    "$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))["symbols"]
sys.exit(not (s["CLAWBACK_REPLY_TO_DIVERTS"]["score"] == 10 and s["CLAWBACK_URL_IP_LITERAL"]["score"] == 4.5))' "$tmp/answer"
mkdir -p "$tmp/help"
cp "$srcdir/plugin/rspamd/clawback.lua" "$tmp/help/"
rspamadm confighelp -P "$tmp/help" clawback > "$tmp/help.out" 2>&1
check "rspamadm confighelp clawback documents the module and its options" \
    sh -c "grep -q 'Configuration element: clawback' '$tmp/help.out' && grep -q 'Configuration element: actions' '$tmp/help.out' && grep -q 'weights' '$tmp/help.out'"
check "html-phish.eml: the message names the rule" \
    grep -q '"messages":{"smtp_message":"Rejected by policy: [A-Z_]*:' "$tmp/answer"

{ printf 'X-Clawback-Verdict: accept; score=0\nX-Clawback-Id: FORGED\n'
  cat "$fx/plain.eml"; } > "$tmp/forged.eml"
checkv2 "$tmp/forged.eml"
check "forged X-Clawback-* headers are removed through the milter reply" "$py" -c '
import json, sys
m = json.load(open(sys.argv[1])).get("milter", {})
rm = m.get("remove_headers", {})
sys.exit(0 if "X-Clawback-Id" in rm and "X-Clawback-Verdict" in rm else 1)' "$tmp/answer"

rspamd_stop

# An internal fault: soft reject (the MTA answers 451) with CLAWBACK_FAIL;
# with on_failure = accept, no soft reject. The configuration is read when
# rspamd starts, so each case is its own start.
for policy in defer accept; do
    printf '[mta]\ntest_fault = internal\non_failure = %s\n%s\n' "$policy" "$DMARC_CONF" > "$tmp/clawback.conf"
    chmod 644 "$tmp/clawback.conf"
    if rspamd_start "$tmp/rspamd-$policy" "$tmp/local"; then
        checkv2 "$fx/plain.eml"
        if [ "$policy" = defer ]; then
            check "internal fault: soft reject with CLAWBACK_FAIL" \
                sh -c "grep -q '\"action\":\"soft reject\"' '$tmp/answer' && grep -q CLAWBACK_FAIL '$tmp/answer'"
        else
            check "internal fault, on_failure = accept: CLAWBACK_FAIL, no soft reject" \
                sh -c "! grep -q '\"action\":\"soft reject\"' '$tmp/answer' && grep -q CLAWBACK_FAIL '$tmp/answer'"
        fi
        rspamd_stop
    else
        fail "internal fault ($policy): rspamd starts"
    fi
done
printf '[policy]\nprotected_domains = corp.example\n%s\n' "$DMARC_CONF" > "$tmp/clawback.conf"
rspamd_start "$tmp/rspamd-b" "$tmp/local" || fail "rspamd restarts"

"$py" "$srcdir/tests/hostile/make-bombs.py" "$tmp/bombs" > /dev/null
bad=""
for f in "$tmp"/bombs/*.eml; do
    checkv2 "$f"
    "$py" -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if "action" in a else 1)' \
        "$tmp/answer" 2> /dev/null || bad="$bad $(basename "$f")"
done
check "bombs: an answer for each (${bad:-all answered})" [ -z "$bad" ]
check "bombs: rspamd still running" curl -sf -o /dev/null "http://127.0.0.1:$RSPAMD_PORT/ping"
rspamd_stop

# Without the library the module disables itself, with one clear line.
rspamd_clawback_dir "$tmp/local2" "$tmp/no-such-libclaw.so" "$tmp/clawback.conf"
if rspamd_start "$tmp/rspamd2" "$tmp/local2"; then
    check "missing library: one log line says the module is disabled" \
        [ "$(grep -c 'clawback: cannot load .*module disabled' "$RSPAMD_LOG")" -ge 1 ]
    checkv2 "$fx/html-phish.eml"
    check "missing library: rspamd still scans, without CLAWBACK_ symbols" \
        sh -c "grep -q '\"action\"' '$tmp/answer' && ! grep -q CLAWBACK_ '$tmp/answer'"
    rspamd_stop
else
    fail "missing library: rspamd still starts"
fi
# Nor with a Clawback configuration it cannot read.
rspamd_clawback_dir "$tmp/local3" "$tmp/libclaw.so" "$tmp/no-such.conf"
if rspamd_start "$tmp/rspamd3" "$tmp/local3"; then
    check "missing configuration: the log says so and that the module is disabled" \
        grep -q "clawback: .*no-such.conf.*module disabled" "$RSPAMD_LOG"
    checkv2 "$fx/html-phish.eml"
    check "missing configuration: no CLAWBACK_ symbols" sh -c "! grep -q CLAWBACK_ '$tmp/answer'"
    rspamd_stop
else
    fail "missing configuration: rspamd still starts"
fi
[ "$n_fail" -eq 0 ]
