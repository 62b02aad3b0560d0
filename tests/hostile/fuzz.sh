#!/bin/sh
# Coverage-guided fuzzing of claw_message_parse with libFuzzer under ASan
# and UBSan: first a replay of every saved input in tests/hostile/regressions (each
# was once a crash), then CLAW_FUZZ_SECONDS (default 60) of fuzzing seeded
# with the fixtures. A crash fails the test and leaves its input in
# tests/logs/ — add it to tests/hostile/regressions once fixed.
# `make fuzz` runs the same for 10 minutes. Skips without clang's libFuzzer.
. "$srcdir/tests/tools/tap.sh"
cc="${CLAW_FUZZ_CC:-clang}"
if ! command -v "$cc" > /dev/null; then
    skip "fuzzing" "no $cc (apt-get install clang libclang-rt-14-dev)"
    exit 0
fi
build="$(cd "$builddir" && pwd)/tests/fuzz-build"
src=$(cd "$top_srcdir" && pwd)
mkdir -p "$build" "$build/corpus"
# libclaw's own sources (lib/include.am), not the archive's.
lib_sources=$(sed -n '/^lib_libclaw_la_SOURCES/,/^$/p' "$src/lib/include.am" |
    grep -o 'lib/[a-z_/-]*\.c' | sed "s|^|$src/|")
# shellcheck disable=SC2086
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$(cd "$builddir" && pwd)" -I"$src/lib" $CLAW_FUZZ_CFLAGS $lib_sources \
        "$src/tests/hostile/fuzz-parse.c" $CLAW_FUZZ_LIBS -o "$build/fuzz-parse" > "$tmp/cc.log" 2>&1; then
    if grep -q "libclang_rt.fuzzer\|fsanitize=fuzzer" "$tmp/cc.log"; then
        skip "fuzzing" "$cc has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
        exit 0
    fi
    fail "build the fuzz target"
    sed 's/^/#  /' "$tmp/cc.log" | tail -20
    exit 1
fi
ok "build the fuzz target with libFuzzer, ASan and UBSan"

opts="-max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$tmp/"
# shellcheck disable=SC2086
if "$build/fuzz-parse" $opts "$srcdir"/tests/hostile/regressions/* > "$tmp/replay.log" 2>&1; then
    ok "replay of $(ls "$srcdir"/tests/hostile/regressions | wc -l) saved crash inputs"
else
    fail "replay of saved crash inputs"
    grep -E "ERROR|runtime error|SUMMARY" "$tmp/replay.log" | head -10 | sed 's/^/#  /'
fi

secs="${CLAW_FUZZ_SECONDS:-60}"
# shellcheck disable=SC2086
"$build/fuzz-parse" $opts -max_total_time="$secs" -print_final_stats=1 \
    "$build/corpus" "$srcdir/tests/fixtures" "$srcdir/tests/hostile/regressions" > "$tmp/fuzz.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log")
if [ $rc -eq 0 ]; then
    ok "fuzzing for ${secs}s: ${runs:-?} inputs, no crash, leak or UB"
else
    fail "fuzzing for ${secs}s found a problem (exit $rc)"
    grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$tmp/fuzz.log" | head -10 | sed 's/^/#  /'
    mkdir -p "$builddir/tests/logs"
    cp "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* "$builddir/tests/logs/" 2>/dev/null
fi
[ "$n_fail" -eq 0 ]
