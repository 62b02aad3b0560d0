#!/bin/sh
# The archive through claw: import, every search field with a known answer,
# phrases, hostile queries, show, export, duplicates, check, reindex, mbox.
. "$srcdir/tests/tools/tap.sh"
fx="$srcdir/tests/fixtures"
ax="$srcdir/tests/archive/data"
py="${PYTHON3:-python3}"
A="$tmp/archive"
claw() { "$CLAW" --config /dev/null --archive "$A" "$@"; }
json_field() { # json_field KEY < one JSON object
    "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# --- import --------------------------------------------------------------
cp -r "$fx" "$tmp/in"
cp "$ax"/* "$tmp/in/"
claw import --json "$tmp/in" > "$tmp/import.json" 2> "$tmp/import.err"; rc=$?
check "import: exit 0" [ $rc -eq 0 ]
# 7 fixtures + html-link.eml + 3 messages in tricky.mbox; not-a-message.txt skipped
check "import: 11 messages" [ "$(json_field messages < "$tmp/import.json")" = 11 ]
check "import: all new" [ "$(json_field new < "$tmp/import.json")" = 11 ]
check "import: the text file is skipped, not stored" [ "$(json_field skipped < "$tmp/import.json")" = 1 ]
check "import: indexed" [ "$(json_field indexed < "$tmp/import.json")" = True ]
claw stats --json > "$tmp/stats.json"
check "import: the index is compacted at the end" \
    [ "$(json_field index_compacted_documents < "$tmp/stats.json")" = "$(json_field index_documents < "$tmp/stats.json")" ]
check "import: no compaction copy left" sh -c "! ls -d '$A'/index/*.compact 2> /dev/null | grep -q ."
claw check > "$tmp/check" 2>&1
check "check: clean after import" grep -q '^clean$' "$tmp/check"
check "check: xapian-check ran on every shard" [ "$(grep -c 'xapian-check .*: clean' "$tmp/check")" -ge 1 ]

# --- every field, with a known answer -----------------------------------
# one QUERY EXPECTED_SUBJECT: exactly one hit, with that subject
one() {
    name="$1"; shift
    want="$1"; shift
    claw search --json "$@" > "$tmp/hits" 2> "$tmp/err"
    n=$(wc -l < "$tmp/hits")
    got=$(head -1 "$tmp/hits" | json_field subject 2> /dev/null)
    if [ "$n" -eq 1 ] && [ "$got" = "$want" ]; then
        ok "search $name"
    else
        fail "search $name: $n hits, first '$got' (want '$want') $(cat "$tmp/err")"
    fi
}
one "from: address" "Your November statement" from:alerts@billing.example.com
one "from: domain" "Your November statement" from:billing.example.com
one "from: display-name word" "Spring sale: quarterly invoice reminder" from:offers from:shop
one "from: IDN (Unicode)" "Rechnung für Oktober – dringend" 'from:juergen@müller-bau.example.de'
one "from: IDN (A-label)" "Rechnung für Oktober – dringend" from:xn--mller-bau-q9a.example.de
one "to:" "Fwd: Mailbox quota exceeded" to:security@corp.example
one "cc:" "Spring sale: quarterly invoice reminder" cc:lead@corp.example
one "replyto:" "⚠️ Your account has been limited" replyto:resolution.center.team@gmail.com
one "subject: word" "Documents" subject:documents
one "subject: phrase" "Spring sale: quarterly invoice reminder" 'subject:"quarterly invoice"'
one "body word" "Spring sale: quarterly invoice reminder" regards
one "body phrase" "Spring sale: quarterly invoice reminder" '"the shop team"'
one "attachment: name" "Documents" attachment:invoice.zip
one "attachment: member of an archive" "Documents" attachment:payload.js
one "attachment: member by base name (tools/run.sh)" "Documents" attachment:run.sh
one "attachment: member by path" "Documents" attachment:tools/run.sh
one "filename: nested archive by base name (docs/tools.tar.gz)" "Documents" filename:tools.tar.gz
one "free text: an attachment's name" "Documents" report.docm
one "url: a link only in HTML" "Spring sale: quarterly invoice reminder" \
    'url:"https://only-in-html.example/deals/spring?ref=mail"'
one "url: prefix wildcard" "Spring sale: quarterly invoice reminder" 'url:https://only-in-html.example/*'
one "host:" "Spring sale: quarterly invoice reminder" host:only-in-html.example
one "domain: of a link" "⚠️ Your account has been limited" domain:xn--pypal-4ve.com
# url:, host: and domain: read their value as the model reads a link, so
# every spelling a browser takes for the same place finds it.
sale="Spring sale: quarterly invoice reminder"
one "url: Unicode host" "$sale" 'url:http://bücher.example/x'
one "url: A-label host" "$sale" 'url:http://xn--bcher-kva.example/x'
one "url: percent-encoded host" "$sale" 'url:http://EX%41MPLE.org/y'
one "url: without the default port the link has" "$sale" 'url:https://port.example/p'
one "url: with the default port the link has" "$sale" 'url:https://port.example:443/p'
one "host: Unicode" "$sale" 'host:bücher.example'
one "host: percent-encoded" "$sale" 'host:EX%41MPLE.org'
one "domain: Unicode" "$sale" 'domain:bücher.example'
one "domain: A-label" "$sale" 'domain:xn--bcher-kva.example'
one "ip: from Received" "Your November statement" ip:203.0.113.25
one "helo: from Received" "Spring sale: quarterly invoice reminder" helo:relay.shop.example
one "msgid:" "Your November statement" msgid:statement-2026-11@billing.example.com
one "authclaim: (no authserv-id is trusted here)" "Spring sale: quarterly invoice reminder" authclaim:spf=pass authclaim:dkim=fail
one "rule:" "⚠️ Your account has been limited" rule:URL_IP_LITERAL
one "date: range" "Spring sale: quarterly invoice reminder" date:2025-03-01..2025-03-31 from:shop
one "date: one day" "Spring sale: quarterly invoice reminder" date:2025-03-10 NOT subject:mbox
one "boolean OR and NOT" "Documents" '(subject:documents OR subject:nothing-like-this) NOT from:alice@corp.example'
one "mbox: unmunged From line kept in its message" "mbox one: unmunged" russia
one "mbox: Content-Length keeps a postmark in the body" "mbox two: content-length" "still"

# SHA-256 of a file inside a tar.gz inside a zip, computed here, not by claw.
sha=$("$py" - "$fx/attachments.eml" <<'EOF'
import email, hashlib, io, sys, tarfile, zipfile
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
for part in msg.walk():
    if part.get_filename() == "invoice.zip":
        z = zipfile.ZipFile(io.BytesIO(part.get_payload(decode=True)))
        t = tarfile.open(fileobj=io.BytesIO(z.read("docs/tools.tar.gz")))
        print(hashlib.sha256(t.extractfile("tools/run.sh").read()).hexdigest())
EOF
)
one "sha256: a file two archives deep" "Documents" "sha256:$sha"
rawsha=$(sha256sum < "$fx/plain.eml" | cut -d' ' -f1)
one "sha256: the message itself" "Your November statement" "sha256:$rawsha"

claw search --count action:reject > "$tmp/n"
want=$(for f in "$tmp"/in/*.eml; do "$CLAW" --config /dev/null scan --json "$f"; done |
    grep -c '"action":"reject"')
check "action: reject count matches claw scan ($want)" [ "$(cat "$tmp/n")" = "$want" ]
claw search --count size:1..2k > "$tmp/n"
want=$(find "$tmp/in" -name '*.eml' -size -2049c | wc -l)
check "size: range ($want messages up to 2k, tricky.mbox's all under)" [ "$(cat "$tmp/n")" -ge "$want" ]

claw search --json msgid:statement-2026-11@billing.example.com > "$tmp/hit"
id=$(json_field id < "$tmp/hit")
one "id: X-Clawback-Id" "Your November statement" "id:$id"
claw search nothing-matches-this-word > /dev/null 2>&1; rc=$?
check "no match: exit 1" [ $rc -eq 1 ]
claw search --sort relevance --json invoice > "$tmp/rel"
check "--sort relevance gives relevance" grep -q '"relevance":' "$tmp/rel"

# A phrase whose words all occur, but not in a row, must not match.
claw search --count '"team shop the"' > "$tmp/n"
check "phrase: the words out of order do not match" [ "$(cat "$tmp/n")" = 0 ]
claw search --count 'NOT "the shop team"' > "$tmp/n"
check "phrase under NOT: the other 10" [ "$(cat "$tmp/n")" = 10 ]

# Phrases confirmed against the stored message: the cases the quick search
# around the first word must get right.
"$py" - "$tmp/phr" <<'EOF2'
import base64, os, sys
d = os.path.join(sys.argv[1], "cur")
os.makedirs(d)
bodies = {
    "gap": "alpha" + " -" * 400 + "\n bravo charlie\n",   # words 800 bytes apart
    "case": "Notes: ALPHA Bravo charlie.\n",
    "inside": "xalpha bravo charlie and alphax bravo charlie\n",
    "utf8": "Caf\u00e9 na\u00efve: alpha bravo charlie \u2014 d\u00e9j\u00e0 vu\n",
    "late": "filler " * 3000 + "alpha bravo\ncharlie\n",
}
for name, body in bodies.items():
    open(os.path.join(d, name + ".eml"), "w", encoding="utf-8").write(
        "From: p@example.org\nSubject: phrase %s\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s"
        % (name, body))
html = base64.encodebytes(b"<p><b>delta</b>\n<i>echo</i> foxtrot</p>").decode()
open(os.path.join(d, "html.eml"), "w").write(
    "From: p@example.org\nSubject: golf hotel india\nMIME-Version: 1.0\n"
    "Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n" + html)
EOF2
"$CLAW" --archive "$tmp/ph" import --quiet "$tmp/phr"
for spec in '"alpha bravo charlie"=4' '"bravo charlie"=5' '"echo foxtrot"=1' \
    '"delta echo foxtrot"=1' '"golf hotel india"=1' '"hotel golf"=0' '"charlie bravo"=0' \
    '"filler alpha bravo charlie"=1' '"naïve alpha"=1' '"café naïve alpha bravo"=1'; do
    q=${spec%=*}; want=${spec##*=}
    got=$("$CLAW" --archive "$tmp/ph" search --count "$q" 2>&1)
    check "phrase $q: $want (got $got)" [ "$got" = "$want" ]
done

# Phrases checked against the stored messages give what word positions
# give: the same generated mail in an archive with positions and in one
# without, and every query's messages compared. Many candidates per query,
# so the checks run in batches over several threads; the mail mixes the
# encodings, charsets, HTML, attachments and the Kelvin sign.
"$py" - "$tmp/orc" <<'EOF2'
import base64, os, random, sys
d = os.path.join(sys.argv[1], "cur")
os.makedirs(d)
rnd = random.Random(5)
V = ["alpha", "bravo", "charlie", "kilo", "echo"]
def word():
    w = rnd.choice(V)
    r = rnd.random()
    if r < 0.1:
        w = w.upper()
    elif r < 0.15 and "k" in w:
        w = w.replace("k", "\u212a", 1)          # Kelvin sign: lower-cases to k
    elif r < 0.2:
        w = w + "\u00e9"                         # a longer, non-ASCII word
    elif r < 0.25:
        w = "\u00ef" + w
    return w
def text(n):
    seps = [" ", " ", " ", "\n", ", ", " \u00a0", " - ", "\u2014", "_"]
    return "".join(word() + rnd.choice(seps) for _ in range(n))
for i in range(240):
    subject = text(3).replace("\n", " ").strip()
    plain = text(rnd.randint(2, 40))
    kind = i % 6
    hdr = "From: m%d@example.org\nSubject: %s\nMIME-Version: 1.0\n" % (i, subject)
    if kind == 0:
        body = ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                + plain)
    elif kind == 1:
        b = base64.encodebytes(("<p>" + plain.replace(" ", " <b>x</b> ", 1).replace("\n", "<br>")
                                + "</p>").encode()).decode()
        body = "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b
    elif kind == 2:
        raw = plain.encode("latin-1", "replace")
        qp = "".join("=%02X" % c if c > 126 or c == 61 else chr(c) for c in raw)
        body = ("Content-Type: text/plain; charset=iso-8859-1\n"
                "Content-Transfer-Encoding: quoted-printable\n\n" + qp + "\n")
    else:
        att = base64.encodebytes(text(30).encode()).decode()
        body = ("Content-Type: multipart/mixed; boundary=BB\n\n--BB\n"
                "Content-Type: text/plain; charset=utf-8\n\n" + plain + "\n--BB\n"
                "Content-Type: text/plain; name=notes.txt\n"
                "Content-Disposition: attachment; filename=notes.txt\n"
                "Content-Transfer-Encoding: base64\n\n" + att + "--BB\n"
                "Content-Type: text/plain; charset=utf-8\n\n" + text(10) + "\n--BB--\n")
    open(os.path.join(d, "%03d.eml" % i), "w", encoding="utf-8").write(hdr + body)
EOF2
printf '[archive]\npositions = yes\n' > "$tmp/pos.conf"
"$CLAW" --config /dev/null --archive "$tmp/orc-check" import --quiet "$tmp/orc"
"$CLAW" --config "$tmp/pos.conf" --archive "$tmp/orc-pos" import --quiet "$tmp/orc"
# Without the texts' origins in the store a check parses the whole message.
CLAW_TEST_NO_TEXT_ORIGINS=1 "$CLAW" --config /dev/null --archive "$tmp/orc-parse" import \
    --quiet "$tmp/orc"
"$py" - "$CLAW" "$tmp" <<'EOF2' > "$tmp/orc.out"
import itertools, json, subprocess, sys
claw, tmp = sys.argv[1:3]
V = ["alpha", "bravo", "charlie", "kilo", "echo"]
qs = ['"%s %s"' % p for p in itertools.permutations(V, 2)]
qs += ['"%s %s %s"' % t for t in list(itertools.permutations(V, 3))[::4]]
qs += ['subject:"alpha bravo"', '"alpha bravo" OR "kilo echo"', 'NOT "bravo alpha"',
       'from:m7@example.org OR "charlie kilo alpha"', '"echo alpha" AND kilo',
       '"kilo kilo"', '"alpha alpha alpha"', 'from:m1* AND "bravo charlie"']
def ids(conf, archive, q):
    r = subprocess.run([claw, "--config", conf, "--archive", archive, "search", "--json",
                        "--limit", "1000", q], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        return "exit %d: %s" % (r.returncode, r.stderr.strip())
    return sorted(json.loads(l)["from"] for l in r.stdout.splitlines())
same = hits = 0
for q in qs:
    a = ids("/dev/null", tmp + "/orc-check", q)
    b = ids(tmp + "/pos.conf", tmp + "/orc-pos", q)
    c = ids("/dev/null", tmp + "/orc-parse", q)
    if a == b == c:
        same += 1
        hits += len(a)
    else:
        print("# %s: checked %s, positions %s, parsed %s" % (q, a, b, c))
print("%d %d %d" % (same, len(qs), hits))
EOF2
# shellcheck disable=SC2046
set -- $(tail -1 "$tmp/orc.out")
same=${1:-0} all=${2:-x} hits=${3:-0}
grep '^#' "$tmp/orc.out" | cut -c1-300
check "phrases checked (texts from their origins, or parsed) = phrases by positions ($same of $all queries, $hits messages)" \
    [ "$same" = "$all" ]
check "phrases: the comparison found matches to compare ($hits)" [ "${hits:-0}" -gt 500 ]

# header: an admin-named header (index_headers) needs a reindex to apply.
printf '[archive]\nindex_headers = List-Id\n' > "$tmp/hdr.conf"
"$CLAW" --config "$tmp/hdr.conf" --archive "$A" reindex > /dev/null 2>&1
"$CLAW" --config "$tmp/hdr.conf" --archive "$A" search --json 'header:list-id=offers.news.shop.example' > "$tmp/hits" 2>&1
check "header: List-Id named in index_headers" grep -q '"subject":"Spring sale' "$tmp/hits"

# A user who may not read the archive is told so (77), not "is clawd running?".
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
    mkdir -p "$tmp/locked"; cp -r "$A" "$tmp/locked/a"; chmod 700 "$tmp/locked/a/index" "$tmp/locked/a"
    chmod 755 "$tmp/locked" "$tmp"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$CLAW" --config /dev/null \
        --archive "$tmp/locked/a" search x > /dev/null 2> "$tmp/err"; rc=$?
    check "search without read access: exit 77, permission denied ($(cat "$tmp/err"))" \
        sh -c "[ $rc -eq 77 ] && grep -q 'permission denied' '$tmp/err'"
else
    skip "search without read access" "needs root and setpriv"
fi

# claw import does not believe X-Clawback-* fields unless told: a message
# claiming an id and an "accept" is judged by the archive itself.
mkdir -p "$tmp/forged"
sed 's/^From: /X-Clawback-Id: 01JBBBBBBBBBBBBBBBBBBBBBBB\nX-Clawback-Verdict: accept; score=0\nX-Clawback-Rules: FORGED\nFrom: /' \
    "$fx/html-phish.eml" > "$tmp/forged/one.eml"
"$CLAW" --config /dev/null --archive "$tmp/fa" import --quiet "$tmp/forged" > /dev/null 2>&1
"$CLAW" --config /dev/null --archive "$tmp/fa" show --json "$("$CLAW" --config /dev/null --archive "$tmp/fa" search --ids 'date:1970..')" > "$tmp/forged.json"
check "import: forged X-Clawback fields not used (own id, verdict_source archive)" \
    sh -c "grep -q '\"verdict_source\":\"archive\"' '$tmp/forged.json' && ! grep -q 01JBBBBBBBBBBBBBBBBBBBBBBB '$tmp/forged.json'"
"$CLAW" --config /dev/null --archive "$tmp/fa2" import --quiet --trust-headers "$tmp/forged" > /dev/null 2>&1
"$CLAW" --config /dev/null --archive "$tmp/fa2" show --json 01JBBBBBBBBBBBBBBBBBBBBBBB > "$tmp/trusted.json" 2>&1
check "import --trust-headers: the fields are believed (id, verdict_source mta)" \
    grep -q '"verdict_source":"mta"' "$tmp/trusted.json"

# claw check finds two records under one id (what a forged id leaves, here
# through --trust-headers): exit 1, naming the id.
sed 's/^From: /X-Clawback-Id: 01JBBBBBBBBBBBBBBBBBBBBBBB\nFrom: /' "$fx/plain.eml" > "$tmp/forged/two.eml"
"$CLAW" --config /dev/null --archive "$tmp/fa2" import --quiet --trust-headers "$tmp/forged/two.eml" > /dev/null 2>&1
"$CLAW" --config /dev/null --archive "$tmp/fa2" check > "$tmp/check-ids" 2>&1; rc=$?
check "check: two records under one id are a problem (exit $rc: $(grep claimed "$tmp/check-ids"))" \
    sh -c "[ $rc -eq 1 ] && grep -q 'id 01JBBBBBBBBBBBBBBBBBBBBBBB: claimed by 2 messages' '$tmp/check-ids'"

# --- hostile queries: a clear error (65), quickly ------------------------
bad() { # bad NAME EXPECTED_TEXT QUERY
    name="$1"; want="$2"; shift 2
    timeout 10 "$CLAW" --config /dev/null --archive "$A" search "$@" > /dev/null 2> "$tmp/err"; rc=$?
    if [ $rc -eq 65 ] && grep -q "$want" "$tmp/err"; then
        ok "hostile query: $name"
    else
        fail "hostile query: $name (exit $rc: $(cat "$tmp/err"))"
    fi
}
deep=$("$py" -c 'print("(" * 2000 + "a" + ")" * 2000)')
bad "2000 nested parentheses" "nested deeper" "$deep"
bad "unknown field" "unknown field 'frm'" frm:alice
bad "a bare URL" "unknown field" http://x.example/
bad "unbalanced parenthesis" "without" "(a OR b"
bad "unterminated quote" "unterminated" '"abc'
bad "a lone wildcard" "match everything" 'url:*'
bad "a one-letter wildcard" "at least 2" 'a*'
bad "too many terms" "more than 256" "$("$py" -c 'print(" ".join("w%d" % i for i in range(300)))')"
bad "a query over 8 KB" "longer than" "$("$py" -c 'print("x" * 9000)')"
bad "an impossible date" "is not a date" date:2025-13-45
bad "a range that ends first" "ends before" date:2025..2024
# size: reads sizes as the configuration does: overflow is an error, not a
# silently wrapped number, and units are the config's (any case).
bad "a size that overflows" "out of range" size:99999999999999999999g
bad "a size times its unit overflows" "out of range" size:..9999999999999g
bad "a size with an unknown unit" "512k, 64M or 1g" size:10q
claw search --count size:1k..2k > "$tmp/n1"
claw search --count size:1K..2KB > "$tmp/n2"
check "size: takes the config's units in any case (1K..2KB = 1k..2k: $(cat "$tmp/n1"))" [ "$(cat "$tmp/n2")" = "$(cat "$tmp/n1")" ]
bad "empty" "empty query" ""
# A wildcard that would expand past the limit: a message with 1500 words.
"$py" - "$tmp/words.eml" <<'EOF'
import sys
words = " ".join("zq%04d" % i for i in range(1500))
open(sys.argv[1], "w").write("From: w@example.org\nSubject: many words\n\n" + words + "\n")
EOF
claw import -q "$tmp/words.eml" > /dev/null 2>&1
bad "a wildcard over 1000 terms" "more than 1000" 'zq*'
claw search --count 'zq00*' > "$tmp/n" 2>&1
check "a wildcard under the limit works" [ "$(cat "$tmp/n")" = 1 ]

# --- show ----------------------------------------------------------------
claw show --raw "$id" > "$tmp/raw"
check "show --raw: the bytes as stored (same as the file)" cmp -s "$tmp/raw" "$fx/plain.eml"
claw show --headers "$id" > "$tmp/hdrs"
check "show --headers: the header block only" sh -c "grep -q '^Subject: Your November statement' '$tmp/hdrs' && ! grep -q 'statement is ready' '$tmp/hdrs'"
claw show --json "$id" > "$tmp/show.json"
check "show --json: the delivery" grep -q '"source":"import"' "$tmp/show.json"
claw show "$rawsha" > "$tmp/show.txt"
check "show by SHA-256" grep -q "^Id: *$id" "$tmp/show.txt"
claw show 01AAAAAAAAAAAAAAAAAAAAAAAA > /dev/null 2>&1; rc=$?
check "show: unknown id exits 66" [ $rc -eq 66 ]

# --- duplicates ----------------------------------------------------------
claw import --json "$tmp/in" > "$tmp/again.json" 2> /dev/null
check "import twice: nothing new" [ "$(json_field new < "$tmp/again.json")" = 0 ]
check "import twice: all 11 are duplicates" [ "$(json_field duplicates < "$tmp/again.json")" = 11 ]
claw stats --json > "$tmp/stats.json"
check "stats: 12 messages stored once each" [ "$(json_field messages < "$tmp/stats.json")" = 12 ]

# --- export --------------------------------------------------------------
claw export --mbox "$tmp/out.mbox" 'date:2000..' > /dev/null 2>&1
"$CLAW" --config /dev/null --archive "$tmp/archive2" import --json "$tmp/out.mbox" > "$tmp/re.json" 2> /dev/null
check "export --mbox, import again: 12 messages" [ "$(json_field messages < "$tmp/re.json")" = 12 ]
check "export --mbox makes the file 0640, not world-readable ($(stat -c %a "$tmp/out.mbox"))" \
    [ "$(stat -c %a "$tmp/out.mbox")" = 640 ]
"$CLAW" --config /dev/null --archive "$tmp/archive2" search --json 'body:"from russia with love"' > "$tmp/hits"
check "export --mbox quotes From lines (>From) and import keeps them in place" grep -q 'mbox one' "$tmp/hits"
claw export --dir "$tmp/outdir" from:alerts@billing.example.com > /dev/null 2>&1
check "export --dir: one file named by id and subject" [ -f "$tmp/outdir/$id-Your-November-statement.eml" ]
claw export --dir "$tmp/outdir2" 'subject:limited' > /dev/null 2>&1
check "export --dir: no path tricks in names" sh -c "ls '$tmp/outdir2' | grep -q '^[A-Za-z0-9._-]*\$'"

# --- the index is derived: reindex, catch up -----------------------------
before=$(claw search --ids 'date:2000..' | sort)
claw reindex > /dev/null 2>&1
after=$(claw search --ids 'date:2000..' | sort)
check "reindex: the same answers" [ "$before" = "$after" ]
rm -rf "$A/index"
claw search invoice > /dev/null 2> "$tmp/err"; rc=$?
check "no index: exit 66 and says what to do" sh -c "[ $rc -eq 66 ] && grep -q 'claw reindex' '$tmp/err'"
claw reindex --catch-up > /dev/null 2>&1
after=$(claw search --ids 'date:2000..' | sort)
check "a deleted index is rebuilt from the store" [ "$before" = "$after" ]
claw check > "$tmp/check" 2>&1
check "check: clean after rebuilding" grep -q '^clean$' "$tmp/check"

# --- each command loads only what it uses ---------------------------------
loaded() { # loaded COMMAND...: the libraries the run initialised, one a line
    LD_DEBUG=libs "$@" 2>&1 > /dev/null | sed -n 's/.*calling init: //p' | sed 's|.*/||'
}
loaded "$CLAW" --config /dev/null --archive "$A" search invoice > "$tmp/libs"
check "search loads Xapian and LMDB ($(tr '\n' ' ' < "$tmp/libs"))" \
    sh -c "grep -q '^libxapian' '$tmp/libs' && grep -q '^liblmdb' '$tmp/libs'"
