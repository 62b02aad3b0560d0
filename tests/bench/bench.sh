#!/bin/sh
# make bench: parse + model extraction against a bare GMime parse over the
# shared ham, spam and phishing corpora, in one run on the same messages.
# Writes tests/bench/results/parse.txt (quoted in the README).
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_OUT:-$srcdir/tests/bench/results/parse.txt}"
. "$srcdir/tests/bench/bench-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unpack_corpora "$tmp" ham-trec07p ham-linux-mips-lore spam-trec07p phish-phishing_pot
mkdir -p "$(dirname "$out")"
echo "bench: parse + model vs bare GMime ->$out" >&2
# shellcheck disable=SC2086
"$builddir/tests/bench/bench-parse" --rounds "${CLAW_BENCH_ROUNDS:-3}" --out "$out" $sets
cat "$out"

