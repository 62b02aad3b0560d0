#!/bin/sh
# make bench, MTA part: the same messages from the shared corpora through
# (1) Exim without Clawback, with the ${dlfunc} ACL fragment and with
#     local_scan, over parallel SMTP connections, messages left on the queue
#     so reception is what is measured;
# (2) rspamd 3.4 (stock rules, offline) without and with the Clawback
#     module: rspamd's own scan time per message (time_real), one at a time.
# All in one run. Writes tests/bench/results/mta.txt (quoted in the README).
# Needs root, Exim, rspamd and ../shared/corpora.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
out="${CLAW_BENCH_MTA_OUT:-$srcdir/tests/bench/results/mta.txt}"
n="${CLAW_BENCH_MTA_MESSAGES:-3000}"
# Connection plans: PARALLEL[xMESSAGES-PER-CONNECTION][d]; "8x1" is an MX's
# usual traffic, one message per connection. Exim paces each connection to
# about 200 messages/s (it waits for the message-id clock to tick), so 8
# connections do not fill two cores: 32 do, with the plugin. A trailing "d":
# Exim delivers each message to the Maildir as it arrives (its default, and
# Debian's), and a run ends when the last accepted message is delivered; these
# plans send the first $delivered messages of the list (a delivery costs this
# machine tens of milliseconds of CPU: process creation is slow under its
# hypervisor).
conns="${CLAW_BENCH_MTA_CONNECTIONS:-1 8 32 8x1 32d 8x1d}"
delivered="${CLAW_BENCH_MTA_DELIVERED:-1000}"
rounds="${CLAW_BENCH_MTA_ROUNDS:-3}"
py="${PYTHON3:-python3}"
. "$srcdir/tests/bench/bench-lib.sh"
. "$srcdir/tests/mta/exim-lib.sh"
. "$srcdir/tests/mta/rspamd-lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (Exim and rspamd run as their users)" >&2; exit 1; }
# The spools live in memory (/dev/shm) when it is there: on ext4 the cost
# of creating spool files after many deletions grows from run to run (inode
# allocation scans recently deleted inodes), which would favour whichever
# mode runs first. The plugin's cost is CPU, and that is what is compared.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$shm/claw-bench-mta.XXXXXX")
chmod 755 "$tmp"
trap 'exim_stop; rspamd_stop; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpora"
unpack_corpora "$tmp/corpora" ham-trec07p phish-phishing_pot

