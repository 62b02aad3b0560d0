#!/bin/sh
# Purge plans against a real Dovecot (tests/tools/dovecot.sh: started on
# loopback with its own configuration and users), through doveadm, checked
# over IMAP: the archived mail is found in the users' folders, quarantined
# out of every folder the user can see or open, restored unchanged (flags,
# received date, bytes), Dovecot down leaves copies failed to be run again,
# and a delete expunges.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
. "$srcdir/tests/tools/dovecot.sh"
# The interpreter itself, not pyenv's shim (half a second a start).
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"

dovecot_require "Dovecot purge"
pid=
trap 'kill -9 $pid 2>/dev/null; dovecot_stop "$tmp/dc"; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/dc" "$tmp/run" "$tmp/in"
if ! dovecot_start "$tmp/dc" 3; then
    fail "dovecot starts"
    exit 1
fi
ok "dovecot starts (IMAP on 127.0.0.1:$DOVECOT_IMAP_PORT)"
imap() { # imap USER ARGS...
    iu=$1; shift
    "$py" "$srcdir/tests/tools/imap.py" --port "$DOVECOT_IMAP_PORT" --user "$iu" --password pw "$@"
}
cat > "$tmp/c.conf" <<EOF
[archive]
path = $tmp/archive
[clawd]
socket = $tmp/run/clawd.sock
[purge]
doveadm = doveadm -c $DOVECOT_CONF
dovecot_quarantine = $DOVECOT_QUARANTINE
EOF
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# --- the mail: archived by clawd (ids as an MTA wrote them), delivered by
# dovecot-lda (user2's copy of the first into a folder), flags set --------
msg() { # msg N ID FROM
    printf 'X-Clawback-Id: %s\nFrom: %s\nTo: user1@corp.example, user2@corp.example\nSubject: note %s\nMessage-ID: <%s@dove.example>\nDate: Mon, 2 Nov 2026 10:0%s:00 +0000\n\nbody %s\n' \
        "$2" "$3" "$1" "$1" "$1" "$1" > "$tmp/in/m$1.eml"
}
msg 1 01JD0VEC0T00000000000000A1 bad@evil.example
msg 2 01JD0VEC0T00000000000000A2 bad@evil.example
msg 3 01JD0VEC0T00000000000000A3 good@partner.example
check "clawd starts" clawd_start "$tmp/c.conf" "$tmp/run/clawd.sock"
send() { # send N RCPT...
    n=$1; shift
    rc=""; for r in "$@"; do rc="$rc --rcpt $r@corp.example"; done
    "$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$tmp/run/clawd.sock" --from x@y.example $rc "$tmp/in/m$n.eml" > /dev/null
}
send 1 user1 user2; send 2 user2 user3; send 3 user1
# Many copies in one user's folder: more than one doveadm query holds.
mkdir -p "$tmp/bulk"
i=10
while [ $i -lt 80 ]; do
    printf 'X-Clawback-Id: 01JD0VEC0T0000000000000B%s\nFrom: bulk@evil.example\nTo: user3@corp.example\nSubject: bulk %s\nMessage-ID: <bulk-%s@dove.example>\n\nbulk %s\n' \
        $i $i $i $i > "$tmp/bulk/b$i.eml"
    i=$((i + 1))
