#!/bin/sh
# claw hunt --rules: the current rules over old mail. The sample messages
# are archived under the default rules; then indicators the store publishes
# for the engine make some of them worse, and the run must list exactly
# those, with the rules that fire now; --since and --query narrow it, and
# an interrupted run resumes where it stopped.
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
A="$tmp/archive"
printf '[archive]\npath = %s\n' "$A" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
claw import --quiet "$srcdir/tests/fixtures" > /dev/null
n=$(claw search --count 'date:1970..')

claw hunt --rules > "$tmp/out" 2> "$tmp/err"; rc=$?
check "under the rules they were judged by: none worse, exit 1, all $n judged" \
    sh -c "[ $rc = 1 ] && [ ! -s '$tmp/out' ] && grep -q '^$n judged again, 0 would now be worse' '$tmp/err'"

# Three accepted messages' senders become blocking indicators.
claw ioc add sender:alerts@billing.example.com sender:alice@corp.example sender:list@lists.example.org > /dev/null
claw hunt --rules --json > "$tmp/out.jsonl" 2> "$tmp/err"; rc=$?
got=$("$py" -c '
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(j["from"], j["action"], j["now"]["action"], ",".join(r["rule"] for r in j["now"]["rules"]))' "$tmp/out.jsonl" | sort)
check "with indicators on three senders: exactly those three listed, accept -> reject by SENDER_IOC" \
    [ "$rc $got" = "0 alerts@billing.example.com accept reject SENDER_IOC
alice@corp.example accept reject SENDER_IOC
list@lists.example.org accept reject SENDER_IOC" ]
claw hunt --rules > "$tmp/out" 2> /dev/null
check "...the table marks the rule as new to the message" grep -q 'SENDER_IOC \[new\]' "$tmp/out"
claw hunt --rules --query 'from:alice@corp.example' --json > "$tmp/q.jsonl" 2> "$tmp/err"
check "--query narrows it to what the search finds" \
    sh -c "[ \$(wc -l < '$tmp/q.jsonl') = 1 ] && grep -q '^1 judged again, 1 would' '$tmp/err'"
claw hunt --rules --since 2099-01-01 > /dev/null 2> "$tmp/err"; rc=$?
check "--since a date after them all: none judged, exit 1" \
    sh -c "[ $rc = 1 ] && grep -q '^0 judged again' '$tmp/err'"
claw hunt --rules --since 'last tuesday' > /dev/null 2> "$tmp/err"; rc=$?
check "--since that is not a date: a usage error" [ $rc = 64 ]

# A run in parts: --batch stops it, --resume goes on where it stopped.
claw hunt --rules --batch 3 > "$tmp/part1" 2> "$tmp/err1"
claw hunt --rules --resume --batch 3 > "$tmp/part2" 2> "$tmp/err2"
claw hunt --rules --resume > "$tmp/part3" 2> "$tmp/err3"
check "--batch 3 judges 3 and says how to go on" \
    sh -c "grep -q '^3 judged again' '$tmp/err1' && grep -q 'stopped after message .*--resume' '$tmp/err1'"
check "...--resume goes on from there: 3, then the last $((n - 6)), the three worse ones each listed once" \
    sh -c "grep -q 'resuming after message' '$tmp/err2' && grep -q '^3 judged again' '$tmp/err2' &&
           grep -q '^$((n - 6)) judged again' '$tmp/err3' &&
           [ \$(cat '$tmp/part1' '$tmp/part2' '$tmp/part3' | grep -c ' -> reject') = 3 ]"
claw hunt --rules --resume > "$tmp/none" 2> "$tmp/err"
check "...and once done, has nothing left to judge" grep -q '^0 judged again' "$tmp/err"
printf '[archive]\npath = %s\n[policy]\nvip_names = Someone Else\n' "$A" > "$tmp/c2.conf"
"$CLAW" --config "$tmp/c2.conf" hunt --rules --resume > /dev/null 2> "$tmp/err"
check "another configuration starts over" grep -q 'nothing to resume for this configuration' "$tmp/err"
claw audit log > "$tmp/audit"
check "each run is in the audit log with its options and what came of it" \
    sh -c "grep -q '	hunt.rules	since=- query=from:alice@corp.example batch=0 resume=no	judged=1 worse=1 failed=0 to_go=0$' '$tmp/audit' &&
           [ \$(grep -c '	hunt.rules	' '$tmp/audit') -ge 5 ]"
check "...the chain intact" "$CLAW" --config "$tmp/c.conf" audit verify
echo "# $n_fail failed"
[ "$n_fail" = 0 ]
