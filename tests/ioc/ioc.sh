#!/bin/sh
# The indicator store by hand: claw ioc add, list, show, revoke and import
# of plain lists, against a real archive; what it publishes for the MTA
# (the [ioc] file the engine reads: claw scan judges with it); and the
# inputs it must refuse, whole, with the file and line.
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
A="$tmp/archive"
printf '[archive]\npath = %s\n' "$A" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
published="$A/ioc/active"
# field JSON-FILE EXPR: a Python expression over the parsed file (as j).
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
message() { # message FILE URL: a message whose only link is URL
    printf 'From: a@sender.example\nTo: b@corp.example\nSubject: hello\nMessage-ID: <m@sender.example>\n\nSee %s today.\n' "$2" > "$1"
}

# --- add: each type, given as TYPE:VALUE or guessed -------------------------
claw ioc add --json --reason "kit seen in campaign 7" \
    'url:http://Bad.Example:80/login?x=1#top' evil.example 'host:B%C3%BCcher.example' \
    10.1.2.3/8 192.0.2.7 ceo@Fraud.example \
    E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 \
    '<Abc.123@Mailer.example>' > "$tmp/add.json"; rc=$?
added=$(field "$tmp/add.json" 'j["added"]')
check "ioc add: 8 indicators of 7 types, exit 0 ($added added)" sh -c "[ $rc = 0 ] && [ '$added' = 8 ]"
claw ioc list --json > "$tmp/list.json"
types=$(field "$tmp/list.json" '" ".join(i["type"] for i in j)')
check "...each got its type ($types)" \
    [ "$types" = "url domain host ip ip sender sha256 message-id" ]
values=$(field "$tmp/list.json" '" ".join(i["value"] for i in j)')
check "...each normalised as messages' values are ($values)" [ "$values" = \
    "http://bad.example/login?x=1#top evil.example xn--bcher-kva.example 10.0.0.0/8 192.0.2.7 ceo@fraud.example e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 abc.123@mailer.example" ]
check "...and keeps what was given when it differs" \
    [ "$(field "$tmp/list.json" 'j[0]["given"]')" = "http://Bad.Example:80/login?x=1#top" ]
check "...by whom, why, from where, blocking by default" \
    [ "$(field "$tmp/list.json" '(j[1]["added_by"] == "'"$(id -un)"'", j[1]["reason"], j[1]["source"], j[1]["action"])')" = \
      "(True, 'kit seen in campaign 7', 'cli', 'block')" ]

# --- added again: updated, the same id, what is not given kept ---------------
claw ioc add --json --action quarantine EVIL.example. > "$tmp/again.json"
check "the same indicator again: updated, not added" \
    [ "$(field "$tmp/again.json" '(j["added"], j["updated"], j["ids"])')" = "(0, 1, [2])" ]
claw ioc show --json 2 > "$tmp/show.json"
check "...its action changed, its reason kept" \
    [ "$(field "$tmp/show.json" '(j["action"], j["reason"])')" = "('quarantine', 'kit seen in campaign 7')" ]
claw ioc show evil.example > "$tmp/show.txt"
check "show by value finds it too" grep -q '^Id: *2$' "$tmp/show.txt"
claw ioc show 99 > /dev/null 2> "$tmp/err"; rc=$?
check "show of no such indicator: exit 1, says so" sh -c "[ $rc = 1 ] && grep -q 'no indicator 99' '$tmp/err'"

# --- published for the MTA ----------------------------------------------------
check "the active set is published as an indicator file" \
    grep -qx 'url:http://bad.example/login?x=1#top' "$published"
check "...which the engine reads (claw --check-config)" \
    "$CLAW" --check-config "$tmp/c.conf"
message "$tmp/link.eml" "http://BAD.example/login?x=1#top"
message "$tmp/other.eml" "http://good.example/"
claw scan --json "$tmp/link.eml" > "$tmp/scan.json"
check "a message with the link: URL_IOC, as the MTA judges it" grep -q '"rule":"URL_IOC"' "$tmp/scan.json"
claw scan --json "$tmp/other.eml" > "$tmp/scan2.json"
check "...another link: no URL_IOC" sh -c "! grep -q URL_IOC '$tmp/scan2.json'"

