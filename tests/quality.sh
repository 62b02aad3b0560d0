#!/bin/sh
# make quality: how the classifier judges the shared ham, spam and phishing
# corpora with the built-in defaults (tests/quality.py). Writes
# tests/bench-results/quality.txt.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_QUALITY_OUT:-$srcdir/tests/bench-results/quality.txt}"
. "$srcdir/tests/bench-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-quality.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unpack_corpora "$tmp" ham-trec07p ham-linux-mips-lore spam-trec07p phish-phishing_pot
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
"${PYTHON3:-python3}" "$srcdir/tests/quality.py" --claw "$builddir/search/claw" --out "$out" $sets

# The README quotes the file between its markers.
[ -n "${CLAW_QUALITY_OUT:-}" ] || quote_in_readme quality "$out"
