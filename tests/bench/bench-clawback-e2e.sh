#!/bin/sh
# The end-to-end part of make bench-clawback (needs root, Exim and Dovecot):
# a real Exim delivers COPIES copies of phishing (MESSAGES messages, each
# to USERS Dovecot users, through dovecot-lda) and archives them with
# clawd; then `claw ioc add --action quarantine` alone, and the time from
# the add until each copy is gone from the users' mailboxes (p50, p95, the
# last), and the same for `claw restore` until each is back. Prints its
# figures on stdout.
set -eu
: "${srcdir:=.}" "${builddir:=.}"
users="${CLAW_E2E_USERS:-100}"
messages="${CLAW_E2E_MESSAGES:-10}"
py="${PYTHON3:-python3}"
CLAW="$builddir/search/claw"
CLAWD="$builddir/indexer/clawd"
. "$srcdir/tests/tools/daemon-lib.sh"
. "$srcdir/tests/mta/exim-lib.sh"
. "$srcdir/tests/tools/dovecot.sh"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/claw-bench-e2e.XXXXXX")
pid=
finish() {
    exim_stop
    [ -z "$pid" ] || kill "$pid" 2> /dev/null
    dovecot_stop "$tmp/dc"
    rm -rf "$tmp"
}
trap finish EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/dc" "$tmp/run"
chmod 755 "$tmp/run"
# The users' mail belongs to Exim's user, whom the LDA runs as.
DOVECOT_MAIL_USER=Debian-exim dovecot_start "$tmp/dc" "$users" > /dev/null
sock="$tmp/run/clawd.sock"
exim_clawd_conf "$tmp/clawback.conf" "$sock" "$tmp/archive"
cat >> "$tmp/clawback.conf" <<EOF
[purge]
doveadm = doveadm -c $DOVECOT_CONF
dovecot_quarantine = $DOVECOT_QUARANTINE
approval_threshold = 1000000
EOF
claw() { "$CLAW" --config "$tmp/clawback.conf" "$@"; }
clawd_start "$tmp/clawback.conf" "$sock"
mkdir -p "$tmp/exim"
i=1
while [ $i -le "$users" ]; do echo "user$i: user$i"; i=$((i + 1)); done > "$tmp/exim/dovecot-users"
EXIM_EXTRA="-DCLAWD_JOURNAL=1 -DCLAWBACK_ARCHIVE_SOCKET=$sock -DDOVECOT_CONF=$DOVECOT_CONF"
exim_start "$tmp/exim" dlfunc "$tmp/clawback.conf"

# The phish: MESSAGES messages, each to every user (one SMTP transaction).
to=""
i=1
while [ $i -le "$users" ]; do to="$to --to user$i@clawback.test"; i=$((i + 1)); done
m=1
while [ $m -le "$messages" ]; do
    printf 'From: Payroll <payroll@evil-payroll.example>\nTo: staff@clawback.test\nSubject: your payslip %s\nMessage-ID: <payslip-%s@evil-payroll.example>\n\nSee http://evil-payroll.example/slip/%s\n' \
        "$m" "$m" "$m" > "$tmp/m.eml"
    # shellcheck disable=SC2086
    "$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from payroll@evil-payroll.example $to "$tmp/m.eml" > /dev/null
    m=$((m + 1))
done
copies=$((users * messages))
count() { # the copies in the users' view (INBOX)
    doveadm -c "$DOVECOT_CONF" search -A mailbox INBOX header From payroll@evil-payroll.example 2> /dev/null | wc -l
}
t_end=$(( $(date +%s) + 600 ))
while [ "$(count)" -lt "$copies" ] && [ "$(date +%s)" -le "$t_end" ]; do sleep 1; done
delivered=$(count)
while [ "$(claw search --count from:payroll@evil-payroll.example 2> /dev/null)" != "$messages" ]; do sleep 0.2; done

# timed WANT COMMAND...: run COMMAND, and note when each copy left (or came
# back to) the users' view until WANT are in it: from COMMAND's start.
timed() {
    "$py" - "$DOVECOT_CONF" "$@" <<'EOF'
import subprocess, sys, time
conf, want, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def count():
    out = subprocess.run(["doveadm", "-c", conf, "search", "-A", "mailbox", "INBOX", "header",
                          "From", "payroll@evil-payroll.example"], capture_output=True, text=True).stdout
    return len(out.splitlines())
last = count()
t0 = time.time()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
times = []  # when each copy changed
while time.time() - t0 < 900:
    n = count()
    times += [(time.time() - t0)] * abs(n - last)
    last = n
    if n == want:
        break
    time.sleep(0.2)
proc.wait()
times.sort()
def pct(p):
    return times[min(len(times) - 1, int(len(times) * p / 100))] if times else float("nan")
print("%d copies: p50 %.1f s, p95 %.1f s, last %.1f s" % (len(times), pct(50), pct(95), pct(100)))
EOF
}
echo "end to end: $delivered of $copies copies delivered by Exim into $users Dovecot users ($messages messages)"
echo "claw ioc add --action quarantine -> gone from the users' mailboxes: $(timed 0 "$CLAW" --config "$tmp/clawback.conf" ioc add --action quarantine sender:payroll@evil-payroll.example)"
plan=$(claw purge list --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)[0]["plan"])')
claw purge status "$plan" | sed -n 's/^  \(done=.*\)/  (plan '"$plan"': \1)/p'
# Where the time went, from the audit log (to the second): the indicator
# stored, clawd's hunt of it, the plan made, the plan done.
claw audit log --json | "$py" -c '
import datetime, json, sys
t = {}
for r in map(json.loads, sys.stdin):
    a = r["action"]
    if a in ("ioc.put", "hunt", "purge.plan", "purge.done") and a not in t:
        t[a] = datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
if len(t) == 4:
    at = lambda a: (t[a] - t["ioc.put"]).total_seconds()
    print("  (after the indicator was stored: hunted at +%.0f s, plan made at +%.0f s, done at +%.0f s)"
          % (at("hunt"), at("purge.plan"), at("purge.done")))'
echo "claw restore -> back in the users' mailboxes: $(timed "$copies" "$CLAW" --config "$tmp/clawback.conf" restore "$plan")"