done
"$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$tmp/run/clawd.sock" --from x@y.example \
    --rcpt user3@corp.example "$tmp"/bulk/*.eml > /dev/null
kill -TERM $pid; wait $pid; pid=
dovecot_deliver "$tmp/dc" user1 "$tmp/in/m1.eml"
dovecot_deliver "$tmp/dc" user2 "$tmp/in/m1.eml" Work
dovecot_deliver "$tmp/dc" user2 "$tmp/in/m2.eml"
dovecot_deliver "$tmp/dc" user3 "$tmp/in/m2.eml"
dovecot_deliver "$tmp/dc" user1 "$tmp/in/m3.eml"
imap user1 store X-Clawback-Id 01JD0VEC0T00000000000000A1 '\Seen \Flagged clawback-kw' > /dev/null
sleep 1 # a copy put back with a new received date would show it
for u in user1 user2 user3; do imap $u find X-Clawback-Id 01JD0VEC --all-folders > "$tmp/before-$u"; done
imap user1 find X-Clawback-Id 01JD0VEC0T00000000000000A3 > "$tmp/good"
check "five copies delivered, one flagged" \
    sh -c "[ \$(cat '$tmp'/before-* | wc -l) = 5 ] && grep -qF '\\\\Flagged' '$tmp/before-user1'"

# --- plan and run ------------------------------------------------------------------
claw purge plan --json --targets archive,mailbox from:bad@evil.example > "$tmp/plan.json"; rc=$?
check "plan: 2 archive copies and 4 Dovecot copies (user, folder)" \
    [ "$rc $(field "$tmp/plan.json" '(j["by_target"], sorted((c["recipient"], c["where"]) for c in j["list"] if c["target"] == "dovecot"))')" = "0 ({'archive': 2, 'dovecot': 4}, [('user1@corp.example', 'INBOX'), ('user2@corp.example', 'INBOX'), ('user2@corp.example', 'Work'), ('user3@corp.example', 'INBOX')])" ]
claw purge run 1 > "$tmp/run.out"; rc=$?
check "run: 0, six copies done" sh -c "[ $rc = 0 ] && grep -q 'done=6' '$tmp/run.out'"
for u in user1 user2 user3; do imap $u find X-Clawback-Id 01JD0VEC --all-folders > "$tmp/during-$u"; done
check "over IMAP the users see none of the bad sender's mail, and the good one's still" \
    [ "$(cat "$tmp"/during-*)" = "$(cat "$tmp/good")" ]
check "the quarantine namespace holds them, folder by folder (doveadm)" \
    [ "$(dovecot_doveadm -f tab fetch -A mailbox mailbox "$DOVECOT_QUARANTINE/*" header X-Clawback-Id 01JD0VEC0T | grep -v '^Username' | sort | tr '\t\n' ': ')" = "user1:$DOVECOT_QUARANTINE/INBOX user2:$DOVECOT_QUARANTINE/INBOX user2:$DOVECOT_QUARANTINE/Work user3:$DOVECOT_QUARANTINE/INBOX " ]

claw restore 1 > "$tmp/restore.out"; rc=$?
check "restore: 0, six copies back" sh -c "[ $rc = 0 ] && grep -q 'done=6' '$tmp/restore.out'"
for u in user1 user2 user3; do imap $u find X-Clawback-Id 01JD0VEC --all-folders > "$tmp/after-$u"; done
check "over IMAP each copy is back in its folder with its flags, received date, size and bytes" \
    "$py" -c '
import json, sys
def load(kind):
    out = []
    for u in ("user1", "user2", "user3"):
        for l in open("%s/%s-%s" % (sys.argv[1], kind, u)):
            j = json.loads(l)
            out.append((u, j["folder"], tuple(j["flags"]), j["internaldate"], j["size"], j["sha256"]))
    return sorted(out)
sys.exit(0 if load("before") == load("after") else 1)' "$tmp"

# --- Dovecot down: the copies fail, the run says so; run again when it is back ----
claw purge plan --targets dovecot subject:'"note 2"' > /dev/null
dovecot_stop "$tmp/dc"
claw purge run 3 > /dev/null 2> "$tmp/err"; rc=$?
claw purge status --json 3 > "$tmp/st.json"
check "Dovecot down: the run ends 75, its copies failed with doveadm's reason" \
    [ "$rc $(field "$tmp/st.json" '(j["state"], j["by_status"]["failed"], "exit 75" in j["list"][0]["detail"])')" = "75 ('running', 2, True)" ]
dovecot_start "$tmp/dc" 3 > /dev/null 2>&1
claw purge run 3 > /dev/null; rc=$?
imap user3 find X-Clawback-Id 01JD0VEC0T00000000000000A2 --all-folders > /dev/null; seen=$?
check "Dovecot back: the same plan run again finishes (0), the copy is out of view" [ "$rc $seen" = "0 1" ]
claw restore 3 > /dev/null

# --- delete: expunged ---------------------------------------------------------------
claw purge plan --action delete --targets dovecot subject:'"note 2"' > /dev/null
claw purge run 5 > "$tmp/del.out"; rc=$?
imap user2 find X-Clawback-Id 01JD0VEC0T00000000000000A2 --all-folders > /dev/null; a=$?
check "delete: 0, two copies expunged; not in any folder, nor in the quarantine" \
    sh -c "[ '$rc $a' = '0 1' ] && grep -q 'done=2' '$tmp/del.out' && [ -z \"\$(doveadm -c '$DOVECOT_CONF' search -A mailbox '*' header X-Clawback-Id 01JD0VEC0T00000000000000A2)\" ]"
claw purge run 5 > /dev/null; rc=$?
check "a delete plan run again: nothing more (0)" [ $rc = 0 ]
# --- many copies of one user: quarantined and restored together -------------------
for f in "$tmp"/bulk/*.eml; do dovecot_deliver "$tmp/dc" user3 "$f"; done
bulk() { # the bulk copies user3 sees over IMAP
    imap user3 find X-Clawback-Id 01JD0VEC0T0000000000000B --all-folders | wc -l
}
before=$(bulk)
# One taken out of the mailbox by its user before the plan runs: gone.
claw purge plan --targets dovecot from:bulk@evil.example > "$tmp/bulk.out"
plan=$(sed -n 's/^plan \([0-9]*\).*/\1/p' "$tmp/bulk.out" | head -1)
dovecot_doveadm expunge -u user3 mailbox INBOX header X-Clawback-Id 01JD0VEC0T0000000000000B42
claw purge run "$plan" > "$tmp/bulk-run.out"; rc=$?
during=$(bulk)
check "70 copies of one user: quarantined together (69 done, 1 gone), none left in view" \
    sh -c "[ '$before $rc $during' = '70 0 0' ] && grep -q 'done=69' '$tmp/bulk-run.out' && grep -q 'gone=1' '$tmp/bulk-run.out'"
claw restore "$plan" > "$tmp/bulk-restore.out"; rc=$?
check "...and restored together: 69 back in view" \
    sh -c "[ '$rc $(bulk)' = '0 69' ] && grep -q 'done=69' '$tmp/bulk-restore.out'"

claw audit verify > /dev/null; rc=$?
check "audit: intact" [ $rc = 0 ]

[ $n_fail = 0 ]
