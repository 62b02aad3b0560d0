#!/bin/sh
# Indicators from threat-intel formats and feeds: claw ioc import of a MISP
# event, a MISP feed on disk, CSV with a column mapping and STIX 2.1
# bundles; the same pulled over HTTPS from a local server the test starts
# with its own CA (tests/tools/feed-server.py: a MISP feed, a TAXII 2.1
# collection in two pages), by claw and by clawd on its schedule ([feeds]);
# and the inputs that must be refused whole, with their position.
. "$srcdir/tests/tools/tap.sh"
. "$srcdir/tests/tools/daemon-lib.sh"
py="${PYTHON3:-python3}"
: "${CLAWD:=$builddir/indexer/clawd}"
F="$srcdir/tests/ioc/feeds"
A="$tmp/archive"
printf '[archive]\npath = %s\n[clawd]\nsocket = %s/clawd.sock\n' "$A" "$tmp" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
count() { claw ioc list --json | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
state() { state_in "$A" "$1"; }
state_in() { # state_in ARCHIVE TYPE:VALUE: the indicator's state, or "none"
    claw --archive "$1" ioc show --json "$2" 2> /dev/null |
        "$py" -c 'import json, sys; print(json.load(sys.stdin)["state"])' 2> /dev/null || echo none
}

# --- MISP: an event's JSON ---------------------------------------------------
claw ioc import --json "$F/misp-event.json" > "$tmp/misp.json"; rc=$?
check "MISP event: exit 0, 11 indicators from the to_ids attributes" \
    [ "$rc $(field "$tmp/misp.json" 'j["added"]')" = "0 11" ]
check "...md5, to_ids off and a 'domain' that is not one passed over, each counted" \
    [ "$(field "$tmp/misp.json" 'sorted(j["skipped_by_reason"].values())')" = "[1, 1, 1]" ]
claw ioc list --json > "$tmp/list.json"
check "...composites split: domain|ip gives both, filename|sha256 its hash, ip|port its IP" \
    [ "$(field "$tmp/list.json" 'sorted(i["type"]+":"+i["value"] for i in j if i["value"] in ("cdn-invoice.example","203.0.113.9","192.0.2.77","b"*64))')" = \
      "['domain:cdn-invoice.example', 'ip:192.0.2.77', 'ip:203.0.113.9', 'sha256:$(printf 'b%.0s' $(seq 64))']" ]
check "...an object's attribute too, and the Message-ID without brackets" \
    sh -c "[ '$(state "sha256:$(printf 'd%.0s' $(seq 64))")' = active ] && [ '$(state 'message-id:<wave1.42@invoice-portal.example>')' = active ]"
claw ioc show --json url:https://pay-invoice.example/login.php > "$tmp/one.json"
check "...reason: the event's info and the attribute's comment; source: the file" \
    [ "$(field "$tmp/one.json" '(j["reason"].endswith("Invoice phishing wave: landing page"), j["source"].startswith("file:"), j["action"])')" = "(True, True, 'block')" ]

# --- MISP: a feed on disk (manifest.json + events; a later event deletes) ---
claw ioc import --json --action hunt "$F/misp" > "$tmp/feed.json"; rc=$?
check "MISP feed directory: exit 0, the deleted attribute revoked, the new one added" \
    [ "$rc $(field "$tmp/feed.json" '(j["added"], j["revoked"])')" = "0 (1, 1)" ]
check "...invoice-portal.example is revoked, second-wave's URL active" \
    [ "$(state domain:invoice-portal.example) $(state url:http://second-wave.example/a)" = "revoked active" ]
check "...a manifest name that is not a uuid (../../etc/passwd) is not read" \
    [ "$(field "$tmp/feed.json" 'j["skipped"]')" = 3 ]
claw ioc import --json --action hunt "$F/misp" > "$tmp/again.json"
check "...pulled again unchanged: nothing written (no re-hunt, no republish)" \
    [ "$(field "$tmp/again.json" '(j["added"], j["updated"], j["revoked"])')" = "(0, 0, 0)" ]

# --- CSV with a column mapping ------------------------------------------------
claw ioc import --json --format csv --header \
    --columns 'value=Indicator,type=Kind,reason=Note,expires=Valid Until' "$F/vendor.csv" > "$tmp/csv.json"; rc=$?
check "CSV by header names: 3 indicators, the empty value counted" \
    [ "$rc $(field "$tmp/csv.json" '(j["added"], j["skipped"])')" = "0 (3, 1)" ]
claw ioc show --json 'url:https://csv-bad.example/x' > "$tmp/one.json"
check "...quoted fields with commas and doubled quotes, the expiry read" \
    [ "$(field "$tmp/one.json" '(j["reason"], j["valid_until"][:10])')" = "('seen in \"wave 3\", a comment', '2030-01-01')" ]
printf 'x,csv-two.example\ny,"csv-three.example\n' > "$tmp/broken.csv"
n0=$(count)
claw ioc import --format csv --columns value=2 "$tmp/broken.csv" > /dev/null 2> "$tmp/err"; rc=$?
check "CSV with an unterminated quote: exit 65, the record named, nothing imported" \
    sh -c "[ $rc = 65 ] && grep -q 'broken.csv: record 2' '$tmp/err' && [ $(count) = $n0 ]"
claw ioc import --format csv "$tmp/broken.csv" > /dev/null 2> "$tmp/err"; rc=$?
check "CSV without --columns: a usage error" sh -c "[ $rc = 64 ] && grep -q 'needs --columns' '$tmp/err'"

# --- STIX 2.1: a bundle with the pattern subset feeds use ------------------------
claw ioc import --json --action tag "$F/stix-bundle.json" > "$tmp/stix.json"; rc=$?
check "STIX bundle: exit 0, 10 standing indicators (the revoked one not made: not there)" \
    [ "$rc $(field "$tmp/stix.json" '(j["added"], j["revoked"])')" = "0 (10, 0)" ]
check "...a process pattern and a sigma indicator passed over, each counted" \
    [ "$(field "$tmp/stix.json" 'sorted(j["skipped_by_reason"].items())')" = \
      "[('pattern: process:name not supported', 1), ('pattern_type sigma', 1)]" ]
check "...every type: a CIDR, from_ref, message_id, an upper-case SHA-256, an OR's three terms" \
    sh -c "for v in ip:198.51.100.0/24 sender:ceo@spoof.example.org message-id:20240301.4711@mail.example.org \
        sha256:9f2c1be4a7d03e58c6b1f0a2d4e8c7b3a5f69e0d1c2b3a4f5e6d7c8b9a0f1e2d domain:c2.example.test \
        ip:192.0.2.10 ip:2001:db8::10 url:http://phish.example.com/login.php?acct=1; do \
        \"$CLAW\" --config '$tmp/c.conf' ioc show \"\$v\" > /dev/null || exit 1; done"
check "...valid_until in 2020: kept, expired" [ "$(state domain:expired.example.net)" = expired ]
claw ioc add url:https://old.example.com/verify > /dev/null
claw ioc import --json "$F/stix-bundle.json" > "$tmp/stix.json"
check "...imported again once the revoked URL is there: it is revoked" \
    [ "$(field "$tmp/stix.json" 'j["revoked"]') $(state url:https://old.example.com/verify)" = "1 revoked" ]
"$py" -c '
import json
terms = " OR ".join("url:value = %s" % repr("http://bulk%d.example/p" % i) for i in range(100000))
print(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator",
    "spec_version": "2.1", "id": "indicator--1", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
    "pattern": "[" + terms + "]"}]}))' > "$tmp/bulk.json"