# What a command loads is the build's linking, checked on the normal build:
# the sanitized one keeps GMime among the archive module's libraries.
if [ -n "${CLAW_SANITIZED:-}" ]; then
    skip "search loads no parser" "sanitized build: its linking is checked in the normal one"
else
    check "search loads no parser: no libclaw, GMime, ICU, libmagic, libarchive" \
        sh -c "! grep -q -e '^libclaw\.so' -e '^libgmime' -e '^libicu' -e '^libmagic' -e '^libarchive' '$tmp/libs'"
    loaded "$CLAW" --config /dev/null --archive "$A" stats > "$tmp/libs"
    check "stats loads no parser either" sh -c "! grep -q -e '^libclaw\.so' -e '^libgmime' '$tmp/libs'"
fi

# --- --json on check, reindex and export; a closed pipe ---------------------
claw check --json > "$tmp/check.json"; rc=$?
check "check --json: exit 0 and valid JSON" sh -c "[ $rc -eq 0 ] && '$py' -m json.tool '$tmp/check.json' > /dev/null"
check "check --json: clean, with the store's count" \
    [ "$(json_field clean < "$tmp/check.json") $("$py" -c 'import json,sys; print(json.load(sys.stdin)["store"]["messages"])' < "$tmp/check.json")" = "True 12" ]
