#!/bin/sh
# Clawback's own DMARC evaluation (lib/judge/dmarc.c) against a DNS stub
# with a zone of this test's (tests/tools/dns-stub.py): pass, fail under
# p=none|quarantine|reject, no record, temporary DNS failure, misaligned
# SPF and DKIM, strict alignment, the subdomain policy, a broken record.
#   1. claw scan --envelope: the library, each case, and the cache;
#   2. a real Exim (dlfunc and local_scan), whose own SPF check and DKIM
#      verification (DNS from the same stub, tests/mta/resolv-stub.c) reach
#      the plugin through ${authresults}; the verdicts reach the archive,
#      where auth:dmarc=pass finds Clawback's pass and not a forged claim;
#   3. a real rspamd, whose own SPF and DKIM results reach the module.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

# --- the zone -----------------------------------------------------------
openssl genrsa -out "$tmp/dkim.pem" 2048 2> /dev/null
openssl genrsa -out "$tmp/other.pem" 2048 2> /dev/null
chmod 644 "$tmp/dkim.pem" "$tmp/other.pem"
cat > "$tmp/zone" <<EOF
_dmarc.bank.example       TXT v=DMARC1; p=reject
_dmarc.shop.example       TXT v=DMARC1; p=quarantine
_dmarc.news.example       TXT v=DMARC1; p=none
_dmarc.group.example      TXT v=DMARC1; p=none; sp=reject
_dmarc.corp.example       TXT v=DMARC1; p=quarantine
_dmarc.strict.example     TXT v=DMARC1; p=reject; aspf=s; adkim=s
_dmarc.bad.example        TXT v=DMARC1; p=bogus
_dmarc.slowspf.example    TXT v=DMARC1; p=reject
slowspf.example           DROP
_dmarc.broken.example     SERVFAIL
_dmarc.slow.example       DROP
bank.example              TXT v=spf1 ip4:127.0.0.1 ip4:192.0.2.10 -all
mail.bank.example         TXT v=spf1 ip4:127.0.0.1 ip4:192.0.2.10 -all
sub.strict.example        TXT v=spf1 ip4:127.0.0.1 ip4:192.0.2.10 -all
other.example             TXT v=spf1 ip4:127.0.0.1 ip4:192.0.2.10 -all
s1._domainkey.bank.example  TXT $("$py" "$srcdir/tests/tools/dkim-sign.py" --dns "$tmp/dkim.pem")
s1._domainkey.other.example TXT $("$py" "$srcdir/tests/tools/dkim-sign.py" --dns "$tmp/other.pem")
EOF
# A record far longer than any real one, and one with a hundred report
# addresses: an answer, not a crash.
printf '_dmarc.long.example TXT v=DMARC1; p=reject; rua=mailto:%s@long.example\n' \
    "$(head -c 3000 /dev/zero | tr '\0' a)" >> "$tmp/zone"
printf '_dmarc.many.example TXT v=DMARC1; p=reject; rua=%s\n' \
    "$(seq 100 | sed 's/.*/mailto:r&@m.ex/' | paste -sd, -)" >> "$tmp/zone"
dns_stub_start "$tmp/zone"

msg() { # msg FROM [EXTRA-HEADER] -> a message on stdout
    printf 'From: Sender <%s>\nTo: ap@corp.example\nSubject: invoice %s\nDate: Sun, 06 Dec 2026 10:00:00 +0000\nMessage-ID: <%s.%s@test>\n%s\nPlease see the invoice.\n' \
        "$1" "$1" "$1" "$$" "${2:+$2
}"
}

# --- 1. claw scan --envelope --------------------------------------------
conf=$tmp/clawback.conf
printf '[policy]\nprotected_domains = corp.example\npartner_domains = bank.example\n%s\ntimeout = 500ms\n' \
    "$DMARC_CONF" > "$conf"
chmod 644 "$conf"

# judge FILE ENVELOPE... -> "RESULT POLICY RULES ACTION" of claw scan --json,
# each NAME=VALUE as --envelope NAME=VALUE, --options as they are.
judge() {
    jd_file=$1
    shift
    jd_n=$#
    while [ "$jd_n" -gt 0 ]; do
        case $1 in
            --*) set -- "$@" "$1" ;;
            *) set -- "$@" --envelope "$1" ;;
        esac
        shift
        jd_n=$((jd_n - 1))
    done
    "$CLAW" --config "$conf" scan --json "$@" "$jd_file" | "$py" -c '
