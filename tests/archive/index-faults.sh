#!/bin/sh
# clawd when writes fail: the store and the index under injected write
# errors (tests/archive/fault-write.c, an LD_PRELOAD shim: a full disk switched on
# and off, an error at the Nth write), and on a real small tmpfs filled by
# LMTP ingest (in a user and mount namespace, when unshare allows one).
# After recovery every acknowledged message is stored once and found once,
# by itself, without a restart; while the index cannot be written,
# claw check says so.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
send="$py $srcdir/tests/tools/lmtp-send.py"
hostile="$py $srcdir/tests/tools/lmtp-hostile.py"
pid=
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT


# conf ARCHIVE: a config for an archive there, clawd on $tmp/clawd.sock.
conf() {
    cat > "$tmp/clawd.conf" <<EOF
[log]
level = info
[archive]
path = $1
map_size = 64m
[clawd]
socket = $tmp/clawd.sock
EOF
}
claw() { "$CLAW" --config "$tmp/clawd.conf" "$@"; }
start() { clawd_start "$tmp/clawd.conf" "$tmp/clawd.sock" "$@"; } # start [ENV=VALUE...]
stop() { kill -TERM $pid 2>/dev/null; wait $pid; }
field() { "$py" -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k] if v is not None else None
print(v)' "$1" 2>/dev/null; }

# make_messages DIR FIRST N [KB]: N distinct messages, Message-ID
# <fault-I@test.example> for I from FIRST, each with KB of incompressible
# attachment (default none).
make_messages() {
    "$py" - "$@" <<'EOF'
import base64, os, sys
d, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kb = int(sys.argv[4]) if len(sys.argv) > 4 else 0
os.makedirs(d, exist_ok=True)
for i in range(first, first + n):
    att = ""
    if kb:
        blob = base64.encodebytes(os.urandom(kb * 768)).decode()
        att = ("--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
               "filename=\"data%d.bin\"\nContent-Transfer-Encoding: base64\n\n%s--b--\n" % (i, blob))
    head = ("From: sender%d@test.example\nTo: rcpt@test.example\nSubject: fault message %d\n"
            "Message-ID: <fault-%d@test.example>\nDate: Mon, 3 Mar 2025 10:00:00 +0000\n" % (i, i, i))
    if att:
        body = ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                "Content-Type: text/plain\n\nBody of message %d, word%d.\n%s" % (i, i, att))
    else:
        body = "\nBody of message %d, word%d and the usual text.\n" % (i, i)
    open(os.path.join(d, "%05d.eml" % i), "w").write(head + body)
EOF
}

