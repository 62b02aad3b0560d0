#!/bin/sh
# make bench: parse + model extraction (and + classification with an SMTP
# envelope, DMARC included) against a bare GMime parse over the shared ham,
# spam and phishing corpora, in one run on the same messages.
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
# Classify as the MTA does (bench-parse --envelope), DMARC included: its
# records from a stub that gives every domain one (v=DMARC1; p=none), so
# libopendmarc aligns each message; the timed run of a message follows an
# untimed one, so the record comes from the cache.
. "$srcdir/tests/tools/daemon-lib.sh"
printf '_dmarc.*  TXT  v=DMARC1; p=none\n' > "$tmp/zone"
dns_stub_start "$tmp/zone"
printf '%s\n' "$DMARC_CONF" > "$tmp/clawback.conf"
# Before and after in the same run: the same models classified without DMARC.
printf '[dmarc]\nevaluate = no\n' > "$tmp/no-dmarc.conf"
# shellcheck disable=SC2086
"$builddir/tests/bench/bench-parse" --rounds "${CLAW_BENCH_ROUNDS:-3}" --out "$out" \
    --config "$tmp/clawback.conf" --envelope --compare "$tmp/no-dmarc.conf" $sets
cat "$out"

