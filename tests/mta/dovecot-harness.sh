#!/bin/sh
# The Dovecot harness itself (tests/tools/dovecot.sh, tests/tools/imap.py): a
# real Dovecot 2.3 with three users, mail delivered through dovecot-lda, flags
# set over IMAP, one message moved into the quarantine with doveadm (gone from
# all the user can see or open) and back (the same flags, INTERNALDATE and
# bytes; a new UID).
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/dovecot.sh"
# The interpreter itself, not pyenv's shim (half a second a start).
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')

dovecot_require "Dovecot harness"
trap 'dovecot_stop "$tmp"; rm -rf "$tmp"' EXIT
mkdir "$tmp/in"

imap() { # imap USER ARGS...
    iu=$1; shift
    "$py" "$srcdir/tests/tools/imap.py" --port "$DOVECOT_IMAP_PORT" --user "$iu" --password pw "$@"
}

if ! dovecot_start "$tmp" 3; then
    fail "dovecot starts"
    exit 1
fi
ok "dovecot starts (IMAP on 127.0.0.1:$DOVECOT_IMAP_PORT)"

# user1-1, user1-2, user2-1, user2-2: their X-Clawback-Id.
delivered=0
for u in user1 user2; do
    for n in 1 2; do
        printf 'From: <alice@example.com>\nTo: <%s@example.com>\nSubject: message %s\nMessage-ID: <%s-%s@example.com>\nX-Clawback-Id: %s-%s\n\nBody %s of %s.\n' \
            $u $n $u $n $u $n $n $u > "$tmp/in/$u-$n.eml"
        dovecot_deliver "$tmp" $u "$tmp/in/$u-$n.eml" && delivered=$((delivered + 1))
    done
done
check "dovecot-lda delivers four messages" [ $delivered -eq 4 ]
check "user1 sees two in INBOX" [ "$(imap user1 list)" = '{"folder": "INBOX", "messages": 2}' ]
dovecot_deliver "$tmp" nobody "$tmp/in/user1-1.eml" 2> /dev/null
check "dovecot-lda: no such user exits 67" [ $? -eq 67 ]

imap user1 store X-Clawback-Id user1-1 '\Seen \Flagged $Label1 clawback-kw' > /dev/null
imap user1 find X-Clawback-Id user1-1 > "$tmp/before"
check "flags and keywords stored over IMAP" \
    grep -qF '"flags": ["$Label1", "\\Flagged", "\\Seen", "clawback-kw"]' "$tmp/before"

check "doveadm search -A finds both users' first message" \
    [ "$(dovecot_doveadm search -A mailbox '*' '(' header X-Clawback-Id user1-1 OR header X-Clawback-Id user2-1 ')' |
        cut -d' ' -f1 | tr '\n' ' ')" = "user1 user2 " ]
dovecot_doveadm search -u nobody mailbox '*' all 2> /dev/null
check "doveadm: no such user exits 67" [ $? -eq 67 ]

# A restored copy given a new INTERNALDATE would now show it.
sleep 1
q=$DOVECOT_QUARANTINE/INBOX
# (Its INBOX is created by doveadm's first look: no mailbox create.)
check "doveadm move into the quarantine" \
    dovecot_doveadm move -u user1 "$q" mailbox INBOX header X-Clawback-Id user1-1
imap user1 find X-Clawback-Id user1-1 --all-folders > /dev/null
check "the user no longer finds it in any folder" [ $? -eq 1 ]
check "the quarantine is not listed" [ "$(imap user1 list)" = '{"folder": "INBOX", "messages": 1}' ]
imap user1 find X-Clawback-Id user1-1 --folder "$q" > /dev/null 2>&1
check "nor can it be opened over IMAP" [ $? -eq 2 ]
check "doveadm finds it in the quarantine" \
    [ "$(dovecot_doveadm search -u user1 mailbox "$q" header X-Clawback-Id user1-1 | wc -l)" -eq 1 ]
check "user2's mail untouched" [ "$(imap user2 find X-Clawback-Id user2 | wc -l)" -eq 2 ]

check "doveadm move back to INBOX" \
    dovecot_doveadm move -u user1 INBOX mailbox "$q" header X-Clawback-Id user1-1
imap user1 find X-Clawback-Id user1-1 > "$tmp/after"
check "restored with the same flags, INTERNALDATE, size and SHA-256; a new UID" \
    "$py" -c '
import json, sys
b, a = (json.loads(open(f).read()) for f in sys.argv[1:])
same = [k for k in ("folder", "flags", "internaldate", "size", "sha256") if a[k] != b[k]]
sys.exit(1 if same or a["uid"] == b["uid"] else 0)' "$tmp/before" "$tmp/after"

check "doveadm expunge" dovecot_doveadm expunge -u user2 mailbox '*' header X-Clawback-Id user2-2
imap user2 find X-Clawback-Id user2-2 --all-folders > /dev/null
check "the expunged message is gone" [ $? -eq 1 ]

master=$(cat "$tmp/run/master.pid")
dovecot_stop "$tmp"
check "dovecot stops" [ ! -d "/proc/$master" ]