# N messages: half ham, half phishing, at most 1 MB each, in a fixed order.
"$py" - "$n" "$tmp/list" $sets <<'EOF'
import os, random, sys
n, out, sets = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
files = []
for s in sets:
    d = s.split("=", 1)[1]
    fs = sorted(os.path.join(r, f) for r, _, x in os.walk(d) for f in x
                if os.path.getsize(os.path.join(r, f)) <= 1 << 20)
    random.Random(7).shuffle(fs)
    files += fs[: n // len(sets)]
random.Random(8).shuffle(files)
open(out, "w").write("\n".join(files) + "\n")
EOF
# Clawback's DMARC lookups go to the stub (every name NXDOMAIN), as rspamd's.
dns_stub_start
printf '[policy]\nprotected_domains = corp.example\n%s\n' "$DMARC_CONF" > "$tmp/clawback.conf"
# Plans with delivery: the same scan, but no message is frozen (quarantine)
# or refused, so every mode delivers the same messages.
printf '[policy]\nprotected_domains = corp.example\n[actions]\nquarantine = 1000\nreject = 1000\n%s\n' \
    "$DMARC_CONF" > "$tmp/clawback-deliver.conf"
chmod 644 "$tmp/clawback.conf" "$tmp/clawback-deliver.conf"
msgs=$(wc -l < "$tmp/list")
head -n "$delivered" "$tmp/list" > "$tmp/list-delivered"
msgs_delivered=$(wc -l < "$tmp/list-delivered")

# All CPU time spent on the machine so far, in clock ticks.
cpu_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
tick_ms=$((1000 / $(getconf CLK_TCK)))

exim_run() { # exim_run MODE PLAN -> one JSON line
    # dlfunc-np: the ACL without the shipped preload line (each connection's
    # process loads the plugin itself).
    ex_mode=${1%-np} extra=""
    [ "$1" = "$ex_mode" ] || extra=" -DNO_PRELOAD=1"
    plan=${2%d} list=$tmp/list queue="-DQUEUE_ONLY=1" conf=$tmp/clawback.conf
    if [ "$plan" != "$2" ]; then
        queue="" list=$tmp/list-delivered conf=$tmp/clawback-deliver.conf
    fi
    EXIM_EXTRA="$queue$extra" exim_start "$tmp/exim-$1" "$ex_mode" "$conf" >&2
    # One untimed message first: the first EHLO after start is slow.
    "$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" "$srcdir/tests/fixtures/plain.eml" \
        > /dev/null || true
    if [ -z "$queue" ]; then
        exim_wait_delivered 1 10 || true
    fi
    per=""
    case "$plan" in *x*) per="--per-connection ${plan#*x}" ;; esac
    # Its errors are in the JSON line; whatever happens, the daemon is stopped.
    # The machine's CPU time over the run goes in front (cpu_ms), the
    # sender's own included: it is the same in every mode.
    c0=$(cpu_ticks)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    j=$("$builddir/tests/bench/mail-bench" --port "$EXIM_PORT" --connections "${plan%x*}" $per \
        --from sender@outside.example --rcpt user@clawback.test "$list" || true)
    [ -n "$j" ] || j='{"sent": 0, "messages": 0, "seconds": 0, "msgs_per_s": 0, "p50_ms": 0,
        "p99_ms": 0, "codes": {}, "errors": ["mail-bench gave no result"]}'
    if [ -z "$queue" ]; then
        # Delivered: the rate is the messages over the time until the last
        # accepted one is in the Maildir (the warm-up message is one more).
        accepted=$(printf '%s' "$j" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["codes"].get("250", 0))')
        exim_wait_delivered $((accepted + 1)) 600 || true
    fi
    t1=$(date +%s.%N) c1=$(cpu_ticks)
    if [ -z "$queue" ]; then
        j=$(printf '%s' "$j" | "$py" -c '
import json, sys
j, t = json.load(sys.stdin), float(sys.argv[2]) - float(sys.argv[1])
got, want = int(sys.argv[3]) - 1, int(sys.argv[4])
j["delivered"] = got
j["seconds"] = round(t, 3)
j["msgs_per_s"] = round(j["messages"] / t, 1) if t > 0 else 0
if got != want:
    j["errors"].append("%d of %d accepted messages delivered" % (got, want))
print(json.dumps(j))' "$t0" "$t1" "$(exim_delivered)" "$accepted")
    fi
    echo "{\"cpu_ms\": $(( (c1 - c0) * tick_ms )), ${j#\{}"
    exim_stop
    rm -rf "$tmp/exim-$1"
}

: > "$tmp/exim.jsonl"
for c in $conns; do
    case "$c" in
    *d) echo "bench-mta: $msgs_delivered messages through Exim and delivered, plan $c, 4 modes x $rounds rounds" >&2 ;;
    *) echo "bench-mta: $msgs messages through Exim, plan $c, 4 modes x $rounds rounds" >&2 ;;
    esac
    for round in $(seq 1 "$rounds"); do
        for mode in none dlfunc local_scan dlfunc-np; do
            printf '{"conns":"%s","round":%d,"mode":"%s","result":%s}\n' "$c" "$round" "$mode" \
                "$(exim_run $mode "$c")" >> "$tmp/exim.jsonl"
        done
    done
done

rspamd_run() { # rspamd_run NAME [LOCAL] -> time_real of every message, one a line
    rspamd_start "$tmp/rspamd-$1" ${2:+"$2"} >&2
    # shellcheck disable=SC2046
    "$py" - "$RSPAMD_PORT" $(cat "$tmp/list") <<'EOF'
import http.client, json, sys
port, files = int(sys.argv[1]), sys.argv[2:]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i, path in enumerate([files[0]] * 20 + files):
    c.request("POST", "/checkv2", body=open(path, "rb").read())
    a = json.loads(c.getresponse().read())
    if i >= 20:
        print(1000 * a.get("time_real", -1))
EOF
    rspamd_stop
}

