#!/bin/sh
# Reads in the audit log: claw search, show and export each append a record
# (who, what was asked, what it gave); a user who may read the archive but
# not write its data (only LMDB's lock file, where every reader registers)
# reads all the same, told that the read is not in the log.
. "$srcdir/tests/tools/tap.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
A="$tmp/archive"
claw() { "$CLAW" --config /dev/null --archive "$A" "$@"; }
last() { claw audit log --json | tail -1 | "$py" -c 'import json,sys; j=json.load(sys.stdin); print(j["actor"], j["action"], j["args"], "|", j["result"])'; }
claw import --quiet "$srcdir"/tests/fixtures/*.eml > /dev/null
me=$(id -un)

claw search --limit 5 from:alerts@billing.example.com > /dev/null
check "search: a record of who asked what, and how many it found" \
    [ "$(last)" = "$me search query=from:alerts@billing.example.com offset=0 limit=5 | matches=1 shown=1" ]
id=$(claw search --ids from:alerts@billing.example.com)
claw show --raw "$id" > /dev/null
check "show: a record of the id asked, and how" [ "$(last)" = "$me show id=$id raw | " ]
claw export --mbox "$tmp/out.mbox" from:alerts@billing.example.com > /dev/null 2>&1
check "export: a record of the query, where to, and how many" \
    [ "$(last)" = "$me export query=from:alerts@billing.example.com to=$tmp/out.mbox | exported=1" ]
claw audit verify > /dev/null; rc=$?
check "the log stays intact" [ $rc = 0 ]

if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
    chmod 755 "$tmp"
    chmod -R a+rX "$A"
    chmod a+w "$A/store/lock.mdb" # LMDB's readers register there: a reader needs it"
    before=$(claw audit log | wc -l)
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLAW" --config /dev/null --archive "$A" \
        search --count from:alerts@billing.example.com > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "a user who may not write the store: the search answers (0)" \
        sh -c "[ $rc = 0 ] && [ \"\$(cat '$tmp/out')\" = 1 ]"
    check "...and is told it is not in the audit log; no record added" \
        sh -c "grep -q 'not in the audit log' '$tmp/err' && [ \$('$CLAW' --config /dev/null --archive '$A' audit log | wc -l) = $before ]"
else
    skip "a user who may not write the store" "needs root, setpriv and the user nobody"
    skip "...and is told it is not in the audit log" "needs root, setpriv and the user nobody"
fi

[ $n_fail = 0 ]
