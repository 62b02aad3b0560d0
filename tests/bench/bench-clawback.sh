#!/bin/sh
# make bench-clawback: taking mail back at scale, in one run. Writes
# tests/bench/results/clawback.txt (quoted in the README).
#
# Data: bench-hunt's archives (make bench-hunt builds and caches them in
# $CLAW_BENCH_CACHE, default ~/.cache/clawback/bench-hunt).
#
# Figures:
#   - on the 1,000,000-message archive: a quarantine plan over about 5,000
#     messages made, run (with the index brought up to the store: each
#     message's document made again), and restored; the archive is left as
#     it was found (every copy back in view);
#   - on a copy of the 100,000-message archive: the same messages deleted
#     (tombstones, bytes zeroed), then claw compact;
#   - what the journal and the audit cost ingest: the records they add per
#     message stored;
#   - end to end (as root, with Exim and Dovecot: bench-clawback-e2e.sh):
#     1,000 copies delivered by a real Exim into 100 Dovecot users, then
#     claw ioc add --action quarantine alone: when each copy was gone from
#     the users' mailboxes, and after claw restore, back.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
out="${CLAW_BENCH_OUT:-$srcdir/tests/bench/results/clawback.txt}"
cache="${CLAW_BENCH_CACHE:-$HOME/.cache/clawback/bench-hunt}"
py="${PYTHON3:-python3}"
CLAW="$builddir/search/claw"
big="$cache/claw-1000000"
small="$cache/claw-100000"
[ -f "$big.done" ] && [ -d "$small" ] || {
    echo "$0: needs bench-hunt's archives in $cache: run make bench-hunt first" >&2
    exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-clawback.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# About 5,000 messages of the replicated corpora.
query="subject:verify OR from:linux OR subject:money"

{
echo "# make bench-clawback, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "# query: $query"

# The bench's plans run without a second person (the threshold raised).
printf '[purge]\napproval_threshold = 100000000\n' > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" --archive "$big" "$@"; }
n_msgs=$(claw stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
t0=$(now); claw purge plan --json --show 0 "$query" > "$tmp/plan.json"; t1=$(now)
plan=$(field "$tmp/plan.json" 'j["plan"]')
n=$(field "$tmp/plan.json" 'j["copies"]')
echo "archive of $n_msgs messages: plan of $n copies made in $(secs "$t0" "$t1") s"
t0=$(now); claw purge run "$plan" > "$tmp/run.out"; t1=$(now)
echo "quarantine run: $(secs "$t0" "$t1") s ($(grep -o 'done=[0-9]*' "$tmp/run.out"); with the index brought up to the store)"
t0=$(now); claw restore "$plan" > "$tmp/restore.out"; t1=$(now)
echo "restore: $(secs "$t0" "$t1") s ($(grep -o 'done=[0-9]*' "$tmp/restore.out"))"
echo "quarantined after the restore: $(claw search --count state:quarantined 2>/dev/null)"

cp -a "$small" "$tmp/small"
claw() { "$CLAW" --config "$tmp/c.conf" --archive "$tmp/small" "$@"; }
size0=$(du -sk "$tmp/small/store" | cut -f1)
t0=$(now); claw purge plan --json --show 0 --action delete "$query" > "$tmp/d.json"; t1=$(now)
dplan=$(field "$tmp/d.json" 'j["plan"]')
echo "archive of 100000 messages: delete plan of $(field "$tmp/d.json" 'j["copies"]') copies made in $(secs "$t0" "$t1") s"
t0=$(now); claw purge run "$dplan" > "$tmp/drun.out"; t1=$(now)
echo "delete run: $(secs "$t0" "$t1") s ($(grep -o 'done=[0-9]*' "$tmp/drun.out"): bytes zeroed, tombstones left, index emptied)"
t0=$(now); claw compact > "$tmp/compact.out"; t1=$(now)
echo "claw compact: $(secs "$t0" "$t1") s ($(cat "$tmp/compact.out"); store $size0 KiB before the delete)"
audit=$(claw audit log --json | "$py" -c '
import json, sys
n = {}
for l in sys.stdin:
    a = json.loads(l)["action"]
    n[a] = n.get(a, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(n.items())))')
echo "audit records of the delete: $audit"

# Ingest: the journal and the audit write nothing per message stored (a
# message is journaled only when a plan touches it): import 10,000 messages
# and count what they wrote besides the messages.
"$py" - "$cache/md-100000" "$tmp/md10k" <<'EOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(dst, sub), exist_ok=True)
n = 0
for sub in ("cur", "new"):
    d = os.path.join(src, sub)
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if n >= 10000:
            break
        os.link(os.path.join(d, f), os.path.join(dst, sub, f))
        n += 1
EOF
t0=$(now); "$CLAW" --config /dev/null --archive "$tmp/ingest" import --quiet "$tmp/md10k" > /dev/null; t1=$(now)
rate=$(echo "10000 / ($t1 - $t0)" | bc)
recs=$("$CLAW" --config /dev/null --archive "$tmp/ingest" audit log | wc -l)
echo "ingest of 10000 messages: $rate messages/s; audit records written: $recs, plans: $("$CLAW" --config /dev/null --archive "$tmp/ingest" purge list | grep -c '^plan' || true)"
# ...and the rate, beside the build before the audit log and journal.
sh "$srcdir/tests/bench/bench-ingest-audit.sh"
if [ "$(id -u)" = 0 ] && command -v exim > /dev/null && command -v doveadm > /dev/null; then
    sh "$srcdir/tests/bench/bench-clawback-e2e.sh"
else
    echo "(end to end through Exim and Dovecot: needs root, Exim and Dovecot)"
fi
} | tee "$out"