claw ioc import --json --action hunt "$tmp/bulk.json" > "$tmp/out.json"; rc=$?
check "a pattern of 100,000 OR terms: 100,000 indicators" \
    [ "$rc $(field "$tmp/out.json" 'j["added"]')" = "0 100000" ]
"$py" -c 'print("{\"type\": \"bundle\", \"objects\": " + "[" * 100000 + "]" * 100000 + "}")' > "$tmp/deep.json"
claw ioc import "$tmp/deep.json" > /dev/null 2> "$tmp/err"; rc=$?
check "JSON nested 100,000 deep: refused with its line, no crash" \
    sh -c "[ $rc = 65 ] && grep -q 'deep.json:1: JSON nested deeper' '$tmp/err'"
printf '{"Event": {"info": "x", "Attribute": [\n {"type": "domain", "value": "evil\\u0000.example", "to_ids": true}]}}' > "$tmp/nul.json"
claw ioc import "$tmp/nul.json" > /dev/null 2> "$tmp/err"; rc=$?
check "a \\u0000 inside a JSON string (json-glib would cut the value there): refused with its line" \
    sh -c "[ $rc = 65 ] && grep -q 'nul.json:2: a NUL character' '$tmp/err'"
"$py" -c 'print("{\"Event\": {\"Attribute\": " + "[" * 100000 + "]" * 100000 + "}}")' > "$tmp/deep.json"
claw ioc import "$tmp/deep.json" > /dev/null 2> "$tmp/err"; rc=$?
check "...and as a MISP event" sh -c "[ $rc = 65 ] && grep -q 'nested deeper' '$tmp/err'"

