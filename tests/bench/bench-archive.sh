#!/bin/sh
# make bench, archive part: ingest and search side by side with mu and
# notmuch (Debian's), on the same Maildir, in one run. Writes
# tests/bench/results/archive.txt (quoted in the README).
#
# Sets: the ham corpora (ham-trec07p, ham-linux-mips-lore, ham-notmuch-lkml:
# about 23,000 messages) and the same replicated to 100,000 with unique
# Message-IDs. Per set:
#   - ingest messages/s: claw import; clawd over LMTP (8 sessions, until
#     the index has caught up); mu index; notmuch new; with peak memory;
#   - size: store + index against the raw corpus (and notmuch's database
#     plus the Maildir it needs, mu's database);
#   - search: a fixed set of queries, p50/p99 in process (tests/bench/bench-search)
#     and as a whole claw command, beside notmuch search on the same
#     queries (translated where the syntax differs);
# and callgrind's instructions per message for claw import (the stable
# figure on a noisy 2-core machine).
# CLAW_BENCH_ARCHIVE_SIZES (default "23k 100k") picks the sets.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_ARCHIVE_OUT:-$srcdir/tests/bench/results/archive.txt}"
sizes="${CLAW_BENCH_ARCHIVE_SIZES:-23k 100k}"
py="${PYTHON3:-python3}"
CLAW="$builddir/search/claw"
CLAWD="$builddir/indexer/clawd"
BS="$builddir/tests/bench/bench-search"
# Timed as a whole command: claw links libc alone, so search/claw is the
# program itself (no libtool wrapper), and finds its modules in .libs/.
CLAW_CMD="$CLAW"
. "$srcdir/tests/bench/bench-lib.sh"
for t in mu notmuch; do
    command -v $t > /dev/null || { echo "$0: needs $t (apt-get install maildir-utils notmuch)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-archive.XXXXXX")
# On a failure the logs stay (the Maildirs and archives go: they are big).
step=setup
finish() {
    rc=$?
    [ -f "$tmp/clawd.pid" ] && kill "$(cat "$tmp/clawd.pid")" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        echo "$0: failed (exit $rc) at: $step; logs kept in $tmp" >&2
        rm -rf "$tmp"/md-* "$tmp"/claw-* "$tmp"/clawd-* "$tmp"/mu-* "$tmp/corpora"
    else
        rm -rf "$tmp"
    fi
}
trap finish EXIT
mkdir -p "$tmp/corpora"
unpack_corpora "$tmp/corpora" ham-trec07p ham-linux-mips-lore ham-notmuch-lkml

# The Maildirs: every message of the sets as a file in cur/; the 100k one
# repeats them with a new Message-ID (and one more header) each time.
"$py" - "$tmp" $sets <<'EOF'
import os, re, sys
tmp, sets = sys.argv[1], sys.argv[2:]
files = []
for s in sets:
    d = s.split("=", 1)[1]
    files += sorted(os.path.join(r, f) for r, _, x in os.walk(d) for f in x)
def maildir(name, n):
    cur = os.path.join(tmp, name, "cur")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(tmp, name, sub), exist_ok=True)
    for i in range(n):
        src = files[i % len(files)]
        data = open(src, "rb").read()
        rep = i // len(files)
        if rep:
            data = re.sub(rb"(?im)^message-id:[^\n]*\n", b"", data, count=1)
            data = (b"Message-ID: <replica-%d-%d@bench.example>\nX-Replica: %d\n" % (rep, i, rep)) + data
        with open(os.path.join(cur, "%07d.bench:2," % i), "wb") as f:
            f.write(data)
maildir("md-23k", len(files))
maildir("md-100k", 100000)
EOF

peak() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }
now() { date +%s.%N; }
rate() { "$py" -c "import sys; print('%.0f' % ($1 / ($3 - $2)))"; }
du_b() { du -sb "$@" | awk '{s+=$1} END {print s}'; }

# The queries: claw's, and notmuch's equivalent (same line).
cat > "$tmp/queries" <<'EOF'
from:linux-mips.org	from:linux-mips.org
subject:patch	subject:patch
kernel	kernel
"please find attached"	"please find attached"
from:ralf@linux-mips.org date:2005-01-01..2005-12-31	from:ralf@linux-mips.org date:2005-01-01..2005-12-31
attachment:patch	attachment:patch
to:linux-mips@linux-mips.org NOT subject:re	to:linux-mips@linux-mips.org and not subject:re
host:www.linux-mips.org	www.linux-mips.org
meeting OR conference	meeting or conference
date:2007-04..2007-05 action:tag	date:2007-04-01..2007-05-31
sched*	sched*
domain:gmail.com	from:gmail.com or to:gmail.com
EOF

