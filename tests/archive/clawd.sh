#!/bin/sh
# clawd over LMTP: the protocol, the envelope, verdicts carried by the MTA,
# duplicates, limits, group commits, HUP and TERM, and crash safety (the
# test-only CLAW_TEST_CRASH switch and kill -9 at random moments).
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
fx="$srcdir/tests/fixtures"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
send="$py $srcdir/tests/tools/lmtp-send.py"
A="$tmp/archive"
sock="$tmp/clawd.sock"
port=$(free_port)
cat > "$tmp/clawd.conf" <<EOF
[log]
level = info
[archive]
path = $A
[clawd]
socket = $sock
listen = 127.0.0.1:$port
# TCP without TLS: anyone allowed may write, nothing it says is believed
# (tests/archive/clawd-tls.sh has the default, client certificates).
tcp_auth = none
[limits]
max_message_bytes = 64k
EOF
claw() { "$CLAW" --config "$tmp/clawd.conf" "$@"; }
json_field() { "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

pid=
start() { clawd_start "$tmp/clawd.conf" "$sock" "$@"; } # start [ENV=VALUE...]
map_rss() { # map_rss PID: kB of data.mdb's map resident in the process
    "$py" - "$1" <<'EOF2'
import sys
rss, cur = 0, False
for line in open("/proc/%s/smaps" % sys.argv[1]):
    f = line.split()
    if "-" in f[0] and len(f) >= 5 and ":" not in f[0]:
        cur = line.rstrip().endswith("/store/data.mdb")
    elif cur and f[0] == "Rss:":
        rss += int(f[1])
print(rss)
EOF2
}
stop() { # TERM and wait; the exit status
    kill -TERM $pid 2>/dev/null
    wait $pid
}
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

check "clawd --check-config" sh -c "\"$CLAWD\" --config \"$tmp/clawd.conf\" --check-config > /dev/null"
"$CLAWD" --help > "$tmp/help" 2>&1
check "clawd --help names the signals" grep -q "HUP reloads" "$tmp/help"
check "clawd starts and listens on its socket" start

# An indicator file the engine rejects is a configuration error at start:
# exit 78 naming the file and line, as --check-config does.
printf 'url:http://fine.example/\nnot-a-type:zzz\n' > "$tmp/bad.ioc"
{ cat "$tmp/clawd.conf"; printf '[ioc]\nfiles = %s\n' "$tmp/bad.ioc"; } > "$tmp/badioc.conf"
timeout 20 "$CLAWD" --config "$tmp/badioc.conf" --stderr --socket "$tmp/other.sock" > "$tmp/badioc" 2>&1; rc=$?
check "a malformed indicator file: clawd exits 78 (got $rc)" [ $rc -eq 78 ]
check "...with the file and line, no 'index:' ($(head -1 "$tmp/badioc"))" \
    sh -c "grep -q 'bad.ioc:2' '$tmp/badioc' && ! grep -q 'index:' '$tmp/badioc'"

# --- the protocol ----------------------------------------------------------
"$py" - "$sock" > "$tmp/proto" 2>&1 <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
def reply():
    out = []
    while True:
        l = f.readline().decode().rstrip("\r\n"); out.append(l)
        if l[3:4] != "-": return out
def cmd(c):
    s.sendall(c.encode() + b"\r\n"); return reply()
print("greeting", reply()[0][:3])
print("ehlo", cmd("EHLO x")[0][:3])
print("mail-before-lhlo", cmd("MAIL FROM:<a@b>")[0][:3])
print("lhlo", " ".join(cmd("LHLO test")))
print("data-before-rcpt", (cmd("MAIL FROM:<a@b>")[0][:3], cmd("DATA")[0][:3]))
print("bad-rcpt", cmd("RCPT TO:bob")[0][:3])
print("rcpt", cmd("RCPT TO:<one@corp.example>")[0][:3], cmd("RCPT TO:<two@corp.example>")[0][:3])
# Pipelined: DATA, the message and NOOP in one write; one reply per recipient.
s.sendall(b"DATA\r\nSubject: pipelined\r\nMessage-ID: <pipe@x>\r\n\r\n..leading dot\r\nbody\r\n.\r\nNOOP\r\n")
print("data", reply()[0][:3])
print("per-rcpt", reply()[0][:3], reply()[0][:3])
print("noop", reply()[0][:3])
print("quit", cmd("QUIT")[0][:3])
EOF
check "greeting 220" grep -q '^greeting 220' "$tmp/proto"
check "EHLO: 500, this is LMTP" grep -q '^ehlo 500' "$tmp/proto"
check "MAIL before LHLO: 503" grep -q '^mail-before-lhlo 503' "$tmp/proto"
check "LHLO: PIPELINING, SIZE, XFORWARD" sh -c "grep '^lhlo' '$tmp/proto' | grep PIPELINING | grep 'SIZE 65536' | grep -q XFORWARD"
check "DATA before RCPT: 503" grep -q "^data-before-rcpt ('250', '503')" "$tmp/proto"
check "RCPT without <>: 501" grep -q '^bad-rcpt 501' "$tmp/proto"
check "pipelined DATA: 354, then 250 for each of two recipients, then NOOP" \
    sh -c "grep -q '^data 354' '$tmp/proto' && grep -q '^per-rcpt 250 250' '$tmp/proto' && grep -q '^noop 250' '$tmp/proto'"
sleep 1.5
claw show --raw "$(claw search --ids msgid:pipe@x)" > "$tmp/pipe.raw" 2>&1
check "dot-unstuffing and CRLF to LF" grep -q '^\.leading dot$' "$tmp/pipe.raw"

# --- the envelope: every recipient, Bcc too; XFORWARD; MTA headers -------
$send --socket "$sock" --from bounce@sender.example --rcpt visible@corp.example \
    --rcpt hidden-bcc@corp.example --xforward 192.0.2.7,mx.sender.example "$fx/html-phish.eml" > "$tmp/r" 2>&1
check "two recipients: 250 each" grep -q '"250": 2' "$tmp/r"
sed 's/^From: /X-Clawback-Envelope-IP: 198.51.100.9\nX-Clawback-Envelope-HELO: relay.example.net\nX-Clawback-Id: 01JAAAAAAAAAAAAAAAAAAAAAAA\nX-Clawback-Verdict: quarantine; score=11.5\nX-Clawback-Rules: LOOKALIKE_DOMAIN,URL_SHORTENER\nFrom: /' \
    "$fx/plain.eml" > "$tmp/stamped.eml"
$send --socket "$sock" --rcpt finance@corp.example "$tmp/stamped.eml" > /dev/null 2>&1
sleep 1.5
for q in "rcpt:hidden-bcc@corp.example" "rcpt:visible@corp.example" "mailfrom:bounce@sender.example" \
    "ip:192.0.2.7" "helo:mx.sender.example" "ip:198.51.100.9" "helo:relay.example.net" \
    "id:01JAAAAAAAAAAAAAAAAAAAAAAA" "action:quarantine" "rule:LOOKALIKE_DOMAIN"; do
    n=$(claw search --count "$q" 2>/dev/null)
    check "search $q: 1" [ "$n" = 1 ]
done
claw show --json 01JAAAAAAAAAAAAAAAAAAAAAAA > "$tmp/stamped.json"
check "the MTA's verdict is kept (verdict_source mta, score 11.5)" \
    sh -c "grep -q '\"verdict_source\":\"mta\"' '$tmp/stamped.json' && grep -q '\"score\":11.5' '$tmp/stamped.json'"
claw show --raw 01JAAAAAAAAAAAAAAAAAAAAAAA > "$tmp/stamped.raw"
check "X-Clawback-Envelope-* headers are not stored" sh -c "! grep -q '^X-Clawback-Envelope' '$tmp/stamped.raw'"
check "...the rest is stored as sent" grep -q '^X-Clawback-Verdict: quarantine; score=11.5' "$tmp/stamped.raw"

# One builder for what the MTA says beside the envelope, whichever way it
# came (XFORWARD or X-Clawback-Envelope-* fields): Postfix's "IPV6:" before
# an address dropped, "[UNAVAILABLE]" no value, a value with a control
# character not taken.
sed 's/^From: /X-Clawback-Envelope-IP: IPV6:2001:db8::9\nX-Clawback-Envelope-HELO: [UNAVAILABLE]\nFrom: /' \
    "$fx/plain.eml" > "$tmp/env-headers.eml"
$send --socket "$sock" --rcpt env-headers@corp.example "$tmp/env-headers.eml" > /dev/null 2>&1
sed 's/^From: /X-Clawback-Envelope-IP: 192.0.2.99\nX-Clawback-Envelope-HELO: evil\x01.example\nFrom: /' \
    "$fx/attachments.eml" > "$tmp/env-xforward.eml"
$send --socket "$sock" --rcpt env-xforward@corp.example --xforward 'IPV6:2001:db8::8,[UNAVAILABLE]' \
    "$tmp/env-xforward.eml" > /dev/null 2>&1
# The message's sender when the MTA gave the archive copy a return path of
# its own (Exim's errors_to): <> is a sender; a value without its angle
# brackets is not taken.
printf 'X-Clawback-Envelope-From: <>\nX-Clawback-Envelope-Host: mx1.corp.example\nFrom: a@b.example\nSubject: env-from 1\nMessage-ID: <env-from-1@b.example>\n\nhello\n' \
    > "$tmp/env-from.eml"
$send --socket "$sock" --from postmaster@corp.example --rcpt env-from@corp.example \
    "$tmp/env-from.eml" > /dev/null 2>&1
printf 'X-Clawback-Envelope-From: someone@else.example\nFrom: a@b.example\nSubject: env-from 2\nMessage-ID: <env-from-2@b.example>\n\nhello\n' \
    > "$tmp/env-from2.eml"
$send --socket "$sock" --from postmaster@corp.example --rcpt env-from2@corp.example \
    "$tmp/env-from2.eml" > /dev/null 2>&1
sleep 1.5
delivery() { # delivery RCPT [FIELDS] -> "client_ip|helo" (or FIELDS) of the delivery to RCPT
    claw show --json "$(claw search --ids "rcpt:$1")" | "$py" -c '
import json, sys
for d in json.load(sys.stdin)["deliveries"]:
    if sys.argv[1] in d["rcpt"]:
        print("|".join(str(d[f]) for f in sys.argv[2].split(",")))' "$1" "${2:-client_ip,helo}"
}
r=$(delivery env-from@corp.example mail_from,mta_host)
check "X-Clawback-Envelope-From: <> is the sender, not the LMTP return path; the MTA's host kept ($r)" \
    [ "$r" = "|mx1.corp.example" ]
r=$(delivery env-from2@corp.example mail_from)
check "X-Clawback-Envelope-From without angle brackets is not taken ($r)" \
    [ "$r" = "postmaster@corp.example" ]
r=$(delivery env-headers@corp.example)
check "X-Clawback-Envelope-IP: IPV6:2001:db8::9 is 2001:db8::9, HELO [UNAVAILABLE] none ($r)" \
    [ "$r" = "2001:db8::9|" ]
r=$(delivery env-xforward@corp.example)
check "XFORWARD ADDR=IPV6:2001:db8::8 is 2001:db8::8 and wins over the header; HELO none, the header's has a control character ($r)" \
    [ "$r" = "2001:db8::8|" ]

# A verdict header that is not what the plugins write is not half-read: the
# archive judges the message itself.
sed 's/^From: /X-Clawback-Verdict: tag; score=6\nX-Clawback-Rules: FORGED;RULE\nFrom: /' \
    "$fx/plain.eml" > "$tmp/bad-verdict.eml"
$send --socket "$sock" --rcpt bad-verdict@corp.example "$tmp/bad-verdict.eml" > /dev/null 2>&1
sleep 1.2
claw show --json "$(claw search --ids rcpt:bad-verdict@corp.example)" > "$tmp/bad-verdict.json"
check "X-Clawback-Rules: FORGED;RULE: the archive's own verdict, no rule FORGEDRULE" \
    sh -c "grep -q '\"verdict_source\":\"archive\"' '$tmp/bad-verdict.json' && ! grep -q FORGED '$tmp/bad-verdict.json'"

# The same fields with CRLF line ends and Rules folded over two lines (as a
# long list is): the MTA's verdict is read, not thrown away for the CR.
sed 's/^From: /X-Clawback-Verdict: reject; score=20\nX-Clawback-Rules: URL_IOC,\n SENDER_IOC\nFrom: /' \
    "$fx/plain.eml" | sed 's/$/\r/' > "$tmp/crlf-verdict.eml"
$send --socket "$sock" --rcpt crlf-verdict@corp.example "$tmp/crlf-verdict.eml" > /dev/null 2>&1
sleep 1.2
claw show --json "$(claw search --ids rcpt:crlf-verdict@corp.example)" > "$tmp/crlf-verdict.json"
check "CRLF and a folded X-Clawback-Rules: the MTA's verdict (reject, URL_IOC,SENDER_IOC)" \
    sh -c "grep -q '\"verdict_source\":\"mta\"' '$tmp/crlf-verdict.json' && grep -q '\"action\":\"reject\"' '$tmp/crlf-verdict.json' && grep -q '\"rules\":\\[\"URL_IOC\",\"SENDER_IOC\"\\]' '$tmp/crlf-verdict.json'"

# Postfix's recipient_bcc_maps copies: the original recipient in the address.
$send --socket "$sock" --rcpt archive+carol=corp.example@archive.invalid \
    --rcpt archive+dan=corp.example@archive.invalid "$fx/international.eml" > /dev/null 2>&1
sleep 1.2
check "journal_domain: archive+LOCAL=DOMAIN@archive.invalid archived as LOCAL@DOMAIN" \
    [ "$(claw search --count rcpt:carol@corp.example rcpt:dan@corp.example)" = 1 ]

# --- an envelope that is not UTF-8 still gives valid JSON -------------------
"$py" - "$sock" <<'EOF' > "$tmp/8bit" 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
def cmd(line):
    if line is not None:
        s.sendall(line + b"\r\n")
    return f.readline()
cmd(None); cmd(b"LHLO t")
while not f.readline().startswith(b"250 "): pass
for line in (b"MAIL FROM:<caf\xe9\xff@latin1.example>", b"RCPT TO:<r\xc3@corp.example>", b"DATA"):
    print(cmd(line).decode(errors="replace").strip())
s.sendall(b"From: x@latin1.example\r\nMessage-ID: <eight-bit@test.example>\r\nSubject: 8bit\r\n\r\nhi\r\n.\r\n")
print(f.readline().decode(errors="replace").strip())
EOF
i=0
while [ "$(claw search --count msgid:eight-bit@test.example 2> /dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
claw show --json "$(claw search --ids msgid:eight-bit@test.example)" > "$tmp/8bit.json" 2>&1
check "an 8-bit envelope: claw show --json is valid JSON ($(tail -1 "$tmp/8bit"))" \
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1], encoding="utf-8")); assert "\ufffd" in json.dumps(d, ensure_ascii=False)' "$tmp/8bit.json"

