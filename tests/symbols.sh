#!/bin/sh
# libclaw exports exactly the functions its public header declares.
. "$srcdir/tests/tap.sh"
lib="${CLAW_LIB:-$builddir/lib/.libs/libclaw.so}"
if [ ! -f "$lib" ]; then
    fail "libclaw.so built ($lib)"
    exit 1
fi
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sed 's/@.*//' | sort > "$tmp/exported"
tr '\n' ' ' < "$srcdir/lib/claw.h" | sed 's/;/;\n/g' | grep 'CLAW_PUBLIC' |
    sed -n 's/.*[ *]\(claw_[a-z0-9_]*\)(.*/\1/p' | sort -u > "$tmp/declared"
check "the header declares functions" [ -s "$tmp/declared" ]
if diff "$tmp/declared" "$tmp/exported" > "$tmp/diff"; then
    ok "exported symbols match claw.h ($(wc -l < "$tmp/declared") functions)"
else
    fail "exported symbols match claw.h"
    sed 's/^/#  /' "$tmp/diff"
fi
if nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -q '^_claw_'; then
    fail "no _claw_ helper is exported"
else
    ok "no _claw_ helper is exported"
fi
[ "$n_fail" -eq 0 ]
