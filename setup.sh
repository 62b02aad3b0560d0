#!/bin/sh
# setup.sh - the first command on a fresh Debian 12 machine:
#   installs what is missing (apt-get), builds Clawback in ./build, and runs
#   the main job end to end: `claw scan` over the sample messages.
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
 libarchive-dev libssl-dev python3 p7zip-full clang libclang-rt-14-dev
 exim4-dev rspamd dnstwist curl"

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
    echo "setup: done. Run the tests with: make -C build check"
fi
