#!/bin/sh
# The archive's indicators reach a running Exim: `claw ioc add` publishes
# the active set ([ioc] published), the plugin's scanner reads it again
# within a second of the change, and the next message with the indicator
# is refused at SMTP time; revoked, it is accepted again; one asking only
# to tag is delivered, stamped tag. Both plugin
# modes. The time from the add to the first refusal is printed; the
# benchmark (make bench-hunt) measures it properly.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/mta/exim-lib.sh"
py="${PYTHON3:-python3}"

exim_require "Exim with the archive's indicators"
trap 'exim_stop; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
conf=$tmp/clawback.conf
A=$tmp/archive
printf '[policy]\nprotected_domains = corp.example\n%s\n[archive]\npath = %s\n' "$DMARC_CONF" "$A" > "$conf"
chmod 644 "$conf"
claw() { "$CLAW" --config "$conf" "$@"; }
send() { "$py" "$srcdir/tests/tools/smtp-send.py" --port "$EXIM_PORT" "$@" > "$tmp/reply" 2>&1; }
printf 'From: a@sender.example\nTo: user@clawback.test\nSubject: the invoice\n\nPay at http://late-phish.example/pay now.\n' \
    > "$tmp/link.eml"

# The archive exists before Exim starts, with one indicator that blocks
# nothing here; Exim (Debian-exim) must be able to read what is published.
claw ioc add unrelated.example > /dev/null
chmod 755 "$A"

# until_reply CODE SECONDS: send the message until its reply starts with
# CODE, or SECONDS pass; prints the milliseconds it took.
until_reply() {
    ur_t0=$(date +%s%N)
    ur_end=$(( $(date +%s) + $2 ))
    while :; do
        send "$tmp/link.eml"
        grep -q "^$1" "$tmp/reply" && break
        [ "$(date +%s)" -le "$ur_end" ] || return 1
        sleep 0.1
    done
    echo $(( ($(date +%s%N) - ur_t0) / 1000000 ))
}

for mode in dlfunc local_scan; do
    if ! exim_start "$tmp/$mode" "$mode" "$conf"; then
        fail "$mode: Exim starts with the plugin"
        continue
    fi
    send "$tmp/link.eml"
    check "$mode: before the indicator, the message gets 250" grep -q '^250 ' "$tmp/reply"
    claw ioc add --action block --reason "seen late" 'url:http://LATE-phish.example/pay' > /dev/null
    if ms=$(until_reply 5 10); then
        ok "$mode: after claw ioc add, refused at SMTP time ($ms ms after the add)"
        check "$mode: ...naming the indicator's rule" grep -q '^550 .*URL_IOC' "$tmp/reply"
    else
        fail "$mode: after claw ioc add, refused at SMTP time (still: $(cat "$tmp/reply"))"
    fi
    claw ioc revoke 'url:http://late-phish.example/pay' > /dev/null
    if ms=$(until_reply 250 10); then
        ok "$mode: revoked, the message gets 250 again ($ms ms after the revoke)"
    else
        fail "$mode: revoked, the message gets 250 again (still: $(cat "$tmp/reply"))"
    fi
    # One that asks only to tag: delivered, stamped tag by its rule.
    n=$(exim_delivered)
    claw ioc add --action tag 'url:http://late-phish.example/pay' > /dev/null
    t_end=$(( $(date +%s) + 10 ))
    while :; do
        send "$tmp/link.eml"
        exim_wait_delivered $((n + 1)) 10
        n=$(exim_delivered)
        f=$(ls -t "$EXIM_MAILDIR"/new/* | head -1)
        grep -q '^X-Clawback-Verdict: tag' "$f" && break
        [ "$(date +%s)" -le "$t_end" ] || break
        sleep 0.1
    done
    check "$mode: an indicator asking to tag: 250, delivered stamped tag" \
        sh -c "grep -q '^250 ' '$tmp/reply' && grep -q '^X-Clawback-Verdict: tag' '$f'"
    check "$mode: ...naming URL_IOC" grep -q 'URL_IOC' "$f"
    claw ioc revoke 'url:http://late-phish.example/pay' > /dev/null
    # The published file gone (an admin's mistake): the last good set stays.
    claw ioc add --action block 'url:http://late-phish.example/pay' > /dev/null
    until_reply 5 10 > /dev/null
    mv "$A/ioc/active" "$A/ioc/active.away"
    sleep 1.5
    send "$tmp/link.eml"
    check "$mode: the published set removed, the last good one is kept (refused: $(cat "$tmp/reply"))" \
        grep -q '^5' "$tmp/reply"
    mv "$A/ioc/active.away" "$A/ioc/active"
    claw ioc revoke 'url:http://late-phish.example/pay' > /dev/null
    until_reply 250 10 > /dev/null
    exim_stop
done

[ "$n_fail" -eq 0 ]
