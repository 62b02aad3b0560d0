#!/bin/sh
# setup.sh - the first command on a fresh Debian 12 machine:
#   installs what is missing (apt-get), builds Clawback in ./build, and runs
#   the main job end to end: `claw scan` over the sample messages, then clawd
#   archiving them over LMTP (LMDB + Xapian) and `claw search` finding them.
# Options: --no-install (skip apt-get), --no-run (build only).
set -eu
cd "$(dirname "$0")"
install=yes run=yes
for a in "$@"; do
    case "$a" in
        --no-install) install=no ;;
        --no-run) run=no ;;
        *) echo "usage: $0 [--no-install] [--no-run]" >&2; exit 64 ;;
    esac
done

# Build and test dependencies, by Debian package name (see DESIGN.md).
PACKAGES="build-essential autoconf automake libtool pkg-config
 libgmime-3.0-dev liblmdb-dev lmdb-utils libxapian-dev xapian-tools libevent-dev
 libpsl-dev publicsuffix libidn2-dev libicu-dev libzstd-dev zstd libmagic-dev libmagic-mgc
 libarchive-dev libssl-dev libjson-glib-dev libopendmarc-dev libspf2-dev libc-ares-dev libcurl4-openssl-dev libcsv-dev python3 p7zip-full clang libclang-rt-14-dev
 exim4-dev rspamd dnstwist curl openssl valgrind bc maildir-utils notmuch dovecot-core dovecot-imapd util-linux
 libsystemd-dev systemd dpkg-dev debhelper lintian"

# The real Exim the plugin is tested in. Installing it replaces another MTA
# (postfix, sendmail), so it is only added where none is installed; the Exim
# tests skip, saying so, where it is missing.
if dpkg-query -W -f='${Status}' exim4-daemon-heavy 2>/dev/null | grep -q "install ok installed"; then
    PACKAGES="$PACKAGES exim4-daemon-heavy"
elif ! dpkg-query -W -f='${Provides}\n' 2>/dev/null | grep -q mail-transport-agent ||
        dpkg-query -W -f='${Status}' exim4-base 2>/dev/null | grep -q "install ok installed"; then
    PACKAGES="$PACKAGES exim4-daemon-heavy"
else
    echo "setup: another MTA is installed: not installing Exim (its tests will be skipped)"
fi

if [ "$install" = yes ]; then
    missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "setup: installing:$missing"
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    fi
fi

[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --sysconfdir=/etc
make -j"$(nproc)"

if [ "$run" = yes ]; then
    echo
    echo "setup: claw scan over the sample messages (tests/fixtures):"
    ./search/claw scan ../tests/fixtures/html-phish.eml ../tests/fixtures/attachments.eml
    ./search/claw scan --json ../tests/fixtures/*.eml > fixtures.jsonl
    echo "setup: $(wc -l < fixtures.jsonl) messages as JSON in build/fixtures.jsonl"

    # The main job end to end on the embedded archive: clawd takes the
    # samples over LMTP (as an MTA would hand them over), stores them in
    # LMDB and indexes them with Xapian; claw finds and shows them.
    echo
    echo "setup: clawd archives the samples over LMTP (archive in build/demo-archive):"
    rm -rf demo-archive
    ./indexer/clawd --config /dev/null --archive demo-archive --socket demo-archive/clawd.sock \
        --stderr 2> demo-clawd.log &
    clawd_pid=$!
    i=0
    while [ ! -S demo-archive/clawd.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    python3 ../tests/tools/lmtp-send.py --socket demo-archive/clawd.sock --from sender@outside.example \
        --rcpt finance@corp.example --rcpt hidden-bcc@corp.example ../tests/fixtures/*.eml
    kill -TERM $clawd_pid
    wait $clawd_pid
    echo "setup: claw search action:reject"
    ./search/claw --config /dev/null --archive demo-archive search action:reject
    echo "setup: claw search rcpt:hidden-bcc@corp.example --count"
    ./search/claw --config /dev/null --archive demo-archive search --count rcpt:hidden-bcc@corp.example
    ./search/claw --config /dev/null --archive demo-archive check
    echo "setup: done. Run the tests with: make -C build check"
fi