# --- the same delivery twice (a retry after a lost 250), another delivery --
$send --socket "$sock" --rcpt a@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
$send --socket "$sock" --rcpt a@corp.example --ids "$fx/forwarded.eml" > "$tmp/r" 2>&1
check "a repeated delivery is answered 250" grep -q '"250": 1' "$tmp/r"
rid=$(json_field ids < "$tmp/r" | tr -d "[]' ")
claw show "$rid" > /dev/null 2>&1
check "...naming the id the message is stored under ($rid), which claw show finds" [ $? -eq 0 ]
$send --socket "$sock" --rcpt b@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
sleep 1.5
claw show --json "$(claw search --ids to:security@corp.example)" > "$tmp/fwd.json"
check "same bytes: one message, two deliveries (the repeat kept once)" \
    [ "$("$py" -c 'import json,sys; print(len(json.load(sys.stdin)["deliveries"]))' < "$tmp/fwd.json")" = 2 ]
check "the second delivery's recipient is searchable" [ "$(claw search --count rcpt:b@corp.example)" = 1 ]
# The message was indexed again; the shards keep no term lists, so its new
# version is in the amendments and the old one must not be found beside it.
check "...the first one's still is" [ "$(claw search --count rcpt:a@corp.example)" = 1 ]
check "the changed message is one hit, not its two versions" \
    [ "$(claw search --count 'to:security@corp.example OR rcpt:b@corp.example')" = 1 ]