# --- revoked: kept, marked, no longer published ------------------------------
claw ioc revoke 'url:http://bad.example/login?x=1#top' > "$tmp/rev"; rc=$?
check "revoke by value: exit 0, names the id" sh -c "[ $rc = 0 ] && grep -q '^1	revoked' '$tmp/rev'"
check "...no longer published" sh -c "! grep -q 'bad.example' '$published'"
claw scan --json "$tmp/link.eml" > "$tmp/scan.json"
check "...and no longer matches" sh -c "! grep -q URL_IOC '$tmp/scan.json'"
claw ioc list --json > "$tmp/list.json"
check "...but kept in the store, revoked, with by whom" \
    [ "$(field "$tmp/list.json" '(len(j), j[0]["state"], j[0]["revoked_by"] is not None)')" = "(8, 'revoked', True)" ]
claw ioc add 'url:http://bad.example/login?x=1#top' > /dev/null
check "added again, it is in force again" grep -qx 'url:http://bad.example/login?x=1#top' "$published"
claw ioc revoke 12345 > /dev/null 2>&1; rc=$?
check "revoke of no such indicator: exit 1" [ $rc = 1 ]

# --- validity: expired and pending ones are kept, not published ---------------
claw ioc add --expires 2020-01-01 old.example > /dev/null
claw ioc add --from 30d later.example > /dev/null
claw ioc add --expires 7d soon.example > /dev/null
claw ioc list > "$tmp/list.txt"
check "an indicator past its end: expired" grep -q 'domain	block	expired	old.example' "$tmp/list.txt"
check "one not yet valid: pending" grep -q 'domain	block	pending	later.example' "$tmp/list.txt"
check "...neither published, the one in force is" \
    sh -c "! grep -qE 'old.example|later.example' '$published' && grep -qx 'domain:soon.example' '$published'"
claw ioc add --action hunt hunted.example > /dev/null
claw ioc add --action tag tagged.example > /dev/null
check "one only to be hunted is not the MTA's: not published" \
    sh -c "! grep -q 'hunted.example' '$published'"
check "...one that tags is, with its action before it" grep -qx 'tag domain:tagged.example' "$published"
message "$tmp/tagged.eml" "https://www.tagged.example/x"
claw scan --json "$tmp/tagged.eml" > "$tmp/scan.json"
check "...and the engine tags a message with it: verdict tag, URL_IOC at the tag threshold" \
    [ "$(field "$tmp/scan.json" '(j["action"], [(r["rule"], r["score"]) for r in j["rules"]])')" = \
      "('tag', [('URL_IOC', 4)])" ]
claw ioc list --active > "$tmp/active.txt"
check "list --active lists only those in force" sh -c "! grep -qE 'expired|pending|revoked' '$tmp/active.txt' && grep -q soon.example '$tmp/active.txt'"

# --- wrong input: refused whole ----------------------------------------------
n_before=$(claw ioc list | wc -l)
claw ioc add good.example 'sha256:xyz' > /dev/null 2> "$tmp/err"; rc=$?
n_after=$(claw ioc list | wc -l)
check "add with one bad value: exit 65, says which, adds none" \
    sh -c "[ $rc = 65 ] && grep -q \"'sha256:xyz': not 64 hexadecimal digits\" '$tmp/err' && [ $n_after = $n_before ]"
claw ioc add --type ip 'not-an-ip' > /dev/null 2> "$tmp/err"; rc=$?
check "a value that is not its type: 65" [ $rc = 65 ]
claw ioc add --type colour red > /dev/null 2> "$tmp/err"; rc=$?
check "an unknown type: usage error 64" [ $rc = 64 ]
claw ioc add --action destroy x.example > /dev/null 2> "$tmp/err"; rc=$?
check "an unknown action: 64" [ $rc = 64 ]
claw ioc add --expires tomorrowish x.example > /dev/null 2> "$tmp/err"; rc=$?
check "a time that is not one: 64, saying what is expected" \
    sh -c "[ $rc = 64 ] && grep -q 'expected a date' '$tmp/err'"
