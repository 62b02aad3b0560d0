#!/bin/sh
# make bench-hunt: retro-hunt at scale, in one run. Writes
# tests/bench/results/hunt.txt (quoted in the README).
#
# Data (built once and cached in $CLAW_BENCH_CACHE, default
# ~/.cache/clawback/bench-hunt; delete it to build again): the ham and
# phishing corpora replicated with unique Message-IDs to 100,000 messages
# (a Maildir, and notmuch's and mu's databases of it) and to 1,000,000 (a
# Clawback archive, imported from mbox chunks), each with 10 copies of the
# messages of tests/ioc/make-hunt-mail.py planted at fixed places: one
# indicator hidden in each (an HTML-only link, a base64 body, a zip member,
# a subdomain, a Received hop, Reply-To only...), so that what every tool
# should find is known.
#
# Figures:
#   - one indicator of each type hunted, p50/p99 in process at 1M and 100k
#     (tests/bench/bench-hunt), beside the same question to notmuch, mu and
#     grep -rli over the Maildir at 100k: each one's time and what it misses;
#   - 100,000 indicators (a generated STIX 2.1 bundle) imported into the 1M
#     archive, and all of them hunted in process;
#   - clawd on the 1M archive: its own round of hunts of those 100,000
#     (from start to "hunted"), and its peak memory meanwhile;
#   - the time from `claw ioc add` to a real Exim refusing the next message
#     with the indicator, with those 100,000 in force (as root, with Exim);
#   - claw hunt --rules against claw scan over the same 100,000 messages;
#   - the MTA's verdict with 1,000,000 indicators against none (bench-ioc).
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_OUT:-$srcdir/tests/bench/results/hunt.txt}"
cache="${CLAW_BENCH_CACHE:-$HOME/.cache/clawback/bench-hunt}"
big="${CLAW_BENCH_HUNT_SIZE:-1000000}"
small="${CLAW_BENCH_HUNT_PEER_SIZE:-100000}"
py="${PYTHON3:-python3}"
CLAW="$builddir/search/claw"
CLAWD="$builddir/indexer/clawd"
BH="$builddir/tests/bench/bench-hunt"
. "$srcdir/tests/bench/bench-lib.sh"
. "$srcdir/tests/mta/exim-lib.sh"
for t in mu notmuch; do
    command -v $t > /dev/null || { echo "$0: needs $t (apt-get install maildir-utils notmuch)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-hunt.XXXXXX")
step=setup
finish() {
    rc=$?
    [ -n "${clawd_pid:-}" ] && kill "$clawd_pid" 2> /dev/null
    exim_stop
    [ "$rc" -ne 0 ] && echo "$0: failed (exit $rc) at: $step; logs kept in $tmp" >&2
    [ "$rc" -eq 0 ] && rm -rf "$tmp"
}
trap finish EXIT
now() { date +%s.%N; }
peak_kb() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }
mkdir -p "$cache"

