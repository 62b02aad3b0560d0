#!/bin/sh
# Retention: [retention] rules (a default, and rules with queries, the
# longest that finds a message winning), the plan they make (the dry run,
# as of a date), its run leaving tombstones, legal holds keeping what they
# hold, a rule whose query cannot be asked, and clawd's daily run.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"
pid=
trap 'kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
A="$tmp/archive"
cat > "$tmp/c.conf" <<EOF
[archive]
path = $A
[clawd]
socket = $tmp/clawd.sock
[retention]
everything = 1y
digests = 30d subject:digest
legal = 10y from:lawyer@firm.example
EOF
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
mkdir -p "$tmp/md/cur" "$tmp/md/new" "$tmp/md/tmp"
mail() { # mail N FROM SUBJECT AGE
    f="$tmp/md/cur/$1.host:2,S"
    printf 'From: %s\nTo: staff@corp.example\nSubject: %s\nMessage-ID: <%s@retention.example>\n\nbody %s\n' \
        "$2" "$3" "$1" "$1" > "$f"
    touch -d "$4" "$f" # claw import takes a Maildir file's time as its arrival
}
mail 1 someone@corp.example "old report" "2 years ago"
mail 2 lawyer@firm.example "old counsel" "2 years ago"
mail 3 news@lists.example "weekly digest 1" "60 days ago"
mail 4 news@lists.example "weekly digest 2" "10 days ago"
mail 5 someone@corp.example "old but held" "2 years ago"
mail 6 someone@corp.example "half a year" "180 days ago"
claw import --quiet "$tmp/md" > /dev/null
id_of() { claw search --ids "msgid:$1@retention.example"; }
for n in 1 2 3 4 5 6; do eval "id$n=\$(id_of $n)"; done
claw hold add keep 'subject:held' > /dev/null

claw retention plan --json --show all > "$tmp/plan.json"; rc=$?
check "retention plan: 0; due: the old report, the old digest and the held one (held)" \
    [ "$rc $(field "$tmp/plan.json" 'sorted((c["id"], c["status"]) for c in j["list"])')" = "0 $("$py" -c 'import sys; print(sorted([(sys.argv[1], "planned"), (sys.argv[2], "planned"), (sys.argv[3], "held")]))' "$id1" "$id3" "$id5")" ]
check "...the lawyer's mail kept by the longer rule, the young digest and the young report kept" \
    sh -c "! grep -q '$id2\|$id4\|$id6' '$tmp/plan.json'"
check "...the plan is a delete by the rules, saying which rule let each go" \
    [ "$(field "$tmp/plan.json" '(j["action"], j["source"], j["reason"].rsplit(": ", 1)[1])')" = "('delete', 'retention', 'digests=1 everything=2')" ]
claw retention plan --as-of "$(date -u -d '+200 days' +%Y-%m-%d)" --json --show all > "$tmp/later.json"
check "retention plan --as-of: what goes by then (the half-year-old report too)" \
    grep -q "\"$id6\"" "$tmp/later.json"
plan=$(field "$tmp/plan.json" 'j["plan"]')
claw purge run "$plan" > "$tmp/run.out"; rc=$?
check "its run: 0, two erased, one held" sh -c "[ $rc = 0 ] && grep -q 'done=2 held=1' '$tmp/run.out'"
claw show "$id1" > "$tmp/tomb"
check "an erased message leaves its tombstone" grep -q "^State:      erased by plan $plan" "$tmp/tomb"
check "the held and the kept are all still there" \
    [ "$(claw search --count to:staff@corp.example)" = 4 ]
claw retention run > "$tmp/again"; rc=$?
check "retention run again: nothing more is due but the held one (held again)" \
    sh -c "[ $rc = 0 ] && grep -q 'held=1' '$tmp/again' && ! grep -q 'done=[1-9]' '$tmp/again'"

printf 'short = 30d\n' >> "$tmp/c.conf"
claw retention plan --json --show all > "$tmp/short.json"; rc=$?
check "a second, shorter default rule: the longest default still keeps the half-year-old report" \
    sh -c "[ $rc = 0 ] && ! grep -q '\"$id6\"' '$tmp/short.json' && grep -q '\"$id5\"' '$tmp/short.json'"
sed -i '/^short = /d' "$tmp/c.conf"
printf 'bad = 90d subject:(unclosed\n' >> "$tmp/c.conf"
claw retention plan > /dev/null 2> "$tmp/err"; rc=$?
check "a rule whose query cannot be asked: 65, says which, no plan" \
    sh -c "[ $rc = 65 ] && grep -q 'retention rule bad' '$tmp/err'"
sed -i '/^bad = /d' "$tmp/c.conf"
printf 'worse = 9q\n' >> "$tmp/c.conf"
claw retention plan > /dev/null 2> "$tmp/err"; rc=$?
check "a rule with no duration: the configuration is refused (78)" \
    sh -c "[ $rc = 78 ] && grep -q \"worse: '9q'\" '$tmp/err'"
sed -i '/^worse = /d' "$tmp/c.conf"

# --- clawd's daily run: due at its start (never run before) --------------------------
claw hold release keep > /dev/null
check "clawd starts" clawd_start "$tmp/c.conf" "$tmp/clawd.sock"
i=0
until grep -q 'claw-back: plan=[0-9]* action=delete state=done' "$tmp/clawd.log" &&
    [ "$(claw search --count to:staff@corp.example 2>/dev/null)" = 3 ]; do
    [ $i -ge 150 ] && break; sleep 0.1; i=$((i + 1))
done
check "clawd runs retention by itself: the hold released, the held one goes now" \
    sh -c "grep -q 'retention: plan=[0-9]* due=1' '$tmp/clawd.log' && [ \"\$('$CLAW' --config '$tmp/c.conf' search --count to:staff@corp.example 2>/dev/null)\" = 3 ]"
kill -TERM $pid; wait $pid; pid=
claw audit verify > /dev/null; rc=$?
check "audit: intact" [ $rc = 0 ]

[ $n_fail = 0 ]
