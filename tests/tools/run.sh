#!/bin/sh
# The test runner: runs each test (a program or script printing TAP lines:
# "ok - name", "not ok - name", "ok - name # SKIP why"), two at a time,
# keeps each one's output in tests/logs/NAME.log and ends with the line
#   N passed, N failed, N skipped
# A test that exits non-zero without reporting a failure counts as one.
#
# Environment (set by `make check`): CLAW, CLAW_UNIT, srcdir, builddir.
set -u
: "${srcdir:=.}" "${builddir:=.}"
logdir="$builddir/tests/logs"

run_one() {
    t="$1"
    # T=tests/hostile/bombs.sh from a build directory names the source's.
    [ -e "$t" ] || [ ! -e "$srcdir/$t" ] || t="$srcdir/$t"
    name=$(basename "$t" | sed 's/\.[a-z]*$//')
    log="$logdir/$name.log"
    start=$(date +%s)
    case "$t" in
        *.sh) sh "$t" > "$log" 2>&1 ;;
        *.py) python3 "$t" > "$log" 2>&1 ;;
        *) "$t" > "$log" 2>&1 ;;
    esac
    rc=$?
    p=$(grep -c '^ok ' "$log")
    s=$(grep -c '^ok .*# SKIP' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name exited with status $rc" >> "$log"
        f=1
    fi
    echo "# exit $rc after $(( $(date +%s) - start ))s" >> "$log"
    p=$((p - s))
    status=PASS
    [ "$f" -gt 0 ] && status=FAIL
    [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && status=SKIP
    printf '%s: %s (%s passed, %s failed, %s skipped, %ss)\n' "$status" "$name" "$p" "$f" "$s" \
        "$(( $(date +%s) - start ))"
    if [ "$f" -gt 0 ]; then
        grep '^not ok ' "$log" | head -20 | sed 's/^/    /'
        echo "    (log: $log)"
    fi
    echo "$p $f $s" > "$log.counts"
}

if [ "${1:-}" = "--one" ]; then
    run_one "$2"
    exit 0
fi

# Logs are named by the test's file name alone, in whichever folder it is:
# two tests of one name would overwrite each other's log and counts.
twins=$(for t in "$@"; do basename "$t" | sed 's/\.[a-z]*$//'; done | sort | uniq -d | tr '\n' ' ')
if [ -n "$twins" ]; then
    echo "run.sh: two tests share a name, and so a log: $twins" >&2
    exit 2
fi
mkdir -p "$logdir"
rm -f "$logdir"/*.counts
# A test that rebuilds or relinks what others run (install.sh: make
# install relinks claw's modules in place, and a claw starting meanwhile
# reads a half-written one) runs alone, after the rest.
alone() { case "$1" in */install.sh) return 0 ;; esac; return 1; }
for t in "$@"; do alone "$t" || echo "$t"; done | xargs -P "${CLAW_TEST_JOBS:-2}" -I{} sh "$0" --one {}
for t in "$@"; do if alone "$t"; then sh "$0" --one "$t"; fi; done

passed=0 failed=0 skipped=0 ran=0
for t in "$@"; do
    name=$(basename "$t" | sed 's/\.[a-z]*$//')
    if [ -f "$logdir/$name.log.counts" ]; then
        read -r p f s < "$logdir/$name.log.counts"
    else
        p=0 f=1 s=0
        echo "FAIL: $name did not report"
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