# indexed_all N: wait up to 60 s by the clock for the index to hold N
# documents and the whole log (clawd commits it within a second of catching
# up; a shard that failed retries after up to 5 s, and on a loaded machine
# each look with claw check takes seconds).
indexed_all() {
    end=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -le "$end" ]; do
        claw check --json > "$tmp/check.json" 2>/dev/null
        [ "$(field index.documents < "$tmp/check.json")" = "$1" ] &&
            [ "$(field index.behind < "$tmp/check.json")" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

# each_once FIRST N: every message fault-I (its subject "fault message I")
# is found once, and nothing else.
each_once() {
    claw search --limit 100000 subject:fault > "$tmp/found" 2>&1
    "$py" - "$1" "$2" "$tmp/found" <<'EOF'
import collections, re, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
seen = collections.Counter(int(m) for m in re.findall(r"fault message (\d+)", open(sys.argv[3]).read()))
bad = {i: seen[i] for i in set(seen) | set(range(first, first + n)) if seen[i] != 1 or not first <= i < first + n}
for i, c in sorted(bad.items())[:10]:
    print("fault message %d: found %d times" % (i, c), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# same_as_clean N: the store and index hold what a clean run of the same
# messages gives: N messages, N documents, the log indexed, check clean.
same_as_clean() {
    claw check --json > "$tmp/after.json" 2>&1
    for k in store.messages index.documents index.behind clean; do
        a=$(field $k < "$tmp/after.json") b=$(field $k < "$tmp/clean.json")
        [ "$a" = "$b" ] || { echo "$k: $a after recovery, $b in a clean run" >&2; return 1; }
    done
    [ "$(field store.messages < "$tmp/after.json")" = "$1" ]
}

# --- a real tmpfs, filled by LMTP ingest, then emptied ------------------
# Run in a user and mount namespace (sh index-faults.sh --tmpfs): a 12 MB
# tmpfs, 10 MB of it ballast, takes the archive; 150 messages of 24 KB of
# incompressible data each go in by LMTP, retried on 451 as an MTA does;
# once clawd logs a write error the ballast goes (the admin frees space).
fill_tmpfs() {
    mnt="$tmp/small"
    mkdir -p "$mnt"
    if ! mount -t tmpfs -o size=12m tmpfs "$mnt" 2> "$tmp/mount.err"; then
        skip "a full tmpfs" "cannot mount one: $(cat "$tmp/mount.err")"
        return
    fi
    trap 'kill -9 $pid 2>/dev/null; umount "$mnt"; rm -rf "$tmp"' EXIT
    conf "$mnt/archive"
    dd if=/dev/zero of="$mnt/ballast" bs=1M count=10 2>/dev/null
    make_messages "$tmp/big" 0 150 24
    check "full tmpfs: clawd starts" start
    $send --socket "$tmp/clawd.sock" --connections 2 --retry "$tmp"/big/*.eml > "$tmp/r" 2>&1 &
    sender=$!
    # Searches all along. A commit torn by the full disk can leave a shard
    # damaged until clawd has room to make it again: a search then fails
    # with the error (exit 74), never crashes (exit 1 is "no match").
    : > "$tmp/search.err"
    while kill -0 $sender 2>/dev/null; do
        claw search --count subject:fault > /dev/null 2> "$tmp/search.out"
        rc=$?
        [ $rc -le 1 ] || { echo "exit $rc: $(cat "$tmp/search.out")" >> "$tmp/search.err"; }
        sleep 0.05
    done &
    searcher=$!
    i=0
    until grep -q "store: \|index: shard" "$tmp/clawd.log" || [ $i -ge 300 ]; do
        sleep 0.1; i=$((i + 1))
    done
    check "full tmpfs: clawd met the full disk ($(df -k "$mnt" | awk 'NR == 2 {print $4}') kB free)" \
        grep -q "store: \|index: shard" "$tmp/clawd.log"
    sleep 1
    claw check > "$tmp/check.txt" 2>&1
    rc=$?
    grep -q "store: " "$tmp/clawd.log" && echo "# the store's writes failed" >&2
    if grep -q "index: shard" "$tmp/clawd.log"; then
        echo "# the index's writes failed" >&2
        check "full tmpfs: claw check says the index is behind (exit $rc)" [ $rc -ne 0 ]
    fi
    rm -f "$mnt/ballast"
    wait $sender
    rc_send=$?
    wait $searcher
    sort "$tmp/search.err" | uniq -c >&2
    check "full tmpfs: searches meanwhile failed only with an error ($(grep -c . "$tmp/search.err") did)" \
        sh -c "! grep -v '^exit 74: claw: .*index' '$tmp/search.err' | grep . >&2"
    check "full tmpfs, room again: every message acknowledged 250 in the end" \
        sh -c "[ $rc_send = 0 ] && grep -q '\"250\": 150' '$tmp/r'"
    check "...the index catches up by itself" indexed_all 150
    check "...every message found once" each_once 0 150
    check "...claw check is clean" claw check
    grep "store: \|index: " "$tmp/clawd.log" | sort | uniq -c | sort -rn | head -5 >&2
    stop
}
if [ "${1:-}" = --tmpfs ]; then
    fill_tmpfs
    exit $n_fail
fi

cc="${CC:-cc}"
if ! "$cc" -shared -fPIC -o "$tmp/fault.so" "$srcdir/tests/archive/fault-write.c" -ldl > "$tmp/cc.log" 2>&1; then
    skip "write faults" "cannot build the shim with $cc: $(head -1 "$tmp/cc.log")"
    exit 0
fi

make_messages "$tmp/m" 0 60

# --- a clean run: what every faulty one is compared with ----------------
conf "$tmp/clean"
check "a clean run: clawd starts" start
$send --socket "$tmp/clawd.sock" --connections 2 "$tmp"/m/*.eml > "$tmp/r" 2>&1
check "a clean run: 60 messages, all 250" grep -q '"250": 60' "$tmp/r"
check "a clean run: indexed" indexed_all 60
check "a clean run: each message found once" each_once 0 60
claw check --json > "$tmp/clean.json"
stop

# --- the first start of an archive, on a full disk ------------------------
# LMDB writes its two meta pages when it makes the store; when a full disk
# cuts that short it refuses the file ever after (MDB_INVALID), though the
# file holds nothing. clawd fails to start, saying why; with room again it
# makes the store again and takes mail.
A="$tmp/first-start"
conf "$A"
: > "$tmp/full"
from=$(($(wc -l < "$tmp/clawd.log") + 1))
start LD_PRELOAD="$tmp/fault.so" CLAW_FAULT_UNDER="$A" CLAW_FAULT_FULL="$tmp/full"
wait $pid
rc=$?
rm -f "$tmp/full"
check "first start on a full disk: clawd exits, not 0 (got $rc)" [ $rc != 0 ]
check "...saying why" sh -c "tail -n +$from '$tmp/clawd.log' | grep -q 'store: open: No space left on device'"
check "...with room, it starts" start
check "...having made the store again" grep -q "its making was cut short" "$tmp/clawd.log"
$send --socket "$tmp/clawd.sock" $(ls "$tmp"/m/*.eml | head -20) > "$tmp/r" 2>&1
check "...and takes mail: 20 answered 250" grep -q '"250": 20' "$tmp/r"
check "...indexed" indexed_all 20
stop

# --- the index's disk fills, then has room again -------------------------
# Every write under index/ fails with ENOSPC while $tmp/full exists.
A="$tmp/full-index"
conf "$A"
shim="LD_PRELOAD=$tmp/fault.so CLAW_FAULT_UNDER=$A/index CLAW_FAULT_FULL=$tmp/full"
check "index disk full: clawd starts" start $shim
$send --socket "$tmp/clawd.sock" $(ls "$tmp"/m/*.eml | head -20) > /dev/null 2>&1
indexed_all 20
: > "$tmp/full"
$send --socket "$tmp/clawd.sock" $(ls "$tmp"/m/*.eml | tail -40) > "$tmp/r" 2>&1
check "index disk full: the store still answers 250 to all" grep -q '"250": 40' "$tmp/r"
sleep 2
claw check > "$tmp/check.txt" 2>&1
rc=$?
check "index disk full: claw check fails (exit $rc)" [ $rc -ne 0 ]
check "...and says the index is stuck" grep -q "index is .* behind the store and not catching up" "$tmp/check.txt"
claw check --json > "$tmp/check.json" 2>&1
check "...in --json too" sh -c "grep -q '\"clean\":false' '$tmp/check.json' && grep -q '\"stuck\":true' '$tmp/check.json'"
rm -f "$tmp/full"
check "room again: the index catches up by itself" indexed_all 60
check "...every message found once" each_once 0 60
check "...the archive is what a clean run makes" same_as_clean 60
n=$(grep -c "index:" "$tmp/clawd.log")
check "...the indexer's errors were not a flood ($n lines)" [ "$n" -lt 40 ]
check "...claw check is clean" claw check
stop
check "...clawd stops cleanly" [ $? = 0 ]

# --- a shard's version file cannot be written -----------------------------
# Xapian 1.4.22 closes the new version file (v.tmp) when writing it fails
# but keeps its number, and closes that number again when the database is
# freed: by then it is often a client's socket (the lowest free number goes
# to the next accept). The first two version writes fail, so that the
# rollback fails too; meanwhile a client keeps opening sessions and holds
# them. Every held session must still answer afterwards.
A="$tmp/version-file"
conf "$A"
start && stop
if start LD_PRELOAD="$tmp/fault.so" CLAW_FAULT_UNDER="$A/index/shard0/" CLAW_FAULT_NAME=v.tmp \
    CLAW_FAULT_AT=1 CLAW_FAULT_COUNT=2; then
    $hostile --socket "$tmp/clawd.sock" --pid $pid --timeout 10 held 4 > "$tmp/held" 2>&1 &
    holder=$!
    sleep 0.5
    $send --socket "$tmp/clawd.sock" --retry $(ls "$tmp"/m/*.eml | head -20) > "$tmp/r" 2>&1
    wait $holder
    check "version file: the failed writes were met" \
        grep -q "left allocated" "$tmp/clawd.log"
    held=$(field held < "$tmp/held") broken=$(field broken < "$tmp/held")
    check "...every session held meanwhile still answers ($held held, $broken broken)" \
        sh -c "[ '$broken' = 0 ] && [ '$held' -gt 0 ]"
    check "...clawd logged no fault of its own sockets" \
        sh -c "! grep -E 'Bad file descriptor|epoll|EBADF' '$tmp/clawd.log' >&2"
    check "...the index catches up" indexed_all 20
    check "...every message found once" each_once 0 20
    stop
    check "...clawd stops cleanly" [ $? = 0 ]
else
    fail "version file: clawd starts"
fi

# --- a write that Xapian fails in a destructor --------------------------------
# Xapian 1.4 writes a value slot's last chunk in a destructor, in every
# commit: when that write fails (a full disk) C++ ends the process there
# (std::terminate), as the soak met. clawd says so and exits 75, for its
# supervisor to start it again; started again, the index catches up from
# its last commit. CLAW_TEST_INDEX_TERMINATE=N ends the process that way
# in its Nth commit, while 60 messages are sent with --retry.
A="$tmp/terminate"
conf "$A"
if start CLAW_TEST_INDEX_TERMINATE=2; then
    from=$(($(wc -l < "$tmp/clawd.log") + 1))
    $send --socket "$tmp/clawd.sock" --connections 2 --retry "$tmp"/m/*.eml > "$tmp/r" 2>&1 &
    sender=$!
    i=0
    while alive $pid && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 $pid 2> /dev/null
    wait $pid
    rc=$?
    check "ended in an index write: clawd exits with 75 (got $rc)" [ $rc = 75 ]
    check "...having said why" sh -c "tail -n +$from '$tmp/clawd.log' |
        grep 'where Xapian cannot report it' | grep -q 'with 75 to be restarted'"
    start
    wait $sender
    check "...started again, it takes the rest: all 60 answered 250" grep -q '"250": 60' "$tmp/r"
    check "...the index catches up" indexed_all 60
    check "...every message found once" each_once 0 60
    check "...the archive is what a clean run makes" same_as_clean 60
    stop
else
    fail "ended in an index write: clawd starts"
fi

# fault_case WHERE HOW N [M]: a fresh archive whose WHERE (store, index,
# index/shard) fails its Nth write (ENOSPC: the Nth that needs space), and
# the M - 1 after it (default 1), while 60 messages are sent with --retry;
# says whether all 60 ended stored once and indexed once. When clawd exits
# by itself it must be with 75, having said why (LMDB's MDB_PANIC, or a
# write that Xapian fails in a destructor): it is started again, as its
# supervisor would, and $exited is then 1.
fault_case() {
    fc_name="$2 at write $3 of the $1"
    A="$tmp/nth-$(echo "$1" | tr / -)-$2-$3"
    conf "$A"
    start && stop
    exited=0
    if ! start LD_PRELOAD="$tmp/fault.so" CLAW_FAULT_UNDER="$A/$1" CLAW_FAULT_AT=$3 \
        CLAW_FAULT_COUNT=${4:-1} CLAW_FAULT_ERRNO=$2; then
        fail "$fc_name: clawd starts"
        return
    fi
    from=$(($(wc -l < "$tmp/clawd.log") + 1))
    $send --socket "$tmp/clawd.sock" --connections 2 --retry "$tmp"/m/*.eml > "$tmp/r" 2>&1 &
    sender=$!
    i=0
    while [ $i -lt 600 ]; do
        if ! kill -0 $pid 2> /dev/null; then
            wait $pid; rc=$?
            check "$fc_name: clawd exits by itself only with 75 (got $rc)" [ $rc -eq 75 ]
            check "...having said why" \
                sh -c "tail -n +$from '$tmp/clawd.log' | grep -q 'with 75 to be restarted'"
            exited=1
            start || break
        fi
        kill -0 $sender 2> /dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    wait $sender
    if grep -q '"250": 60' "$tmp/r" && indexed_all 60 && each_once 0 60 && same_as_clean 60; then
        ok "$fc_name: all 60 stored once and indexed once"
    else
        fail "$fc_name: all 60 stored once and indexed once"
        cat "$tmp/r" "$tmp/after.json" >&2
    fi
    stop
    rm -rf "$A"
}

# --- an error at the Nth write of the index, and of the store ------------
# The archive is made first; then its index fails at write N (EIO once, or
# ENOSPC at the Nth to N+2th write that needs space): the shard is reopened
# and indexes again from its last commit. Its store fails with ENOSPC at
# the Nth to N+2th write that needs space: the commit fails, the sender
# gets 451 and sends again, as an MTA's queue does. (EIO at LMDB's meta
# page is another matter: LMDB then refuses every transaction until the
# store is opened again, MDB_PANIC.)
# index/shard: the shards alone (not their amendments' databases).
fault_case index ENOSPC 20 3
fault_case index/shard EIO 3
fault_case index/shard ENOSPC 9 2
fault_case store ENOSPC 12 3
check "the injected faults were met (clawd logged them)" \
    sh -c "grep -q 'index: shard 0: .*reopening' '$tmp/clawd.log' && grep -q 'store: ' '$tmp/clawd.log'"

# --- EIO where LMDB cannot recover: MDB_PANIC --------------------------------
# An I/O error while the store writes its meta page leaves LMDB refusing
# every transaction until the store is opened again. clawd answers 451,
# finishes its sessions and exits 75 for its supervisor; started again it
# takes the rest (the sender retrying, as an MTA's queue does). Where the
# meta page's write falls among the store's writes depends on how the
# messages were grouped into commits: EIO on three writes from each of a
# few places; at least one must meet it.
panics=0
for at in 4 6 8 10; do
    fault_case store EIO $at 3
    panics=$((panics + exited))
done
check "MDB_PANIC met and survived ($panics of 4 places)" [ $panics -ge 1 ]

# --- a sweep over the writes of the store and of the index -----------------
# A clean run under the shim tallies the writes (CLAW_FAULT_TALLY); then one
# run per chosen N fails the Nth write that needs space (ENOSPC) or the Nth
# write (EIO), of the store or of the index. CLAW_FAULT_SWEEP=all tries
# every N (make faults-sweep: some hundreds of runs); otherwise
# CLAW_FAULT_SWEEP random ones of each kind (1 in make check, default 2), from a seed
# that is printed (CLAW_FAULT_SEED repeats a sweep). When clawd exits 75 by
# itself (EIO at LMDB's meta page) it is started again, as its supervisor
# would; the sender retries as an MTA's queue does.
for where in store index; do
    A="$tmp/tally-$where"
    conf "$A"
    start && stop
    start LD_PRELOAD="$tmp/fault.so" CLAW_FAULT_UNDER="$A/$where" CLAW_FAULT_TALLY="$tmp/writes-$where"
    $send --socket "$tmp/clawd.sock" --connections 2 "$tmp"/m/*.eml > /dev/null 2>&1
    indexed_all 60
    stop
done
sweep=${CLAW_FAULT_SWEEP:-2}
seed=${CLAW_FAULT_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "# sweep: $sweep of each kind, seed $seed (CLAW_FAULT_SEED=$seed repeats it);" \
    "writes (all, needing space): store $(cat "$tmp/writes-store"), index $(cat "$tmp/writes-index")" >&2
for where in store index; do
    read -r all grow < "$tmp/writes-$where"
    check "sweep: a clean run tallied the writes of the $where ($all, $grow needing space)" \
        [ "${grow:-0}" -gt 0 ]
    for how in ENOSPC EIO; do
        [ $how = EIO ] && total=$all || total=$grow
        for at in $("$py" -c 'import random, sys
n, k, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r = random.Random("%d %s %s" % (seed, sys.argv[4], sys.argv[5]))
print(*(range(1, n + 1) if k == "all" else sorted(r.sample(range(1, n + 1), min(int(k), n)))))' \
            "$total" "$sweep" "$seed" "$where" "$how"); do
            fault_case "$where" "$how" "$at"
        done
    done
done

# --- the tmpfs, in a namespace of its own (see fill_tmpfs) -------------------
if unshare --user --map-root-user --mount true 2> /dev/null; then
    unshare --user --map-root-user --mount sh "$0" --tmpfs
    [ $? = 0 ] || n_fail=$((n_fail + 1))
else
    skip "a full tmpfs" "needs a user and mount namespace (unshare --user --map-root-user --mount)"
fi
[ "$n_fail" -eq 0 ]
