#!/bin/sh
# claw hunt finds every message that holds an indicator, wherever the
# indicator hides (tests/ioc/make-hunt-mail.py writes one message per
# hiding place, and says what each one alone holds), and the MTA's engine
# finds the same messages with the same indicators from the store's
# published set. An envelope sender that no header shows comes in over
# LMTP to clawd.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
A="$tmp/archive"
cat > "$tmp/c.conf" <<EOF
[archive]
path = $A
[clawd]
socket = $tmp/clawd.sock
EOF
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }

"$py" "$srcdir/tests/ioc/make-hunt-mail.py" "$tmp/m" > "$tmp/expect"
claw import --quiet "$tmp/m" > /dev/null
if clawd_start "$tmp/c.conf" "$tmp/clawd.sock"; then
    printf 'From: a@sender.example\nTo: b@corp.example\nSubject: hunt envelope\nMessage-ID: <envelope@sender.example>\n\nbody\n' \
        > "$tmp/envelope.eml"
    "$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$tmp/clawd.sock" \
        --from bounce@envelope-only.example --rcpt b@corp.example "$tmp/envelope.eml" > /dev/null
    printf 'envelope\tsender:bounce@envelope-only.example\tdomain:envelope-only.example\n' >> "$tmp/expect"
else
    fail "clawd starts"
fi
# indexed N: wait up to 30 s by the clock for the index to hold N messages
# (clawd indexes behind the store).
indexed() {
    ix_end=$(( $(date +%s) + 30 ))
    while [ "$(claw search --count 'subject:hunt' 2> /dev/null)" != "$1" ]; do
        [ "$(date +%s)" -le "$ix_end" ] || return 1
        sleep 0.2
    done
}
check "the archive holds the $(wc -l < "$tmp/expect") messages, indexed" indexed "$(wc -l < "$tmp/expect")"