import json, sys
j = json.loads(sys.stdin.read())
d = j.get("dmarc", {})
print(d.get("result"), d.get("policy"), ",".join(r["rule"] for r in j["rules"]) or "-", j["action"])'
}
# scan FROM ENVELOPE...: the same for a message from FROM.
scan() {
    msg "$1" > "$tmp/m.eml"
    shift
    judge "$tmp/m.eml" "$@"
}
is() { # is NAME WANT GOT
    check "$1: $3" [ "$3" = "$2" ]
}

ip=client_ip=192.0.2.10
is "SPF pass, aligned: pass" "pass reject - accept" \
    "$(scan a@bank.example $ip mail_from=a@bank.example spf=pass)"
is "DKIM pass (authres), relaxed alignment of a subdomain: pass" "pass reject - accept" \
    "$(scan a@bank.example $ip mail_from=x@other.example 'authres=mx; spf=pass smtp.mailfrom=x@other.example; dkim=pass header.d=mail.bank.example header.s=s1')"
is "misaligned SPF (pass for another organisation): fail, DMARC_SPOOF for a partner" \
    "fail reject DMARC_SPOOF,ENVELOPE_SENDER_ELSEWHERE quarantine" "$(scan a@bank.example $ip mail_from=x@other.example spf=pass)"
is "misaligned DKIM (d= another organisation): fail" "fail reject DMARC_SPOOF quarantine" \
    "$(scan a@bank.example $ip 'authres=mx; spf=fail smtp.mailfrom=bank.example; dkim=pass header.d=other.example')"
is "no SPF result and no sender to check it for, DKIM not aligned: temperror (not checked is not failed)" \
    "temperror reject - accept" \
    "$(scan a@bank.example $ip 'authres=mx; dkim=pass header.d=other.example')"
is "no SPF result from the MTA: Clawback checks it (libspf2 over the stub): pass" \
    "pass reject - accept" "$(scan a@bank.example $ip mail_from=a@bank.example)"
is "no SPF result from the MTA: Clawback checks it: a client outside the record fails" \
    "fail reject DMARC_SPOOF quarantine" \
    "$(scan a@bank.example client_ip=203.0.113.9 mail_from=a@bank.example)"
start=$(date +%s%N)
got=$(scan a@slowspf.example $ip mail_from=a@slowspf.example)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "Clawback's SPF check unanswered: temperror" "temperror reject - accept" "$got"
check "Clawback's SPF lookups share the 500 ms DMARC timeout (${ms} ms)" [ "$ms" -lt 3000 ]
msg a@bank.example | "$py" "$srcdir/tests/tools/dkim-sign.py" "$tmp/dkim.pem" bank.example s1 \
    > "$tmp/signed.eml"
is "signed for bank.example, the MTA verified no DKIM, SPF fails: temperror (not checked)" \
    "temperror reject - accept" \
    "$(judge "$tmp/signed.eml" $ip mail_from=a@bank.example spf=fail)"
is "no SPF result, but DKIM aligned: pass" "pass reject - accept" \
    "$(scan a@bank.example $ip 'authres=mx; dkim=pass header.d=bank.example')"
is "p=quarantine failure: DMARC_QUARANTINE" "fail quarantine DMARC_QUARANTINE accept" \
    "$(scan a@shop.example $ip mail_from=a@shop.example spf=fail)"
is "p=none failure: no rule" "fail none - accept" \
    "$(scan a@news.example $ip mail_from=a@news.example spf=softfail)"
is "subdomain without a record: the organisation's sp=reject" "fail reject DMARC_REJECT tag" \
    "$(scan a@mail.group.example $ip mail_from=a@mail.group.example spf=fail)"
is "the organisational domain itself: its p=none" "fail none - accept" \
    "$(scan a@group.example $ip mail_from=a@group.example spf=fail)"
is "a protected domain's failure: DMARC_SPOOF, not SPOOF_PROTECTED_DOMAIN" \
    "fail quarantine DMARC_SPOOF quarantine" \
    "$(scan a@corp.example $ip mail_from=a@corp.example spf=fail)"
