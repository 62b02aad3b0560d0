#!/bin/sh
# Quarantine at reception into the archive, and claw release, through a
# real Exim with the shipped ACL, router and transport
# (CLAWBACK_QUAR_ARCHIVE): a message the plugin quarantines (an indicator
# asking for quarantine) is not frozen on Exim's queue and not delivered,
# but stored by clawd, quarantined, out of search; `claw release` hands it
# back to Exim, which delivers it to its original recipients, once, without
# archiving it again; the release is in syslog's words on stdout and in the
# audit log, and a second release is refused.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/exim-lib.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
: "${CLAWD:=$builddir/indexer/clawd}"

exim_require "Exim and claw release"
pid=
trap 'exim_stop; kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
A="$tmp/archive"
sock="$tmp/run/clawd.sock"
mkdir -p "$tmp/run"
chmod 755 "$tmp/run"
exim_clawd_conf "$tmp/clawback.conf" "$sock" "$A"
claw() { "$CLAW" --config "$tmp/clawback.conf" "$@"; }
until_ok() { i=0; until "$@"; do [ $i -ge 200 ] && return 1; sleep 0.1; i=$((i + 1)); done; }
printf 'From: a@sender.example\nTo: user@clawback.test\nSubject: the invoice\nMessage-ID: <release-1@sender.example>\n\nPay at http://held-phish.example/pay now.\n' \
    > "$tmp/held.eml"

check "clawd starts" clawd_start "$tmp/clawback.conf" "$sock"
claw ioc add --action quarantine 'url:http://held-phish.example/pay' > /dev/null
chmod -R a+rX "$A"
EXIM_EXTRA="-DCLAWD_JOURNAL=1 -DCLAWBACK_ARCHIVE_SOCKET=$sock -DCLAWBACK_QUAR_ARCHIVE=1"
check "Exim starts with the quarantine into the archive" \
    exim_start "$tmp/exim" dlfunc "$tmp/clawback.conf"
printf '[purge]\nexim = exim -C %s %s\n' "$EXIM_CONF" "$EXIM_ARGS" >> "$tmp/clawback.conf"

"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from billing@sender.example \
    --to user@clawback.test --to boss@clawback.test "$tmp/held.eml" > "$tmp/reply" 2>&1
check "the quarantined message is accepted (250)" grep -q '^250' "$tmp/reply"
held() { [ "$(claw search --ids state:quarantined 2>/dev/null | wc -l)" = 1 ]; }
check "...stored by clawd, quarantined at reception" until_ok held
id=$(claw search --ids state:quarantined)
check "...out of search" [ -z "$(claw search --ids msgid:release-1@sender.example 2>/dev/null)" ]
check "...not delivered, and not frozen on Exim's queue" \
    sh -c "[ \$(find '$EXIM_MAILDIR' -type f | wc -l) = 0 ] && exim -C '$EXIM_CONF' $EXIM_ARGS -bpc | grep -qx 0"
claw show "$id" > "$tmp/show"
check "claw show says how it is held, and how to release it" \
    grep -q "^State:      quarantined at reception (claw release $id)" "$tmp/show"
claw restore "$id" > /dev/null 2> "$tmp/err"; rc=$?
check "claw restore of it: refused, pointing at release" \
    sh -c "[ $rc = 1 ] && grep -q 'quarantined at reception: claw release' '$tmp/err'"

claw release "$id" > "$tmp/rel"; rc=$?
check "claw release: 0, says to whom" \
    sh -c "[ $rc = 0 ] && grep -q \"released $id to user@clawback.test,boss@clawback.test\" '$tmp/rel'"
check "Exim delivers it to both original recipients" exim_wait_delivered 2
check "...the delivered copy is the stored message, marked released" \
    sh -c "grep -l 'X-Clawback-Release: $id' '$EXIM_MAILDIR'/new/* | wc -l | grep -qx 2 && grep -q 'held-phish.example' '$EXIM_MAILDIR'/new/*"
check "the archive shows it again, once (not archived a second time)" \
    until_ok sh -c "[ \"\$('$CLAW' --config '$tmp/clawback.conf' search --count msgid:release-1@sender.example 2>/dev/null)\" = 1 ] && [ \"\$('$CLAW' --config '$tmp/clawback.conf' stats --json | '$py' -c 'import json,sys; print(json.load(sys.stdin)[\"messages\"])')\" = 1 ]"
claw audit log --json > "$tmp/audit.json"
check "the audit log: the release begun and done, by whom, to whom" \
    [ "$("$py" -c 'import json,sys; print([(j["action"], j["result"].split(" exim=")[0]) for j in map(json.loads, open(sys.argv[1])) if j["action"].startswith("release")])' "$tmp/audit.json")" = "[('release.begin', 'handing to the MTA'), ('release', 'to=user@clawback.test,boss@clawback.test')]" ]
claw release "$id" > /dev/null 2> "$tmp/err"; rc=$?
check "a second release: refused (65), nothing delivered again" \
    sh -c "[ $rc = 65 ] && grep -q 'not quarantined' '$tmp/err' && [ \$(find '$EXIM_MAILDIR' -type f | wc -l) = 2 ]"
claw audit verify > /dev/null; rc=$?
check "audit: intact" [ $rc = 0 ]

[ $n_fail = 0 ]
