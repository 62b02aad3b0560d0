#!/bin/sh
# The fence between the MTA side and the archive (DESIGN.md, "Decisions"):
# what each binary and shared object links, read from the built files.
#   claw_exim.so   libc only: it is loaded into every Exim receiving process;
#   libclaw.so     no Xapian, no libstdc++, no LMDB writes, and nothing of
#                  the archive library (which lives in indexer/archive/);
#   claw-scanner   libclaw.so (the public library), not a private copy;
# and no source of libclaw includes a header of the archive library.
. "$srcdir/tests/tools/tap.sh"

# needed FILE: the libraries FILE names (DT_NEEDED), one per line.
needed() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}
# undefined FILE: the dynamic symbols FILE takes from elsewhere.
undefined() {
    nm -D --undefined-only "$1" | awk '{ print $NF }' | sed 's/@.*//'
}

lib="${CLAW_LIB:-$builddir/lib/.libs/libclaw.so}"
if [ ! -f "$lib" ]; then
    fail "libclaw.so built ($lib)"
    exit 1
fi
needed "$lib" > "$tmp/libclaw.needed"
check "libclaw.so links no Xapian ($(tr '\n' ' ' < "$tmp/libclaw.needed"))" \
    sh -c "! grep -q xapian '$tmp/libclaw.needed'"
check "libclaw.so links no libstdc++" sh -c "! grep -q 'libstdc++' '$tmp/libclaw.needed'"
undefined "$lib" > "$tmp/libclaw.undefined"
check "libclaw.so calls nothing that writes LMDB" \
    sh -c "! grep -qE '^mdb_(put|del|drop|cursor_put|cursor_del|env_copy)' '$tmp/libclaw.undefined'"
check "libclaw.so calls nothing of the archive library" \
    sh -c "! grep -qE '^claw_(archive|ingest|index|xapian|record|mbox)_' '$tmp/libclaw.undefined'"

# The sources: libclaw's own files include no header of indexer/.
leaks=$(grep -lE '#include "(claw-archive|claw-ingest|claw_xapian)\.h"' \
    $(find "$srcdir/lib" -name '*.[ch]') 2>/dev/null | tr '\n' ' ')
check "no source in lib/ includes the archive's headers${leaks:+ ($leaks)}" [ -z "$leaks" ]

so="$builddir/plugin/.libs/claw_exim.so"
if [ -f "$so" ]; then
    needed "$so" > "$tmp/plugin.needed"
    check "claw_exim.so links libc only ($(tr '\n' ' ' < "$tmp/plugin.needed"))" \
        [ "$(cat "$tmp/plugin.needed")" = "libc.so.6" ]
else
    skip "claw_exim.so links libc only" "claw_exim.so was not built (exim4-dev)"
fi

scanner="$builddir/plugin/.libs/claw-scanner"
[ -f "$scanner" ] || scanner="$builddir/plugin/claw-scanner"
if [ -f "$scanner" ] && readelf -h "$scanner" > /dev/null 2>&1; then
    needed "$scanner" > "$tmp/scanner.needed"
    check "claw-scanner links libclaw.so" grep -q '^libclaw\.so' "$tmp/scanner.needed"
    check "claw-scanner links no Xapian and no LMDB" \
        sh -c "! grep -qE 'xapian|lmdb' '$tmp/scanner.needed'"
else
    skip "claw-scanner links libclaw.so" "claw-scanner was not built (exim4-dev)"
fi

[ "$n_fail" -eq 0 ]
