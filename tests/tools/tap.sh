# tap.sh - sourced by the shell tests: TAP output helpers.
# ok/fail print one result line; check runs a command and reports it.
n_fail=0
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; n_fail=$((n_fail + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }
check() { # check NAME COMMAND...
    name="$1"; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}
# Where things are: set by `make check`, or guessed for a by-hand run from
# the build directory.
: "${srcdir:=.}" "${builddir:=.}"
: "${CLAW:=$builddir/search/claw}"
: "${CLAW_UNIT:=$builddir/tests/unit/unit}"
export LC_ALL=C.UTF-8
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# kill_randomly SENDER MAX RESTART: while process SENDER runs, kill -9 the
# daemon in $pid at random moments (up to MAX times), each time running
# RESTART (which sets $pid again); leaves the count in $kills.
kill_randomly() {
    kills=0
    while kill -0 "$1" 2>/dev/null && [ $kills -lt "$2" ]; do
        sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
        kill -9 $pid 2>/dev/null && kills=$((kills + 1))
        wait $pid 2>/dev/null
        $3
    done
}
