#!/bin/sh
# clawd under systemd's Type=notify: what it says on $NOTIFY_SOCKET (the
# datagram socket systemd gives a service; here one the test listens on):
# READY=1 once it listens (with its pid), RELOADING=1 then READY=1 around
# a SIGHUP (the reload refused for a bad file still ends READY=1, saying so),
# STOPPING=1 when SIGTERM makes it drain.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"
pid= lpid=
trap 'kill -9 $pid $lpid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

# The listener: each datagram on one line, its newlines as '|'.
"$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
while True:
    m = s.recv(4096).decode()
    with open(sys.argv[2], "a") as f:
        f.write(m.replace("\n", "|") + "\n")
' "$tmp/notify" "$tmp/said" &
lpid=$!
i=0
while [ ! -S "$tmp/notify" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cat > "$tmp/c.conf" <<EOF
[archive]
path = $tmp/archive
[clawd]
socket = $tmp/clawd.sock
EOF
said() { # said PATTERN: until a datagram clawd sent matches (10 s)
    until_said_i=0
    until grep -q "$1" "$tmp/said" 2>/dev/null; do
        [ $until_said_i -ge 100 ] && return 1
        sleep 0.1; until_said_i=$((until_said_i + 1))
    done
}
check "clawd starts with NOTIFY_SOCKET" clawd_start "$tmp/c.conf" "$tmp/clawd.sock" NOTIFY_SOCKET="$tmp/notify"
check "READY=1 once it listens, with its pid (MAINPID=$pid)" said "^READY=1|.*MAINPID=$pid"
kill -HUP $pid
check "SIGHUP: RELOADING=1, then READY=1 (reloaded)" said "READY=1|STATUS=reloaded"
check "...in that order" sh -c "grep -n 'RELOADING=1\|STATUS=reloaded' '$tmp/said' | cut -d: -f2 | tr '\n' ' ' | grep -q '^RELOADING=1 READY=1|STATUS=reloaded'"
echo "[clawd" >> "$tmp/c.conf"
kill -HUP $pid
check "a bad file: READY=1 again, saying the old configuration is kept" said "STATUS=reload refused"
check "...and clawd still runs" alive $pid
kill -TERM $pid
check "SIGTERM: STOPPING=1" said "^STOPPING=1"
wait $pid; rc=$?; pid=
check "...and it exits 0" [ $rc = 0 ]

[ $n_fail = 0 ]
