#!/bin/sh
# A soak: for a bounded time (CLAW_SOAK_SECONDS, default 60) clawd takes
# mail while everything goes wrong at once, then the archive must hold
# exactly what was acknowledged and clawd's memory must have stayed bounded.
#   - 4 LMTP connections send generated messages (tests/tools/lmtp-send.py
#     --drop-rate: 5% of transactions closed at a random point, the message
#     resent, as an MTA does; a 4xx is retried until 250);
#   - clawd is killed with kill -9 at random moments and started again;
#   - the archive's disk fills and empties every few seconds (the
#     tests/archive/fault-write.c shim, CLAW_FAULT_FULL, over store and index);
#   - hostile sessions beside (tests/tools/lmtp-hostile.py): pipelined
#     commands whose replies are not read, unfinished DATAs of 1 MB.
# At the end: every acknowledged message is stored once and indexed once
# (searched by Message-ID), nothing else is stored but the hostile clients'
# messages, claw check is clean with the index caught up, clawd exited by
# itself only with 75 (its store failed, or Xapian failed a write in a
# destructor: started again, as a supervisor does), and its VmRSS, sampled every 50 ms across every incarnation,
# stayed under 256 MiB with a memory_budget of 64m.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
seconds=${CLAW_SOAK_SECONDS:-60}
send="$py $srcdir/tests/tools/lmtp-send.py"
hostile="$py $srcdir/tests/tools/lmtp-hostile.py"
A="$tmp/archive"
sock="$tmp/clawd.sock"
bound_kb=262144 # 256 MiB
pid=
trap 'touch "$tmp/stop"; kill -9 $pid 2>/dev/null; wait; rm -rf "$tmp"' EXIT
cat > "$tmp/clawd.conf" <<EOF
[log]
level = notice
[archive]
path = $A
[clawd]
socket = $sock
memory_budget = 64m
EOF
claw() { "$CLAW" --config "$tmp/clawd.conf" "$@"; }
field() { "$py" -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k] if v is not None else None
print(v)' "$1" 2>/dev/null; }
# tenths MIN SPAN: a random time in seconds from MIN to MIN + SPAN tenths.
tenths() {
    t=$(($1 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $2))
    echo "$((t / 10)).$((t % 10))"
}

cc="${CC:-cc}"
if ! "$cc" -shared -fPIC -o "$tmp/fault.so" "$srcdir/tests/archive/fault-write.c" -ldl > "$tmp/cc.log" 2>&1; then
    skip "soak" "cannot build the write fault shim with $cc: $(head -1 "$tmp/cc.log")"
    exit 0
fi
# Every clawd runs under the shim: while $tmp/full exists, each write under
# the archive that needs new space fails with ENOSPC.
shim="LD_PRELOAD=$tmp/fault.so CLAW_FAULT_UNDER=$A CLAW_FAULT_FULL=$tmp/full"

# up: a clawd, started again until it listens (its store may be on the
# full disk).
up() {
    rm -f "$sock"
    until clawd_start "$tmp/clawd.conf" "$sock" $shim; do
        kill -9 $pid 2>/dev/null
        wait $pid
        echo "not listening after 10 s: $?" >> "$tmp/exits"
        rm -f "$sock"
        sleep 0.2
    done
    echo $pid > "$tmp/clawd.pid"
}
# revive: clawd exited by itself: its status goes to $tmp/exits, and a new
# one is started, as a supervisor does.
revive() {
    wait $pid
    echo $? >> "$tmp/exits"
    up
}
# restart: kill_randomly's RESTART: a new clawd, left alone for 1 to 3 s
# (revived at once if it exits by itself meanwhile).
restart() {
    up
    i=0 n=$(($(od -An -N1 -tu1 /dev/urandom | tr -d ' ') % 20 + 10))
    while [ $i -lt $n ]; do
        sleep 0.1
        alive $pid || revive
        i=$((i + 1))
    done
}

# The sampler: VmRSS of every clawd child of this shell, every 50 ms,
# until $tmp/stop; writes "peak_kB samples incarnations".
"$py" - "$$" "$tmp/stop" "$tmp/rss" <<'EOF' &
import os, sys, time
shell, stop, out = sys.argv[1:4]
peak = samples = 0
seen = set()
while not os.path.exists(stop):
    try:
        kids = open("/proc/%s/task/%s/children" % (shell, shell)).read().split()
    except OSError:
        kids = []
    for kid in kids:
        try:
            argv0 = open("/proc/%s/cmdline" % kid, "rb").read().split(b"\0")[0]
            if not argv0.endswith(b"clawd"):
                continue
            for line in open("/proc/%s/status" % kid):
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]))
                    samples += 1
                    seen.add(kid)
        except OSError:
            pass
    time.sleep(0.05)
open(out, "w").write("%d %d %d\n" % (peak, samples, len(seen)))
EOF
sampler=$!

: > "$tmp/exits"
up
check "clawd starts under the write fault shim" alive $pid

# The disk: full for 0.5 to 2 s every 1.5 to 4 s.
(
    toggles=0
    while [ ! -e "$tmp/stop" ]; do
        sleep "$(tenths 15 25)"
        : > "$tmp/full"
        toggles=$((toggles + 1))
        echo $toggles > "$tmp/toggles"
        sleep "$(tenths 5 15)"
        rm -f "$tmp/full"
    done
) &
disk=$!

# Hostile sessions, one after another, against whichever clawd runs.
(
    while [ ! -e "$tmp/stop" ]; do
        $hostile --socket "$sock" --pid "$(cat "$tmp/clawd.pid")" --hold 1 --timeout 5 \
            pipeline 4 >> "$tmp/hostile" 2>&1
        $hostile --socket "$sock" --pid "$(cat "$tmp/clawd.pid")" --hold 1 --timeout 5 \
            unfinished 2 1 >> "$tmp/hostile" 2>&1
        sleep 0.5
    done
) &
hostiles=$!