claw reindex --json > "$tmp/reindex.json"; rc=$?
got=$(json_field messages < "$tmp/reindex.json")
check "reindex --json: exit 0, valid JSON, every message ($got)" sh -c "[ $rc -eq 0 ] && [ '$got' = 12 ]"
claw reindex --catch-up --json > "$tmp/reindex.json"; rc=$?
got=$(json_field mode < "$tmp/reindex.json")
check "reindex --catch-up --json: exit 0, valid JSON ($got)" sh -c "[ $rc -eq 0 ] && [ '$got' = catch-up ]"
claw export --json --dir "$tmp/outdir3" 'date:2000..' > "$tmp/export.json" 2> "$tmp/err"; rc=$?
got=$(json_field exported < "$tmp/export.json")
"$py" -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin)["ids"])))' < "$tmp/export.json" > "$tmp/export.ids"
check "export --json: exit 0, the count ($got) and ids of what it wrote" \
    sh -c "[ $rc -eq 0 ] && [ '$got' = 12 ] && [ \"\$(cat '$tmp/export.ids')\" = \"$before\" ]"
claw export --json --mbox - invoice > /dev/null 2>&1; rc=$?
check "export --json --mbox -: usage error (both on stdout)" [ $rc -eq 64 ]
. "$srcdir/tests/cli/closed-pipe.sh"
for args in "search date:2000.." "search --json date:2000.." "show --raw #1" "export --mbox - date:2000.." "stats" "check"; do
    closed_pipe "$CLAW" --config /dev/null --archive "$A" $args > "$tmp/pipe"
    check "$args into a closed pipe: exit 0, stderr empty ($(tr '\n' ' ' < "$tmp/pipe"))" \
        [ "$(cat "$tmp/pipe")" = "$(printf "0 ''\n0 ''")" ]