# --- each indicator: found by the hunt, in its message alone, and placed ----------
# What the hunt must say of where each one is (one of these lines).
cat > "$tmp/where" <<'EOF'
html-only	link (href) in part 1: http://html-only.example/login
qp	link (text) in part 1: http://qp-link.example/pay?to=me
base64	link (text) in part 1: http://b64-link.example/x
attachments	archive member payload.txt, part 2/1
attachments	archive member deep.txt, part 2/2/1
attachments	link (attachment) in part 3: http://in-html-attachment.example/
attachments	link (attachment) in part 4: http://in-dot-url.example/go
idn	link (text) in part 1: http://xn--bcher-shop-9db.example/
percent	link (text) in part 1: http://bad-pct.example/
numeric-ip	link (text) in part 1: http://192.168.1.1/
numeric-ip	link (text) in part 1: http://192.168.1.2/
subdomain	link (text) in part 1: http://a.b.evil-sub.example/x
received	Received hop 1: from mx.bad-relay.example [203.0.113.66]
reply-to	Reply-To: payments@reply-fraud.example
envelope	envelope sender: bounce@envelope-only.example
EOF
while IFS="$(printf '\t')" read -r msg iocs; do
    [ -n "$iocs" ] || continue
    for ioc in $iocs; do
        claw hunt --json "$ioc" > "$tmp/h.json" 2> "$tmp/err"
        got=$("$py" -c 'import json, sys
h = json.loads(open(sys.argv[1]).readline())
print(h["matches"], " ".join(sorted(m["subject"] for m in h["messages"])))' "$tmp/h.json" 2>&1)
        check "hunt $ioc: in '$msg' alone ($got)" [ "$got" = "1 hunt $msg" ]
        placed=$("$py" -c 'import json, sys
h = json.loads(open(sys.argv[1]).readline())
where = [w for m in h["messages"] for w in m["where"]]
want = [l.rstrip("\n").split("\t", 1)[1] for l in open(sys.argv[2]) if l.split("\t")[0] == sys.argv[3]]
ok = where and all(not w.startswith("(") for w in where) and any(w in where for w in want)
print("yes" if ok else "no: %s" % where)' "$tmp/h.json" "$tmp/where" "$msg")
        check "...and says where: $placed" [ "$placed" = yes ]
    done
done < "$tmp/expect"

# --- hunts are kept ----------------------------------------------------------------
n_hunts=$(claw hunt list | wc -l)
check "every hunt above is recorded ($n_hunts)" [ "$n_hunts" -ge 20 ]
claw hunt --no-record --count domain:evil-sub.example > /dev/null
check "...but not one run with --no-record" [ "$(claw hunt list | wc -l)" = "$n_hunts" ]
last=$(claw hunt list | tail -1 | cut -f1)
claw hunt show --json "$last" > "$tmp/show.json"
check "hunt show --json: the indicator, the message, its recipients and where" \
    "$py" -c 'import json, sys
h = json.load(open(sys.argv[1]))
m = h["messages"][0]
assert h["matches"] == 1 and h["type"] == "domain" and h["value"] == "envelope-only.example", h
assert m["recipients"] == ["b@corp.example"] and m["where"] == ["envelope sender: bounce@envelope-only.example"], m' "$tmp/show.json"
claw hunt show "$last" > "$tmp/show.txt"
check "hunt show: readable, with the recipients" grep -q '^    to: b@corp.example$' "$tmp/show.txt"
claw hunt show 99999 > /dev/null 2> "$tmp/err"; rc=$?
check "hunt show of no such hunt: 1, says so" sh -c "[ $rc = 1 ] && grep -q 'no hunt 99999' '$tmp/err'"

claw hunt --json url:http://good.example/nothing > "$tmp/none.json"; rc=$?
check "an indicator nothing holds: 0 matches, exit 1" \
    sh -c "[ $rc = 1 ] && grep -q '\"matches\":0' '$tmp/none.json'"

# --- by the store's id, several at once, and --count ------------------------------
claw ioc add --json domain:evil-sub.example ip:203.0.113.0/24 > "$tmp/add.json"
ids=$("$py" -c 'import json, sys; print(*json.load(open(sys.argv[1]))["ids"])' "$tmp/add.json")
claw hunt --count $ids > "$tmp/count"; rc=$?
check "hunt by id, two at once: one count line each (exit $rc)" \
    sh -c "[ $rc = 0 ] && grep -qx '1	domain:evil-sub.example' '$tmp/count' && grep -qx '1	ip:203.0.113.0/24' '$tmp/count'"
claw hunt domain:evil-sub.example > "$tmp/table"
check "the table names the message" grep -q 'hunt subdomain' "$tmp/table"
set -- $ids
claw search --ids "ioc:$1" > "$tmp/q1"; claw search --ids "ioc:$2" > "$tmp/q2"
claw hunt --json --no-record "$1" | "$py" -c 'import json,sys; print("\n".join(h["id"] for h in json.load(sys.stdin)["messages"]))' | sort > "$tmp/h1"
sort -o "$tmp/q1" "$tmp/q1"
check "ioc:ID in a query finds what the hunt of ID finds (domain, and the range's addresses)" \
    sh -c "[ -s '$tmp/q1' ] && cmp -s '$tmp/q1' '$tmp/h1' && [ \$(wc -l < '$tmp/q2') = 1 ]"
check "...and combines with the rest of the language" \
    [ "$(claw search --count "ioc:$1 OR ioc:$2") $(claw search --count "ioc:$1 AND subject:nothing-like-this")" = "2 0" ]
claw search "ioc:999" > /dev/null 2> "$tmp/err"; rc=$?
check "...an id the store does not have: 65, says so" sh -c "[ $rc = 65 ] && grep -q 'ioc:999: no indicator 999' '$tmp/err'"
claw hunt 999 > /dev/null 2> "$tmp/err"; rc=$?
check "hunt of an id the store does not have: 65, says so" \
    sh -c "[ $rc = 65 ] && grep -q 'no indicator 999' '$tmp/err'"
claw hunt 'sha256:nothex' > /dev/null 2> "$tmp/err"; rc=$?
check "hunt of a value that is not its type: 65" [ $rc = 65 ]

# --- the MTA's engine, from the store's published set, flags the same messages --------
cut -f2- "$tmp/expect" | tr '\t' '\n' | grep -v '^ip:.*/' | grep -v '^$' > "$tmp/all.txt"
claw ioc import "$tmp/all.txt" > /dev/null
while IFS="$(printf '\t')" read -r msg iocs; do
    [ "$msg" = envelope ] && continue # no envelope in a file to scan
    claw scan --json "$tmp/m/$msg.eml" > "$tmp/scan.json"
    rules=$("$py" -c 'import json, sys
m = json.loads(open(sys.argv[1]).readline())
print(" ".join(sorted(set(r["rule"] for r in m["rules"] if r["rule"].endswith("_IOC")))) or "none")' "$tmp/scan.json")
    if [ -n "$iocs" ]; then
        check "the MTA flags '$msg' too ($rules)" [ "$rules" != none ]
    else
        check "the MTA leaves '$msg' alone" [ "$rules" = none ]
    fi
done < "$tmp/expect"

# --- clawd hunts each new indicator by itself ---------------------------------------
# clawd_hunts ID: wait up to 30 s for a hunt by clawd of indicator ID; its
# matches on stdout.
clawd_hunts() {
    ch_end=$(( $(date +%s) + 30 ))
    while [ "$(date +%s)" -le "$ch_end" ]; do
        claw hunt list --json > "$tmp/hunts.json" 2> /dev/null
        "$py" -c 'import json, sys
hs = [h for h in json.load(open(sys.argv[1])) if h["by"] == "clawd" and h["indicator"] == int(sys.argv[2])]
if hs: print(hs[-1]["matches"], hs[-1]["id"])
else: sys.exit(1)' "$tmp/hunts.json" "$1" && return 0
        sleep 0.5
    done
    return 1
}
if [ -n "$pid" ] && alive $pid; then
    claw ioc add --json --action hunt 'url:http://b64-link.example/x' > "$tmp/new.json"
    id=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ids"][0])' "$tmp/new.json")
    got=$(clawd_hunts "$id")
    check "clawd hunted the new indicator by itself (matches, hunt: $got)" [ "${got%% *}" = 1 ]
    claw hunt show --json "${got#* }" > "$tmp/auto.json" 2>&1
    check "...and its record says where" grep -q 'link (text) in part 1: http://b64-link.example/x' "$tmp/auto.json"
    # A message that arrives later, holding an indicator in force: linked.
    claw ioc add --json --action hunt 'host:arrives-later.example' > "$tmp/later.json"
    id=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ids"][0])' "$tmp/later.json")
    printf 'From: a@sender.example\nTo: b@corp.example\nSubject: hunt later\nMessage-ID: <later@sender.example>\n\nsee http://arrives-later.example/x\n' \
        > "$tmp/later.eml"
    "$py" "$srcdir/tests/tools/lmtp-send.py" --socket "$tmp/clawd.sock" \
        --from a@sender.example --rcpt b@corp.example --rcpt hidden-bcc@corp.example \
        "$tmp/later.eml" > /dev/null
    linked_by() { # linked_by ID: a hunt by "clawd (ingest)" of ID with 1 match, within 30 s
        lb_end=$(( $(date +%s) + 30 ))
        while [ "$(date +%s)" -le "$lb_end" ]; do
            claw hunt list --json > "$tmp/hunts.json" 2> /dev/null
            "$py" -c 'import json, sys
hs = [h for h in json.load(open(sys.argv[1])) if h["by"] == "clawd (ingest)" and h["indicator"] == int(sys.argv[2])]
if hs: print(hs[-1]["id"])
else: sys.exit(1)' "$tmp/hunts.json" "$1" && return 0
            sleep 0.5
        done
        return 1
    }
    if hunt=$(linked_by "$id"); then
        ok "a message arriving later with an indicator in force is linked to it at ingest (hunt $hunt)"
        claw hunt show --json "$hunt" > "$tmp/linked.json"
        check "...its record: the message, every recipient (Bcc too) and where" "$py" -c 'import json, sys
h = json.load(open(sys.argv[1]))
m = h["messages"][0]
assert h["matches"] == 1 and m["subject"] == "hunt later", h
assert sorted(m["recipients"]) == ["b@corp.example", "hidden-bcc@corp.example"], m
assert m["where"] == ["link (text) in part 1: http://arrives-later.example/x"], m' "$tmp/linked.json"
    else
        fail "a message arriving later with an indicator in force is linked to it at ingest"
    fi
    kill -TERM $pid
    wait $pid
    check "clawd stops cleanly" [ $? = 0 ]
fi

[ "$n_fail" -eq 0 ]
