#!/bin/sh
# make quality: how the classifier judges real mail, written to
# tests/bench/results/:
#   quality.txt    the shared ham, spam and phishing corpora with the built-in
#                  defaults (tests/bench/quality.py), side by side with rspamd 3.4's
#                  stock rules on the same messages when rspamd is installed
#                  and we are root (tests/mta/rspamd-lib.sh; CLAW_RSPAMD=no skips);
#   lookalike.txt  every dnstwist permutation of 20 real domains, and the
#                  distinct sender domains of the ham corpora
#                  (tests/bench/quality-lookalike.py; needs dnstwist).
set -eu
: "${srcdir:=.}" "${builddir:=.}"
corpora="${CLAW_CORPORA:-$srcdir/../shared/corpora}"
results="${CLAW_QUALITY_DIR:-$srcdir/tests/bench/results}"
. "$srcdir/tests/bench/bench-lib.sh"
. "$srcdir/tests/mta/rspamd-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/claw-quality.XXXXXX")
trap 'rspamd_stop; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpora" "$results"
unpack_corpora "$tmp/corpora" ham-trec07p ham-linux-mips-lore spam-trec07p phish-phishing_pot

rspamd_arg=""
if [ "${CLAW_RSPAMD:-yes}" != no ] && command -v rspamd > /dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "$0: starting rspamd (the first start on a machine compiles its caches)" >&2
    RSPAMD_WORKERS=2 rspamd_start "$tmp/rspamd" && rspamd_arg="--rspamd 127.0.0.1:$RSPAMD_PORT"
else
    echo "$0: rspamd is not installed or we are not root: Clawback only" >&2
fi
# shellcheck disable=SC2086
"${PYTHON3:-python3}" "$srcdir/tests/bench/quality.py" --claw "$builddir/search/claw" \
    --out "$results/quality.txt" $rspamd_arg $sets
rspamd_stop

# Display names: a VIP's name in the forms it is written, and the ham's real
# senders under the same vip_names.
ham=""
for s in $sets; do
    case "$s" in ham-*) ham="$ham ${s#*=}" ;; esac
done
# shellcheck disable=SC2086
"${PYTHON3:-python3}" "$srcdir/tests/bench/quality-names.py" --claw "$builddir/search/claw" \
    --out "$results/names.txt" $ham

if python3 -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import dnstwist' 2>/dev/null; then
    # shellcheck disable=SC2086
    "${PYTHON3:-python3}" "$srcdir/tests/bench/quality-lookalike.py" --claw "$builddir/search/claw" \
        --out "$results/lookalike.txt" $ham
else
    echo "$0: dnstwist is missing (apt-get install dnstwist): no lookalike figures" >&2
fi

# The README quotes the headline figures of these files by hand.
