#!/bin/sh
# Claw-back by clawd itself: an indicator added with action quarantine is
# hunted by clawd, and every copy the hunt found (the archive's, the
# recipients' Maildirs') is quarantined through a plan made and run as
# clawd; over [purge] approval_threshold the plan waits for a person. And
# a plan cut short by a crash is finished by clawd at its next start.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"
pid=
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/run" "$tmp/in"
conf() { # conf THRESHOLD
    cat > "$tmp/c.conf" <<EOF
[archive]
path = $tmp/archive
[clawd]
socket = $tmp/run/clawd.sock
[purge]
maildir = $tmp/mail/%u
approval_threshold = $1
EOF
}
conf 100
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
msg() { # msg N ID FROM
    printf 'X-Clawback-Id: %s\nFrom: %s\nTo: u1@corp.example\nSubject: note %s\nMessage-ID: <%s@auto.example>\n\nbody %s\n' \
        "$2" "$3" "$1" "$1" "$1" > "$tmp/in/m$1.eml"
}
msg 1 01JAVT0C1AWBACK00000000001 bad@evil.example
msg 2 01JAVT0C1AWBACK00000000002 bad@evil.example
msg 3 01JAVT0C1AWBACK00000000003 good@partner.example
msg 4 01JAVT0C1AWBACK00000000004 worse@evil.example
msg 5 01JAVT0C1AWBACK00000000005 worse@evil.example
for u in u1 u2; do mkdir -p "$tmp/mail/$u/cur" "$tmp/mail/$u/new" "$tmp/mail/$u/tmp"; done
check "clawd starts" clawd_start "$tmp/c.conf" "$tmp/run/clawd.sock"
for n in 1 2 3 4 5; do
    "$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$tmp/run/clawd.sock" --from x@y.example \
        --rcpt u1@corp.example --rcpt u2@corp.example "$tmp/in/m$n.eml" > /dev/null
    cp "$tmp/in/m$n.eml" "$tmp/mail/u1/new/17000000$n.M$n.host"
    cp "$tmp/in/m$n.eml" "$tmp/mail/u2/cur/17000000$n.M$n.host:2,S"
done
# until(): wait up to 20 s for a command to succeed
until_ok() { i=0; until "$@"; do [ $i -ge 200 ] && return 1; sleep 0.1; i=$((i + 1)); done; }
quarantined() { [ "$(claw search --ids state:quarantined 2>/dev/null | wc -l)" = "$1" ]; }

claw ioc add --action quarantine --reason "phish wave" sender:bad@evil.example > /dev/null
check "a quarantine indicator: clawd quarantines the archive's two copies by itself" until_ok quarantined 2
claw purge list --json > "$tmp/plans.json"
check "...through a plan made and run by clawd, from the indicator, done (2 archive + 4 Maildir copies)" \
    [ "$(field "$tmp/plans.json" '[(p["by"], p["source"], p["state"], p["by_status"]["done"]) for p in j]')" = "[('clawd', 'ioc:1', 'done', 6)]" ]
check "...the Maildir copies are out of the users' view" \
    sh -c "[ \$(ls '$tmp/mail/u1/new' '$tmp/mail/u2/cur' | grep -c 'M[12]\.') = 0 ] && [ \$(find '$tmp/archive/quarantine' -type f | wc -l) = 4 ]"
check "...and the good sender's mail is untouched" \
    sh -c "ls '$tmp/mail/u1/new' | grep -q 'M3.host'"
grep -q 'claw-back: plan=1 action=quarantine state=done copies=6 done=6' "$tmp/clawd.log"
check "clawd logs the claw-back (key=value)" [ $? = 0 ]
claw ioc add --action block sender:good@partner.example > /dev/null
sleep 3
check "a block indicator's mail is hunted, not taken back (and the quarantine one's, hunted again, not twice)" \
    sh -c "[ \$('$CLAW' --config '$tmp/c.conf' purge list | grep -c '^plan') = 1 ]"

# --- over the threshold: the plan waits for a person -------------------------------
kill -TERM $pid; wait $pid
conf 3
check "clawd starts again (threshold 3)" clawd_start "$tmp/c.conf" "$tmp/run/clawd.sock"
claw ioc add --action quarantine sender:worse@evil.example > /dev/null
check "over the threshold: clawd's plan waits for approval, nothing taken" \
    until_ok sh -c "'$CLAW' --config '$tmp/c.conf' purge list | grep -q '^plan [0-9]*: .*awaiting-approval by clawd'"
check "...and says so in its log" until_ok grep -q 'plan=[0-9]* ioc=3 copies=6 awaits approval' "$tmp/clawd.log"
waiting=$(claw purge list | sed -n 's/^plan \([0-9]*\): .*awaiting-approval by clawd.*/\1/p' | head -1)
kill -TERM $pid; wait $pid; pid=

# --- a plan cut short is finished by clawd at its start -----------------------------
claw purge cancel "$waiting" > /dev/null
conf 100
claw purge plan --targets archive,maildir from:worse@evil.example > "$tmp/p"
cut=$(sed -n 's/^plan \([0-9]*\):.*/\1/p' "$tmp/p")
CLAW_TEST_PURGE_CRASH=3 CLAW_TEST_PURGE_BATCH=1 "$CLAW" --config "$tmp/c.conf" purge run "$cut" > /dev/null 2>&1
claw purge status --json "$cut" > "$tmp/st.json"
check "a run killed after its third step: the plan is left running" \
    [ "$(field "$tmp/st.json" 'j["state"]')" = running ]
check "clawd starts again" clawd_start "$tmp/c.conf" "$tmp/run/clawd.sock"
check "clawd finishes the plan cut short" \
    until_ok sh -c "'$CLAW' --config '$tmp/c.conf' purge status '$cut' | grep -q '^plan $cut: .* done by '"
check "...every copy of it done" \
    sh -c "'$CLAW' --config '$tmp/c.conf' purge status '$cut' | grep -qx '  done=6'"
check "...and says so" grep -q "claw-back: plan $cut was cut short: finishing it" "$tmp/clawd.log"
claw audit verify > /dev/null; rc=$?
check "audit: intact" [ $rc = 0 ]

[ $n_fail = 0 ]
