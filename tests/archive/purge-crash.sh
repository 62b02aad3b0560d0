#!/bin/sh
# The purge journal after a crash, tested the way SQLite and notmuch test
# theirs: a multi-target plan (the archive's copies and the recipients'
# Maildir copies) is killed (as kill -9 would, CLAW_TEST_PURGE_CRASH=N)
# right after its Nth step, for every N, then run again; the end must be
# exactly the end of a run never killed: the same copies in the same
# places with the same bytes, the same statuses, the audit log intact.
# For a quarantine, its restore, and a delete.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
pid=
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

# --- the mail: three messages from a bad sender and one good, each to two
# of three users, archived by clawd (with the ids an MTA wrote) and
# delivered into the users' Maildirs (one read and flagged, one filed) -----
# Everything happens in $W: plans keep absolute paths, so each base is
# made there and moved aside, and copied back there to be used.
W="$tmp/work"
mkdir -p "$W/run"
cat > "$tmp/clawd.conf" <<EOF
[archive]
path = $W/archive
[clawd]
socket = $W/run/clawd.sock
[purge]
maildir = $W/mail/%u
quarantine_dir = $W/quarantine
EOF
msg() { # msg N ID FROM
    printf 'X-Clawback-Id: %s\nFrom: %s\nTo: u1@corp.example, u2@corp.example\nSubject: note %s\nMessage-ID: <%s@crash.example>\nDate: Mon, 2 Nov 2026 10:0%s:00 +0000\n\nbody %s\n' \
        "$2" "$3" "$1" "$1" "$1" "$1" > "$tmp/m$1.eml"
}
msg 1 01JPVRGE00000000000000000A bad@evil.example
msg 2 01JPVRGE00000000000000000B bad@evil.example
msg 3 01JPVRGE00000000000000000C bad@evil.example
msg 4 01JPVRGE00000000000000000D good@partner.example
check "clawd starts" clawd_start "$tmp/clawd.conf" "$W/run/clawd.sock"
for n in 1 2 3 4; do
    rcpts="--rcpt u1@corp.example --rcpt u2@corp.example"
    [ $n = 2 ] && rcpts="--rcpt u2@corp.example --rcpt u3@corp.example"
    "$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$W/run/clawd.sock" --from "x@y.example" \
        $rcpts "$tmp/m$n.eml" > /dev/null
done
kill -TERM $pid; wait $pid; pid=
for u in u1 u2 u3; do mkdir -p "$W/mail/$u/cur" "$W/mail/$u/new" "$W/mail/$u/tmp" "$W/mail/$u/.Work/cur" "$W/mail/$u/.Work/new"; done
cp "$tmp/m1.eml" "$W/mail/u1/new/1700000001.M1P1.host"
cp "$tmp/m1.eml" "$W/mail/u2/cur/1700000001.M1P2.host:2,FS"
cp "$tmp/m2.eml" "$W/mail/u2/.Work/cur/1700000002.M2P1.host:2,S"
cp "$tmp/m2.eml" "$W/mail/u3/new/1700000002.M2P2.host"
cp "$tmp/m3.eml" "$W/mail/u1/cur/1700000003.M3P1.host:2,"
cp "$tmp/m3.eml" "$W/mail/u2/new/1700000003.M3P2.host"
cp "$tmp/m4.eml" "$W/mail/u1/new/1700000004.M4P1.host"
touch -d '2026-11-02 10:00:00' "$W"/mail/*/*/* "$W"/mail/*/.Work/*/*

claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
# Everything a run's end is judged by: the files of the Maildirs and the
# quarantine (path, size, time, hash; a delete's marks by name), the
# archive's visible and quarantined mail, the plans' copies with their
# statuses and places (paths relative to the work directory).
state() { # state DIR PLAN...
    "$py" "$srcdir/tests/archive/purge-state.py" "$CLAW" "$tmp/c.conf" "$@"
}
# setup FROM: the work directory a fresh copy of FROM; save TO: moved to TO.
setup() {
    rm -rf "$W"
    cp -a "$1" "$W"
}
save() {
    rm -rf "$1"
    mv "$W" "$1"
}
sed "s|^path = .*|path = $W/archive|" "$tmp/clawd.conf" > "$tmp/c.conf"
save "$tmp/base"
# A base for each sweep, made once: the plan made (quarantine, delete), or
# the quarantine done (restore).
setup "$tmp/base"
claw purge plan --targets archive,maildir from:bad@evil.example > /dev/null
claw purge status --json --show all 1 > "$tmp/plan.json"
check "the plan: 3 archive copies and 6 Maildir copies, by recipient" \
    [ "$("$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["by_target"], j["by_recipient"])' "$tmp/plan.json")" = "{'archive': 3, 'maildir': 6} {'u1@corp.example': 2, 'u2@corp.example': 3, 'u3@corp.example': 1}" ]
cp -a "$W" "$tmp/base_q"
claw purge run 1 > /dev/null
save "$tmp/base_r"
setup "$tmp/base"
claw purge plan --action delete --targets archive,maildir from:bad@evil.example > /dev/null
save "$tmp/base_d"