# --- the data, once -------------------------------------------------------------
step="the needles"
"$py" "$srcdir/tests/ioc/make-hunt-mail.py" "$tmp/needles" > "$tmp/needles.tsv"
# generate KIND SIZE DEST: the corpora (in $cache/corpora) replicated to SIZE
# messages with 10 copies of each needle planted; KIND maildir or mbox (a
# file of 20,000 messages at a time, each imported and removed by the caller
# through the fifo of names it prints).
generate() {
    "$py" - "$cache/corpora" "$tmp/needles" "$@" <<'EOF'
import os, re, sys
corp, needles, kind, size, dest = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
files = sorted(os.path.join(r, f) for r, _, x in os.walk(corp) for f in x)
ndl = sorted(os.path.join(needles, f) for f in os.listdir(needles))
# 10 copies of each needle, spread over the set; the first keeps its
# Message-ID (a message-id indicator finds exactly one).
place = {}
for j, n in enumerate(ndl):
    for c in range(10):
        place[(c * size) // 10 + 1 + j * 7] = (n, c)
def message(i):
    if i in place:
        n, c = place[i]
        data = open(n, "rb").read()
        if c:
            data = re.sub(rb"(?im)^message-id:[^\n]*\n", b"Message-ID: <needle-%d-%d@bench.example>\n" % (c, i), data, count=1)
        return data
    src = files[i % len(files)]
    data = open(src, "rb").read()
    rep = i // len(files)
    if rep:
        data = re.sub(rb"(?im)^message-id:[^\n]*\n", b"", data, count=1)
        data = b"Message-ID: <replica-%d-%d@bench.example>\nX-Replica: %d\n" % (rep, i, rep) + data
    return data
if kind == "maildir":
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    for i in range(size):
        with open(os.path.join(dest, "cur", "%07d.bench:2," % i), "wb") as f:
            f.write(message(i))
else:
    chunk = 20000
    for start in range(0, size, chunk):
        path = os.path.join(dest, "chunk-%07d.mbox" % start)
        with open(path + ".part", "wb") as f:
            for i in range(start, min(size, start + chunk)):
                data = message(i).replace(b"\r\n", b"\n")
                data = re.sub(rb"(?m)^(>*From )", rb">\1", data)
                f.write(b"From bench@bench.example Mon Nov  2 10:00:00 2026\n" + data.rstrip(b"\n") + b"\n\n")
        os.rename(path + ".part", path)
        print(path, flush=True)
EOF
}
if [ ! -d "$cache/corpora" ]; then
    step="unpack the corpora"
    mkdir -p "$cache/corpora.part"
    unpack_corpora "$cache/corpora.part" ham-trec07p ham-linux-mips-lore ham-notmuch-lkml phish-phishing_pot
    mv "$cache/corpora.part" "$cache/corpora"
fi
setup_log="$tmp/setup.txt"
: > "$setup_log"
if [ ! -f "$cache/md-$small.done" ]; then
    step="the 100k Maildir and its archive, notmuch and mu databases"
    rm -rf "$cache/md-$small" "$cache/claw-$small" "$cache/mu-$small"
    generate maildir "$small" "$cache/md-$small"
    t0=$(now); "$CLAW" --config /dev/null --archive "$cache/claw-$small" import --quiet "$cache/md-$small" > /dev/null; t1=$(now)
    echo "claw import, $small: $(echo "$t1 - $t0" | bc) s" >> "$setup_log"
    printf '[database]\npath=%s\n[new]\ntags=new\n[search]\nexclude_tags=\n' "$cache/md-$small" > "$cache/notmuch-$small.conf"
    t0=$(now); notmuch --config="$cache/notmuch-$small.conf" new --quiet > /dev/null 2>&1; t1=$(now)
    echo "notmuch new, $small: $(echo "$t1 - $t0" | bc) s" >> "$setup_log"
    mu init --muhome="$cache/mu-$small" --maildir="$cache/md-$small" > /dev/null
    t0=$(now); mu index --muhome="$cache/mu-$small" --quiet > /dev/null 2>&1 || true; t1=$(now)
    echo "mu index, $small: $(echo "$t1 - $t0" | bc) s" >> "$setup_log"
    touch "$cache/md-$small.done"
fi
A="$cache/claw-$big"
if [ ! -f "$A.done" ]; then
    step="the $big-message archive"
    rm -rf "$A" "$cache/mbox"
    mkdir -p "$cache/mbox"
    t0=$(now)
    generate mbox "$big" "$cache/mbox" | while read -r chunk; do
        "$CLAW" --config /dev/null --archive "$A" import --quiet "$chunk" > /dev/null
        rm -f "$chunk"
        printf '\r%s imported ' "$(basename "$chunk")" >&2
    done
    t1=$(now)
    echo >&2
    echo "claw import, $big from mbox: $(echo "$t1 - $t0" | bc) s" >> "$setup_log"
    rmdir "$cache/mbox"
    touch "$A.done"
fi

# --- one indicator of each type ---------------------------------------------------
# TYPE:VALUE, then the same question to notmuch, to mu and to grep -F (- : none can ask it).
cat > "$tmp/iocs" <<'EOF'
url:http://HTML-only.example/login	html-only.example/login	html-only.example	HTML-only.example/login
host:b64-link.example	b64-link.example	b64-link.example	b64-link.example
domain:evil-sub.example	evil-sub.example	evil-sub.example	evil-sub.example
ip:203.0.113.66	203.0.113.66	203.0.113.66	203.0.113.66
ip:203.0.113.0/24	-	-	203.0.113.
sender:Payments@Reply-Fraud.example	from:payments@reply-fraud.example	from:payments@reply-fraud.example	Payments@Reply-Fraud.example
sha256:D96B100FE0DFBB6C372E31639C69E8A2CCDFD4C8A82B7486D44785882F9B4968	-	-	D96B100FE0DFBB6C372E31639C69E8A2CCDFD4C8A82B7486D44785882F9B4968
message-id:<html-only@sender.example>	id:html-only@sender.example	msgid:html-only@sender.example	html-only@sender.example
EOF
rounds="${CLAW_BENCH_ROUNDS:-50}"
step="hunts in process"
cut -f1 "$tmp/iocs" > "$tmp/ioc-list"
# shellcheck disable=SC2046
"$BH" "$A" "$rounds" $(cat "$tmp/ioc-list") > "$tmp/big.jsonl"
# shellcheck disable=SC2046
"$BH" "$cache/claw-$small" "$rounds" $(cat "$tmp/ioc-list") > "$tmp/small.jsonl"
step="the peers at $small"
"$py" - "$tmp" "$cache" "$rounds" "$small" "$big" <<'EOF' > "$tmp/peers.txt"
import json, subprocess, sys, time
tmp, cache, rounds, small_n, big_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
md = cache + "/md-" + small_n
def timed(cmd, runs):
    ts, out = [], b""
    for _ in range(runs):
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True).stdout
        ts.append((time.monotonic() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2], out
big = [json.loads(l) for l in open(tmp + "/big.jsonl") if '"type"' in l]
small = [json.loads(l) for l in open(tmp + "/small.jsonl") if '"type"' in l]
rows = [l.rstrip("\n").split("\t") for l in open(tmp + "/iocs")]
print("%-44s %14s %14s %14s %14s %14s" % ("indicator (10 planted; message-id: 1)", "claw " + big_n,
      "claw " + small_n, "notmuch " + small_n, "mu " + small_n, "grep -rli " + small_n))
print("%-44s %14s %14s %14s %14s %14s" % ("", "hits p50/p99ms", "hits p50/p99ms", "hits p50 ms",
      "hits p50 ms", "hits p50 ms"))
for (ioc, nm, mu, gr), b, s in zip(rows, big, small):
    cells = ["%d %.1f/%.1f" % (b["matches"], b["p50_ms"], b["p99_ms"]),
             "%d %.1f/%.1f" % (s["matches"], s["p50_ms"], s["p99_ms"])]
    if nm == "-":
        cells.append("cannot ask")
    else:
        t, o = timed(["notmuch", "--config=" + cache + "/notmuch-" + small_n + ".conf", "count", nm], 5)
        cells.append("%s %.0f" % (o.decode().strip(), t))
    if mu == "-":
        cells.append("cannot ask")
    else:
        t, o = timed(["mu", "find", "--muhome=" + cache + "/mu-" + small_n, "--fields=i", mu], 5)
        cells.append("%d %.0f" % (len(o.splitlines()), t))
    t, o = timed(["grep", "-rliF", gr, md + "/cur"], 1)
    cells.append("%d %.0f" % (len(o.splitlines()), t))
    print("%-44s %14s %14s %14s %14s %14s" % ((ioc[:44],) + tuple(cells)))
a = [json.loads(l) for l in open(tmp + "/big.jsonl") if '"all"' in l][0]
print("claw at " + big_n + ", all types together: p50 %.1f ms, p99 %.1f ms in process (%d hunts)" % (a["p50_ms"], a["p99_ms"], a["all"]))
EOF

# --- 100,000 indicators: imported, hunted in process, hunted by clawd ---------------
step="100,000 indicators"
"$py" - "$tmp/bundle.json" <<'EOF'
import json, random, sys
r = random.Random(2026)
pats = []
for i in range(100000):
    k = i % 5
    w = "%x" % r.getrandbits(48)
    if k == 0: p = "[url:value = 'http://u%s.hunt-bench.example/p']" % w
    elif k == 1: p = "[domain-name:value = 'd%s.hunt-bench.example']" % w
    elif k == 2: p = "[email-addr:value = 's%s@hunt-bench.example']" % w
    elif k == 3: p = "[file:hashes.'SHA-256' = '%064x']" % r.getrandbits(256)
    else: p = "[ipv4-addr:value = '10.%d.%d.%d']" % (r.randrange(256), r.randrange(256), r.randrange(256))
    pats.append({"type": "indicator", "spec_version": "2.1", "id": "indicator--%032x" % i,
                 "pattern_type": "stix", "pattern": p, "valid_from": "2026-01-01T00:00:00Z"})
json.dump({"type": "bundle", "id": "bundle--hunt-bench", "objects": pats}, open(sys.argv[1], "w"))
EOF
# The import writes the archive's store: the cached archive gets the 100,000
# indicators, revoked again at the end, and before the import too (a run cut
# short leaves them in force): each run adds them anew and clawd hunts them
# all.
revoke_bench_iocs() {
    "$CLAW" --config /dev/null --archive "$A" ioc list --json --active |
        "$py" -c 'import json, sys; print("\n".join(str(i["id"]) for i in json.load(sys.stdin) if i["source"] in ("bench-hunt", "bench-latency")))' > "$tmp/ids"
    xargs -a "$tmp/ids" -n 5000 "$CLAW" --config /dev/null --archive "$A" ioc revoke > /dev/null 2>&1 || true
}
revoke_bench_iocs
/usr/bin/time -v -o "$tmp/import.time" "$CLAW" --config /dev/null --archive "$A" ioc import --action hunt \
    --source bench-hunt "$tmp/bundle.json" > "$tmp/import.out"
import_s=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/import.time")
step="all of them hunted in process"
"$BH" "$A" --store > "$tmp/store.json"
step="clawd's round"
cat > "$tmp/clawd.conf" <<EOF
[archive]
path = $A
[clawd]
socket = $tmp/clawd.sock
EOF
t0=$(now)
"$CLAWD" --config "$tmp/clawd.conf" --stderr > "$tmp/clawd.log" 2>&1 &
clawd_pid=$!
hwm=0
while ! grep -q 'hunts: round done' "$tmp/clawd.log" && kill -0 $clawd_pid 2> /dev/null; do
    [ "$(echo "$(now) - $t0 < 600" | bc)" = 1 ] || { echo "$0: clawd hunted nothing in 600 s" >&2; exit 1; }
    h=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$clawd_pid/status 2> /dev/null || echo 0)
    [ "${h:-0}" -gt "$hwm" ] && hwm=$h
    sleep 0.5
