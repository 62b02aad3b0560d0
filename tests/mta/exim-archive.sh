#!/bin/sh
# End to end: a real Exim with the plugin and the shipped journal router
# and LMTP transport (conf/exim/clawback-router.conf, -transport.conf)
# delivers to the Maildir and to clawd. Then clawd is killed (-9) again and
# again during an ingest through Exim; Exim's queue retries, and every
# message it delivered to clawd is in the archive exactly once.
# CLAW_EXIM_ARCHIVE_MESSAGES sets the size of that ingest (default 2000;
# the issue's figure is 10000).
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/exim-lib.sh"
fx="$srcdir/tests/fixtures"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
n_msgs="${CLAW_EXIM_ARCHIVE_MESSAGES:-2000}"

exim_require "Exim and the archive"
pid=
trap 'exim_stop; kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
A="$tmp/archive"
sock="$tmp/run/clawd.sock"
mkdir -p "$tmp/run"
chmod 755 "$tmp/run"
exim_clawd_conf "$tmp/clawback.conf" "$sock" "$A"
claw() { "$CLAW" --config "$tmp/clawback.conf" "$@"; }
json_field() { "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

start_clawd() { clawd_start "$tmp/clawback.conf" "$sock"; }

check "clawd starts, socket in Exim's group" start_clawd
EXIM_EXTRA="-DCLAWD_JOURNAL=1 -DCLAWBACK_ARCHIVE_SOCKET=$sock"
check "Exim starts with the journal router and LMTP transport" \
    exim_start "$tmp/exim" dlfunc "$tmp/clawback.conf"

# --- one message, a visible and a Bcc recipient ----------------------------
"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --from billing@billing.example.com \
    --to finance@clawback.test --to hidden-bcc@clawback.test "$fx/plain.eml" > "$tmp/reply" 2>&1
check "accepted (250)" grep -q '^250' "$tmp/reply"
check "delivered to the Maildir (two recipients)" exim_wait_delivered 2
copy=$(find "$EXIM_MAILDIR/new" -type f | head -1)
id=$(sed -n 's/^X-Clawback-Id: //p' "$copy")
verdict=$(sed -n 's/^X-Clawback-Verdict: \([a-z]*\).*/\1/p' "$copy")
check "the Maildir copy is stamped" [ -n "$id" ]
# Searchable within a second of the Maildir delivery.
start=$(date +%s%N)
found=0
while [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 ]; do
    [ "$(claw search --count "id:$id" 2>/dev/null)" = 1 ] && { found=1; break; }
    sleep 0.05
done
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
check "archived and searchable by its X-Clawback-Id within 1 s (${elapsed} ms)" \
    [ $found -eq 1 ] && [ "$elapsed" -lt 1000 ]
claw show --json "$id" > "$tmp/show.json"
check "same X-Clawback-Id in the archive" grep -q "\"id\":\"$id\"" "$tmp/show.json"
check "the envelope: sender" grep -q '"mail_from":"billing@billing.example.com"' "$tmp/show.json"
check "the envelope: the Bcc recipient too" grep -q '"hidden-bcc@clawback.test"' "$tmp/show.json"
check "the envelope: client IP and HELO from Exim" \
    sh -c "grep -q '\"client_ip\":\"127.0.0.1\"' '$tmp/show.json' && grep -q '\"helo\":\"[^\"]' '$tmp/show.json'"
check "the verdict is the plugin's ($verdict)" \
    sh -c "grep -q '\"action\":\"$verdict\"' '$tmp/show.json' && grep -q '\"verdict_source\":\"mta\"' '$tmp/show.json'"
host=$(exim -C "$EXIM_CONF" $EXIM_ARGS -bP primary_hostname 2>/dev/null | sed -n 's/^primary_hostname = //p')
check "the receiving MTA's host name with the delivery ($host)" \
    sh -c "[ -n '$host' ] && grep -q '\"mta_host\":\"$host\"' '$tmp/show.json'"
check "one LMTP delivery for both recipients" [ "$("$py" -c 'import json,sys; print(len(json.load(sys.stdin)["deliveries"]))' < "$tmp/show.json")" = 1 ]
claw show --raw "$id" > "$tmp/raw"
check "the archived copy carries no X-Clawback-Envelope headers" sh -c "! grep -q '^X-Clawback-Envelope' '$tmp/raw'"
# One line for the message in clawd's log, at the default level (notice),
# with the ids an admin follows it by: ours, Exim's, the Message-ID - the
# same three as the plugin's line in Exim's log.
qid=$(sed -n "s/^[0-9-]* [0-9:]* \([^ ]*\) clawback: id=$id .*/\1/p" "$EXIM_LOG")
check "clawd's one line for it: the three ids, Exim's as in Exim's log ($qid)" \
    sh -c "[ -n '$qid' ] && [ \$(grep -c 'notice: message id=$id queue_id=$qid message-id=<[^ ]*> docid=[0-9]* rcpt=2 action=[a-z]* result=stored ' '$tmp/clawd.log') = 1 ] && [ \$(grep -c 'clawback: id=$id ' '$EXIM_LOG') = 1 ]"
for q in "from:alerts@billing.example.com" "rcpt:hidden-bcc@clawback.test" "rcpt:finance@clawback.test" \
    "mailfrom:billing@billing.example.com" "ip:127.0.0.1" "subject:statement" "statement" \
    "url:https://portal.billing.example.com/statements?id=2026-11" "host:portal.billing.example.com" \
    "domain:example.com" "msgid:statement-2026-11@billing.example.com" "action:$verdict" \
    "date:2026-11-01" "received:today.." "size:100..100k"; do
    t0=$(date +%s%N)
    n=$(claw search --count "$q" 2>&1)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    check "claw search $q: found (${ms} ms)" sh -c "[ '$n' = 1 ] && [ $ms -lt 1000 ]"
done

# --- kill -9 during an ingest through Exim -----------------------------------
mkdir -p "$tmp/gen"
"$py" - "$tmp/gen" "$n_msgs" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "m%05d.eml" % i), "w") as f:
        f.write("From: sender%d@partner.example\nTo: user@clawback.test\n"
                "Subject: ingest %d\nMessage-ID: <ingest-%d@partner.example>\n"
                "Date: Mon, 3 Mar 2025 10:00:00 +0000\n\nMessage number %d.\n" % (i % 50, i, i, i))
