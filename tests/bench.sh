#!/bin/sh
# make bench: parse + model extraction against a bare GMime parse over the
# shared ham, spam and phishing corpora, in one run on the same messages.
# Writes tests/bench-results/parse.txt (quoted in the README).
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_OUT:-$srcdir/tests/bench-results/parse.txt}"
if [ ! -d "$corpora" ]; then
    echo "bench: no corpora at $corpora (set CLAW_CORPORA)" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sets=""
for name in ham-trec07p ham-linux-mips-lore spam-trec07p phish-phishing_pot; do
    [ -f "$corpora/$name.tar.zst" ] || continue
    tar -I zstd -xf "$corpora/$name.tar.zst" -C "$tmp"
    sets="$sets $name=$tmp/$name"
done
mkdir -p "$(dirname "$out")"
echo "bench: parse + model vs bare GMime ->$out" >&2
# shellcheck disable=SC2086
"$builddir/tests/bench-parse" --rounds "${CLAW_BENCH_ROUNDS:-3}" --out "$out" $sets
cat "$out"

# The README quotes the file between its markers; refresh that copy when
# the in-tree results file was written.
readme="$srcdir/README.md"
if [ -z "${CLAW_BENCH_OUT:-}" ] && [ -w "$readme" ] && grep -q '<!-- bench-parse:begin -->' "$readme"; then
    { sed '/<!-- bench-parse:begin -->/q' "$readme"
      echo '```'
      cat "$out"
      echo '```'
      sed -n '/<!-- bench-parse:end -->/,$p' "$readme"; } > "$readme.new" && mv "$readme.new" "$readme"
    echo "bench: README.md updated" >&2
fi