is "a protected domain without a record: SPOOF_PROTECTED_DOMAIN as before" \
    "none None SPOOF_PROTECTED_DOMAIN quarantine" \
    "$(scan a@mail.nothing.example $ip mail_from=a@mail.nothing.example spf=fail --set=policy.protected_domains=nothing.example)"
is "strict SPF alignment: a subdomain's pass does not align" "fail reject DMARC_REJECT tag" \
    "$(scan a@strict.example $ip mail_from=a@sub.strict.example spf=pass)"
is "no record: none" "none None - accept" "$(scan a@nothing.example $ip spf=fail mail_from=a@nothing.example)"
is "a broken record: permerror" "permerror None - accept" "$(scan a@bad.example $ip spf=pass mail_from=a@bad.example)"
is "a 3 kB record: permerror" "permerror None - accept" \
    "$(scan a@long.example $ip spf=fail mail_from=a@long.example)"
is "a hundred report addresses: read, and the policy applies" "fail reject DMARC_REJECT tag" \
    "$(scan a@many.example $ip spf=fail mail_from=a@many.example)"
is "SERVFAIL: temperror, never pass" "temperror None - accept" \
    "$(scan a@broken.example $ip mail_from=a@broken.example spf=pass)"
start=$(date +%s%N)
got=$(scan a@slow.example $ip mail_from=a@slow.example spf=pass)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "an unanswered query: temperror" "temperror None - accept" "$got"
check "an unanswered query ends at the 500 ms timeout, not the resolver's seconds (${ms} ms)" \
    [ "$ms" -lt 3000 ]
is "SPF temperror and nothing aligned: temperror, not fail" "temperror reject - accept" \
    "$(scan a@bank.example $ip mail_from=a@bank.example spf=temperror)"
is "no envelope (claw scan alone): not evaluated" "None None - accept" "$(scan a@bank.example)"
is "the record as the MTA found it (dmarc_lookup): no DNS of ours" "pass quarantine - accept" \
    "$(scan a@bank.example $ip mail_from=a@bank.example spf=pass dmarc_lookup=found \
        dmarc_domain=bank.example 'dmarc_record=v=DMARC1; p=quarantine')"
is "the MTA's lookup failed for now: temperror" "temperror None - accept" \
    "$(scan a@bank.example $ip mail_from=a@bank.example spf=pass dmarc_lookup=temperror \
        dmarc_domain=bank.example)"
is "the MTA looked up another domain: looked up here" "pass reject - accept" \
    "$(scan a@bank.example $ip mail_from=a@bank.example spf=pass dmarc_lookup=none \
        dmarc_domain=elsewhere.example)"
is "honour_policy = reject: a p=reject failure is rejected" "fail reject DMARC_REJECT reject" \
    "$(scan a@mail.group.example $ip mail_from=a@mail.group.example spf=fail --set=dmarc.honour_policy=reject)"
is "honour_policy = reject: p=quarantine is not" "fail quarantine DMARC_QUARANTINE accept" \
    "$(scan a@shop.example $ip mail_from=a@shop.example spf=fail --set=dmarc.honour_policy=reject)"
is "honour_policy = all: p=quarantine quarantines" "fail quarantine DMARC_QUARANTINE quarantine" \
    "$(scan a@shop.example $ip mail_from=a@shop.example spf=fail --set=dmarc.honour_policy=all)"

# The cache: three messages from one domain in one run, one lookup.
for i in 1 2 3; do msg "a$i@news.example" > "$tmp/c$i.eml"; done
before=$(grep -c '^_dmarc.news.example 16$' "$tmp/dns.log")
"$CLAW" --config "$conf" scan --envelope $ip "$tmp/c1.eml" "$tmp/c2.eml" "$tmp/c3.eml" > /dev/null
after=$(grep -c '^_dmarc.news.example 16$' "$tmp/dns.log")
check "three messages of one domain: one lookup ($((after - before)))" [ $((after - before)) -eq 1 ]
"$CLAW" --config "$conf" scan --envelope $ip --set dmarc.cache_ttl=0 "$tmp/c1.eml" "$tmp/c2.eml" \
    > /dev/null
