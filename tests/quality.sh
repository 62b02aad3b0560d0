#!/bin/sh
# make quality: how the classifier judges the shared ham, spam and phishing
# corpora with the built-in defaults (tests/quality.py). Writes
# tests/bench-results/quality.txt.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_QUALITY_OUT:-$srcdir/tests/bench-results/quality.txt}"
[ -d "$corpora" ] || { echo "quality: no corpora at $corpora" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-quality.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sets=""
for name in ham-trec07p ham-linux-mips-lore spam-trec07p phish-phishing_pot; do
    [ -f "$corpora/$name.tar.zst" ] || continue
    tar -I zstd -xf "$corpora/$name.tar.zst" -C "$tmp"
    sets="$sets $name=$tmp/$name"
done
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
"${PYTHON3:-python3}" "$srcdir/tests/quality.py" --claw "$builddir/search/claw" --out "$out" $sets

# The README quotes the file between its markers.
readme="$srcdir/README.md"
if [ -z "${CLAW_QUALITY_OUT:-}" ] && [ -w "$readme" ] && grep -q '<!-- quality:begin -->' "$readme"; then
    { sed '/<!-- quality:begin -->/q' "$readme"
      echo '```'
      cat "$out"
      echo '```'
      sed -n '/<!-- quality:end -->/,$p' "$readme"; } > "$readme.new" && mv "$readme.new" "$readme"
    echo "quality: README.md updated" >&2
fi