$send --socket "$sock" --connections 4 --retry --drop-rate 0.05 --for "$seconds" \
    --generate 10000000 > "$tmp/sent" 2> "$tmp/sent.err" &
sender=$!

# kill -9 at random moments until the time is up.
sleep "$seconds" &
kill_randomly $! 100000 restart

# The load ends: the disk has room again, the hostile clients stop, the
# senders finish what they started (a clawd that exits is started again).
touch "$tmp/stop"
wait $disk $hostiles
rm -f "$tmp/full"
while alive $sender; do
    alive $pid || revive
    sleep 0.2
done
wait $sender
rc_send=$?
wait $sampler
sed 's/^/# sender: /' "$tmp/sent.err" >&2
sent=$(field sent < "$tmp/sent")
check "every message sent was acknowledged 250 in the end ($sent)" \
    sh -c "[ $rc_send = 0 ] && [ '$(field replies.250 < "$tmp/sent")' = '$sent' ] && [ '$sent' -gt 0 ]"

# Caught up: the index holds what the store holds, nothing behind.
caught_up() {
    i=0
    while [ $i -lt 300 ]; do
        alive $pid || revive
        claw check --json > "$tmp/check.json" 2>/dev/null
        [ "$(field index.behind < "$tmp/check.json")" = 0 ] &&
            [ "$(field index.documents < "$tmp/check.json")" = "$(field store.messages < "$tmp/check.json")" ] &&
            return 0
        sleep 0.2
        i=$((i + 1))
    done
    cat "$tmp/check.json" >&2
    return 1
}
check "the index catches up with the store" caught_up
check "claw check is clean" [ "$(field clean < "$tmp/check.json")" = True ]

# Exactly once: a sample of Message-IDs (first, last, middle and 20 more),
# the count of all generated ones, and nothing else stored but the hostile
# clients' messages (Subject: big; each acknowledged one is there).
exactly_once() {
    bad=0
    for i in 0 $((sent / 2)) $((sent - 1)) $("$py" -c "import random; print(*random.sample(range($sent), min(20, $sent)))"); do
        c=$(claw search --count "msgid:gen-$i@test.example")
        [ "$c" = 1 ] || { echo "gen-$i@test.example: found $c times" >&2; bad=$((bad + 1)); }
    done
    gen=$(claw search --count subject:generated)
    big=$(claw search --count subject:big)
    # Both sessions of an unfinished run send the same message: one kept.
    acked_big=$("$py" -c 'import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(sum(any(r.startswith("250") for r in j.get("replies", [])) for j in runs if j["mode"] == "unfinished"))' "$tmp/hostile")
    messages=$(claw stats --json | field messages)
    echo "# stored: $messages messages, $gen generated ($sent sent), $big hostile ($acked_big acknowledged)" >&2
    [ $bad = 0 ] && [ "$gen" = "$sent" ] && [ "$big" -ge "$acked_big" ] &&
        [ "$messages" = $((gen + big)) ]
}
check "every acknowledged message stored once and indexed once" exactly_once

# No client is left: a TERM ends clawd at once, not after the 60 s a
# draining clawd gives sessions that are still open.
open=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c 'socket:')
echo "# before TERM clawd holds $open sockets (its listener among them)" >&2
t0=$(date +%s)
kill -TERM $pid
wait $pid
rc=$? t=$(($(date +%s) - t0))
check "clawd ends on TERM with no client left, exit 0 within 10 s (exit $rc after ${t}s)" \
    sh -c "[ $rc = 0 ] && [ $t -le 10 ]"

kills_done=$kills
exits=$(grep -c . "$tmp/exits")
toggles=$(cat "$tmp/toggles" 2>/dev/null || echo 0)
runs=$(grep -c '"mode"' "$tmp/hostile")
set -- $(cat "$tmp/rss")
peak=$1 samples=$2 incarnations=$3
echo "# soak ${seconds}s: $sent acknowledged ($(field drops < "$tmp/sent") dropped, $(field retries < "$tmp/sent") retries)," \
    "$kills_done kills, $exits exits by itself ($(sort "$tmp/exits" | uniq -c | tr -s ' \n' ' ')), $toggles disk-full toggles," \
    "$runs hostile runs, peak RSS $((peak / 1024)) MiB over $incarnations incarnations ($samples samples)" >&2
check "the soak soaked: clawd killed ($kills_done), the disk filled ($toggles), hostile clients ran ($runs)" \
    sh -c "[ '$kills_done' -gt 0 ] && [ '$toggles' -gt 0 ] && [ '$runs' -gt 0 ]"
check "clawd exited by itself only with 75, never crashed ($(sort "$tmp/exits" | uniq -c | tr -s ' \n' ' '))" \
    sh -c "! grep -qv '^75$' '$tmp/exits'"
if [ -n "$CLAW_SANITIZED" ]; then
    skip "clawd's RSS stayed under 256 MiB" "RSS under a sanitizer"
else
    check "clawd's RSS stayed under 256 MiB in all $incarnations incarnations (peak $((peak / 1024)) MiB, $samples samples)" \
        sh -c "[ '$samples' -gt 0 ] && [ '$peak' -lt $bound_kb ]"
fi
# What went wrong beyond the expected write errors, in full.
grep -E "terminate called|Epoll|still open|\[(warn|err)\]" "$tmp/clawd.log" | sed 's/^/# /' >&2
grep -v "^$" "$tmp/clawd.log" | sed 's/^[^]]*] //; s/[0-9]\{2,\}/N/g' | sort | uniq -c | sort -rn | head -15 | sed 's/^/# /' >&2
exit $n_fail
