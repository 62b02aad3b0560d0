#!/bin/sh
# What the audit log and the purge journal cost ingest, in one run: claw
# import of the same 12,013 messages (the linux-mips list of ../shared's
# corpora) into a fresh archive, by this build and by the build of the
# commit just before the audit log and journal came (BASE, built once into
# the cache), in turn A B A B ..., ROUNDS times each; each one's median
# rate and their ratio. Prints its figures on stdout (bench-clawback.sh
# puts them in tests/bench/results/clawback.txt).
set -eu
: "${srcdir:=.}" "${builddir:=.}"
base=edb581b # "bench-hunt measures claw ioc add to a real Exim...", the last without them
rounds="${CLAW_INGEST_ROUNDS:-5}"
cache="${CLAW_BENCH_CACHE:-$HOME/.cache/clawback}/ingest-audit"
corpus="${CLAW_CORPORA:-$srcdir/../shared/corpora}/ham-linux-mips-lore.tar.zst"
CLAW="$(cd "$builddir" && pwd)/search/claw"
if [ ! -f "$corpus" ]; then
    echo "(ingest with and without the audit and journal: needs $corpus)"
    exit 0
fi
mkdir -p "$cache"
# The baseline: BASE's sources (git archive: no second checkout to keep),
# configured and built as setup.sh builds.
old="$cache/base-$base"
if [ ! -x "$old/build/search/claw" ]; then
    rm -rf "$old"
    mkdir -p "$old/src" "$old/build"
    git -C "$srcdir" archive "$base" | tar -x -C "$old/src"
    (cd "$old/src" && autoreconf -fi > /dev/null 2>&1)
    (cd "$old/build" && ../src/configure -q > /dev/null && make -j"$(nproc)" > /dev/null 2>&1) || {
        echo "$0: cannot build $base in $old (see $old/build)" >&2
        exit 1
    }
fi
if [ ! -d "$cache/mips" ]; then
    mkdir -p "$cache/mips.tmp"
    tar -I zstd -xf "$corpus" -C "$cache/mips.tmp"
    mv "$cache/mips.tmp/ham-linux-mips-lore" "$cache/mips"
    rm -rf "$cache/mips.tmp"
fi
n=$(find "$cache/mips" -type f | wc -l)
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-ingest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# One import into a fresh archive: its seconds.
run() {
    rm -rf "$tmp/a"
    t0=$(date +%s.%N)
    "$1" --config /dev/null --archive "$tmp/a" import --quiet "$cache/mips" > /dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
# A round not counted first: the corpus and both programs in the page
# cache (a first measurement right after the build read 0.87).
run "$CLAW" > /dev/null
run "$old/build/search/claw" > /dev/null
i=0
: > "$tmp/new"
: > "$tmp/old"
while [ $i -lt "$rounds" ]; do
    run "$CLAW" >> "$tmp/new"
    run "$old/build/search/claw" >> "$tmp/old"
    i=$((i + 1))
done
# The median of a file of seconds, and the rates of its slowest and fastest.
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
spread() { sort -n "$1" | awk -v n="$n" '{ v[NR] = $1 } END { printf "%d-%d", n / v[NR], n / v[1] }'; }
new=$(median "$tmp/new")
old_s=$(median "$tmp/old")
echo "ingest of $n messages (claw import into a fresh archive, $rounds rounds each in turn, median):"
echo "  with the audit log and journal: $(echo "$n / $new" | bc) messages/s (runs $(spread "$tmp/new"))"
echo "  without (commit $base, the build before them): $(echo "$n / $old_s" | bc) messages/s (runs $(spread "$tmp/old"))"
echo "  with/without rate: $(echo "scale=3; $old_s / $new" | bc) (goal >= 0.95; the two builds also differ by the rest of the work between them)"
