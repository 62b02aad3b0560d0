#!/bin/sh
# Who may write into the archive over TCP: with [clawd] tcp_auth =
# certificate (the default) only an MTA that issues STARTTLS with a client
# certificate signed by tls_client_ca. The certificates are made here with
# openssl(1); the client is Python's ssl module, then a real Exim's smtp
# transport (protocol = lmtp, tls_certificate) when Exim is installed.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/exim-lib.sh"
fx="$srcdir/tests/fixtures"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
A="$tmp/archive"
sock="$tmp/clawd.sock"
port=$(free_port)
claw() { "$CLAW" --config /dev/null --archive "$A" "$@"; }
trap 'exim_stop; kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

if ! command -v openssl > /dev/null; then
    skip "clawd over TLS" "no openssl(1)"
    exit 0
fi
# A CA for the MTAs, another nobody trusts, clawd's server certificate.
pki() { openssl "$@" > /dev/null 2>&1; }
mkcert() { # mkcert NAME CN [CA]: NAME.key, NAME.pem (self-signed without CA)
    pki req -new -newkey rsa:2048 -nodes -keyout "$tmp/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
    if [ -n "${3:-}" ]; then
        printf '[v3]\nsubjectAltName = DNS:%s, IP:127.0.0.1\n' "$2" > "$tmp/$1.ext"
        pki x509 -req -in "$tmp/$1.csr" -CA "$tmp/$3.pem" -CAkey "$tmp/$3.key" -CAcreateserial \
            -days 2 -extfile "$tmp/$1.ext" -extensions v3 -out "$tmp/$1.pem"
    else
        pki x509 -req -in "$tmp/$1.csr" -signkey "$tmp/$1.key" -days 2 \
            -extfile /dev/stdin -extensions v3 -out "$tmp/$1.pem" <<'EOF'
[v3]
basicConstraints = critical, CA:true
keyUsage = keyCertSign, cRLSign
EOF
    fi
}
mkcert ca "Clawback test MTA CA"
mkcert other-ca "Someone else's CA"
mkcert server localhost ca
mkcert mta mta.example ca
mkcert stranger stranger.example other-ca
check "test certificates made" [ -s "$tmp/mta.pem" ] && [ -s "$tmp/stranger.pem" ] && [ -s "$tmp/server.pem" ]

base_conf() {
    cat <<EOF
[log]
level = info
[archive]
path = $A
[clawd]
socket = $sock
listen = 127.0.0.1:$port
EOF
}

# TCP with the default tcp_auth and no TLS files: refused at start (78).
base_conf > "$tmp/no-tls.conf"
timeout 20 "$CLAWD" --config "$tmp/no-tls.conf" --stderr > "$tmp/err" 2>&1; rc=$?
check "listen without tls_* files: clawd exits 78 ($(tail -1 "$tmp/err"))" \
    sh -c "[ $rc -eq 78 ] && grep -q tls_client_ca '$tmp/err'"
{ base_conf; printf 'tls_certificate = %s\ntls_privatekey = %s\ntls_client_ca = %s\n' \
    "$tmp/server.pem" "$tmp/stranger.key" "$tmp/ca.pem"; } > "$tmp/bad-key.conf"
timeout 20 "$CLAWD" --config "$tmp/bad-key.conf" --stderr > "$tmp/err" 2>&1; rc=$?
check "a key that does not match the certificate: exit 78 ($(tail -1 "$tmp/err" | cut -c1-120))" \
    sh -c "[ $rc -eq 78 ] && grep -q 'tls_privatekey.*does not match' '$tmp/err'"

{ base_conf; printf 'tls_certificate = %s\ntls_privatekey = %s\ntls_client_ca = %s\n' \
    "$tmp/server.pem" "$tmp/server.key" "$tmp/ca.pem"; } > "$tmp/clawd.conf"
check "clawd starts with STARTTLS and client certificates" clawd_start "$tmp/clawd.conf" "$sock"
wait_port "$port" "$pid"

# One LMTP session over TCP: PLAN is none | starttls | CERT-NAME, then an
# optional "inject" (a MAIL pipelined behind STARTTLS). Prints each reply's
# first line, one per command.
cat > "$tmp/client.py" <<'EOF'
import socket, ssl, sys
port, tmp, msgfile, plan = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
inject = len(sys.argv) > 5
s = socket.create_connection(("127.0.0.1", port), 10)
f = s.makefile("rb")
def reply():
    first = None
    while True:
        l = f.readline().decode(errors="replace").rstrip()
        if first is None:
            first = l
        if len(l) < 4 or l[3] != "-":
            return first
def cmd(c):
    s.sendall(c.encode() + b"\r\n")
    r = reply(); print(c.split(" ")[0], r); return r
print("greeting", reply())
s.sendall(b"LHLO client.example\r\n")
lines = []
while True:
    l = f.readline().decode().rstrip(); lines.append(l)
    if l[3] == " ":
        break
print("STARTTLS offered" if "250-STARTTLS" in lines else "STARTTLS not offered")
if plan != "none":
    s.sendall(b"STARTTLS\r\n" + (b"MAIL FROM:<injected@evil.example>\r\n" if inject else b""))
    print("STARTTLS", reply())
    ctx = ssl.create_default_context(cafile=tmp + "/ca.pem")
    ctx.check_hostname = False
    if plan != "starttls":
        ctx.load_cert_chain(tmp + "/" + plan + ".pem", tmp + "/" + plan + ".key")
    s = ctx.wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb")
    cmd("NOOP")
    cmd("LHLO client.example")
