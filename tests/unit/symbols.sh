#!/bin/sh
# libclaw exports exactly the functions its public header declares.
. "$srcdir/tests/tools/tap.sh"
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
# The rspamd module declares libclaw through LuaJIT FFI: only opaque
# handles and functions, never a struct's layout (its fields would silently
# go wrong when the library changes), and only functions claw.h declares.
lua="$srcdir/plugin/rspamd/clawback.lua"
sed -n '/^ffi\.cdef \[\[/,/^\]\]/p' "$lua" > "$tmp/cdef"
check "clawback.lua has an ffi.cdef block" [ -s "$tmp/cdef" ]
if grep -n '[{}]' "$tmp/cdef" > "$tmp/layout"; then
    fail "clawback.lua's ffi.cdef lays out no struct, union or enum"
    sed 's/^/#  /' "$tmp/layout"
else
    ok "clawback.lua's ffi.cdef lays out no struct, union or enum"
fi
grep '^typedef' "$tmp/cdef" | grep -Ev '^typedef struct (claw_[a-z]+) \1_t;$' > "$tmp/typedefs"
check "clawback.lua's typedefs are opaque claw_*_t handles ($(tr '\n' ' ' < "$tmp/typedefs"))" \
    [ ! -s "$tmp/typedefs" ]
tr '\n' ' ' < "$tmp/cdef" | sed 's/;/;\n/g' | sed -n 's/.*[ *]\(claw_[a-z0-9_]*\)(.*/\1/p' |
    sort -u > "$tmp/lua-calls"
undeclared=$(comm -23 "$tmp/lua-calls" "$tmp/declared" | tr '\n' ' ')
check "clawback.lua declares functions" [ -s "$tmp/lua-calls" ]
check "every function clawback.lua declares is in claw.h${undeclared:+ (not: $undeclared)}" \
    [ -z "$undeclared" ]
# claw-scanner uses the installed libclaw.so through claw.h, not a copy of
# the library's objects with its hidden helpers (lib/libclaw-internal.la).
scanner="$builddir/plugin/.libs/claw-scanner"
[ -f "$scanner" ] || scanner="$builddir/plugin/claw-scanner"
if [ -f "$scanner" ]; then
    check "claw-scanner needs libclaw.so" \
        sh -c "readelf -d '$scanner' | grep -q 'NEEDED.*\\[libclaw\\.so\\.'"
    nm --defined-only "$scanner" | awk '{ print $3 }' | grep '^_\{0,1\}claw_' > "$tmp/scanner-own"
    check "claw-scanner holds no libclaw code of its own ($(head -3 "$tmp/scanner-own" | tr '\n' ' '))" \
        [ ! -s "$tmp/scanner-own" ]
    check "claw-scanner's source includes claw.h, not claw-private.h" \
        sh -c "! grep -q 'claw-private.h' '$srcdir/plugin/scanner/claw-scanner.c'"
fi
# claw_exim.so (where Exim is built for) exports its entry points and
# nothing else, and claw_exim(8) documents each of them.
so="$builddir/plugin/.libs/claw_exim.so"
if [ -f "$so" ]; then
    nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort > "$tmp/plugin"
    check "claw_exim.so exports only its entry points ($(tr '\n' ' ' < "$tmp/plugin"))" \
        [ "$(tr '\n' ' ' < "$tmp/plugin")" = "claw_preload claw_scan local_scan local_scan_version_major local_scan_version_minor " ]
    undocumented=""
    for f in $(grep -v '^local_scan_version' "$tmp/plugin"); do
        grep -q "$f" "$srcdir/plugin/exim/claw_exim.8.in" || undocumented="$undocumented $f"
    done
    check "claw_exim(8) documents every entry point${undocumented:+ (not:$undocumented)}" \
        [ -z "$undocumented" ]
    # It is loaded in every Exim receiving process: libc only, though it
    # compiles libclaw's option table (config.c, net.c, rules.c) in.
    needed=$(objdump -p "$so" | awk '$1 == "NEEDED" { print $2 }' | tr '\n' ' ')
    check "claw_exim.so needs only libc ($needed)" [ "$needed" = "libc.so.6 " ]
    nm -D --undefined-only "$so" | awk '{ print $2 }' | grep -E '^(g_|_?claw_|gmime)' > "$tmp/plugin-undef"
    check "claw_exim.so leaves no GLib or libclaw symbol to resolve ($(tr '\n' ' ' < "$tmp/plugin-undef"))" \
        [ ! -s "$tmp/plugin-undef" ]
fi
[ "$n_fail" -eq 0 ]
