#!/bin/sh
# Legal holds by hand: claw hold add (a query, or an address as every
# address field and the envelope), list with the messages each holds now,
# release (kept, marked); the names and queries refused; each change in the
# audit log. (Purge plans and retention, which must respect holds, come
# with issue 22 and are tested there.)
. "$srcdir/tests/tools/tap.sh"
py="${PYTHON3:-python3}"
A="$tmp/archive"
printf '[archive]\npath = %s\n' "$A" > "$tmp/c.conf"
claw() { "$CLAW" --config "$tmp/c.conf" "$@"; }
field() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

mkdir -p "$tmp/md/cur" "$tmp/md/new" "$tmp/md/tmp"
mail() { # mail N FROM TO SUBJECT
    printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s@hold.example>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\nbody %s\n' \
        "$2" "$3" "$4" "$1" "$1" > "$tmp/md/cur/$1:2,S"
}
mail 1 ceo@corp.example board@corp.example "merger plans"
mail 2 partner@supplier.example ceo@corp.example "invoice 7"
mail 3 news@list.example staff@corp.example "weekly news"
mail 4 partner@supplier.example finance@corp.example "merger invoice"
claw import --quiet "$tmp/md" > /dev/null

claw hold add --reason "case 2026-17" merger subject:merger > "$tmp/out"; rc=$?
check "hold add by query: exit 0, says how many it holds now (2)" \
    sh -c "[ $rc = 0 ] && grep -qx 'hold 1 (merger): 2 messages held now' '$tmp/out'"
claw hold add --json supplier --address Partner@Supplier.example > "$tmp/add.json"; rc=$?
check "hold add by address: every message from or to it (2)" \
    [ "$rc $(field "$tmp/add.json" '(j["id"], j["held_now"])')" = "0 (2, 2)" ]
claw hold add --address ceo@corp.example ceo > /dev/null
claw hold list > "$tmp/list"
check "hold list: the three in force, with what each holds now" \
    [ "$(cut -f1-5 "$tmp/list")" = "1	merger	in force	2	query:subject:merger
2	supplier	in force	2	address:partner@supplier.example
3	ceo	in force	2	address:ceo@corp.example" ]

# --- refused ----------------------------------------------------------------------
claw hold add merger subject:other > /dev/null 2> "$tmp/err"; rc=$?
check "a second hold named like one in force: refused (65), says so" \
    sh -c "[ $rc = 65 ] && grep -q \"a hold named 'merger' is in force already\" '$tmp/err'"
claw hold add 'bad name' subject:x > /dev/null 2> "$tmp/err"; rc=$?
check "a name with a space: refused (65)" sh -c "[ $rc = 65 ] && grep -q 'letters, digits' '$tmp/err'"
claw hold add 7up subject:x > /dev/null 2>&1; rc=$?
check "a name starting with a digit (it would read as an id): refused (65)" [ $rc = 65 ]
claw hold add broken 'subject:(unclosed' > /dev/null 2> "$tmp/err"; rc=$?
check "a query the index cannot ask: refused (65), nothing added" \
    sh -c "[ $rc = 65 ] && grep -q 'nothing added' '$tmp/err' && [ \$('$CLAW' --config '$tmp/c.conf' hold list | wc -l) = 3 ]"
claw hold add nobody --address 'not an address' > /dev/null 2>&1; rc=$?
check "an address that is not one: refused (65)" [ $rc = 65 ]
claw hold add onlyname > /dev/null 2>&1; rc=$?
check "neither query nor address: usage error (64)" [ $rc = 64 ]

# --- release: kept, marked; the name free again --------------------------------
claw hold release supplier > "$tmp/out"; rc=$?
check "release by name: exit 0" sh -c "[ $rc = 0 ] && grep -qx 'hold 2 released' '$tmp/out'"
claw hold release 3 > /dev/null; rc=$?
check "release by id: exit 0" [ $rc = 0 ]
claw hold release supplier > /dev/null 2> "$tmp/err"; rc=$?
check "release of one no longer in force: 1, says so" \
    sh -c "[ $rc = 1 ] && grep -q \"no hold in force named or numbered 'supplier'\" '$tmp/err'"
check "list: only the one in force" [ "$(claw hold list | cut -f2)" = merger ]
claw hold list --all --json > "$tmp/all.json"
check "list --all --json: released ones kept, marked with when and by whom" \
    [ "$(field "$tmp/all.json" '[(h["name"], h["released"] is not None, h["held_now"]) for h in j]')" = \
      "[('merger', False, 2), ('supplier', True, None), ('ceo', True, None)]" ]
claw hold add --address partner@supplier.example supplier > /dev/null; rc=$?
check "a released hold's name can be used again (a new id)" \
    sh -c "[ $rc = 0 ] && '$CLAW' --config '$tmp/c.conf' hold list | grep -q '^4	supplier	'"

# --- audited ----------------------------------------------------------------------
claw audit log > "$tmp/audit"
check "each add and release in the audit log, in order" \
    [ "$(cut -f4 "$tmp/audit" | tr '\n' ' ')" = "hold.add hold.add hold.add hold.release hold.release hold.add " ]
check "...with what it holds and why" \
    grep -q "	hold.add	name=merger query=subject:merger reason=case 2026-17	hold=1$" "$tmp/audit"
check "...and the chain intact" "$CLAW" --config "$tmp/c.conf" audit verify

[ "$n_fail" -eq 0 ]