# --- hostile inputs: refused whole, with the position --------------------------
printf '{"Event": {"info": "x", "Attribute": [\n  {"type": "url", "value": "http://a.example/"\n' > "$tmp/cut.json"
n0=$(count)
claw ioc import "$tmp/cut.json" > /dev/null 2> "$tmp/err"; rc=$?
check "JSON cut short: exit 65, file:line:column said, nothing imported" \
    sh -c "[ $rc = 65 ] && grep -Eq 'cut.json:[0-9]+:[0-9]+' '$tmp/err' && [ $(count) = $n0 ]"
truncate -s 300M "$tmp/huge.json"
claw ioc import "$tmp/huge.json" > /dev/null 2> "$tmp/err"; rc=$?
check "a 300 MB file: refused before it is read" \
    sh -c "[ $rc = 65 ] && grep -q 'more than an import takes' '$tmp/err'"
rm -f "$tmp/huge.json"
printf '{"Event": 5}' > "$tmp/odd.json"
claw ioc import --format misp "$tmp/odd.json" > /dev/null 2> "$tmp/err"; rc=$?
check "an Event that is not an object: a clear error" sh -c "[ $rc = 65 ] && grep -q 'not a MISP event' '$tmp/err'"
"$py" -c '
import json
print(json.dumps({"Event": {"info": "deep", "Attribute": [{"type": t, "value": v, "to_ids": True}
    for t, v in [("url", 5), ("domain", None), ("ip-dst", ["x"]), (7, "a.example")]]}}))' > "$tmp/types.json"
claw ioc import --json "$tmp/types.json" > "$tmp/out.json" 2> "$tmp/err"; rc=$?
check "values of the wrong JSON types: counted as passed over, no crash" \
    [ "$rc $(field "$tmp/out.json" 'j["skipped"]')" = "0 4" ]

# --- over HTTPS: a local server with the test's own CA --------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=claw-test-ca \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$tmp/srv.key" \
    -out "$tmp/srv.csr" 2> /dev/null