again=$(grep -c '^_dmarc.news.example 16$' "$tmp/dns.log")
check "cache_ttl = 0: a lookup each ($((again - after)))" [ $((again - after)) -eq 2 ]
check "a bad resolver address is a configuration error" \
    sh -c "! '$CLAW' --config '$conf' scan --set dmarc.resolvers=999.1.1.1 --envelope $ip '$tmp/c1.eml' 2> '$tmp/err' && grep -q resolvers '$tmp/err'"

# --- 2. Exim ------------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v exim > /dev/null ||
    [ ! -f "$builddir/plugin/.libs/claw_exim.so" ]; then
    skip "DMARC through Exim" "needs root, Exim and claw_exim.so"
else
    . "$srcdir/tests/mta/exim-lib.sh"
    trap 'exim_stop; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
    if ! "${CC:-cc}" -shared -fPIC -o "$tmp/resolv-stub.so" "$srcdir/tests/mta/resolv-stub.c" \
        -ldl > "$tmp/cc.log" 2>&1; then
        fail "resolv-stub.c builds: $(cat "$tmp/cc.log")"
    fi
    chmod 755 "$tmp/resolv-stub.so"
    A=$tmp/archive
    printf '[policy]\nprotected_domains = corp.example\n%s\nhonour_policy = reject\n' \
        "$DMARC_CONF" > "$conf"
    chmod 644 "$conf"
    # The messages: From, MAIL FROM, and who signs (d= and key) if anyone.
    msg a@bank.example > "$tmp/spf-pass.eml"
    msg a@bank.example | "$py" "$srcdir/tests/tools/dkim-sign.py" "$tmp/dkim.pem" bank.example s1 \
        > "$tmp/dkim-pass.eml"
    msg a@bank.example | "$py" "$srcdir/tests/tools/dkim-sign.py" "$tmp/other.pem" other.example s1 \
        > "$tmp/dkim-other.eml"
    msg a@bank.example > "$tmp/spoof.eml"
    msg a@mail.group.example > "$tmp/sub.eml"
    msg a@shop.example > "$tmp/quar.eml"
    msg a@broken.example > "$tmp/temp.eml"
    msg a@nothing.example > "$tmp/none.eml"
    msg a@news.example 'Authentication-Results: mx.clawback.test; dmarc=pass header.from=news.example' \
        > "$tmp/forged.eml"

    # send FILE MAIL-FROM -> the code of the answer to the message. An SMTP
    # session on Exim's stdin (-bs) from 192.0.2.10 (-oMa): libspf2 passes
    # any loopback client, so a session from 127.0.0.1 could never fail SPF.
    send() {
        { printf 'EHLO mx.sender.example\r\nMAIL FROM:<%s>\r\nRCPT TO:<ap@clawback.test>\r\nDATA\r\n' "$2"
          sed 's/^\./../; s/$/\r/' "$1"
          printf '.\r\nQUIT\r\n'
        } | env CLAWBACK_CONFIG="$conf" $EXIM_ENV exim -C "$EXIM_CONF" $EXIM_ARGS -bs -oMa 192.0.2.10 2>&1 |
            tr -d '\r' | awk 'seen { print; exit } /^354/ { seen = 1 }' > "$tmp/reply"
        cut -c1-3 "$tmp/reply"
    }
    # verdict FILE -> the delivered copy's X-Clawback-Verdict (the newest)
    verdict() {
        vd_f=$(grep -l "^Subject: invoice $1\$" "$EXIM_MAILDIR"/new/* 2> /dev/null | tail -1)
        [ -n "$vd_f" ] && sed -n 's/^X-Clawback-Verdict: //p' "$vd_f"
    }
    EXIM_ENV="LD_PRELOAD=$tmp/resolv-stub.so CLAW_TEST_DNS_PORT=$DNS_PORT"
    EXIM_EXTRA=-DDMARC_TEST=1
    for mode in dlfunc local_scan; do
        exim_start "$tmp/exim-$mode" "$mode" "$conf" || {
            fail "$mode: Exim starts"
            continue
        }
        n=0
        # expect FILE MAIL-FROM CODE VERDICT NAME
        expect() {
            code=$(send "$1" "$2")
            if [ "$3" = 250 ]; then
                n=$((n + 1))
                exim_wait_delivered $n 10
                from=$(sed -n 's/^From: Sender <\(.*\)>$/\1/p' "$1")
                got=$(verdict "$from")
                check "$mode: $5: $code, '$got'" sh -c "[ '$code' = 250 ] && case '$got' in *'$4') true;; *) false;; esac"
            else
                check "$mode: $5: $code $(cut -c5-90 "$tmp/reply")" [ "$code" = "$3" ]
            fi
        }
        expect "$tmp/spf-pass.eml" a@bank.example 250 "dmarc=pass (p=reject)" \
            "Exim's SPF pass, aligned"
        expect "$tmp/dkim-pass.eml" x@nothing.example 250 "dmarc=pass (p=reject)" \
            "Exim's DKIM pass for bank.example (MAIL FROM elsewhere)"
        expect "$tmp/dkim-other.eml" x@other.example 550 "" \
            "DKIM and SPF pass for other.example only: fails p=reject, rejected by honour_policy"
        expect "$tmp/spoof.eml" x@nothing.example 550 "" "no SPF or DKIM for bank.example: rejected"
        expect "$tmp/sub.eml" a@mail.group.example 550 "" "a subdomain under sp=reject: rejected"
        expect "$tmp/quar.eml" a@shop.example 250 "dmarc=fail (p=quarantine)" \
            "p=quarantine failure: delivered, the verdict says so"
        expect "$tmp/temp.eml" a@broken.example 250 "dmarc=temperror" \
            "SERVFAIL for the record: temperror, delivered"
        expect "$tmp/none.eml" a@nothing.example 250 "dmarc=none" "no record: none"
        expect "$tmp/forged.eml" a@news.example 250 "dmarc=fail (p=none)" \
            "a forged dmarc=pass in the message: Clawback says fail"
        check "$mode: Exim's log has the DMARC rejections' reason" \
            grep -qi "rejected by policy: DMARC_REJECT" "$EXIM_LOG"
        if [ "$mode" = dlfunc ]; then
            # What was delivered goes to an archive with its MTA verdict.
            printf '[archive]\npath = %s\n' "$A" > "$tmp/archive.conf"
            "$CLAW" --config "$tmp/archive.conf" import --trust-headers "$EXIM_MAILDIR" \
                > "$tmp/import.log" 2>&1
            sa() { "$CLAW" --config "$tmp/archive.conf" search --count "$@"; }
            check "archive: auth:dmarc=pass finds Clawback's two passes ($(sa auth:dmarc=pass))" \
                [ "$(sa auth:dmarc=pass)" = 2 ]
            check "archive: the forged claim is not under auth:dmarc=pass" \
                [ "$(sa auth:dmarc=pass from:news.example)" = 0 ]
            check "archive: it is under authclaim:dmarc=pass ($(sa authclaim:dmarc=pass))" \
                [ "$(sa authclaim:dmarc=pass)" = 1 ]
            check "archive: auth:dmarc=fail, auth:dmarc=temperror, auth:dmarc=none" \
                sh -c "[ \$('$CLAW' --config '$tmp/archive.conf' search --count auth:dmarc=fail) = 2 ] && [ \$('$CLAW' --config '$tmp/archive.conf' search --count auth:dmarc=temperror) = 1 ] && [ \$('$CLAW' --config '$tmp/archive.conf' search --count auth:dmarc=none) = 1 ]"
            id=$("$CLAW" --config "$tmp/archive.conf" search --ids from:shop.example | head -1)
            check "claw show: the DMARC line" \
                sh -c "'$CLAW' --config '$tmp/archive.conf' show '$id' | grep -q '^DMARC: *fail (p=quarantine)'"
        fi
        exim_stop
    done
fi

# --- 3. rspamd ----------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v rspamd > /dev/null; then
    skip "DMARC through rspamd" "needs root and rspamd"
elif [ -n "${CLAW_SANITIZED:-}" ]; then
    skip "DMARC through rspamd" "rspamd cannot load a sanitized libclaw"
else
    . "$srcdir/tests/mta/rspamd-lib.sh"
    trap 'exim_stop 2> /dev/null; rspamd_stop; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
    install -m 644 "${CLAW_LIB:-$builddir/lib/.libs/libclaw.so}" "$tmp/libclaw.so"
    # The module looks the records up with rspamd's resolver (the stub), not
    # libclaw's, which would block the worker: libclaw's servers are a port
    # nothing answers on, so a result here is the module's lookup.
    printf '[policy]\nprotected_domains = corp.example\n[dmarc]\nresolvers = 127.0.0.1:%s\n' \
        "$(free_port)" > "$conf"
    chmod 644 "$conf"
    rspamd_clawback_dir "$tmp/local" "$tmp/libclaw.so" "$conf"
    if rspamd_start "$tmp/rspamd" "$tmp/local"; then
        # rs FILE IP MAIL-FROM -> "DMARC-PART-OF-VERDICT SYMBOLS"
        rs() {
            curl -s -H "IP: $2" -H "From: $3" -H "Helo: mx.sender.example" \
                --data-binary @"$1" "http://127.0.0.1:$RSPAMD_PORT/checkv2" | "$py" -c '
import json, sys
a = json.load(sys.stdin)
v = a.get("milter", {}).get("add_headers", {}).get("X-Clawback-Verdict", "")
v = v["value"] if isinstance(v, dict) else v
syms = sorted(s for s in a.get("symbols", {}) if s.startswith("CLAWBACK_DMARC") or s in ("R_SPF_ALLOW", "R_DKIM_ALLOW"))
print(v.split("; ", 2)[-1] if "dmarc=" in v else "-", ",".join(syms) or "-")'
        }
        msg a@bank.example > "$tmp/r1.eml"
        is "rspamd: its SPF pass, aligned" "dmarc=pass (p=reject) R_SPF_ALLOW" \
            "$(rs "$tmp/r1.eml" 192.0.2.10 a@bank.example)"
        is "rspamd: its SPF fail: DMARC_REJECT" "dmarc=fail (p=reject) CLAWBACK_DMARC_REJECT" \
            "$(rs "$tmp/r1.eml" 203.0.113.9 a@bank.example)"
        msg a@bank.example | "$py" "$srcdir/tests/tools/dkim-sign.py" "$tmp/dkim.pem" bank.example s1 \
            > "$tmp/r2.eml"
        is "rspamd: its DKIM pass, aligned (SPF fails)" "dmarc=pass (p=reject) R_DKIM_ALLOW" \
            "$(rs "$tmp/r2.eml" 203.0.113.9 a@bank.example)"
        msg a@bank.example | "$py" "$srcdir/tests/tools/dkim-sign.py" "$tmp/other.pem" other.example s1 \
            > "$tmp/r3.eml"
        is "rspamd: DKIM and SPF pass for another organisation: fail" \
            "dmarc=fail (p=reject) CLAWBACK_DMARC_REJECT,R_DKIM_ALLOW,R_SPF_ALLOW" \
            "$(rs "$tmp/r3.eml" 192.0.2.10 x@other.example)"
        msg a@broken.example > "$tmp/r4.eml"
        is "rspamd: SERVFAIL for the record: temperror" "dmarc=temperror -" \
            "$(rs "$tmp/r4.eml" 192.0.2.10 a@broken.example)"
        msg a@shop.example > "$tmp/r5.eml"
        is "rspamd: p=quarantine failure: DMARC_QUARANTINE" \
            "dmarc=fail (p=quarantine) CLAWBACK_DMARC_QUARANTINE" \
            "$(rs "$tmp/r5.eml" 192.0.2.10 a@shop.example)"
        msg a@news.example > "$tmp/r6.eml"
        is "rspamd: p=none failure: no symbol" "dmarc=fail (p=none) -" \
            "$(rs "$tmp/r6.eml" 192.0.2.10 a@news.example)"
        msg a@mail.group.example > "$tmp/r7.eml"
        is "rspamd: a subdomain under sp=reject" "dmarc=fail (p=reject) CLAWBACK_DMARC_REJECT" \
            "$(rs "$tmp/r7.eml" 192.0.2.10 a@mail.group.example)"
        msg a@nothing.example > "$tmp/r8.eml"
        is "rspamd: no record: none" "dmarc=none -" "$(rs "$tmp/r8.eml" 192.0.2.10 a@nothing.example)"
        rspamd_stop
    else
        fail "rspamd starts with the module"
    fi
fi

[ "$n_fail" -eq 0 ]