claw ioc frob > /dev/null 2>&1; rc=$?
check "an unknown subcommand: 64" [ $rc = 64 ]

# --- import of plain lists: all or nothing ----------------------------------
"$py" - "$tmp/feed.txt" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# a feed\n\n")
    for i in range(5000):
        f.write("url:http://phish-%d.example/pay # campaign 9\n" % i)
    f.write("host:cdn.phish.example\nip:198.51.100.0/24\n")
EOF
claw ioc import --json --action quarantine "$tmp/feed.txt" > "$tmp/imp.json"; rc=$?
added=$(field "$tmp/imp.json" 'j["added"]')
check "import of 5,002 lines (comments and blanks skipped): exit 0 ($added added)" \
    sh -c "[ $rc = 0 ] && [ '$added' = 5002 ]"
claw ioc show --json 'url:http://phish-4999.example/pay' > "$tmp/one.json"
check "...each with the file as source and the import's action" \
    [ "$(field "$tmp/one.json" '(j["source"], j["action"])')" = "('file:$tmp/feed.txt', 'quarantine')" ]
check "...all published, asking to quarantine" \
    [ "$(grep -c '^quarantine url:http://phish-' "$published")" = 5000 ]
printf 'tag domain:line-tag.example\nhunt domain:line-hunt.example\nline-plain.example\n' > "$tmp/words.txt"
claw ioc import --action quarantine "$tmp/words.txt" > /dev/null
claw ioc list > "$tmp/list.txt"
check "a line's own action stands over the import's --action" \
    sh -c "grep -q 'domain	tag	active	line-tag.example' '$tmp/list.txt' &&
           grep -q 'domain	hunt	active	line-hunt.example' '$tmp/list.txt' &&
           grep -q 'domain	quarantine	active	line-plain.example' '$tmp/list.txt'"
n_before=$(claw ioc list | wc -l)
{ printf 'url:http://fine.example/\nhost:fine.example\n'; printf 'url:/relative/only\n'; } > "$tmp/bad.txt"
claw ioc import "$tmp/bad.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "a list with a bad line: 65, naming the file and line" \
    sh -c "[ $rc = 65 ] && grep -q '$tmp/bad.txt:3: ' '$tmp/err'"
check "...and nothing of it imported" [ "$(claw ioc list | wc -l)" = "$n_before" ]
printf 'url:http://x.example/\0\n' > "$tmp/nul.txt"
claw ioc import "$tmp/nul.txt" > /dev/null 2>&1; rc=$?
check "a list with a NUL byte: refused (65)" [ $rc = 65 ]
head -c 70000 /dev/zero | tr '\0' a > "$tmp/long.txt"
claw ioc import --type domain "$tmp/long.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "a line of 70,000 bytes: refused (65), naming the line" \
    sh -c "[ $rc = 65 ] && grep -q 'long.txt:1: a line longer than' '$tmp/err'"
truncate -s 300M "$tmp/huge.txt"
claw ioc import "$tmp/huge.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "a 300 MB file: refused before it is read (65)" \
    sh -c "[ $rc = 65 ] && grep -q 'more than an import takes' '$tmp/err'"
claw ioc import "$tmp/missing.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "a missing file: 65, names it" sh -c "[ $rc = 65 ] && grep -q 'missing.txt' '$tmp/err'"