printf 'subjectAltName = IP:127.0.0.1\n' > "$tmp/san.ext"
openssl x509 -req -in "$tmp/srv.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 2 -extfile "$tmp/san.ext" -out "$tmp/srv.pem" 2> /dev/null
mkdir -p "$tmp/www/misp"
cp "$F"/misp/*.json "$tmp/www/misp/"
cp "$F"/taxii-page1.json "$F"/taxii-page2.json "$tmp/www/"
printf 'domain:plain-over-https.example\n' > "$tmp/www/list.txt"
"$py" "$srcdir/tests/tools/feed-server.py" --cert "$tmp/srv.pem" --key "$tmp/srv.key" \
    --root "$tmp/www" --port-file "$tmp/port" --log "$tmp/requests.log" &
server=$!
trap 'kill $server $pid 2> /dev/null; [ -n "$KEEP" ] || rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port" 2> /dev/null)
U="https://127.0.0.1:$port"

n0=$(count)
claw ioc import --format misp-feed "$U/misp/" > /dev/null 2> "$tmp/err"; rc=$?
check "HTTPS without the server's CA: refused (the certificate is checked), nothing imported" \
    sh -c "[ $rc = 65 ] && grep -qi 'certificate' '$tmp/err' && [ $(count) = $n0 ]"
A2="$tmp/archive2"
claw2() { "$CLAW" --config "$tmp/c.conf" --archive "$A2" "$@"; }
claw2 ioc import --json --ca "$tmp/ca.pem" --format misp-feed --source feed:misp "$U/misp/" > "$tmp/out.json"; rc=$?
check "a MISP feed over HTTPS: manifest, then each event (11 standing, the deleted one not made)" \
    [ "$rc $(field "$tmp/out.json" '(j["added"], j["revoked"])')" = "0 (11, 0)" ]
check "...the hostile manifest name was never asked for" \
    sh -c "! grep -q passwd '$tmp/requests.log' && grep -q '5f0c1a2b-0000-4000-8000-000000000002.json' '$tmp/requests.log'"
claw2 ioc import --json --ca "$tmp/ca.pem" "$U/files/list.txt" > "$tmp/out.json"; rc=$?
check "a plain list by URL: imported, its source the URL" \
    sh -c "[ $rc = 0 ] && [ \"\$(\"$CLAW\" --config '$tmp/c.conf' --archive '$A2' ioc show --json domain:plain-over-https.example | \"$py\" -c 'import json,sys; print(json.load(sys.stdin)[\"source\"])')\" = 'url:$U/files/list.txt' ]"
claw2 ioc import --ca "$tmp/ca.pem" "$U/huge" > /dev/null 2> "$tmp/err"; rc=$?
check "an endless body: stopped at the bound, nothing imported" \
    sh -c "[ $rc = 65 ] && grep -q 'more than' '$tmp/err'"
claw2 ioc import --ca "$tmp/ca.pem" "$U/status/503" > /dev/null 2> "$tmp/err"; rc=$?
check "a server error: said, with the status" sh -c "[ $rc = 65 ] && grep -q 'answered 503' '$tmp/err'"
claw2 ioc import --json --ca "$tmp/ca.pem" --format taxii "$U/taxii/collections/c1/" > "$tmp/out.json"; rc=$?
check "a TAXII 2.1 collection: both pages read, page 2's revocation of page 1's domain standing" \
    [ "$rc $(field "$tmp/out.json" '(j["added"], j["revoked"])')" = "0 (4, 0)" ] &&
    [ "$(state_in "$A2" domain:page1.example.net)" = none ]
check "...asked in TAXII's media type, the second page by its next" \
    sh -c "grep -c '\"accept\": \"application/taxii+json;version=2.1\"' '$tmp/requests.log' | grep -qx 2 &&
           grep -q '\"next\": \\[\"2\"\\]' '$tmp/requests.log'"

# --- clawd pulls [feeds] on its schedule ---------------------------------------
A3="$tmp/archive3"
cat > "$tmp/d.conf" <<EOF
[archive]
path = $A3
[clawd]
socket = $tmp/clawd.sock
[feeds]
osint = misp-feed $U/misp/ action=quarantine every=1h ca=$tmp/ca.pem
acme = taxii $U/taxii/collections/c1/ action=block every=1h ca=$tmp/ca.pem
broken = stix $U/status/500 every=1h ca=$tmp/ca.pem
EOF
"$CLAW" --check-config "$tmp/d.conf" > /dev/null 2>&1
check "[feeds] passes --check-config" [ $? = 0 ]
printf '[feeds]\nx = taxii ftp://a.example/ every=1s\n' > "$tmp/bad.conf"
"$CLAW" --check-config "$tmp/bad.conf" > /dev/null 2> "$tmp/err"
check "...a feed with a non-HTTP URL: refused with its line" grep -q 'bad.conf:2:.*https:// or http://' "$tmp/err"
d3() { "$CLAW" --config "$tmp/d.conf" "$@"; }
pulled() { # pulled N: wait up to 20 s for N feed pulls in clawd's log
    end=$(( $(date +%s) + 20 ))
    while [ "$(grep -c 'feed=.* pulled' "$tmp/clawd.log" 2> /dev/null)" -lt "$1" ]; do
        [ "$(date +%s)" -le "$end" ] || return 1
        sleep 0.2
    done
}
: > "$tmp/requests.log"
d3 ioc add --reason "ours, by hand" domain:invoice-portal.example > /dev/null
if clawd_start "$tmp/d.conf" "$tmp/clawd.sock" && pulled 2; then
    check "clawd pulled both feeds at start, logged key=value" \
        grep -q 'feed=osint kind=misp-feed pulled added=11 updated=0 unchanged=1 ' "$tmp/clawd.log"
    check "...a feed's deletion does not revoke an indicator added by hand" \
        [ "$(state_in "$A3" domain:invoice-portal.example)" = active ]
    check "...the failing one said so, nothing added, to be tried again" \
        grep -q 'feed=broken kind=stix not pulled, nothing added: .*answered 500; trying again' "$tmp/clawd.log"
    d3 ioc show --json url:https://pay-invoice.example/login.php > "$tmp/one.json"
    check "...with the feed's action and its name as the source" \
        [ "$(field "$tmp/one.json" '(j["action"], j["source"], j["added_by"])')" = "('quarantine', 'feed:osint', 'clawd')" ]
    end=$(( $(date +%s) + 10 ))
    until grep -q 'pay-invoice.example' "$A3/ioc/active" 2> /dev/null || [ "$(date +%s)" -gt "$end" ]; do sleep 0.2; done
    check "...published for the MTA" grep -q 'url:https://pay-invoice.example/login.php' "$A3/ioc/active"
    d3 ioc revoke url:https://pay-invoice.example/login.php > /dev/null
    kill -HUP $pid
    pulled 4
    check "...an analyst's revocation stands when the feed is pulled again" \
        [ "$(state_in "$A3" url:https://pay-invoice.example/login.php)" = revoked ]
    check "after a SIGHUP, pulled again: the TAXII collection from where it ended (added_after)" \
        grep -q '"added_after": \["2026-11-02T10:00:00' "$tmp/requests.log"
    check "...and the MISP feed changed nothing" \
        grep -q 'feed=osint kind=misp-feed pulled added=0 updated=0 unchanged=12 ' "$tmp/clawd.log"
    kill -TERM $pid; wait $pid
    check "clawd stops cleanly with feeds" [ $? = 0 ]
else
    fail "clawd starts and pulls its feeds"; cat "$tmp/clawd.log"
fi
kill $server 2> /dev/null
echo "# $n_fail failed"
[ "$n_fail" = 0 ]