done

# --- a full map grows by itself ---------------------------------------------
"$py" - "$tmp/big" <<'EOF2'
import base64, os, sys
d = sys.argv[1]
os.makedirs(d)
for i in range(500):
    blob = base64.encodebytes(os.urandom(48 * 1024)).decode()
    open(os.path.join(d, "%03d.eml" % i), "w").write(
        "From: big@example.org\nSubject: incompressible %d\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
        "--b\nContent-Type: application/octet-stream; name=r%d.bin\n"
        "Content-Transfer-Encoding: base64\n\n%s--b--\n" % (i, i, blob))
EOF2
printf '[archive]\nmap_size = 16m\ndictionary_after = 100\n' > "$tmp/small.conf"
"$CLAW" --config "$tmp/small.conf" --archive "$tmp/grow" import --json "$tmp/big" > "$tmp/grow.json" 2>&1
check "map full: import of 24 MB into a 16 MiB map goes on (500 stored)" \
    [ "$(json_field new < "$tmp/grow.json" 2>/dev/null)" = 500 ]
map=$("$CLAW" --config "$tmp/small.conf" --archive "$tmp/grow" stats --json | json_field map_size)
check "map full: the map grew ($map bytes)" [ "$map" -gt 16777216 ]
"$CLAW" --config "$tmp/small.conf" --archive "$tmp/grow" check --deep > "$tmp/check" 2>&1
check "map full: check --deep clean" grep -q '^clean$' "$tmp/check"

