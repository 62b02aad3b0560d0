# exim-lib.sh - sourced by scripts that need a real Exim (Debian's
# exim4-daemon-heavy) with the Clawback plugin: tests/mta/exim.conf run as
# a foreground daemon on a free loopback port, everything under one temp
# dir. See ../shared/INTEGRATION.md for why it is set up this way.
#
#   exim_start DIR MODE [CLAWCONF]   MODE: dlfunc | local_scan | none
#                                    ($EXIM_EXTRA: more -D options;
#                                    $EXIM_ENV: NAME=VALUE... for Exim)
#   exim_stop
#   exim_wait_delivered N [SECONDS]  wait until the Maildir holds N messages
#   exim_spool_empty                 true when no message is left on the spool
#   exim_require NAME                skip the script (as NAME) without root,
#                                    Exim or the built plugin; start the DNS
#                                    stub ($DMARC_CONF, $EXIM_DNS_ZONE)
#   exim_clawd_conf FILE SOCKET ARCHIVE  a Clawback configuration for Exim
#                                    and clawd (the tests' policy)
# Sets EXIM_PORT, EXIM_MAILDIR, EXIM_LOG (the main log), EXIM_CONF.
# Needs root; Exim receives as Debian-exim, so the plugin and the Clawback
# configuration must be readable by that user.

. "$srcdir/tests/tools/daemon-lib.sh"
EXIM_USER=Debian-exim

exim_require() {
    if [ "$(id -u)" -ne 0 ] || ! command -v exim > /dev/null; then
        skip "$1" "needs root and Exim (apt-get install exim4-daemon-heavy)"
        exit 0
    fi
    if [ ! -f "$builddir/plugin/.libs/claw_exim.so" ]; then
        skip "$1" "claw_exim.so was not built (apt-get install exim4-dev, re-run configure)"
        exit 0
    fi
    # Clawback's DMARC lookups go to a stub ($DMARC_CONF in each clawback.conf).
    dns_stub_start "${EXIM_DNS_ZONE:-}"
}

# exim_install_plugin DIR: claw_exim.so and the claw-scanner it starts,
# where Debian-exim can read them (the build tree may not be). The scanner
# needs libclaw.so, which is not installed: the program (libtool's .libs/
# copy, not its wrapper script), the library and a two-line wrapper that
# says where the library is go beside the plugin. ($CLAW_SCANNER_BIN,
# $CLAW_LIB: another build of both, e.g. the sanitized one.)
exim_install_plugin() {
    install -m 644 "$builddir/plugin/.libs/claw_exim.so" "$1/claw_exim.so"
    ex_scanner=${CLAW_SCANNER_BIN:-$builddir/plugin/claw-scanner}
    ex_scanner_real=$(dirname "$ex_scanner")/.libs/$(basename "$ex_scanner")
    [ -f "$ex_scanner_real" ] || ex_scanner_real=$ex_scanner
    install -m 755 "$ex_scanner_real" "$1/claw-scanner.bin"
    install -m 644 "${CLAW_LIB:-$builddir/lib/.libs/libclaw.so}" "$1/libclaw.so.0"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s/claw-scanner.bin "$@"\n' "$1" "$1" \
        > "$1/claw-scanner"
    chmod 755 "$1/claw-scanner"
}

exim_start() {
    ex_dir=$1 ex_mode=$2 ex_claw_conf=${3:-}
    mkdir -p "$ex_dir/spool" "$ex_dir/log" "$ex_dir/Maildir"
    chmod 755 "$ex_dir"
    chown -R "$EXIM_USER:$EXIM_USER" "$ex_dir/spool" "$ex_dir/log" "$ex_dir/Maildir"
    EXIM_CONF=$ex_dir/exim.conf
    cp "$srcdir/tests/mta/exim.conf" "$EXIM_CONF"
    cp "$builddir/conf/exim/clawback-acl.conf" "$ex_dir/clawback-acl.conf"
    cp "$srcdir/conf/exim/clawback-router.conf" "$srcdir/conf/exim/clawback-transport.conf" "$ex_dir/"
    chown root:root "$EXIM_CONF" "$ex_dir"/clawback-*.conf
    chmod 644 "$EXIM_CONF" "$ex_dir"/clawback-*.conf
    EXIM_PORT=$(free_port)
    EXIM_MAILDIR=$ex_dir/Maildir
    EXIM_LOG=$ex_dir/log/mainlog
    exim_install_plugin "$ex_dir"
    ex_plugin=$ex_dir/claw_exim.so
    # Exim takes at most 10 -D options: the paths all come from TESTROOT.
    set -- -DTESTROOT="$ex_dir" -DTEST_SMTP_LISTEN="$EXIM_PORT"
    case "$ex_mode" in
        local_scan) set -- "$@" -DLOCAL_SCAN=1 ;;
        none) set -- "$@" -DNO_CLAWBACK=1 ;;
    esac
    # shellcheck disable=SC2086
    [ -z "${EXIM_EXTRA:-}" ] || set -- "$@" $EXIM_EXTRA
    EXIM_ARGS="$*"
    # shellcheck disable=SC2086
    env CLAWBACK_CONFIG="$ex_claw_conf" ${EXIM_ENV:-} exim -C "$EXIM_CONF" "$@" -bdf \
        -oX "$EXIM_PORT" > "$ex_dir/log/stdout" 2>&1 &
    ex_pid=$!
    wait_port "$EXIM_PORT" "$ex_pid" || {
        echo "exim did not start:" >&2
        cat "$ex_dir/log/stdout" "$ex_dir/log/paniclog" >&2 2>/dev/null
        return 1
    }
}

exim_stop() {
    [ -z "${ex_pid:-}" ] || { kill "$ex_pid" 2>/dev/null; wait "$ex_pid" 2>/dev/null || true; }
    ex_pid=""
}

# Messages delivered so far.
exim_delivered() {
    find "$EXIM_MAILDIR/new" -type f 2>/dev/null | wc -l
}

exim_wait_delivered() {
    # A deadline on the clock, not a count of polls: on a loaded machine
    # each poll takes longer than its sleep.
    ex_end=$(( $(date +%s) + ${2:-10} ))
    while [ "$(exim_delivered)" -lt "$1" ] && [ "$(date +%s)" -le "$ex_end" ]; do
        sleep 0.05
    done
    [ "$(exim_delivered)" -ge "$1" ]
}

exim_spool_empty() {
    [ -z "$(find "$ex_dir/spool/input" -type f 2>/dev/null)" ]
}

exim_clawd_conf() {
    cat > "$1" <<EOF
[policy]
protected_domains = corp.example
[archive]
path = $3
[clawd]
socket = $2
socket_group = $EXIM_USER
$DMARC_CONF
EOF
    chmod 644 "$1"
}