EOF
before=$(claw stats --json | json_field messages)
"$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" --to user@clawback.test \
    --bench 4 "$tmp"/gen/*.eml > "$tmp/bench.json" 2>&1 &
sender=$!
kill_randomly $sender 12 start_clawd
wait $sender
check "$n_msgs messages accepted by Exim while clawd was killed $kills times" \
    grep -q "\"250\": $n_msgs" "$tmp/bench.json"
# Exim's queue retries what clawd did not take (no queue runner here).
i=0
while ! exim_spool_empty && [ $i -lt 30 ]; do
    # shellcheck disable=SC2086
    exim -C "$EXIM_CONF" $EXIM_ARGS -qff > /dev/null 2>&1
    i=$((i + 1))
done
check "Exim's queue emptied: every journal copy delivered" exim_spool_empty
# "=> user <user@clawback.test> R=clawback_journal T=clawback_lmtp": one per message
delivered=$(grep ' => .*<user@clawback.test> R=clawback_journal T=clawback_lmtp' "$EXIM_LOG" |
    awk '{print $3}' | sort -u | wc -l)
check "Exim logged $delivered of $n_msgs as delivered to clawd" [ "$delivered" -eq "$n_msgs" ]
sleep 2
claw stats --json > "$tmp/stats.json"
check "the archive holds each of them exactly once" \
    [ "$(json_field messages < "$tmp/stats.json")" -eq $((before + n_msgs)) ]
check "...with exactly one delivery each" \
    [ "$(json_field deliveries < "$tmp/stats.json")" -eq $((before + n_msgs)) ]
check "...and all are searchable" [ "$(claw search --count 'subject:ingest')" = "$n_msgs" ]
claw search --count 'msgid:ingest-0@partner.example' > "$tmp/n"
check "the first one is there once" [ "$(cat "$tmp/n")" = 1 ]
kill -TERM $pid; wait $pid
check "clawd stops cleanly after all that" [ $? -eq 0 ]
claw check > "$tmp/check" 2>&1
check "claw check: store and index agree, xapian-check clean" grep -q '^clean$' "$tmp/check"

[ "$n_fail" -eq 0 ]