# --- the compression dictionary ----------------------------------------------
# 300 messages of one mailing list; a dictionary is trained after the first
# 50, and the second import compresses with it.
"$py" - "$tmp/dict" <<'EOF2'
import os, random, sys
random.seed(7)
words = ("kernel patch build fails on arm with gcc please find attached the log "
         "regards thanks for the review merged into next tree release candidate").split()
for part, (lo, hi) in (("one", (0, 100)), ("two", (100, 300))):
    d = os.path.join(sys.argv[1], part, "cur")
    os.makedirs(d)
    for i in range(lo, hi):
        body = "\n".join(" ".join(random.choice(words) for _ in range(12)) for _ in range(30))
        open(os.path.join(d, "%d.eml" % i), "w").write(
            "Return-Path: <dev-bounces@lists.example.org>\n"
            "Received: from mail.example.org (mail.example.org [192.0.2.%d])\n"
            "\tby mx.example.net with ESMTPS id %08x; Mon, 3 Nov 2025 10:%02d:00 +0000\n"
            "From: Dev %d <dev%d@example.org>\nTo: dev@lists.example.org\n"
            "Subject: [PATCH %d/300] fix number %d\nMessage-ID: <%d.%08x@example.org>\n"
            "List-Id: Developers <dev.lists.example.org>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s\n-- \ndev mailing list\n"
            "dev@lists.example.org\nhttps://lists.example.org/mailman/listinfo/dev\n"
            % (i % 250, random.getrandbits(32), i % 60, i, i, i, i, i,
               random.getrandbits(32), body))