# --- what an indicator asks, as the engine does it -----------------------------
# An [ioc] file of the site's own, beside the published set: a line may begin
# with its action; without one it blocks.
cat > "$tmp/own.txt" <<'EOF'
tag url:http://asks.example/tag
quarantine url:http://asks.example/quarantine
url:http://asks.example/block
hunt url:http://asks.example/hunt
tag url:http://asks.example/both
url:http://asks.example/both
EOF
printf '[ioc]\nfiles = %s\n[weights]\nURL_IOC = 3\n' "$tmp/own.txt" > "$tmp/own.conf"
asked() { # asked PATH: the verdict and URL_IOC's score for a link to asks.example/PATH
    message "$tmp/asks.eml" "http://asks.example/$1"
    "$CLAW" --config "$tmp/own.conf" scan --json "$tmp/asks.eml" > "$tmp/asks.json"
    field "$tmp/asks.json" '(j["action"], [r["score"] for r in j["rules"] if r["rule"] == "URL_IOC"])'
}
check "[ioc] file: 'tag' tags, the rule at its weight (3, under the threshold)" [ "$(asked tag)" = "('tag', [3])" ]
check "...'quarantine' quarantines" [ "$(asked quarantine)" = "('quarantine', [3])" ]
check "...no action blocks: reject, whatever URL_IOC weighs" [ "$(asked block)" = "('reject', [3])" ]
check "...'hunt' is left to the archive: no URL_IOC" [ "$(asked hunt)" = "('accept', [])" ]
check "...one value twice asks the stronger" [ "$(asked both)" = "('reject', [3])" ]
printf '[ioc]\nfiles = %s\n[weights]\nURL_IOC = 0\n' "$tmp/own.txt" > "$tmp/own.conf"
check "...a rule weighted 0 is silenced with what its indicators ask" [ "$(asked block)" = "('accept', [])" ]
printf 'frob url:http://asks.example/x\n' > "$tmp/own.txt"
"$CLAW" --check-config "$tmp/own.conf" > /dev/null 2> "$tmp/err"; rc=$?
check "...an unknown first word is no action: the line is not TYPE:VALUE (exit 78)" \
    sh -c "[ $rc = 78 ] && grep -q 'own.txt:1: expected TYPE:VALUE' '$tmp/err'"

# --- another archive named on the command line: published in it ---------------
"$CLAW" --config "$tmp/c.conf" --archive "$tmp/other" ioc add other-archive.example > /dev/null
check "claw --archive DIR publishes in DIR, not in [archive] path" \
    sh -c "grep -qx 'domain:other-archive.example' '$tmp/other/ioc/active' && ! grep -q other-archive '$published'"

# --- many writers at once: every change kept and published -------------------
for i in 1 2 3 4 5 6 7 8; do claw ioc add "par-$i.example" > /dev/null & done
wait
check "8 claw ioc add at once: all 8 stored" [ "$(claw ioc list | grep -c 'par-[1-8].example')" = 8 ]
check "...and all 8 in the published set" [ "$(grep -c '^domain:par-[1-8].example' "$published")" = 8 ]
check "...no half-written file left beside it" sh -c "! ls '$A/ioc' | grep -q '\.new'"

# --- clawd keeps the MTA's copy current ------------------------------------------
. "$srcdir/tests/tools/daemon-lib.sh"
: "${CLAWD:=$builddir/indexer/clawd}"
printf '[clawd]\nsocket = %s\n' "$tmp/clawd.sock" >> "$tmp/c.conf"
# until_published [!] PATTERN: wait up to 15 s for the published set to hold
# a line matching PATTERN (with !, to hold none).
until_published() {
    up_not=false
    [ "$1" = "!" ] && { up_not=true; shift; }
    up_end=$(( $(date +%s) + 15 ))
    while [ "$(date +%s)" -le "$up_end" ]; do
        if grep -q "$1" "$published" 2>/dev/null; then $up_not || return 0; else $up_not && return 0; fi
        sleep 0.2
    done
    return 1
}
rm -f "$published"
if clawd_start "$tmp/c.conf" "$tmp/clawd.sock"; then
    check "clawd publishes the set when it starts" until_published '^domain:soon.example$'
    claw ioc add --expires 3s brief.example > /dev/null
    claw ioc add --from 3s later-on.example > /dev/null
    check "an indicator published at once when added" until_published '^domain:brief.example$'
    check "...not one whose validity has not begun" sh -c "! grep -q later-on.example '$published'"
    check "clawd publishes again when one ends (no command to see it)" until_published ! 'brief.example'
    check "...and when one begins" until_published '^domain:later-on.example$'
    rm -f "$published"
    check "a published copy removed is written again" until_published '^domain:later-on.example$'
    kill -TERM $pid
    wait $pid
    check "clawd stops cleanly" [ $? = 0 ]
else
    fail "clawd starts"
fi

[ "$n_fail" -eq 0 ]
