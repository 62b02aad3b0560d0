#!/bin/sh
# The audit log: each change to the indicator store (claw ioc add, import,
# revoke; clawd's feeds go the same way) leaves one record, written in the
# change's own transaction; `claw audit log` reads them back, and `claw
# audit verify` checks the hash chain from the first record to the head.
# Then the store is tampered with directly through LMDB (audit-tamper: an
# edited, removed, swapped or inserted record, the last one cut off), each
# on a fresh copy, and verify must fail naming the first bad record.
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
TAMPER="$builddir/tests/archive/audit-tamper"
A="$tmp/archive"
printf '[archive]\npath = %s\n' "$A" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
me=$(id -un)

# --- records, one per change ---------------------------------------------------
claw audit verify > /dev/null 2> "$tmp/err"; rc=$?
check "no archive: verify says so (66)" sh -c "[ $rc = 66 ] && grep -q 'no archive' '$tmp/err'"
claw import --quiet "$srcdir/tests/fixtures/plain.eml" > /dev/null
claw audit verify > "$tmp/out"; rc=$?
check "an archive with no record yet: intact, 0 records (exit 0)" \
    sh -c "[ $rc = 0 ] && grep -q 'intact, 0 records' '$tmp/out'"
claw ioc add --reason "kit" evil.example 198.51.100.7 > /dev/null
claw ioc add --reason "kit 2" evil.example > /dev/null
printf 'url:http://a.example/x\nurl:http://b.example/y\n' > "$tmp/list.txt"
claw ioc import "$tmp/list.txt" > /dev/null
claw ioc revoke evil.example > /dev/null
claw ioc add --action tag other.example > /dev/null
# What changes nothing leaves no record: the same again, a second revoke, a
# refused value.
claw ioc import "$tmp/list.txt" > /dev/null
claw ioc revoke evil.example > /dev/null 2>&1
claw ioc add 'sha256:xyz' > /dev/null 2>&1
claw audit log > "$tmp/log"
check "five changes, five records, in order (none for what changed nothing)" \
    [ "$(cut -f1,4 "$tmp/log" | tr '\t\n' ': ')" = "1:ioc.put 2:ioc.put 3:ioc.put 4:ioc.revoke 5:ioc.put " ]
check "...each with who did it" [ "$(cut -f3 "$tmp/log" | sort -u)" = "$me" ]
check "...what was asked and what came of it" \
    sh -c "sed -n 1p '$tmp/log' | grep -q 'indicators=2 source=cli first=domain:evil.example	added=2 updated=0' &&
           sed -n 2p '$tmp/log' | grep -q 'added=0 updated=1' &&
           sed -n 3p '$tmp/log' | grep -q 'source=file:$tmp/list.txt' &&
           sed -n 4p '$tmp/log' | grep -q 'id=1 domain:evil.example	revoked$'"
claw audit log --json > "$tmp/log.json"
check "--json: one object a line, each naming the hash before it" "$py" -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["seq"] for r in rs] == [1, 2, 3, 4, 5]
assert rs[0]["prev"] == "0" * 64
assert all(rs[i]["prev"] == rs[i - 1]["hash"] for i in range(1, 5))
assert rs[3]["action"] == "ioc.revoke" and rs[3]["args"] == "id=1 domain:evil.example"' "$tmp/log.json"
check "--from 4 --limit 1: record 4 alone" [ "$(claw audit log --from 4 --limit 1 | cut -f1)" = 4 ]
claw audit log --limit 0 > /dev/null 2>&1; rc=$?
check "--limit 0: a usage error (64)" [ $rc = 64 ]
claw audit verify --json > "$tmp/v.json"; rc=$?
check "verify: intact, 5 records, the head is the last record's hash (exit 0)" \
    sh -c "[ $rc = 0 ] && [ \"\$('$py' -c 'import json, sys; v = json.load(open(sys.argv[1])); print(v[\"ok\"], v[\"records\"], v[\"head\"])' '$tmp/v.json')\" = \"True 5 \$(tail -1 '$tmp/log.json' | '$py' -c 'import json, sys; print(json.load(sys.stdin)[\"hash\"])')\" ]"

# --- tampered with ------------------------------------------------------------------
# tampered NAME OP ARGS... -> EXPECT-FIRST-BAD: a fresh copy, tampered, verified.
tampered() {
    rm -rf "$tmp/t"
    cp -a "$A" "$tmp/t"
    want=$1
    shift
    if ! "$TAMPER" "$tmp/t/store" "$@"; then
        fail "audit-tamper $*"
        return
    fi
    "$CLAW" --config /dev/null --archive "$tmp/t" audit verify --json > "$tmp/tv.json"; trc=$?
    got=$("$py" -c 'import json, sys; v = json.load(open(sys.argv[1])); print(v["ok"], v.get("first_bad"), v.get("why"))' "$tmp/tv.json")
    check "tampered ($*): verify fails (exit 1) naming record $want first: $got" \
        sh -c "[ $trc = 1 ] && [ '${got%% *}' = False ] && [ \"\$(echo '$got' | cut -d' ' -f2)\" = $want ]"
}
tampered 2 edit 2
tampered 5 edit 5
tampered 3 delete 3
tampered 2 swap 2 4
tampered 3 insert 3
tampered 5 truncate
claw audit verify > /dev/null; rc=$?
check "...and the untouched archive still verifies" [ $rc = 0 ]

# --- many writers at once keep the chain ------------------------------------------
for i in 1 2 3 4 5 6; do claw ioc add "par-$i.example" > /dev/null & done
wait
claw audit verify > "$tmp/out"; rc=$?
check "6 claw ioc add at once: 11 records, the chain intact" \
    sh -c "[ $rc = 0 ] && grep -q 'intact, 11 records' '$tmp/out'"
claw hunt par-1.example > /dev/null
check "a hunt kept is recorded with its indicator and what it found" \
    sh -c "'$CLAW' --config '$tmp/c.conf' audit log --from 12 | grep -q '^12	.*	$me	hunt	indicator=[0-9]* domain:par-1.example	hunt=1 matches=0$'"

# --- clawd: its hunts recorded, the head written to its log ----------------------
. "$srcdir/tests/tools/daemon-lib.sh"
: "${CLAWD:=$builddir/indexer/clawd}"
printf '[clawd]\nsocket = %s\n' "$tmp/clawd.sock" >> "$tmp/c.conf"
head_now() { "$py" -c 'import json, sys; v = json.load(sys.stdin); print("records=%d hash=%s" % (v["records"], v["head"]))'; }
h=$(claw audit verify --json | head_now)
if clawd_start "$tmp/c.conf" "$tmp/clawd.sock"; then
    check "clawd writes the head to its log when it starts ($h)" grep -q "audit head: $h at=start" "$tmp/clawd.log"
    claw ioc add late.example > /dev/null
    end=$(( $(date +%s) + 15 ))
    until claw audit log | grep -q '	clawd	hunt	.*late.example' || [ "$(date +%s)" -gt "$end" ]; do sleep 0.2; done
    check "clawd's own hunt of a new indicator is recorded, as clawd" \
        sh -c "'$CLAW' --config '$tmp/c.conf' audit log | grep -q '	clawd	hunt	indicator=[0-9]* domain:late.example	'"
    h=$(claw audit verify --json | head_now)
    kill -TERM $pid
    wait $pid
    check "...and the head again when it stops ($h)" grep -q "audit head: $h at=stop" "$tmp/clawd.log"
    check "the chain still intact" "$CLAW" --config "$tmp/c.conf" audit verify
else
    fail "clawd starts"
fi

[ "$n_fail" -eq 0 ]