EOF2
for a in withdict nodict; do
    after=50; [ $a = nodict ] && after=0
    printf '[archive]\ndictionary_after = %s\n' $after > "$tmp/$a.conf"
    "$CLAW" --config "$tmp/$a.conf" --archive "$tmp/$a" import --quiet "$tmp/dict/one" &&
        "$CLAW" --config "$tmp/$a.conf" --archive "$tmp/$a" import --quiet "$tmp/dict/two"
    "$CLAW" --config "$tmp/$a.conf" --archive "$tmp/$a" stats --json > "$tmp/$a.json"
done
dict=$(json_field dictionary < "$tmp/withdict.json")
check "dictionary: trained after 50 messages (id $dict)" [ "$dict" -gt 0 ]
rdict=$(json_field record_dictionary < "$tmp/withdict.json")
check "dictionary: and one for the records (id $rdict)" [ "$rdict" -gt 0 ]
# A record stored after it (packed with it) reads back as it was written.
"$CLAW" --archive "$tmp/withdict" search --json 'subject:"fix number 250"' > "$tmp/hit"
check "dictionary: a packed record reads back (subject, sender)" \
    sh -c "grep -q '\"subject\":\"\[PATCH 250/300\] fix number 250\"' '$tmp/hit' &&
           grep -q '\"from\":\"dev250@example.org\"' '$tmp/hit'"