done
t1=$(now)
h=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$clawd_pid/status 2> /dev/null || echo 0)
[ "${h:-0}" -gt "$hwm" ] && hwm=$h
rss_anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$clawd_pid/status 2> /dev/null || echo 0)
kill -TERM $clawd_pid; wait $clawd_pid || true
clawd_pid=""
round=$(grep -m1 'hunts: round done' "$tmp/clawd.log" | sed 's/.*hunts: round done: //')
# --- from claw ioc add to the MTA applying it ----------------------------------------
# A real Exim with the plugin (dlfunc, its scanner) reading the archive's
# published set, the 100,000 now asking to block: each add publishes them
# all and the scanner reloads them all, as at a site with a large feed.
latency="not measured: needs root, Exim and the built plugin"
if [ "$(id -u)" -eq 0 ] && command -v exim > /dev/null && [ -f "$builddir/plugin/.libs/claw_exim.so" ]; then
    step="claw ioc add to the MTA"
    "$CLAW" --config /dev/null --archive "$A" ioc import --action block --source bench-hunt \
        "$tmp/bundle.json" > /dev/null
    chmod 755 "$tmp"
    printf '[archive]\npath = %s\n[ioc]\npublished = %s/pub/active\n' "$A" "$tmp" > "$tmp/mta.conf"
    chmod 644 "$tmp/mta.conf"
    "$CLAW" --config "$tmp/mta.conf" ioc add --source bench-latency unrelated.latency.example > /dev/null
    chmod 755 "$tmp/pub"
    exim_start "$tmp/exim" dlfunc "$tmp/mta.conf"
    "$py" "$srcdir/tests/bench/ioc-latency.py" "$EXIM_PORT" "${CLAW_BENCH_LATENCY_ROUNDS:-100}" \
        "$CLAW" --config "$tmp/mta.conf" > "$tmp/latency.json"
    exim_stop
    rm -rf "$tmp/exim" # its scanner ends when its socket is gone: idle, it would still look ten times a second
    latency=$("$py" -c 'import json, sys; j = json.load(open(sys.argv[1]))
print("p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d adds (claw ioc add itself: p50 %.0f ms); %d never applied within 10 s"
      % (j["p50_ms"], j["p99_ms"], j["max_ms"], j["rounds"], j["add_p50_ms"], j["missed"]))' "$tmp/latency.json")
fi

# --- the rules over old mail: claw hunt --rules against claw scan -----------------------
# The same 100,000 messages: claw scan over the Maildir's files, claw hunt
# --rules over the archive of them (reading each message back, judging it
# with today's rules, comparing with the verdict it got); both single
# processes, output thrown away.
step="hunt --rules"
t0=$(now)
find "$cache/md-$small/cur" -type f | xargs -n 5000 "$CLAW" --config /dev/null scan --json > /dev/null
t1=$(now)
"$CLAW" --config /dev/null --archive "$cache/claw-$small" hunt --rules --limit 5 > "$tmp/rules.out" 2>&1 || true
t2=$(now)
rules=$("$py" -c 'import sys; n, s, r = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print("claw scan %.1f s (%.0f msgs/s), claw hunt --rules %.1f s (%.0f msgs/s): %.2f of scan'"'"'s rate" % (s, n / s, r, n / r, s / r))' \
    "$small" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)")

# Leave the cached archive as it was: the bench's indicators revoked.
revoke_bench_iocs

# --- the MTA with 1,000,000 indicators --------------------------------------------------
step="bench-ioc"
CLAW_BENCH_ROUNDS=3 CLAW_BENCH_OUT="$tmp/ioc.txt" sh "$srcdir/tests/bench/bench-ioc.sh" > /dev/null

{
echo "# make bench-hunt, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)."
echo "# Clawback $("$CLAW" --version | cut -d' ' -f3), $(mu --version | head -1 | sed 's/.*version/mu/'), $(notmuch --version)."
echo "# The corpora (ham and phishing) replicated with unique Message-IDs; in each set 10"
echo "# copies of each message of tests/ioc/make-hunt-mail.py, which hide one indicator each."
[ -s "$setup_log" ] && sed 's/^/# built: /' "$setup_log"
echo
echo "## One indicator of each type: hits and time (in process for claw, whole commands for the rest)"
cat "$tmp/peers.txt"
echo "# 'cannot ask': notmuch and mu index no attachment hashes and no address ranges."
echo
echo "## 100,000 indicators (a STIX 2.1 bundle: URLs, domains, senders, SHA-256s, IPs)"
echo "claw ioc import into the $big-message archive: $import_s (m:ss), peak $(($(peak_kb "$tmp/import.time") / 1024)) MiB; $(tail -1 "$tmp/import.out")"
echo "all hunted in process at $big: $(cat "$tmp/store.json")"
echo "clawd's own round over them: $(echo "$t1 - $t0" | bc) s from start; its log: $round"
echo "clawd's memory meanwhile: peak RSS $((hwm / 1024)) MiB (file pages of the store and index included), anonymous at the end $((rss_anon / 1024)) MiB"
echo
echo "## From claw ioc add to the MTA refusing the next message with it (Exim, dlfunc; 100,000 others in force)"
echo "$latency"
echo
echo "## The rules over old mail, $small messages"
echo "$rules"
tail -1 "$tmp/rules.out" | sed 's/^/# hunt --rules: /'
echo
echo "## The MTA's verdict with 1,000,000 indicators against none (bench-ioc)"
sed -n '/^set /,$p' "$tmp/ioc.txt"
} > "$out"
cat "$out"
