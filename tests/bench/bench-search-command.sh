#!/bin/sh
# make bench-search-command: `claw search` as a whole command against
# `notmuch search`, the same query on the same 3,000 messages, in one run
# (issue 19's goal: at most half of notmuch's median). Two ways of running
# claw search, each paired with notmuch by farm-bench (A and B alternated,
# the ratio taken pair by pair):
#   in process  claw --config C search ...: the command opens the archive
#               itself (loads the archive module, LMDB, Xapian) and, as the
#               archive's owner, appends its read to the audit log;
#   served      claw search ... with claw serve running (query-wire.h): the
#               command asks the service, which has the module loaded and
#               the archive open, and appends the same audit record.
# Writes tests/bench/results/search-command.txt.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_SEARCH_OUT:-$srcdir/tests/bench/results/search-command.txt}"
runs="${CLAW_BENCH_RUNS:-31}"
CLAW="$builddir/search/claw"
. "$srcdir/tests/bench/bench-lib.sh"
for t in notmuch farm-bench; do
    command -v $t > /dev/null || { echo "$0: needs $t" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-search.XXXXXX")
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
unpack_corpora "$tmp" ham-linux-mips-lore

# 3,000 messages as a Maildir, for both.
mkdir -p "$tmp/md/cur" "$tmp/md/new" "$tmp/md/tmp"
find "$tmp/ham-linux-mips-lore" -type f | sort | head -3000 |
    awk -v d="$tmp/md/cur" '{ printf "cp %s %s/%d.eml:2,\n", $0, d, NR }' | sh
printf '[archive]\npath = %s/archive\n' "$tmp" > "$tmp/claw.conf"
"$CLAW" --config "$tmp/claw.conf" import --quiet "$tmp/md" > /dev/null
printf '[database]\npath=%s/md\n[new]\ntags=\n[search]\nexclude_tags=\n' "$tmp" > "$tmp/nm.conf"
notmuch --config="$tmp/nm.conf" new --quiet
query=from:linux-mips.org
nm="notmuch --config=$tmp/nm.conf search --limit=50 $query"

"$CLAW" --config "$tmp/claw.conf" serve --socket "$tmp/q.sock" --group '' 2> "$tmp/serve.log" &
server=$!
i=0
while [ ! -S "$tmp/q.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

ratio() { sed -n 's/^A\/B wall *[0-9.]* *\([0-9.]*\).*/\1/p' "$1"; }
wall() { sed -n "s/^$2 wall s *[0-9.]* *\([0-9.]*\).*/\1/p" "$1"; }
farm-bench -n "$runs" --vs "$nm" -- \
    "$CLAW" --config "$tmp/claw.conf" search --limit 50 "$query" > "$tmp/inproc" 2>&1
CLAW_QUERY_SOCKET="$tmp/q.sock" farm-bench -n "$runs" --vs "$nm" -- \
    "$CLAW" search --limit 50 "$query" > "$tmp/served" 2>&1
served_ms=$(sed -n 's/.* ms=\([0-9.]*\)$/\1/p' "$tmp/serve.log" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

{
    echo "# claw search as a whole command against notmuch search (tests/bench/bench-search-command.sh)."
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; 3,000 messages of ham-linux-mips-lore;"
    echo "# query $query, 50 hits; farm-bench -n $runs, A and B alternated, ratio pair by pair."
    echo "#"
    printf '%-40s %12s %12s %12s\n' "" "claw ms" "notmuch ms" "A/B wall"
    printf '%-40s %12s %12s %12s\n' "claw search, in process" \
        "$(wall "$tmp/inproc" A | awk '{ print $1 * 1000 }')" \
        "$(wall "$tmp/inproc" B | awk '{ print $1 * 1000 }')" "$(ratio "$tmp/inproc")"
    printf '%-40s %12s %12s %12s\n' "claw search, served (claw serve)" \
        "$(wall "$tmp/served" A | awk '{ print $1 * 1000 }')" \
        "$(wall "$tmp/served" B | awk '{ print $1 * 1000 }')" "$(ratio "$tmp/served")"
    echo "#"
    echo "# medians of wall time; the service's own time per request (its log, median): $served_ms ms,"
    echo "# the audit record's commit included."
} > "$out"
cat "$out"