check "dictionary: none when dictionary_after = 0" [ "$(json_field dictionary < "$tmp/nodict.json")" = 0 ]
with=$(json_field stored_bytes < "$tmp/withdict.json")
without=$(json_field stored_bytes < "$tmp/nodict.json")
check "dictionary: the same 300 messages take fewer bytes ($with < $without)" [ "$with" -lt "$without" ]
"$CLAW" --archive "$tmp/withdict" check --deep > "$tmp/check" 2>&1
check "dictionary: check --deep decompresses every message clean" grep -q '^clean$' "$tmp/check"
# Phrases read the texts from part of each message, its frame and header
# across the stream's pieces: with and without the dictionary, the same.
for q in '"please find attached"' '"the log regards"' '"review merged"' '"thanks for the"'; do
    w=$("$CLAW" --config "$tmp/withdict.conf" --archive "$tmp/withdict" search --count "$q")
    wo=$("$CLAW" --config "$tmp/nodict.conf" --archive "$tmp/nodict" search --count "$q")
    check "dictionary: phrase $q finds the same with and without it ($w, $wo)" \
        sh -c "[ '$w' = '$wo' ] && [ '${w:-0}' -gt 0 ]"
done
"$CLAW" --archive "$tmp/withdict" search --ids 'subject:"fix number 250"' > "$tmp/ids"
"$CLAW" --archive "$tmp/withdict" show --raw "$(head -1 "$tmp/ids")" > "$tmp/raw"
check "dictionary: a message compressed with it reads back byte for byte" \
    cmp -s "$tmp/raw" "$tmp/dict/two/cur/250.eml"
"$CLAW" --archive "$tmp/withdict" search --ids 'subject:"fix number 7"' > "$tmp/ids"
"$CLAW" --archive "$tmp/withdict" show --raw "$(head -1 "$tmp/ids")" > "$tmp/raw"
check "dictionary: one stored before it reads back too" cmp -s "$tmp/raw" "$tmp/dict/one/cur/7.eml"

# --- a store of another layout is refused, not misread ------------------------
if command -v mdb_dump > /dev/null && command -v mdb_load > /dev/null; then
    mdb_dump -a "$tmp/nodict/store" > "$tmp/dump"
    # "format" (666f726d6174), "3" (33) today, becomes "1" (31).
    sed '/^ 666f726d6174$/{n;s/^ 3[2-9]$/ 31/}' "$tmp/dump" > "$tmp/dump1"
    grep -q '^ 31$' "$tmp/dump1" || echo "# the format key was not found in the dump"
    mkdir -p "$tmp/old/store"
    mdb_load -f "$tmp/dump1" "$tmp/old/store"
    "$CLAW" --archive "$tmp/old" stats > /dev/null 2> "$tmp/err"; rc=$?
    check "old store format: refused with a clear error" \
        sh -c "[ $rc -ne 0 ] && grep -q 'another version of Clawback' '$tmp/err'"