install -m 644 "$builddir/lib/.libs/libclaw.so" "$tmp/libclaw.so"
rspamd_clawback_dir "$tmp/local" "$tmp/libclaw.so" "$tmp/clawback.conf"
echo "bench-mta: $msgs messages through rspamd without and with the module" >&2
rspamd_run plain > "$tmp/rspamd-plain.txt"
rspamd_run clawback "$tmp/local" > "$tmp/rspamd-clawback.txt"

mkdir -p "$(dirname "$out")"
"$py" - "$tmp/exim.jsonl" "$tmp/rspamd-plain.txt" "$tmp/rspamd-clawback.txt" "$msgs" \
    "$msgs_delivered" > "$out" <<'EOF'
import json, statistics, sys, time
runs = [json.loads(l) for l in open(sys.argv[1])]
msgs = sys.argv[4]
print("# make bench (MTA), %s: %s messages (half ham-trec07p, half phishing_pot) through"
      % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), msgs))
print("# Exim 4.96 over SMTP, messages queued (reception only), spool in /dev/shm; each mode")
print("# three times, alternating, best round kept. Latency: end of DATA to its reply.")
print("# conns: parallel connections, xN: a new connection every N messages. The sender is")
print("# tests/bench/mail-bench.c (C, pipelining as Exim's own smtp transport does). CPU: the")
print("# machine's CPU time per message over the run (all processes, the sender's included;")
print("# /proc/stat counts clock ticks, so on one connection, the machine nearly idle, it is rough).")
print("# 'no preload': the ACL without the shipped smtp_accept_max_per_host preload line.")
print("# Plans ending in d: the first %s messages, each delivered to a Maildir as it arrives" % sys.argv[5])
print("# (Exim's default), none frozen or refused (quarantine and reject set to 1000, the")
print("# scan unchanged); msgs/s and CPU run to the last delivery.")
print("%-5s %-30s %9s %8s %8s %8s %10s %8s %9s" % ("conns", "exim mode", "msgs/s", "p50 ms",
      "p99 ms", "vs none", "added p50", "CPU ms", "added CPU"))
names = {"none": "plain Exim", "dlfunc": "Clawback ${dlfunc} ACL",
         "local_scan": "Clawback local_scan", "dlfunc-np": "Clawback ${dlfunc}, no preload"}
for c in sorted({r["conns"] for r in runs}, key=lambda c: (len(c), c)):
    best = {}
    for r in runs:
        if r["conns"] != c:
            continue
        m = r["mode"]
        if m not in best or r["result"]["msgs_per_s"] > best[m]["msgs_per_s"]:
            best[m] = r["result"]
    base = best["none"]
    def cpu(b):
        return b["cpu_ms"] / b["messages"] if b["messages"] else 0
    for m in ("none", "dlfunc", "local_scan", "dlfunc-np"):
        if m not in best:
            continue
        b = best[m]
        print("%-5s %-30s %9.1f %8.2f %8.2f %8.2f %10s %8.3f %9s" % (
            c, names[m], b["msgs_per_s"], b["p50_ms"], b["p99_ms"],
            b["msgs_per_s"] / base["msgs_per_s"] if base["msgs_per_s"] else 0,
            "" if m == "none" else "%.2f ms" % (b["p50_ms"] - base["p50_ms"]), cpu(b),
            "" if m == "none" else "%.3f" % (cpu(b) - cpu(base))))
    for m, b in best.items():
        if set(b["codes"]) != {"250"} or b["errors"]:
            print("      %s: replies %s%s" % (names[m], b["codes"],
                  "".join("; " + e for e in b["errors"])))
print()
p = sorted(float(x) for x in open(sys.argv[2]) if float(x) >= 0)  # ms
c = sorted(float(x) for x in open(sys.argv[3]) if float(x) >= 0)
def q(v, f):
    return v[min(len(v) - 1, int(len(v) * f))]
print("# rspamd 3.4, stock rules, offline (DNS answered NXDOMAIN), one normal worker, one message")
print("# at a time; rspamd's own scan time (time_real) per message")
print("%-24s %10s %10s %10s" % ("rspamd", "p50 ms", "p90 ms", "p99 ms"))
for name, v in (("without Clawback", p), ("with the Clawback module", c)):
    print("%-24s %10.2f %10.2f %10.2f" % (name, q(v, .5), q(v, .9), q(v, .99)))
print("added median scan time    %.2f ms" % (q(c, .5) - q(p, .5)))
EOF
cat "$out"
