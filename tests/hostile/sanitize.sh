#!/bin/sh
# Build libclaw and claw with AddressSanitizer (and LeakSanitizer) and
# UndefinedBehaviorSanitizer in a build directory of their own, then run the
# unit tests, the golden tests, the bombs, the corpus sweep, the archive
# tests (index-faults and the soak too) and the indicator store's under
# them, and Exim's tests with the sanitized scanner (exim, exim-ioc, dmarc:
# whose claw scan part runs the sanitized claw).
# Any sanitizer report fails the test (UBSan is built not to recover).
. "$srcdir/tests/tools/tap.sh"
if [ -n "${CLAW_SANITIZED:-}" ]; then
    skip "sanitizer build" "this build is already sanitized"
    exit 0
fi
san="$(cd "$builddir" && pwd)/tests/san-build"
src=$(cd "$top_srcdir" && pwd)
mkdir -p "$san"
# configure refuses a second build of a source tree that is configured in
# place (./configure && make check). Then the sanitizer build configures a
# clean copy of the sources, the one `make distdir` writes, so the two
# builds never share an object or a Makefile.
if [ -f "$src/config.status" ] && [ ! -f "$san/Makefile" ]; then
    rm -rf "$san/src"
    if ! make -C "$builddir" distdir distdir="$san/src" > "$tmp/distdir.log" 2>&1; then
        fail "copy the sources for the sanitizer build (make distdir)"
        tail -20 "$tmp/distdir.log" | sed 's/^/#  /'
        exit 1
    fi
    src="$san/src"
    mkdir -p "$san/build"
    san="$san/build"
elif [ -f "$san/build/Makefile" ]; then
    src="$san/src"
    san="$san/build"
fi
# The main build's sysconfdir: the sanitized scanner is run by the main
# build's plugin, and both must take the same file for the default.
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$builddir/Makefile")
if [ ! -f "$san/Makefile" ]; then
    (cd "$san" && "$src/configure" -q --enable-asan --enable-ubsan ${sysconfdir:+--sysconfdir="$sysconfdir"} \
        CFLAGS="-O1 -g") \
        > "$tmp/configure.log" 2>&1 || { fail "configure the sanitizer build"; cat "$tmp/configure.log"; exit 1; }
fi
if ! make -C "$san" -j2 search/claw search/claw-mail.la search/claw-archive.la search/claw-ioc.la \
    search/claw-serve.la indexer/clawd plugin/claw-journal \
    tests/unit/unit > "$tmp/make.log" 2>&1; then
    fail "build with ASan and UBSan"
    tail -30 "$tmp/make.log" | sed 's/^/#  /'
    exit 1
fi
ok "build with ASan and UBSan"
# The Exim plugin's scanner too, where Exim is built for: exim.sh then runs
# its requests, the bombs included, through a sanitized claw-scanner.
scanner=""
if [ -f "$builddir/plugin/.libs/claw_exim.so" ]; then
    if make -C "$san" -j2 plugin/claw-scanner > "$tmp/make-scanner.log" 2>&1; then
        scanner="$san/plugin/claw-scanner"
    else
        fail "build claw-scanner with ASan and UBSan"
        tail -30 "$tmp/make-scanner.log" | sed 's/^/#  /'
    fi
fi

export CLAW_SANITIZED=1
# Reports of every process (clawd runs in the background, the scanner as
# Exim's user) go to files too.
mkdir -p "$tmp/reports"
chmod 755 "$tmp"
chmod 1777 "$tmp/reports"
# intercept_tls_get_addr=0: GCC 12's LeakSanitizer keeps its own list of
# dynamic TLS blocks by watching __tls_get_addr, and with glibc 2.36 an
# entry of it is sometimes garbage ("DTLS 5 at 0xa6-0x4000011a8" in
# verbosity=1); its stop-the-world then dies on it ("Tracer caught signal
# 11"), in claw import about one run in two. Without the watch, LSan does
# not scan dynamic TLS for pointers, which could only add false leak
# reports, never hide one. log_exe_name: the report says which program.
# verify_asan_link_order=0: index-faults.sh and soak.sh preload their
# write-fault shim ahead of the ASan runtime; the shim only passes writes
# on (or fails them), so the order does not matter.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$tmp/reports/asan:log_exe_name=1:intercept_tls_get_addr=0:verify_asan_link_order=0"
export LSAN_OPTIONS="suppressions=$(cd "$srcdir" && pwd)/tests/hostile/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$tmp/reports/ubsan:log_exe_name=1"
export CLAW="$san/search/claw" CLAW_UNIT="$san/tests/unit/unit" CLAWD="$san/indexer/clawd"
export CLAW_JOURNAL="$san/plugin/claw-journal"

"$CLAW_UNIT" > "$tmp/unit.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && ! grep -qE "Sanitizer|runtime error" "$tmp/unit.log"; then
    ok "unit tests under sanitizers ($(grep -c '^ok' "$tmp/unit.log") checks)"
else
    fail "unit tests under sanitizers (exit $rc)"
    grep -E "^not ok|Sanitizer|runtime error|SUMMARY" "$tmp/unit.log" | head -20 | sed 's/^/#  /'
fi
for t in golden/golden hostile/bombs hostile/corpus archive/archive archive/clawd archive/lmtp-limits \
    archive/clawd-tls archive/index-faults archive/soak ioc/ioc ioc/hunt ioc/feeds ioc/rules archive/audit archive/hold \
    archive/purge archive/retention archive/clawback-auto archive/query-service mta/claw-journal mta/dovecot-purge; do
    sh "$srcdir/tests/$t.sh" 2>&1 | sed "s/^ok - /ok - asan+ubsan: /; s/^not ok - /not ok - asan+ubsan: /"
done
if [ -n "$scanner" ]; then
    for t in exim exim-ioc dmarc; do
        CLAW_SCANNER_BIN=$scanner CLAW_LIB="$san/lib/.libs/libclaw.so" sh "$srcdir/tests/mta/$t.sh" 2>&1 |
            sed "s/^ok - /ok - asan+ubsan scanner: /; s/^not ok - /not ok - asan+ubsan scanner: /"
    done
fi
if [ -z "$(ls "$tmp/reports")" ]; then
    ok "no sanitizer report from any process (claw, clawd${scanner:+, claw-scanner})"
else
    fail "sanitizer reports:"
    head -40 "$tmp"/reports/* | sed 's/^/#  /'
fi