if cmd("MAIL FROM:<mta@corp.example>").startswith("250"):
    cmd("RCPT TO:<tls@corp.example>")
    if cmd("DATA").startswith("354"):
        body = open(msgfile, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        s.sendall(body + b".\r\n")
        print("end", reply())
cmd("QUIT")
EOF
sed 's/^From: /X-Clawback-Id: 01JCCCCCCCCCCCCCCCCCCCCCCC\nX-Clawback-Verdict: quarantine; score=12\nX-Clawback-Rules: LOOKALIKE_DOMAIN\nFrom: /' \
    "$fx/plain.eml" > "$tmp/stamped.eml"
session() { "$py" "$tmp/client.py" "$port" "$tmp" "$tmp/stamped.eml" "$@" > "$tmp/out" 2>&1; }

session none
check "LHLO over TCP offers STARTTLS" grep -q "^STARTTLS offered" "$tmp/out"
check "MAIL without STARTTLS: 530 ($(grep ^MAIL "$tmp/out"))" grep -q "^MAIL 530 5.7.0 Must issue a STARTTLS" "$tmp/out"
session starttls
check "STARTTLS without a client certificate: MAIL 530 ($(grep ^MAIL "$tmp/out"))" \
    grep -q "^MAIL 530 5.7.0 A client certificate" "$tmp/out"
check "...and LHLO after TLS no longer offers STARTTLS" grep -q "^LHLO 250" "$tmp/out"
session stranger
check "a certificate from another CA: MAIL 530" grep -q "^MAIL 530 5.7.0 A client certificate" "$tmp/out"
check "nothing of them stored" [ "$(claw stats --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')" = 0 ]
session mta inject
check "a command pipelined behind STARTTLS is dropped (NOOP answered first: $(grep ^NOOP "$tmp/out"))" \
    grep -q "^NOOP 250" "$tmp/out"
check "the MTA's certificate: the message is stored ($(grep ^end "$tmp/out"))" grep -q "^end 250" "$tmp/out"
i=0
while [ "$(claw search --count id:01JCCCCCCCCCCCCCCCCCCCCCCC 2> /dev/null)" != 1 ] && [ $i -lt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
claw show --json 01JCCCCCCCCCCCCCCCCCCCCCCC > "$tmp/show.json" 2>&1
check "...an authenticated MTA: its X-Clawback-Id and verdict are believed" \
    sh -c "grep -q '\"verdict_source\":\"mta\"' '$tmp/show.json' && grep -q '\"action\":\"quarantine\"' '$tmp/show.json'"
check "clawd logged the verified certificate" grep -q "client certificate verified: .*mta.example" "$tmp/clawd.log"

# --- a real Exim: the shipped clawback_lmtp_tls transport -------------------
exim_require "Exim's smtp transport (protocol = lmtp) with a client certificate"
chmod 755 "$tmp"
chmod 644 "$tmp"/*.pem "$tmp"/*.key "$tmp/clawd.conf"
exim_clawd_conf "$tmp/exim-clawback.conf" "$tmp/unused.sock" "$A"
EXIM_EXTRA="-DCLAWD_JOURNAL=1 -DCLAWBACK_JOURNAL_VIA=clawback_lmtp_tls \
-DCLAWBACK_ARCHIVE_HOST=127.0.0.1 -DCLAWBACK_ARCHIVE_PORT=$port -DCLAWBACK_TLS_CERT=$tmp/mta.pem \
-DCLAWBACK_TLS_KEY=$tmp/mta.key -DCLAWBACK_TLS_CA=$tmp/ca.pem"
check "Exim starts with the TLS journal transport" exim_start "$tmp/exim" dlfunc "$tmp/exim-clawback.conf"
"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from billing@billing.example.com \
    --to finance@clawback.test "$fx/plain.eml" > "$tmp/reply" 2>&1
check "Exim accepted the message" grep -q '^250' "$tmp/reply"
exim_wait_delivered 1
copy=$(find "$EXIM_MAILDIR/new" -type f | head -1)
id=$(sed -n 's/^X-Clawback-Id: //p' "$copy")
i=0
while [ "$(claw search --count "id:$id" 2> /dev/null)" != 1 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
check "archived by Exim over LMTP+TLS under the Maildir copy's X-Clawback-Id ($id)" \
    [ "$(claw search --count "id:$id" 2> /dev/null)" = 1 ]
claw show --json "$id" > "$tmp/exim.json" 2>&1
check "...its verdict and client IP believed (an authenticated MTA)" \
    sh -c "grep -q '\"verdict_source\":\"mta\"' '$tmp/exim.json' && grep -q '\"client_ip\":\"127.0.0.1\"' '$tmp/exim.json'"
check "Exim's log shows the TLS delivery to clawd" grep -q "T=clawback_lmtp_tls.*X=TLS" "$EXIM_LOG"
grep -q "T=clawback_lmtp_tls.*X=TLS" "$EXIM_LOG" ||
    cat "$EXIM_LOG" "$ex_dir/log/paniclog" "$ex_dir/log/stdout" 2> /dev/null | tail -20 | sed 's/^/# /'
exim_stop
kill -TERM $pid; wait $pid