{
echo "# make bench (archive), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)."
echo "# Clawback $("$CLAW" --version | cut -d' ' -f3), $(mu --version | head -1 | sed 's/.*version/mu/'), $(notmuch --version)."
echo "# Each tool indexes the same Maildir from empty. claw import and clawd also"
echo "# classify every message and store it compressed; clawd is timed until its"
echo "# index has caught up (8 LMTP sessions in parallel, pipelined as Exim's lmtp transport"
echo "# does, from tests/bench/mail-bench.c). Peak = max RSS."
} > "$tmp/out"

for size in $sizes; do
    md="$tmp/md-$size"
    n=$(find "$md/cur" -type f | wc -l)
    raw=$(du_b "$md/cur")
    rawlen=$(find "$md/cur" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
    sync
    echo "" >> "$tmp/out"
    echo "## $size: $n messages, $(echo "$rawlen" | awk '{printf "%.1f", $1/1e6}') MB of mail ($(echo "$raw" | awk '{printf "%.1f", $1/1e6}') MB as Maildir files)" >> "$tmp/out"
    printf '%-34s %9s %9s %10s %12s\n' "ingest" "seconds" "msgs/s" "peak MiB" "disk/raw" >> "$tmp/out"

    # claw import
    step="claw import, $size"
    A="$tmp/claw-$size"
    t0=$(now)
    /usr/bin/time -v -o "$tmp/time" "$CLAW" --config /dev/null --archive "$A" import -q "$md" > /dev/null 2> "$tmp/import.log"
    t1=$(now)
    bytes=$(du_b "$A")
    printf '%-34s %9.1f %9s %10.0f %12.2f\n' "claw import (classify+store+index)" \
        "$(echo "$t1 - $t0" | bc)" "$(rate "$n" "$t0" "$t1")" "$(($(peak "$tmp/time") / 1024))" \
        "$(echo "$bytes / $rawlen" | bc -l)" >> "$tmp/out"
    claw_bytes=$bytes

    # clawd over LMTP
    step="clawd over LMTP, $size"
    B="$tmp/clawd-$size"
    find "$md/cur" -type f | sort > "$tmp/list"
    "$CLAWD" --config /dev/null --archive "$B" --socket "$tmp/clawd.sock" --stderr 2> "$tmp/clawd.log" &
    echo $! > "$tmp/clawd.pid"
    while [ ! -S "$tmp/clawd.sock" ]; do sleep 0.1; done
    t0=$(now)
    "$builddir/tests/bench/mail-bench" --lmtp --socket "$tmp/clawd.sock" --connections 8 "$tmp/list" > "$tmp/lmtp.json"
    last=$("$CLAW" --config /dev/null --archive "$B" stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
    while :; do
        seq=$("$CLAW" --config /dev/null --archive "$B" stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["index_seq"])')
        [ "$seq" -ge "$last" ] && break
        sleep 0.05
    done
    t1=$(now)
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(cat "$tmp/clawd.pid")/status")
    printf '%-34s %9.1f %9s %10.0f %12.2f\n' "clawd over LMTP (same work)" \
        "$(echo "$t1 - $t0" | bc)" "$(rate "$n" "$t0" "$t1")" "$((hwm / 1024))" \
        "$(echo "$(du_b "$B") / $rawlen" | bc -l)" >> "$tmp/out"
    # Its index grew by many small commits; an idle shard compacts itself
    # (after 30 s without mail): the size it settles at.
    # Done when every shard says so and no copy is left beside them, twice
    # in a row (a shard records its count just before it starts copying).
    step="clawd's idle compaction, $size"
    i=0 settled=0
    while [ $i -lt 600 ] && [ $settled -lt 2 ]; do
        "$CLAW" --config /dev/null --archive "$B" stats --json > "$tmp/st.json"
        if "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["index_compacted_documents"] < d["index_documents"])' "$tmp/st.json" &&
            ! ls -d "$B"/index/*.compact "$B"/index/*.old > /dev/null 2>&1; then
            settled=$((settled + 1))
        else
            settled=0
        fi
        sleep 0.5
        i=$((i + 1))
    done
    t2=$(now)
    echo "# clawd, idle after the load: its shards compacted themselves $(echo "$t2 - $t1" | bc | cut -d. -f1) s later; then disk/raw $(echo "$(du_b "$B") $rawlen" | awk '{printf "%.2f", $1 / $2}')." >> "$tmp/out"
    kill "$(cat "$tmp/clawd.pid")"; wait "$(cat "$tmp/clawd.pid")" || true
    rm -f "$tmp/clawd.pid"
    rm -rf "$B"

    # mu (1.8.13 has aborted with "double free or corruption" on the 100k set,
    # not every time: it gets three tries, and a failure is reported, not
    # the end of the run)
    step="mu index, $size"
    M="$tmp/mu-$size"
    for try in 1 2 3; do
        rm -rf "$M"
        mu init --muhome="$M" --maildir="$md" > /dev/null
        t0=$(now)
        mu_rc=0
        /usr/bin/time -v -o "$tmp/time" mu index --muhome="$M" --quiet > /dev/null 2> "$tmp/mu.log" || mu_rc=$?
        t1=$(now)
        [ $mu_rc -eq 0 ] && break
        echo "$0: mu index failed (exit $mu_rc, try $try): $(grep -v '^Command' "$tmp/mu.log" | head -1)" >&2
    done
    if [ $mu_rc -eq 0 ]; then
        printf '%-34s %9.1f %9s %10.0f %12.2f\n' "mu index" "$(echo "$t1 - $t0" | bc)" \
            "$(rate "$n" "$t0" "$t1")" "$(($(peak "$tmp/time") / 1024))" \
            "$(echo "($(du_b "$M") + $raw) / $rawlen" | bc -l)" >> "$tmp/out"
    else
        printf '%-34s %s\n' "mu index" "failed three times: $(grep -v '^Command' "$tmp/mu.log" | head -1)" >> "$tmp/out"
    fi
    rm -rf "$M"

    # notmuch
    step="notmuch new, $size"
    printf '[database]\npath=%s\n[new]\ntags=new\n[search]\nexclude_tags=\n' "$md" > "$tmp/notmuch.conf"
    t0=$(now)
    /usr/bin/time -v -o "$tmp/time" notmuch --config="$tmp/notmuch.conf" new --quiet > /dev/null 2> "$tmp/notmuch.log"
    t1=$(now)
    printf '%-34s %9.1f %9s %10.0f %12.2f\n' "notmuch new" "$(echo "$t1 - $t0" | bc)" \
        "$(rate "$n" "$t0" "$t1")" "$(($(peak "$tmp/time") / 1024))" \
        "$(echo "($(du_b "$md/.notmuch") + $raw) / $rawlen" | bc -l)" >> "$tmp/out"
    echo "# disk/raw: claw = store + index; mu and notmuch = their database + the Maildir they index." >> "$tmp/out"
    echo "# Clawback's archive alone: $(echo "$claw_bytes" | awk '{printf "%.1f", $1/1e6}') MB." >> "$tmp/out"

    # search
    step="search, $size"
    cut -f1 "$tmp/queries" > "$tmp/q.claw"
    cut -f2 "$tmp/queries" > "$tmp/q.nm"
    # shellcheck disable=SC2046
    "$py" - "$BS" "$A" "$tmp/q.claw" > "$tmp/inproc.json" <<'EOF'
import subprocess, sys
bs, a, qf = sys.argv[1:4]
qs = [l.rstrip("\n") for l in open(qf) if l.strip()]
print(subprocess.run([bs, a, "50"] + qs, capture_output=True, text=True, check=True).stdout)
EOF
    LD_LIBRARY_PATH="$builddir/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$py" - "$CLAW_CMD" "$A" "$tmp/notmuch.conf" "$tmp/q.claw" "$tmp/q.nm" "$tmp/inproc.json" > "$tmp/search.txt" <<'EOF'
import json, statistics, subprocess, sys, time
claw, a, nmconf, qc, qn, inproc = sys.argv[1:7]
qcs = [l.rstrip("\n") for l in open(qc) if l.strip()]
qns = [l.rstrip("\n") for l in open(qn) if l.strip()]
ip = json.load(open(inproc))
def timed(cmd, n=10):
    subprocess.run(cmd, capture_output=True)
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True)
        t.append((time.perf_counter() - t0) * 1000)
    return t, r.stdout
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]
allc, alln = [], []
rows = []
for i, (c, n) in enumerate(zip(qcs, qns)):
    tc, _ = timed([claw, "--config", "/dev/null", "--archive", a, "search", "--limit", "50", c])
    tn, _ = timed(["notmuch", "--config=" + nmconf, "search", "--output=messages", "--limit=50",
                   "--sort=newest-first", n])
    cnt = subprocess.run(["notmuch", "--config=" + nmconf, "count", n], capture_output=True,
                         text=True).stdout.strip()
    allc += tc; alln += tn
    q = ip["queries"][i]
    rows.append("%-52s %8d %8s %9.2f %9.1f %9.1f" % (c[:52], q["matches"], cnt, q["p50_ms"],
                statistics.median(tc), statistics.median(tn)))
print("%-52s %8s %8s %9s %9s %9s" % ("query (claw; notmuch's equivalent in the script)",
      "claw", "notmuch", "in-proc", "claw cmd", "notmuch"))
print("%-52s %8s %8s %9s %9s %9s" % ("", "matches", "matches", "p50 ms", "p50 ms", "p50 ms"))
print("\n".join(rows))
print("in process (claw, %d runs): p50 %.2f ms, p99 %.2f ms" % (ip["runs"], ip["p50_ms"], ip["p99_ms"]))
print("whole command: claw search p50 %.1f ms p99 %.1f ms; notmuch search p50 %.1f ms p99 %.1f ms"
      % (pct(allc, .5), pct(allc, .99), pct(alln, .5), pct(alln, .99)))
EOF
    echo "" >> "$tmp/out"
    echo "### search, $size (50 hits, newest first; 50 timed runs per query in process, 10 as commands)" >> "$tmp/out"
    cat "$tmp/search.txt" >> "$tmp/out"

    # A link only in HTML: claw finds it; notmuch and mu index words of the text.
    if [ "$size" = 23k ]; then
        host=$("$py" - "$md/cur" <<'EOF'
import email, os, re, sys
from email import policy
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    m = email.message_from_binary_file(open(os.path.join(d, f), "rb"), policy=policy.default)
    try:
        html = m.get_body(preferencelist=("html",))
        text = m.get_body(preferencelist=("plain",))
        if not html or text:
            continue
        h = html.get_content()
    except Exception:
        continue
    visible = re.sub(r"<[^>]*>", " ", h)
    for u in re.findall(r'href="https?://([a-z0-9.-]+\.[a-z]{2,})[/"]', h, re.I):
        if u.lower() not in visible.lower() and len(u) > 8:
            print(u.lower()); sys.exit(0)
EOF
        )
        if [ -n "$host" ]; then
            c=$("$CLAW" --config /dev/null --archive "$A" search --count "host:$host" || true)
            nm=$(notmuch --config="$tmp/notmuch.conf" count "$host")
            mu init --muhome="$tmp/mu-h" --maildir="$md" > /dev/null && mu index --muhome="$tmp/mu-h" --quiet > /dev/null
            mu_n=$(mu find --muhome="$tmp/mu-h" "$host" 2> /dev/null | wc -l)
            echo "" >> "$tmp/out"
            echo "A host that appears only in HTML links ($host): claw host: finds $c, notmuch $nm, mu $mu_n." >> "$tmp/out"
            rm -rf "$tmp/mu-h"
        fi
        # Instructions per message (callgrind), claw import of 1000 of them.
        mkdir -p "$tmp/cg/cur"
        find "$md/cur" -type f | sort | head -1000 | xargs -I{} cp {} "$tmp/cg/cur/"
        if command -v valgrind > /dev/null; then
            claw_prog="$CLAW"
            LD_LIBRARY_PATH="$builddir/lib/.libs" valgrind --tool=callgrind \
                --callgrind-out-file="$tmp/cg.out" "$claw_prog" --config /dev/null \
                --archive "$tmp/cg-archive" import -q "$tmp/cg" > /dev/null 2> "$tmp/cg.log" || true
            ir=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$tmp/cg.log" | head -1)
            [ -n "$ir" ] && echo "callgrind: claw import of 1000 messages (classify, store, index): $(echo "$ir / 1000" | bc) instructions per message." >> "$tmp/out"
        fi
    fi
    rm -rf "$A" "$md/.notmuch"
done

cp "$tmp/out" "$out"
cat "$out"