check "the shards keep no term lists; the new version is in the amendments" \
    sh -c "[ ! -e '$A/index/shard0/termlist.glass' ] && [ -e '$A/index/amend0/iamglass' ]"

# --- limits and access -------------------------------------------------------
"$py" -c 'print("Subject: big\n\n" + ("x" * 76 + "\n") * 1200)' > "$tmp/big.eml"
$send --socket "$sock" "$tmp/big.eml" > "$tmp/r" 2>&1
check "over max_message_bytes: 552" grep -q '"552": 1' "$tmp/r"
$send --port "$port" "$fx/mbox-from.eml" > "$tmp/r" 2>&1
check "TCP from an allowed network: 250" grep -q '"250": 1' "$tmp/r"

# A writer that did not authenticate (TCP, until mutual TLS) is not an MTA:
# a victim's X-Clawback-Id and a forged verdict in its message are kept as
# text and never used; XFORWARD is refused and not advertised.
sed 's/^From: /X-Clawback-Id: 01JAAAAAAAAAAAAAAAAAAAAAAA\nX-Clawback-Verdict: accept; score=0\nX-Clawback-Rules: FORGED\nX-Clawback-Envelope-IP: 203.0.113.66\nFrom: /; s/^Subject: .*/Subject: forged over TCP/' \
    "$fx/html-phish.eml" > "$tmp/forged.eml"