else
    skip "old store format: refused with a clear error" "no mdb_dump/mdb_load (lmdb-utils)"
fi

# --- the edge-case mbox files of other parsers (when ../shared is here) ---
mb="$srcdir/../shared/corpora/edge/mbox-files"
if [ -d "$mb" ]; then
    for spec in mimekit__content-length.mbox:29 mimekit__unmunged.mbox:2 \
        mimekit__simple.mbox:3 gmime__substring.mbox:3 spamassassin__nice.mbox:3; do
        f=${spec%%:*}; n=${spec##*:}
        rm -rf "$tmp/mb"
        "$CLAW" --config /dev/null --archive "$tmp/mb" import --json --no-index "$mb/$f" > "$tmp/mb.json" 2> /dev/null
        check "mbox $f: $n messages" [ "$(json_field messages < "$tmp/mb.json")" = "$n" ]
    done
else
    skip "edge-case mbox files" "../shared/corpora absent"
fi

# --- words in scripts written without spaces --------------------------------
# A Japanese or Thai clause is one run of letters; ICU's word break
# iterator (libclaw's claw_text_words()) cuts it into words at index and
# at query time alike.
C="$tmp/cjk-archive"
printf 'From: a@b.example\nTo: c@d.example\nSubject: notice\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nMessage-ID: <cjk-1@b.example>\n\n\345\217\243\345\272\247\343\202\222\347\242\272\350\252\215\343\201\227\343\201\246\343\201\217\343\201\240\343\201\225\343\201\204\343\200\202\n\340\270\232\340\270\261\340\270\215\340\270\212\340\270\265\340\270\202\340\270\255\340\270\207\340\270\204\340\270\270\340\270\223\n' > "$tmp/cjk.eml"
"$CLAW" --config /dev/null --archive "$C" import --quiet "$tmp/cjk.eml" > /dev/null
cjk() { "$CLAW" --config /dev/null --archive "$C" search --count "$1" 2>&1; }
kouza=$(printf '\345\217\243\345\272\247')        # 口座, inside 口座を確認してください
kakunin=$(printf '\347\242\272\350\252\215')      # 確認
banchi=$(printf '\340\270\232\340\270\261\340\270\215\340\270\212\340\270\265') # บัญชี
check "a Japanese word inside a clause is found (口座: $(cjk "$kouza"))" [ "$(cjk "$kouza")" = 1 ]
check "...and another (確認: $(cjk "$kakunin"))" [ "$(cjk "$kakunin")" = 1 ]
check "a Thai word inside a clause is found ($(cjk "$banchi"))" [ "$(cjk "$banchi")" = 1 ]
check "a word that is not there is not ($(cjk "$(printf '\346\227\245\346\234\254')"))" \
    [ "$(cjk "$(printf '\346\227\245\346\234\254')")" = 0 ]

# --- auth: believes the site's own servers; authclaim: the rest -----------
# A forged Authentication-Results field claiming dmarc=pass must not be
# found by auth:dmarc=pass.
B="$tmp/auth-archive"
printf '[archive]\npath = %s\n[policy]\ntrusted_authserv_ids = mx.corp.example\n' "$B" > "$tmp/auth.conf"
printf 'Authentication-Results: mx.corp.example; dmarc=pass header.from=corp.example\nFrom: a@corp.example\nSubject: really passed\nMessage-ID: <auth-1@corp.example>\n\nx\n' > "$tmp/auth1.eml"
printf 'Authentication-Results: mx.attacker.example; dmarc=pass header.from=corp.example\nFrom: a@corp.example\nSubject: claims a pass\nMessage-ID: <auth-2@attacker.example>\n\nx\n' > "$tmp/auth2.eml"
printf 'Received-SPF: pass (forged) client-ip=192.0.2.1\nFrom: a@corp.example\nSubject: claims spf\nMessage-ID: <auth-3@attacker.example>\n\nx\n' > "$tmp/auth3.eml"
"$CLAW" --config "$tmp/auth.conf" import --quiet "$tmp/auth1.eml" "$tmp/auth2.eml" "$tmp/auth3.eml" > /dev/null
subjects() { "$CLAW" --config "$tmp/auth.conf" search --json "$1" | "$py" -c 'import json,sys; print(",".join(sorted(json.loads(l)["subject"] for l in sys.stdin)))'; }
check "auth:dmarc=pass finds the trusted server's result only ($(subjects auth:dmarc=pass))" \
    [ "$(subjects auth:dmarc=pass)" = "really passed" ]
check "authclaim:dmarc=pass finds the forged claim ($(subjects authclaim:dmarc=pass))" \
    [ "$(subjects authclaim:dmarc=pass)" = "claims a pass" ]
check "a Received-SPF field is a claim, not the site's result" \
    sh -c "[ \"\$('$CLAW' --config '$tmp/auth.conf' search --count auth:spf=pass)\" = 0 ] && [ \"\$('$CLAW' --config '$tmp/auth.conf' search --count authclaim:spf=pass)\" = 1 ]"

[ "$n_fail" -eq 0 ]
