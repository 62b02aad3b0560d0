#!/bin/sh
# Purge plans on the archive's own copy: the plan (the dry run) and its
# run, quarantine hidden from search and restored (by plan, by id), delete
# leaving a tombstone and the bytes gone from the store (after claw
# compact, from the file too), legal holds keeping mail from deletion,
# two-person approval and expiry, plans that may not run, two runs at
# once, and every step in the audit log.
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
A="$tmp/archive"
printf '[archive]\npath = %s\n[purge]\napproval_threshold = 5\n' "$A" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
lines() { "$py" -c 'import json, sys; j = [json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$1" "$2"; }

mkdir -p "$tmp/md/cur" "$tmp/md/new" "$tmp/md/tmp"
mail() { # mail N FROM SUBJECT
    printf 'From: %s\nTo: staff@corp.example\nSubject: %s\nMessage-ID: <%s@purge.example>\nDate: Mon, 2 Nov 2026 10:%02d:00 +0000\n\nbody %s unique-%s-%s\n' \
        "$2" "$3" "$1" "$1" "$1" "$1" "$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')" > "$tmp/md/cur/$1:2,S"
}
for i in 1 2 3; do mail $i billing@evil.example "invoice $i"; done
mail 4 partner@supplier.example "contract"
mail 5 news@list.example "weekly news"
mail 6 billing@evil.example "invoice held"
claw import --quiet "$tmp/md" > /dev/null
ids() { claw search --ids "$@" 2>/dev/null | sort | tr '\n' ' '; }
evil_ids=$(ids from:billing@evil.example)
check "four messages from billing@evil.example to start with" [ "$(echo $evil_ids | wc -w)" = 4 ]

# --- the plan is the dry run ---------------------------------------------------------
claw purge plan --json --reason "phish wave" from:billing@evil.example > "$tmp/plan.json"; rc=$?
check "plan: exit 0, 4 archive copies planned, state ready" \
    [ "$rc $(field "$tmp/plan.json" '(j["plan"], j["state"], j["copies"], j["by_status"]["planned"], j["by_target"])')" = "0 (1, 'ready', 4, 4, {'archive': 4})" ]
check "plan: the copies listed are the messages the query found" \
    [ "$(field "$tmp/plan.json" '" ".join(sorted(c["id"] for c in j["list"]))') " = "$evil_ids" ]
check "plan: nothing touched (all four still found)" [ "$(ids from:billing@evil.example)" = "$evil_ids" ]

# Mail that arrives after the plan is not in it: the run does the list.
mail 7 billing@evil.example "invoice late"
claw import --quiet "$tmp/md" > /dev/null
claw purge run 1 > "$tmp/run.out"; rc=$?
check "run: exit 0, 4 done" sh -c "[ $rc = 0 ] && grep -q 'done=4' '$tmp/run.out'"
check "run: the quarantined are out of search; the one that came later is not" \
    [ "$(ids from:billing@evil.example | wc -w)" = 1 ]
check "state:quarantined finds the four" [ "$(ids state:quarantined from:billing@evil.example)" = "$evil_ids" ]
one=$(echo $evil_ids | cut -d' ' -f1)
claw show "$one" > "$tmp/show"
check "show: a quarantined message says so, and how to restore it" \
    grep -q "^State:      quarantined by plan 1 (claw restore $one)" "$tmp/show"
claw show --raw "$one" > /dev/null; rc=$?
check "show --raw: a quarantined message is kept whole (0)" [ $rc = 0 ]
before=$(claw audit log | wc -l)
claw purge run 1 > /dev/null; rc=$?
check "a plan run twice: 0, nothing done again (no audit record)" \
    [ "$rc $(claw audit log | wc -l)" = "0 $before" ]

# --- restore ---------------------------------------------------------------------
claw restore "$one" --json > "$tmp/r1.json"; rc=$?
check "restore ID: one copy back (a restore plan of 1, done)" \
    [ "$rc $(field "$tmp/r1.json" '(j["action"], j["state"], j["copies"], j["restores"])')" = "0 ('restore', 'done', 1, 1)" ]
check "restore ID: that message is found again" \
    sh -c "claw() { '$CLAW' --config '$tmp/c.conf' \"\$@\"; }; claw search --ids from:billing@evil.example | grep -qx '$one'"
claw restore 1 > /dev/null; rc=$?
check "restore PLAN: all back, the one restored already counted done" \
    [ "$rc $(ids from:billing@evil.example | wc -w)" = "0 5" ]
claw restore "$one" > /dev/null 2> "$tmp/err"; rc=$?
check "restore of a message not quarantined: 1, says so" \
    sh -c "[ $rc = 1 ] && grep -q 'not quarantined' '$tmp/err'"

# --- approval: over the threshold (5) a second person must approve -----------------
claw purge plan 'from:billing@evil.example OR from:partner@supplier.example OR from:news@list.example' > "$tmp/p2"
big=$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/p2")
check "a plan over approval_threshold awaits approval" grep -q "awaiting-approval" "$tmp/p2"
claw purge run "$big" > /dev/null 2> "$tmp/err"; rc=$?
check "its run is refused (65), says who must act" \
    sh -c "[ $rc = 65 ] && grep -q 'awaits approval by a second person' '$tmp/err'"
claw purge approve "$big" > /dev/null 2> "$tmp/err"; rc=$?
check "its maker cannot approve it (77)" \
    sh -c "[ $rc = 77 ] && grep -q 'a second person must approve it' '$tmp/err'"
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
    chmod -R a+rwX "$tmp"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLAW" --config "$tmp/c.conf" purge approve "$big" > "$tmp/ap" 2>&1; rc=$?
    check "another Unix user approves it (0)" sh -c "[ $rc = 0 ] && grep -q 'approved by nobody' '$tmp/ap'"
    claw purge run "$big" > /dev/null; rc=$?
    check "then it runs (0)" [ "$rc $(ids from:billing@evil.example | wc -w)" = "0 0" ]
    claw restore "$big" > /dev/null
else
    skip "another Unix user approves it" "needs root, setpriv and the user nobody"
    skip "then it runs" "needs root, setpriv and the user nobody"
    claw purge cancel "$big" > /dev/null
fi
printf '[archive]\npath = %s\n[purge]\napproval_threshold = 0\napproval_expiry = 1s\n' "$A" > "$tmp/c2.conf"
"$CLAW" --config "$tmp/c2.conf" purge plan subject:contract > "$tmp/p3"
exp=$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/p3")
sleep 2
"$CLAW" --config "$tmp/c2.conf" purge status "$exp" > "$tmp/st"
"$CLAW" --config "$tmp/c2.conf" purge run "$exp" > /dev/null 2> "$tmp/err"; rc=$?
check "a plan not approved in time expires: its run is refused (65)" \
    sh -c "grep -q ' expired by ' '$tmp/st' && [ $rc = 65 ] && grep -q 'expired: make it again' '$tmp/err'"
"$CLAW" --config "$tmp/c2.conf" purge plan subject:contract > "$tmp/p4"
can=$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/p4")
claw purge cancel "$can" > /dev/null; rc1=$?
claw purge run "$can" > /dev/null 2>&1; rc2=$?
check "a cancelled plan: cancel 0, its run refused (65)" [ "$rc1 $rc2" = "0 65" ]
claw purge run 999 > /dev/null 2>&1; rc=$?
check "a plan that does not exist: 1" [ $rc = 1 ]

# --- two runs at once: the second is refused --------------------------------------
claw purge plan subject:contract > "$tmp/p5"
two=$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/p5")
flock "$A/store/purge.lock" sleep 3 &
lk=$!
sleep 0.5
claw purge run "$two" > /dev/null 2> "$tmp/err"; rc=$?
wait $lk
check "a run while another holds the archive's purge lock: 75, says so" \
    sh -c "[ $rc = 75 ] && grep -q 'being run by another process' '$tmp/err'"
claw purge run "$two" > /dev/null; rc=$?
claw restore "$two" > /dev/null
check "...and once it is free, the run goes (0)" [ $rc = 0 ]

# --- delete: holds, tombstones, the bytes gone --------------------------------------
claw hold add --reason "case 17" keep subject:held > /dev/null
held_id=$(ids subject:held | tr -d ' ')
gone_id=$(ids 'subject:"invoice 2"' | tr -d ' ')
gone_docid=$(claw show --json "$gone_id" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["docid"])')
"$py" "$srcdir/tests/tools/store-bytes.py" save "$A" "$gone_docid" "$tmp/frame"
check "the message to erase: its compressed bytes are in data.mdb" \
    "$py" "$srcdir/tests/tools/store-bytes.py" find "$A" "$tmp/frame"
msgs_before=$(claw stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
claw purge plan --json --action delete from:billing@evil.example > "$tmp/d.json"
del=$(field "$tmp/d.json" 'j["plan"]')
check "delete plan: the held message is shown held, naming its hold" \
    [ "$(field "$tmp/d.json" '[(c["id"], c["status"], c["hold"]) for c in j["list"] if c["status"] == "held"]')" = "[('$held_id', 'held', 'keep')]" ]
claw purge run "$del" > "$tmp/run.out"; rc=$?
check "delete run: 0; four erased, one held" sh -c "[ $rc = 0 ] && grep -q 'done=4 held=1' '$tmp/run.out'"
check "the held message is still there, whole" sh -c "'$CLAW' --config '$tmp/c.conf' show --raw '$held_id' | grep -q 'invoice held'"
claw show "$gone_id" > "$tmp/tomb"; rc=$?
check "show of an erased message: its tombstone (plan, who, the envelope, the hash)" \
    sh -c "[ $rc = 0 ] && grep -q '^State:      erased by plan $del at .* by ' '$tmp/tomb' && grep -q '^SHA-256:    [0-9a-f]\{64\}' '$tmp/tomb' && grep -q '^Message-ID: <*2@purge.example' '$tmp/tomb'"
claw show --raw "$gone_id" > /dev/null 2>&1; rc=$?
check "show --raw of an erased message: not found (66)" [ $rc = 66 ]
check "an erased message is found by no search, not even by state" \
    [ -z "$(ids 'subject:"invoice 2"')$(ids state:quarantined 'subject:"invoice 2"')" ]
msgs_after=$(claw stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
check "stats: four messages fewer" [ $((msgs_before - msgs_after)) = 4 ]
claw check > "$tmp/check"; rc=$?
check "check: the store and index clean after erasure" sh -c "[ $rc = 0 ] && tail -1 '$tmp/check' | grep -qx clean"
check "the erased bytes are gone from the store's live pages" \
    sh -c "! '$py' '$srcdir/tests/tools/store-bytes.py' live '$A' '$tmp/frame'"
claw compact > /dev/null; rc=$?
check "claw compact: 0, and the erased bytes are nowhere in data.mdb" \
    sh -c "[ $rc = 0 ] && ! '$py' '$srcdir/tests/tools/store-bytes.py' find '$A' '$tmp/frame'"
claw check > /dev/null; rc=$?
check "check after compact: clean" [ $rc = 0 ]
mail 9 someone@new.example "after erasure"
claw import --quiet "$tmp/md" > /dev/null
new_docid=$(claw show --json "$(ids subject:erasure | tr -d ' ')" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["docid"])')
check "mail stored after an erasure gets a new docid, never an erased one's" [ "$new_docid" -gt "$gone_docid" ]
claw restore "$del" > /dev/null 2> "$tmp/err"; rc=$?
check "restore of a delete plan: refused, only a quarantine can be restored" \
    sh -c "[ $rc = 65 ] && grep -q 'only a quarantine can be restored' '$tmp/err'"

# --- the audit log ---------------------------------------------------------------
claw audit log --json > "$tmp/audit.json"
purge_actions=$(lines "$tmp/audit.json" '" ".join(sorted(set(r["action"] for r in j if r["action"].startswith("purge."))))')
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then want_approve="purge.approve "; else want_approve=""; fi
check "audit: plans, runs, steps, approvals, cancels and ends recorded" \
    [ "$purge_actions" = "${want_approve}purge.cancel purge.done purge.plan purge.run purge.step" ]
check "audit: a step record per copy erased (4), the held one in the plan's record" \
    [ "$(lines "$tmp/audit.json" 'sum(1 for r in j if r["action"] == "purge.step" and ("plan=%s " % '"$del"') in r["args"])') $(lines "$tmp/audit.json" '[r["result"] for r in j if r["action"] == "purge.plan"][-1]')" = "4 plan=$del state=ready held=1" ]
claw audit verify > /dev/null; rc=$?
check "audit verify: intact" [ $rc = 0 ]

claw purge list > "$tmp/list"
check "purge list: every plan, newest first" \
    [ "$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/list" | tr '\n' ' ')" = "$(seq "$del" -1 1 | tr '\n' ' ')" ]
claw purge plan > /dev/null 2>&1; rc=$?
check "purge plan with nothing named: usage (64)" [ $rc = 64 ]
claw purge plan --action erase x > /dev/null 2>&1; rc=$?
check "purge plan --action erase: usage (64)" [ $rc = 64 ]
claw purge plan 'subject:(unclosed' > /dev/null 2>&1; rc=$?
check "purge plan with a query the index cannot ask: 65, no plan" [ $rc = 65 ]

[ $n_fail = 0 ]