$send --port "$port" --rcpt finance@corp.example "$tmp/forged.eml" > "$tmp/r" 2>&1
check "TCP: the forged message is archived (250)" grep -q '"250": 1' "$tmp/r"
$send --port "$port" --xforward 192.0.2.99,forged.example "$fx/plain.eml" > "$tmp/r" 2>&1
check "TCP: XFORWARD refused (550), nothing stored under it" \
    sh -c "! grep -q '\"250\"' '$tmp/r' && [ \"\$($CLAW --config $tmp/clawd.conf search --count ip:192.0.2.99)\" = 0 ]"
i=0
while [ "$(claw search --count 'subject:"forged over TCP"' 2> /dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
claw show --json "$(claw search --ids 'subject:"forged over TCP"')" > "$tmp/forged.json"
check "TCP: the forged id is not used (the archive made its own)" \
    sh -c "! grep -q '\"id\":\"01JAAAAAAAAAAAAAAAAAAAAAAA\"' '$tmp/forged.json'"
check "TCP: the forged verdict is not used (verdict_source archive)" \
    sh -c "grep -q '\"verdict_source\":\"archive\"' '$tmp/forged.json' && ! grep -q FORGED '$tmp/forged.json'"
check "TCP: the forged envelope IP is not used" [ "$(claw search --count ip:203.0.113.66)" = 0 ]
check "the victim's id still names one message" [ "$(claw search --count id:01JAAAAAAAAAAAAAAAAAAAAAAA)" = 1 ]

# --- many sessions at once: group commits ----------------------------------
before=$(claw stats --json | json_field messages)
$send --socket "$sock" --connections 8 --generate 400 > "$tmp/r" 2>&1
check "8 sessions, 400 messages: all 250" grep -q '"250": 400' "$tmp/r"
# --- HUP: a broken file is refused, a good one taken ------------------------
cp "$tmp/clawd.conf" "$tmp/good.conf"
echo "[nonsense" >> "$tmp/clawd.conf"
kill -HUP $pid; sleep 0.5
check "HUP with a broken file: old configuration kept, logged" grep -q "keeping the old configuration" "$tmp/clawd.log"
$send --socket "$sock" --rcpt x@corp.example "$fx/malformed.eml" > "$tmp/r" 2>&1
check "...and still archiving" grep -q '"250": 1' "$tmp/r"
cp "$tmp/good.conf" "$tmp/clawd.conf"
kill -HUP $pid; sleep 0.5
check "HUP with a good file: reloaded" grep -q "SIGHUP: reloaded" "$tmp/clawd.log"

# HUP applies the limits: the new max_message_bytes is advertised and kept.
sed 's/^max_message_bytes = 64k/max_message_bytes = 2M/' "$tmp/good.conf" > "$tmp/clawd.conf"
kill -HUP $pid; sleep 0.5
"$py" - "$sock" > "$tmp/lhlo" 2>&1 <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
f.readline(); s.sendall(b"LHLO t\r\n")
while True:
    l = f.readline(); print(l.decode().strip())
    if l.startswith(b"250 "): break
EOF
check "HUP: the new max_message_bytes applies (SIZE 2097152)" grep -q "SIZE 2097152" "$tmp/lhlo"
cp "$tmp/good.conf" "$tmp/clawd.conf"
kill -HUP $pid; sleep 0.5

# While clawd writes the index, reindex in either form is busy (75, claw(1)).
claw reindex --catch-up > /dev/null 2> "$tmp/busy"; rc=$?
check "reindex --catch-up while clawd runs: exit 75 ($(head -1 "$tmp/busy"))" [ $rc -eq 75 ]
claw reindex > /dev/null 2>&1; rc=$?
check "reindex while clawd runs: exit 75" [ $rc -eq 75 ]

# --- TERM: drains, exits 0, removes its socket ------------------------------
stop; rc=$?
check "TERM: exit 0" [ $rc -eq 0 ]
check "TERM: socket removed" [ ! -S "$sock" ]
commits=$(sed -n 's/.*stored in \([0-9]*\) commits.*/\1/p' "$tmp/clawd.log" | tail -1)
stored=$(sed -n 's/.*stopped: \([0-9]*\) messages.*/\1/p' "$tmp/clawd.log" | tail -1)
check "group commits: $stored messages in $commits commits" [ "$commits" -lt "$stored" ]
claw stats --json > "$tmp/stats.json"
check "all 400 generated messages stored" [ "$(json_field messages < "$tmp/stats.json")" -eq $((before + 401)) ]
claw check > "$tmp/check" 2>&1
check "check: clean, index caught up" sh -c "grep -q '^clean$' '$tmp/check' && ! grep -q behind '$tmp/check'"

# --- the socket path: only a socket is ever created or removed there --------
sum_before=$(md5sum < "$A/store/data.mdb")
timeout 10 "$CLAWD" --config "$tmp/clawd.conf" --stderr --socket "$A/store/data.mdb" \
    > "$tmp/sockerr" 2>&1; rc=$?
check "--socket naming the store's data.mdb: refused (exit $rc)" [ $rc -ne 0 ] && [ $rc -ne 124 ]
check "...saying it is not a socket" grep -q "is not a socket" "$tmp/sockerr"
check "...and the store is untouched" [ "$(md5sum < "$A/store/data.mdb")" = "$sum_before" ]
mkdir "$tmp/sockdir"
timeout 10 "$CLAWD" --config "$tmp/clawd.conf" --stderr --socket "$tmp/sockdir" > "$tmp/sockerr" 2>&1
check "--socket naming a directory: refused, the directory kept" \
    sh -c "grep -q 'is not a socket' '$tmp/sockerr' && [ -d '$tmp/sockdir' ]"
start
rm -f "$sock"; echo keep > "$sock"
stop
check "at exit clawd removes only the socket it made, not a file put there since" \
    grep -q keep "$sock"
rm -f "$sock"

# --- crash safety -------------------------------------------------------------
# Exactly once: every message the client saw accepted is there, none twice.
exactly_once() { # exactly_once N: the generated messages 0..N-1, once each
    n=0
    for i in 0 $(($1 / 2)) $(($1 - 1)); do
        [ "$(claw search --count "msgid:gen-$i@test.example")" = 1 ] || n=$((n + 1))
    done
    [ $n -eq 0 ] && [ "$(claw search --count 'subject:generated')" = "$1" ]
}
for when in before after; do
    rm -rf "$A"
    : > "$tmp/clawd.log"
    start CLAW_TEST_CRASH=$when:3
    $send --socket "$sock" --connections 4 --generate 300 --retry > "$tmp/r" 2>&1 &
    sender=$!
    wait $pid
    check "CLAW_TEST_CRASH=$when:3: clawd died at its third commit" [ $? -eq 137 ]
    start
    wait $sender
    check "crash $when a commit: the sender (retrying) got 250 for all 300" grep -q '"250": 300' "$tmp/r"
    sleep 1.5
    check "crash $when a commit: each message stored exactly once" exactly_once 300
    d=$(claw stats --json | json_field deliveries)
    check "crash $when a commit: 300 deliveries, no repeat kept" [ "$d" = 300 ]
    stop
    claw check > "$tmp/check" 2>&1
    check "crash $when a commit: check clean" grep -q '^clean$' "$tmp/check"
done

# kill -9 at random moments while 4 sessions send 1000 messages.
rm -rf "$A"
start
$send --socket "$sock" --connections 4 --generate 1000 --retry > "$tmp/r" 2>&1 &
sender=$!
kill_randomly $sender 6 start
wait $sender
check "kill -9 x$kills during ingest: the sender got 250 for all 1000" grep -q '"250": 1000' "$tmp/r"
sleep 2
check "kill -9: each message stored exactly once" exactly_once 1000
check "kill -9: 1000 deliveries" [ "$(claw stats --json | json_field deliveries)" = 1000 ]
stop
claw check > "$tmp/check" 2>&1
check "kill -9: store and index agree, xapian-check clean" grep -q '^clean$' "$tmp/check"

# An idle shard compacts itself (here after 0.3 s idle, not 30 s) into a
# copy exchanged with the live one; it keeps indexing afterwards.
rm -rf "$A"
: > "$tmp/clawd.log"
start CLAW_TEST_COMPACT_IDLE_MS=300
$send --socket "$sock" --connections 4 --generate 2500 > "$tmp/r" 2>&1
i=0
while [ "$(grep -c 'compacted' "$tmp/clawd.log")" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "idle shards compact themselves (both logged)" [ "$(grep -c 'index: shard [01] compacted' "$tmp/clawd.log")" -ge 2 ]
check "no copy left beside the shards" sh -c "! ls -d '$A'/index/*.compact '$A'/index/*.old 2> /dev/null | grep -q ."
$send --socket "$sock" --rcpt after-compaction@corp.example --generate 3 > "$tmp/r" 2>&1
i=0
while [ "$(claw search --count rcpt:after-compaction@corp.example 2> /dev/null)" != 3 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "after compaction new mail is indexed and found" [ "$(claw search --count rcpt:after-compaction@corp.example)" = 3 ]
n=$(claw stats --json | json_field messages)
check "after compaction every message ($n) is found" [ "$(claw search --count 'date:1970-01-01..2100-01-01')" = "$n" ]
# Past 1,000 messages the records are packed with a dictionary: a repeated
# delivery is still recognised among them, another one is kept.
check "records packed with a dictionary ($(claw stats --json | json_field record_dictionary))" \
    [ "$(claw stats --json | json_field record_dictionary)" -gt 0 ]
$send --socket "$sock" --rcpt c@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
$send --socket "$sock" --rcpt c@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
$send --socket "$sock" --rcpt d@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
i=0
while [ "$(claw search --count rcpt:d@corp.example 2> /dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
claw show --json "$(claw search --ids to:security@corp.example)" > "$tmp/fwd.json"
check "packed envelopes: the repeat kept once, the other delivery kept" \
    [ "$("$py" -c 'import json,sys; print(len(json.load(sys.stdin)["deliveries"]))' < "$tmp/fwd.json")" = 2 ]
# The store's pages that clawd read or wrote go back to the page cache once a
# second: what stays resident of its map is what its last second touched.
# (The idle shards still read the log each second, and on a loaded machine
# a second of clawd's may take longer: the least of up to 20 looks over
# 6 s, ending at the first under half the store. A clawd that kept its
# pages holds nearly all of them in every look; one that lets them go held
# 0 to 424 kB of about 1,460 in runs on a loaded 2-core machine, so a
# quarter was too close a bound.)
sleep 2
used=$(du -k "$A/store/data.mdb" | cut -f1)
rss=999999
for i in $(seq 20); do
    r=$(map_rss $pid)
    [ "${r:-999999}" -lt "$rss" ] && rss=$r
    [ "$rss" -le $((used / 2)) ] && break
    sleep 0.3
done
check "idle clawd keeps little of the store's map resident (${rss} kB of ${used} kB)" \
    sh -c "[ $used -ge 1024 ] && [ $rss -le $((used / 2)) ]"
stop
claw check > "$tmp/check" 2>&1
check "after compaction: check clean" grep -q '^clean$' "$tmp/check"
check "check: xapian-check on the amendments too" grep -q 'xapian-check .*/amend[0-9]*: clean' "$tmp/check"
# The shards and their amendments answer as one index would: the same hits in
# the same order as after claw reindex, which folds the amendments back.
qs='date:1990..|NOT rcpt:d@corp.example|message OR invoice OR rcpt:d@corp.example'
amended=$(for a in "$A"/index/amend*; do xapian-delve "$a" 2> /dev/null; done | sed -n 's/^number of documents = //p' | awk '{s += $1} END {print s + 0}')
ids() { # ids SUFFIX: every query's hits by date and by relevance, into files
    i=0
    echo "$qs" | tr '|' '\n' | while read -r q; do
        i=$((i + 1))
        claw search --limit 5000 --ids "$q" > "$tmp/ids.$i.$1"
        claw search --limit 5000 --sort relevance --ids "$q" > "$tmp/rel.$i.$1"
    done
}
ids amend
claw reindex > /dev/null 2>&1
ids folded
for i in 1 2 3; do
    check "amendments ($amended documents): query $i as after reindex ($(wc -l < "$tmp/ids.$i.amend") hits, by date and by relevance)" \
        sh -c "[ $amended -gt 0 ] && [ -s '$tmp/ids.$i.amend' ] && cmp -s '$tmp/ids.$i.amend' '$tmp/ids.$i.folded' && cmp -s '$tmp/rel.$i.amend' '$tmp/rel.$i.folded'"
done

# --- an index made before amendments: shards with term lists ---------------
# Such a shard is still replaced in place when a message is indexed again.
rm -rf "$A"
start CLAW_TEST_INDEX_TERMLISTS=1
$send --socket "$sock" --rcpt a@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
sleep 0.5
$send --socket "$sock" --rcpt b@corp.example "$fx/forwarded.eml" > /dev/null 2>&1
i=0
while [ "$(claw search --count rcpt:b@corp.example 2> /dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "term lists: the shards have them, and no amendments" \
    sh -c "[ -e '$A/index/shard0/termlist.glass' ] && ! ls -d '$A'/index/amend* 2> /dev/null"
check "term lists: the message indexed again is one hit, by either delivery" \
    [ "$(claw search --count 'rcpt:a@corp.example OR rcpt:b@corp.example')" = 1 ]
stop
claw check > "$tmp/check" 2>&1
check "term lists: check clean" grep -q '^clean$' "$tmp/check"

# --- one option table: units as written, checks as every program runs them --
# Issue 19: 64M was read back as 64 bytes (SIZE 64, 552 for every message)
# and commit_delay = 1s as 1 ms.
U="$tmp/units"
mkdir -p "$U"
cat > "$U/clawd.conf" <<EOF
[log]
level = info
[limits]
max_message_bytes = 64M
[archive]
path = $U/archive
commit_delay = 1s
[clawd]
socket = $U/clawd.sock
EOF
: > "$tmp/clawd.log"
check "clawd starts with max_message_bytes = 64M" clawd_start "$U/clawd.conf" "$U/clawd.sock"
"$py" - "$U/clawd.sock" > "$U/lhlo" 2>&1 <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
f.readline(); s.sendall(b"LHLO test\r\n")
while True:
    l = f.readline().decode().rstrip("\r\n"); print(l)
    if l[3:4] != "-": break
EOF
check "max_message_bytes = 64M: LHLO advertises SIZE 67108864 ($(grep SIZE "$U/lhlo"))" \
    grep -q '^250.SIZE 67108864$' "$U/lhlo"
$send --socket "$U/clawd.sock" --rcpt a@corp.example "$fx/mbox-from.eml" > "$U/r" 2>&1
check "max_message_bytes = 64M: a normal message is taken (250)" grep -q '"250": 1' "$U/r"
check "commit_delay = 1s reaches the archive as 1000 ms" grep -q 'waits 1000 ms for more' "$tmp/clawd.log"
stop

# clawd -n runs the checks claw --check-config runs (claw_config_check).
printf 'url: http://ok.example/\nnot an indicator\n' > "$U/iocs.txt"
printf '[ioc]\nfiles = %s\n' "$U/iocs.txt" > "$U/ioc.conf"
"$CLAWD" -n -c "$U/ioc.conf" > /dev/null 2> "$U/err"; rc=$?
check "clawd -n: a malformed indicator line exits 78 naming its file:line ($(cat "$U/err"))" \
    sh -c "[ $rc = 78 ] && grep -q '$U/iocs.txt:2: ' '$U/err'"
printf '[clawd]\nallow = 127.0.0.0/8 10.0.0.0/33\n' > "$U/allow.conf"
"$CLAWD" -n -c "$U/allow.conf" > /dev/null 2> "$U/err"; rc=$?
check "clawd -n: a bad allow network exits 78 with file:line ($(cat "$U/err"))" \
    sh -c "[ $rc = 78 ] && grep -q 'allow.conf:2: allow: .10.0.0.0/33' '$U/err'"

[ "$n_fail" -eq 0 ]
