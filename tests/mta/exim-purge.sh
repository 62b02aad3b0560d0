#!/bin/sh
# End to end through a real Exim: mail delivered to the recipients'
# Maildirs, archived by clawd over the journal transport (with Exim's
# message id), and still queued for a recipient whose server defers. Then
# `claw ioc add --action quarantine` alone takes every copy back: clawd
# hunts it, quarantines the archive's copy, moves the Maildir copies out of
# view and freezes the queued one. `claw restore` puts them all back (the
# queued copy thawed), and a delete plan removes the queued copy.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/exim-lib.sh"
fx="$srcdir/tests/fixtures"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"

exim_require "Exim and claw-back"
pid=
trap 'exim_stop; kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
A="$tmp/archive"
sock="$tmp/run/clawd.sock"
mkdir -p "$tmp/run"
chmod 755 "$tmp/run"
exim_clawd_conf "$tmp/clawback.conf" "$sock" "$A"
claw() { "$CLAW" --config "$tmp/clawback.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
until_ok() { i=0; until "$@"; do [ $i -ge 300 ] && return 1; sleep 0.1; i=$((i + 1)); done; }

EXIM_EXTRA="-DCLAWD_JOURNAL=1 -DCLAWBACK_ARCHIVE_SOCKET=$sock -DPER_USER=1 -DHOLD_DOMAIN=1"
check "Exim starts with the journal, a Maildir per user and a domain it holds" \
    exim_start "$tmp/exim" dlfunc "$tmp/clawback.conf"
for u in u1 u2; do mkdir -p "$EXIM_MAILDIR/$u"; chown "$EXIM_USER:$EXIM_USER" "$EXIM_MAILDIR/$u"; done
cat >> "$tmp/clawback.conf" <<EOF
[purge]
maildir = $EXIM_MAILDIR/%u
exim = exim -C $EXIM_CONF $EXIM_ARGS
EOF
check "clawd starts" clawd_start "$tmp/clawback.conf" "$sock"

"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from billing@billing.example.com \
    --to u1@clawback.test --to u2@clawback.test --to partner@hold.test "$fx/plain.eml" > "$tmp/reply" 2>&1
"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from one@example.com \
    --to u1@clawback.test "$fx/international.eml" > /dev/null 2>&1
maildir_count() { find "$EXIM_MAILDIR" -path '*/new/*' -type f | wc -l; }
check "accepted; delivered to two Maildirs, and other mail to one" until_ok [ "$(maildir_count)" -ge 3 ]
id=$(sed -n 's/^X-Clawback-Id: //p' "$(grep -l 'billing.example.com' "$EXIM_MAILDIR"/u1/new/*)")
check "archived with Exim's message id" \
    until_ok sh -c "'$CLAW' --config '$tmp/clawback.conf' show '$id' 2>/dev/null | grep -q 'queue-id='"
qid=$(claw show "$id" | sed -n 's/.* queue-id=\([^ ]*\).*/\1/p')
check "the copy for partner@hold.test waits in Exim's queue ($qid)" exim -C "$EXIM_CONF" $EXIM_ARGS -Mvh "$qid" > /dev/null 2>&1

# --- one command: every copy taken back --------------------------------------------
t0=$(date +%s%N)
claw ioc add --action quarantine --reason "phish" sender:alerts@billing.example.com > /dev/null
frozen() { exim -C "$EXIM_CONF" $EXIM_ARGS -bp | grep -q "$qid .*\*\*\* frozen \*\*\*"; }
gone() { [ "$(find "$EXIM_MAILDIR" -path '*/new/*' -type f | xargs grep -l "$id" 2>/dev/null | wc -l)" = 0 ]; }
check "claw ioc add --action quarantine: the queued copy is frozen" until_ok frozen
check "...both Maildir copies are out of the users' view" until_ok gone
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
quarantined() { [ "$(claw search --ids state:quarantined 2>/dev/null)" = "$id" ]; }
check "...and the archive's copy quarantined (all within ${ms} ms of the add)" until_ok quarantined
claw purge status --json 1 > "$tmp/p1.json"
check "through clawd's plan: archive 1, maildir 2, queue 1, all done" \
    [ "$(field "$tmp/p1.json" '(j["by"], j["state"], j["by_target"], j["by_status"]["done"])')" = "('clawd', 'done', {'archive': 1, 'maildir': 2, 'queue': 1}, 4)" ]
check "the other mail is untouched" [ "$(maildir_count)" = 1 ]

# --- restore: all back, the queued copy thawed --------------------------------------
claw restore 1 > "$tmp/r.out"; rc=$?
check "claw restore 1: 0, four copies back" sh -c "[ $rc = 0 ] && grep -q 'done=4' '$tmp/r.out'"
check "the Maildir copies are back" [ "$(maildir_count)" = 3 ]
check "the queued copy is thawed, still queued" \
    sh -c "! exim -C '$EXIM_CONF' $EXIM_ARGS -bp | grep -q 'frozen' && exim -C '$EXIM_CONF' $EXIM_ARGS -Mvh '$qid' > /dev/null 2>&1"

# --- delete the queued copy: first while Exim is at it (its spool file locked) -------
claw ioc revoke 1 > /dev/null 2>&1
claw purge plan --action delete --targets queue "id:$id" > /dev/null
# A delivery process holds the message's data file locked (fcntl, as Exim does).
"$py" -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
time.sleep(60)' "$ex_dir/spool/input/$qid-D" "$tmp/locked" &
locker=$!
until_ok [ -f "$tmp/locked" ]
claw purge run 3 > /dev/null 2> "$tmp/d.err"; rc=$?
claw purge status --json 3 > "$tmp/p3.json"
exim -C "$EXIM_CONF" $EXIM_ARGS -Mvh "$qid" > /dev/null 2>&1; there=$?
check "Exim's queue locked: the run ends 75, the copy failed with Exim's reason, still queued" \
    [ "$rc $there $(field "$tmp/p3.json" '(j["state"], j["by_status"]["failed"], "locked" in j["list"][0]["detail"])')" = "75 0 ('running', 1, True)" ]
kill $locker; wait $locker 2> /dev/null
claw purge run 3 > "$tmp/d.out"; rc=$?
exim -C "$EXIM_CONF" $EXIM_ARGS -Mvh "$qid" > /dev/null 2>&1; there=$?
check "...run again once it is free: 0, the message is removed from Exim's queue" \
    sh -c "[ $rc = 0 ] && [ $there != 0 ] && grep -q 'done=1' '$tmp/d.out'"
claw audit verify > /dev/null; rc=$?
check "audit: intact" [ $rc = 0 ]

[ $n_fail = 0 ]
