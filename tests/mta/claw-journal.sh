#!/bin/sh
# claw-journal, the single-file layout's journal copy (plugin/exim/
# claw-journal.c), against a real clawd, fed spool header files written
# the way Exim 4.96 writes them (spool_out.c): tainted options ("--name"),
# an ACL variable whose value spans lines, a tree of delivered addresses,
# recipients in the plain and the "#3" (DSN) forms, one with a space in its
# quoted local part. What clawd stores must be that envelope; a damaged or
# missing spool file, clawd away, or a wrong call must fail with 75 (Exim
# keeps the message and tries again) or 64, never 0. tests/mta/exim-debian.sh
# runs it under a real Exim.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"
J="${CLAW_JOURNAL:-$builddir/plugin/claw-journal}"
pid=
trap 'kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
sock="$tmp/clawd.sock"
printf '[archive]\npath = %s/archive\n[clawd]\nsocket = %s\n' "$tmp" "$sock" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
mkdir -p "$tmp/spool/input"

# spool_h ID SENDER: an -H file for message ID (recipients on stdin, one a
# line, as Exim writes them).
spool_h() {
    {
        printf '%s-H\nDebian-exim 101 104\n<%s>\n1765000000 0\n' "$1" "$2"
        printf -- '-received_time_usec .123456\n-helo_name mx.client.example\n'
        printf -- '-host_address 2001:db8::7.40123\n-interface_address 127.0.0.1.25\n'
        printf -- '-received_protocol esmtp\n'
        # An ACL variable: its length, then a value over two lines.
        printf -- '-aclm _claw 24\naction=quarantine\nx=1 2\n'
        printf -- '--aclc _seen 3\nyes\n'
        printf -- '-body_linecount 3\n-max_received_linelength 40\n'
        # Two addresses delivered already: a root and its right child.
        printf 'NY done@corp.example\nNN done2@corp.example\n'
        n=$(grep -c . "$tmp/rcpts")
        echo "$n"
        cat "$tmp/rcpts"
        printf '\n'
        printf '024F From: a@b.example\n'
    } > "$tmp/spool/input/$1-H"
}
msg() { printf 'From %s Sat Dec  5 10:00:00 2026\nFrom: a@b.example\nSubject: %s\nMessage-ID: <%s@b.example>\n\n.a line with a dot\nbody\n\n' "$2" "$1" "$1"; }

check "clawd starts" clawd_start "$tmp/c.conf" "$sock"

# Plain, #3 with an ORCPT and errors_to, and a quoted local part with a space.
cat > "$tmp/rcpts" <<'EOF'
alice@corp.example
bob@corp.example rfc822;bob@corp.example 23,2  0,-1#3
"carol smith"@corp.example  0,0 postmaster@corp.example 23,-1#3
EOF
spool_h 1xaAAA-000001-AA sender@outside.example
msg j1 sender@outside.example | "$J" --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000001-AA \
    --host mx1.corp.example > "$tmp/out" 2>&1; rc=$?
check "a message with its spool file: 0" sh -c "[ $rc = 0 ] || { cat '$tmp/out'; false; }"
id=""
i=0
while [ -z "$id" ] && [ $i -lt 50 ]; do id=$(claw search --ids msgid:j1@b.example 2>/dev/null); sleep 0.1; i=$((i + 1)); done
claw show --json "$id" > "$tmp/show.json" 2>/dev/null
got=$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))["deliveries"][0]
print("|".join([d["mail_from"], ",".join(d["rcpt"]), d["client_ip"], d["helo"], d["queue_id"], d["mta_host"]]))' "$tmp/show.json" 2>&1)
check "the envelope from the spool file ($got)" [ "$got" = 'sender@outside.example|alice@corp.example,bob@corp.example,"carol smith"@corp.example|2001:db8::7|mx.client.example|1xaAAA-000001-AA|mx1.corp.example' ]
claw show --raw "$id" > "$tmp/raw"
check "the message as it was: no 'From ' line, no pipe's last newline, the dot kept" \
    "$py" -c '
import re, sys
raw = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
sys.exit(not (raw.startswith(b"From: a@b.example\n") and b"\n.a line with a dot\n" in raw
              and raw.endswith(b"\nbody\n") and b"X-Clawback-Envelope" not in raw))' "$tmp/raw"

# A bounce (<>), --withheld: quarantined in the archive.
printf 'dave@corp.example\n' > "$tmp/rcpts"
spool_h 1xaAAA-000002-AA ''
msg j2 MAILER-DAEMON | "$J" --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000002-AA --withheld \
    > "$tmp/out" 2>&1; rc=$?
i=0
until [ "$(claw search --count state:quarantined 2>/dev/null)" = 1 ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
check "a bounce's null sender, --withheld: 0, quarantined in the archive" \
    sh -c "[ $rc = 0 ] && [ \"\$('$CLAW' --config '$tmp/c.conf' search --count state:quarantined)\" = 1 ]"

# What must not be 0.
fails() { # fails NAME WANT ARGS...: the message on stdin, exit WANT
    name=$1 want=$2
    shift 2
    msg jx x | "$J" "$@" > "$tmp/out" 2>&1; rc=$?
    check "$name: $want ($(head -1 "$tmp/out"))" [ $rc = "$want" ]
}
fails "no spool file" 75 --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000009-AA
printf '1xaAAA-000003-AA-H\nDebian-exim 1 1\n<a@b>\n1 0\n-helo_name x\nXX\n5\none@corp.example\n' \
    > "$tmp/spool/input/1xaAAA-000003-AA-H"
fails "a spool file cut short (5 recipients, 1 there)" 75 --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000003-AA
printf '1xaAAA-000004-AA-H\nDebian-exim 1 1\n<a@b>\n1 0\n-aclm _x 99999\nshort\n' \
    > "$tmp/spool/input/1xaAAA-000004-AA-H"
fails "an ACL variable longer than the file" 75 --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000004-AA
printf 'another-H\n' > "$tmp/spool/input/1xaAAA-000005-AA-H"
fails "the spool file of another message" 75 --socket "$sock" --spool "$tmp/spool" --id 1xaAAA-000005-AA
fails "clawd not there" 75 --socket "$tmp/nobody.sock" --spool "$tmp/spool" --id 1xaAAA-000001-AA
fails "an id with a slash" 64 --socket "$sock" --spool "$tmp/spool" --id ../../etc/passwd
fails "no --id" 64 --socket "$sock" --spool "$tmp/spool"
fails "an unknown option" 64 --frobnicate

[ $n_fail = 0 ]
