#!/bin/sh
# make bench-ioc: does a 1,000,000-entry indicator set change the cost of
# classification? Runs tests/bench/bench-parse twice over the phishing corpus,
# without indicators and with 1,000,000 (random hosts, domains, senders,
# SHA-256s, IPs; none matching), and writes tests/bench/results/ioc.txt.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_OUT:-$srcdir/tests/bench/results/ioc.txt}"
. "$srcdir/tests/bench/bench-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-bench-ioc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unpack_corpora "$tmp" phish-phishing_pot
"${PYTHON3:-python3}" - "$tmp/iocs.txt" <<'PY'
import hashlib, random, sys
r = random.Random(2026)
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        k = i % 5
        w = "%x" % r.getrandbits(48)
        if k == 0: f.write("host: h%s.ioc-bench.example\n" % w)
        elif k == 1: f.write("domain: d%s.ioc-bench.example\n" % w)
        elif k == 2: f.write("sender: s%s@ioc-bench.example\n" % w)
        elif k == 3: f.write("sha256: %s\n" % hashlib.sha256(w.encode()).hexdigest())
        else: f.write("ip: 10.%d.%d.%d\n" % (r.randrange(256), r.randrange(256), r.randrange(256)))
PY
printf '[ioc]\nfiles = %s\n' "$tmp/iocs.txt" > "$tmp/ioc.conf"
printf '[ioc]\n' > "$tmp/none.conf"
mkdir -p "$(dirname "$out")"
# One run: every message parsed once per round, classified without and with
# the indicators on the same model, each timed after an untimed run.
"$builddir/tests/bench/bench-parse" --rounds "${CLAW_BENCH_ROUNDS:-3}" --config "$tmp/none.conf" \
    --compare "$tmp/ioc.conf" --out "$tmp/both.txt" "phish=$tmp/phish-phishing_pot"
{ echo "# make bench-ioc: phishing corpus, classification without and with 1,000,000 indicators"
  echo "# (random hosts, domains, senders, SHA-256s and IPs, none matching), in one run"
  sed -n '/^# bench-parse/p; /^set /,$p' "$tmp/both.txt" | sed "s|$tmp/||g"; } > "$out"
cat "$out"
