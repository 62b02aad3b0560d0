#!/bin/sh
# claw serve, the query service (query-wire.h): `claw search` and `claw
# show` asked of it answer exactly as they do in process, for a member of
# the socket's group who cannot read the archive, and each read is in the
# audit log under the name of who asked; a user outside the group is
# refused, and nothing but search and show is served. Hostile requests get
# a refusal, a silent client holds up one worker only, a dead worker is
# replaced, SIGHUP and SIGTERM do what they say.
. "$srcdir/tests/tools/tap.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
A="$tmp/archive"
cfg="$tmp/clawback.conf"
printf '[archive]\npath = %s\n' "$A" > "$cfg"
sock="$tmp/query.sock"
here() { "$CLAW" --config "$cfg" "$@"; }            # in this process
asked() { CLAW_QUERY_SOCKET="$sock" "$CLAW" "$@"; } # through the service
last() { here audit log --json | tail -1 | "$py" -c 'import json,sys; j=json.load(sys.stdin); print(j["actor"], j["action"], j["args"])'; }
here import --quiet "$srcdir"/tests/fixtures/*.eml > /dev/null

group=$(id -gn)
root=false
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1 &&
    getent group nogroup > /dev/null; then
    root=true
    group=nogroup
fi
"$CLAW" --config "$cfg" serve --socket "$sock" --workers 2 --group "$group" 2> "$tmp/serve.log" &
server=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
check "the socket is there, 0660 and of the group" \
    [ "$(stat -c '%A %G' "$sock" 2>/dev/null)" = "srw-rw---- $group" ]

# The same answers, byte for byte, status included.
same() { # same NAME ARGS...: through the service as in process
    name="$1"; shift
    here "$@" > "$tmp/o1" 2> "$tmp/e1"; r1=$?
    asked "$@" > "$tmp/o2" 2> "$tmp/e2"; r2=$?
    if [ $r1 = $r2 ] && cmp -s "$tmp/o1" "$tmp/o2" && cmp -s "$tmp/e1" "$tmp/e2"; then
        ok "$name (status $r1)"
    else
        fail "$name (status $r1 here, $r2 asked)"; diff "$tmp/o1" "$tmp/o2" | head -5
        diff "$tmp/e1" "$tmp/e2" | head -5
    fi
}
same "a search" search --limit 3 from:alerts@billing.example.com
same "a search that finds nothing" search from:nobody@nowhere.example
same "a query that does not parse" search 'from:('
same "--json" search --json subject:invoice
same "--count" search --count 'size:0..'
same "a phrase confirmed against the message (loads the parser)" search '"your account"'
same "--help" search --help
same "an unknown option" search --frobnicate x
id=$(here search --ids --limit 1 'size:0..')
same "show --raw" show --raw "$id"
same "show --json" show --json "$id"
same "show of an id not in the archive" show 01ZZZZZZZZZZZZZZZZZZZZZZZZ
asked show --raw "$id" | head -c 10 > /dev/null; rc=$?
check "a reader that stops early: the pipeline ends quietly" [ $rc = 0 ]
asked search 'size:0..' 2> "$tmp/err" | head -1 > /dev/null
check "...and the service says nothing of a broken pipe" sh -c "! grep -qi 'broken pipe' '$tmp/err'"

asked search --limit 2 from:alerts@billing.example.com > /dev/null
check "the read is in the audit log, under the name of who asked" \
    [ "$(last)" = "$(id -un) search query=from:alerts@billing.example.com offset=0 limit=2" ]

printf 'From: late@example.org\nTo: x@example.com\nSubject: arrived late zebracorn\nMessage-ID: <late@example.org>\nDate: Sun, 06 Dec 2026 04:00:00 +0000\n\nhello\n' > "$tmp/late.eml"
here import --quiet "$tmp/late.eml" > /dev/null
check "mail archived after the service started is found" [ "$(asked search --count zebracorn)" = 1 ]
n1=$(here search --count 'size:0..')

# Not served: the service refuses, whatever a client sends.
raw() { # raw ARGS...: one request by hand, its status and what came on stderr
    "$py" - "$sock" "$@" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = b"claw-query 1\n" + b"".join(a.encode() + b"\0" for a in sys.argv[2:])
r, w = os.pipe()
socket.send_fds(s, [body], [w, w]); os.close(w); s.shutdown(socket.SHUT_WR)
print(s.recv(64).decode().strip(), os.read(r, 4096).decode().strip())
PY
}
out=$(raw purge run 1)
check "purge is not served: 64, and why" \
    sh -c "echo '$out' | grep -q '^status 64 .*not served here'"
out=$(raw hold add --reason x 'size:0..')
check "nor hold add" sh -c "echo '$out' | grep -q '^status 64'"

hostile() { # hostile NAME PYTHON: a request by hand; the status it gets
    "$py" - "$sock" "$2" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(30)
r, w = os.pipe()
kind = sys.argv[2]
if kind == "garbage":
    socket.send_fds(s, [b"GET / HTTP/1.0\r\n\r\n"], [w, w])
elif kind == "no-fds":
    s.sendall(b"claw-query 1\nsearch\0size:0..\0")
elif kind == "one-fd":
    socket.send_fds(s, [b"claw-query 1\nsearch\0size:0..\0"], [w])
elif kind == "too-long":
    socket.send_fds(s, [b"claw-query 1\nsearch\0"], [w, w]); s.sendall(b"x" * 70000 + b"\0")
elif kind == "unended":
    socket.send_fds(s, [b"claw-query 1\nsearch\0size:0.."], [w, w])
elif kind == "too-many":
    socket.send_fds(s, [b"claw-query 1\nsearch\0" + b"x\0" * 300], [w, w])
elif kind == "empty":
    socket.send_fds(s, [b"claw-query 1\n"], [w, w])
os.close(w)
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
print(s.recv(64).decode().strip())
PY
}
for kind in garbage no-fds one-fd too-long unended too-many empty; do
    check "a hostile request ($kind) is refused (76)" [ "$(hostile x $kind)" = "status 76" ]
done
"$py" -c "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(12)" "$sock" &
silent=$!
sleep 0.3
asked search --count 'size:0..' > "$tmp/out"; rc=$?
check "a client that sends nothing holds up one worker, not the service" \
    sh -c "[ $rc = 0 ] && [ \"\$(cat '$tmp/out')\" = $n1 ]"
kill $silent 2>/dev/null; wait $silent 2>/dev/null
# A client that sends its request a byte every 2 s: the whole request has
# 10 s, not each byte.
got=$("$py" - "$sock" <<'PY'
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(60)
r, w = os.pipe()
socket.send_fds(s, [b"claw-query 1\n"], [w, w])
t0 = time.time()
try:
    for b in b"search\0x\0" * 20:
        s.send(bytes([b])); time.sleep(2)
        if time.time() - t0 > 40:
            break
except OSError:
    pass
print(s.recv(64).decode().strip(), int(time.time() - t0))
PY
)
check "a client that trickles its request is cut off at 10 s in all ($got)" \
    sh -c "set -- $got; [ \"\$1 \$2\" = 'status 76' ] && [ \$3 -le 14 ]"

workers=$(pgrep -P $server | tr '\n' ' ')
kill -9 $(echo $workers | cut -d' ' -f1)
sleep 1.5
check "a worker killed: another takes its place" [ "$(pgrep -P $server | wc -l)" = 2 ]
check "...and the service answers" [ "$(asked search --count 'size:0..')" = "$n1" ]
kill -HUP $server
sleep 1
check "SIGHUP: the workers replaced, the service answers" \
    sh -c "[ \"\$(pgrep -P $server | tr '\n' ' ')\" != '$workers' ] && [ \"\$(CLAW_QUERY_SOCKET='$sock' '$CLAW' search --count 'size:0..')\" = $n1 ]"
here serve --socket "$sock" --group "$group" 2> "$tmp/err"; rc=$?
check "a second service on the same socket is refused" \
    sh -c "[ $rc != 0 ] && grep -q 'another service answers there' '$tmp/err'"

if $root; then
    chmod 755 "$tmp"; chmod 700 "$A" # the socket reachable, the archive not
    setpriv --reuid=nobody --regid=nogroup --clear-groups env CLAW_QUERY_SOCKET="$sock" \
        "$CLAW" search --count 'size:0..' > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "a member of the group, who cannot read the archive, searches (0)" \
        sh -c "[ $rc = 0 ] && [ \"\$(cat '$tmp/out')\" = $n1 ]"
    check "...and the audit log names that user" [ "$(last)" = "nobody search query=size:0.. offset=0 limit=50 count" ]
    here show --raw "$id" > "$tmp/raw"
    setpriv --reuid=nobody --regid=nogroup --clear-groups env CLAW_QUERY_SOCKET="$sock" \
        "$CLAW" show --raw "$id" > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "...and shows a message, byte for byte" sh -c "[ $rc = 0 ] && cmp -s '$tmp/out' '$tmp/raw'"
    before=$(here audit log | wc -l)
    setpriv --reuid=daemon --regid=daemon --clear-groups env CLAW_QUERY_SOCKET="$sock" \
        "$CLAW" search --count 'size:0..' > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "a user outside the group: refused, and told why" \
        sh -c "[ $rc != 0 ] && grep -q 'not allowed to ask the query service' '$tmp/err' && [ ! -s '$tmp/out' ]"
    check "...and nothing of it in the audit log" [ "$(here audit log | wc -l)" = "$before" ]
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLAW" --config "$cfg" \
        hold add test --reason test size:0.. > /dev/null 2>&1; rc=$?
    check "a member of the group cannot write the archive (hold add fails)" \
        sh -c "[ $rc != 0 ] && [ -z \"\$('$CLAW' --config '$cfg' hold list 2>/dev/null)\" ]"
    chmod 755 "$A"
else
    for t in "a member of the group searches" "...and the audit log names that user" \
        "...and shows a message" "a user outside the group: refused" \
        "...and nothing of it in the audit log" "a member of the group cannot write"; do
        skip "$t" "needs root, setpriv, nobody and nogroup"
    done
fi

kill -TERM $server
wait $server; rc=$?
check "SIGTERM: the service ends (0) and takes its socket away" sh -c "[ $rc = 0 ] && [ ! -e '$sock' ]"
check "one log line per query, with who asked and the status" \
    grep -q "query pid=[0-9]* uid=[0-9]* user=[^ ]* command=search args=3 status=0 ms=" "$tmp/serve.log"
check "a refusal is logged with its reason" grep -q 'query refused .*reason="not a claw query' "$tmp/serve.log"

# A service killed outright leaves no worker behind answering on its own.
# (Its socket's directory is not there yet: the service makes it.)
"$CLAW" --config "$cfg" serve --socket "$tmp/run/q2.sock" --workers 2 --group "$group" 2> /dev/null &
server=$!
for _ in $(seq 50); do [ -S "$tmp/run/q2.sock" ] && break; sleep 0.1; done
sleep 0.3
workers=$(pgrep -P $server | tr '\n' ' ')
kill -9 $server; wait $server 2>/dev/null
sleep 1
left=0
for w in $workers; do # (an ended worker may stay a zombie of whoever adopts it)
    case "$(ps -o stat= -p $w 2>/dev/null)" in "" | Z*) ;; *) left=$((left + 1)) ;; esac
done
check "the service killed (-9): its workers end too ($left of 2 left)" \
    sh -c "[ -n '$workers' ] && [ $left = 0 ]"
check "...and it had made its socket's directory" [ -S "$tmp/run/q2.sock" ]

# The killed service's socket is stale: the next one replaces it. At exit a
# service removes only the socket it made, not a file put there since; and
# a file at the path is refused, never removed.
"$CLAW" --config "$cfg" serve --socket "$tmp/run/q2.sock" --workers 1 --group "$group" \
    2> /dev/null &
server=$!
for _ in $(seq 50); do
    CLAW_QUERY_SOCKET="$tmp/run/q2.sock" "$CLAW" search --count 'size:0..' > "$tmp/out" 2> /dev/null &&
        break
    sleep 0.1
done
check "a stale socket at the path is replaced ($(cat "$tmp/out"))" [ "$(cat "$tmp/out")" = "$n1" ]
rm -f "$tmp/run/q2.sock"
echo keep > "$tmp/run/q2.sock"
kill -TERM $server; wait $server
check "at exit the service removes only its own socket, not a file put there since" \
    grep -q keep "$tmp/run/q2.sock"
here serve --socket "$tmp/run/q2.sock" --group "$group" 2> "$tmp/err"; rc=$?
check "a file at the socket's path: refused, and kept" \
    sh -c "[ $rc != 0 ] && grep -q 'is not a socket' '$tmp/err' && grep -q keep '$tmp/run/q2.sock'"

# Under systemd: the socket from the socket unit (LISTEN_FDS), readiness
# on NOTIFY_SOCKET. systemd-socket-activate stands in for the socket unit:
# it makes the socket and starts the service at the first connection.
if command -v systemd-socket-activate > /dev/null; then
    "$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True:
    with open(sys.argv[2], "a") as f: f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$tmp/notify" "$tmp/said" &
    listener=$!
    for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.1; done
    systemd-socket-activate -E NOTIFY_SOCKET="$tmp/notify" -l "$tmp/act.sock" \
        "$CLAW" --config "$cfg" serve --workers 1 --socket /nonexistent/x.sock 2> "$tmp/act.log" &
    act=$!
    for _ in $(seq 50); do [ -S "$tmp/act.sock" ] && break; sleep 0.1; done
    got=$(CLAW_QUERY_SOCKET="$tmp/act.sock" "$CLAW" search --count zebracorn 2>&1)
    check "socket activation: the service takes systemd's socket and answers ($got)" [ "$got" = 1 ]
    check "...and says READY=1 on NOTIFY_SOCKET" grep -q 'READY=1' "$tmp/said"
    kill $act $listener 2>/dev/null; wait $act 2>/dev/null
else
    skip "socket activation" "systemd-socket-activate is not installed"
    skip "...and says READY=1 on NOTIFY_SOCKET" "systemd-socket-activate is not installed"
fi

[ $n_fail = 0 ]