# sweep NAME BASE PLANS COMMAND...: COMMAND on a fresh copy of BASE, never
# killed; then for N = 1, 2, ...: on a fresh copy, COMMAND killed right
# after step N, then `claw purge run` of the last of PLANS; each end
# compared with the first.
sweep() {
    sw_name=$1 sw_base=$2 sw_plans=$3
    shift 3
    setup "$sw_base"
    "$CLAW" --config "$tmp/c.conf" "$@" > /dev/null; rc=$?
    state "$W" $sw_plans > "$tmp/want"
    check "$sw_name: a run never killed ends (0)" [ $rc = 0 ]
    cp "$tmp/want" "$tmp/want-$sw_name"
    n=1 bad=0 crashed=0
    while [ $n -lt 200 ]; do
        setup "$sw_base"
        CLAW_TEST_PURGE_CRASH=$n CLAW_TEST_PURGE_BATCH=2 "$CLAW" --config "$tmp/c.conf" "$@" > /dev/null 2>&1
        [ $? = 0 ] && break
        crashed=$((crashed + 1))
        claw purge run "${sw_plans##* }" > /dev/null 2>&1 ||
            { bad=$((bad + 1)); echo "# $sw_name: the run after a crash at step $n failed" >&2; }
        state "$W" $sw_plans > "$tmp/got"
        if ! cmp -s "$tmp/want" "$tmp/got"; then
            bad=$((bad + 1))
            echo "# $sw_name: after a crash at step $n:" >&2
            diff "$tmp/want" "$tmp/got" | head -20 >&2
        fi
        claw audit verify > /dev/null 2>&1 || { bad=$((bad + 1)); echo "# $sw_name: audit broken at step $n" >&2; }
        n=$((n + 1))
    done
    check "$sw_name: killed after each of its $crashed steps, run again: the same end as a clean run" \
        [ "$bad $((crashed >= 10))" = "0 1" ]
    claw check > /dev/null 2>&1; rc=$?
    check "$sw_name: the archive checks clean after the last crash" [ $rc = 0 ]
}

sweep quarantine "$tmp/base_q" 1 purge run 1
check "quarantine: every copy of the bad sender's out of the Maildirs, kept in the quarantine" \
    sh -c "! grep -q '^mail/.*M[123]P' '$tmp/want-quarantine' && [ \$(grep -c '^quarantine/.*M[123]P' '$tmp/want-quarantine') = 6 ]"
check "quarantine: a read and flagged copy keeps its name (flags) and time" \
    grep -q "^quarantine/plan-1/copy-[0-9]*/cur/1700000001.M1P2.host:2,FS [0-9]* $(date -d '2026-11-02 10:00:00' +%s) " "$tmp/want-quarantine"
sweep restore "$tmp/base_r" "1 2" restore 1
"$py" "$srcdir/tests/archive/purge-state.py" --files-only "$tmp/base" > "$tmp/before"
check "restore: every file back where it was, with its name, time and bytes" \
    sh -c "! grep -q '^quarantine/' '$tmp/want-restore' && [ \"\$(grep '^mail/' '$tmp/want-restore')\" = \"\$(cat '$tmp/before')\" ]"
sweep delete "$tmp/base_d" 1 purge run 1
check "delete: the bad sender's copies are gone from every Maildir, the good one's kept" \
    sh -c "! grep -q '^mail/.*M[123]P' '$tmp/want-delete' && grep -q '^mail/u1/new/1700000004.M4P1.host ' '$tmp/want-delete'"

# --- a failing disk: the delete's Nth write to the store fails (EIO, from
# tests/archive/fault-write.c, an LD_PRELOAD shim), for every N; the run
# says so and ends, and running it again ends as a clean run does ---------
cc="${CC:-cc}"
if ! "$cc" -shared -fPIC -o "$tmp/fault.so" "$srcdir/tests/archive/fault-write.c" -ldl > "$tmp/cc.log" 2>&1; then
    skip "a failing disk" "cannot build the shim with $cc: $(head -1 "$tmp/cc.log")"
else
    n=1 bad=0 failed=0
    while [ $n -lt 300 ]; do
        setup "$tmp/base_d"
        LD_PRELOAD="$tmp/fault.so" CLAW_FAULT_UNDER="$W/archive/store" CLAW_FAULT_ERRNO=EIO \
            CLAW_FAULT_AT=$n CLAW_TEST_PURGE_BATCH=2 "$CLAW" --config "$tmp/c.conf" purge run 1 \
            > /dev/null 2> "$tmp/fault.err"
        rc=$?
        [ $rc = 0 ] && break
        failed=$((failed + 1))
        if [ $rc -lt 64 ] || [ ! -s "$tmp/fault.err" ]; then
            bad=$((bad + 1)); echo "# write $n failed: exit $rc, said: $(head -1 "$tmp/fault.err")" >&2
        fi
        claw purge run 1 > /dev/null 2>&1 ||
            { bad=$((bad + 1)); echo "# the run after write $n failed did not finish" >&2; }
        state "$W" 1 > "$tmp/got"
        if ! cmp -s "$tmp/want-delete" "$tmp/got"; then
            bad=$((bad + 1))
            echo "# after write $n failed:" >&2
            diff "$tmp/want-delete" "$tmp/got" | head -20 >&2
        fi
        claw audit verify > /dev/null 2>&1 || { bad=$((bad + 1)); echo "# audit broken after write $n failed" >&2; }
        n=$((n + 1))
    done
    check "delete: each of its $failed writes to the store failing in turn: a clear error, then run again the same end as a clean run" \
        [ "$bad $((failed >= 10))" = "0 1" ]
fi

[ $n_fail = 0 ]
