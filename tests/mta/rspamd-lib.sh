# rspamd-lib.sh - sourced by scripts that need a real rspamd: Debian's stock
# configuration, run in the foreground from a temp dir, on loopback ports,
# with DNS pointed at tests/tools/dns-stub.py (dns_stub_start), so nothing
# leaves the machine and scans are deterministic. See ../shared/INTEGRATION.md.
#
#   rspamd_start DIR [LOCAL]   start; LOCAL is copied into the local config
#                              dir (local.d/, override.d/, plugins.d/)
#   rspamd_stop                stop it
#   rspamd_clawback_dir DIR LIBRARY CONFIG
#                              a LOCAL to load the Clawback module with
#                              LIBRARY (libclaw) and CONFIG (clawback.conf)
# Sets RSPAMD_PORT (normal worker), RSPAMD_CONTROLLER_PORT and RSPAMD_LOG.
# Needs root (rspamd drops to _rspamd). The hyperscan and public-suffix
# caches live in $CLAW_RSPAMD_CACHE (default /var/tmp/clawback-rspamd), so
# only the first start on a machine is slow.

. "$srcdir/tests/tools/daemon-lib.sh"

rspamd_start() {
    rs_dir=$1
    rs_local=$rs_dir/local
    mkdir -p "$rs_local/local.d" "$rs_local/override.d" "$rs_dir/db" "$rs_dir/run" "$rs_dir/log"
    rs_cache=${CLAW_RSPAMD_CACHE:-/var/tmp/clawback-rspamd}
    mkdir -p "$rs_cache"

    # One stub for the script (daemon-lib.sh), which its clawback.conf may
    # already name for Clawback's DMARC lookups.
    [ -n "${DNS_PORT:-}" ] || dns_stub_start
    rs_dns_port=$DNS_PORT

    RSPAMD_PORT=$(free_port)
    RSPAMD_CONTROLLER_PORT=$(free_port)
    RSPAMD_LOG=$rs_dir/log/rspamd.log
    cat > "$rs_local/override.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$RSPAMD_PORT";
count = ${RSPAMD_WORKERS:-1};
EOF
    echo "bind_socket = \"127.0.0.1:$RSPAMD_CONTROLLER_PORT\";" \
        > "$rs_local/override.d/worker-controller.inc"
    [ -f "$rs_local/override.d/worker-proxy.inc" ] ||
        echo "enabled = false;" > "$rs_local/override.d/worker-proxy.inc"
    cat > "$rs_local/local.d/options.inc" <<EOF
dns {
    nameserver = ["127.0.0.1:$rs_dns_port"];
    timeout = 1s;
    retransmits = 1;
}
hs_cache_dir = "$rs_cache";
EOF
    cat > "$rs_local/local.d/logging.inc" <<EOF
type = "file";
filename = "$RSPAMD_LOG";
level = "${RSPAMD_LOG_LEVEL:-warning}";
EOF
    [ -z "${2:-}" ] || cp -R "$2/." "$rs_local/"
    chmod 755 "$rs_dir" "$rs_local"
    chown -R _rspamd:_rspamd "$rs_dir/db" "$rs_dir/run" "$rs_dir/log" "$rs_cache"

    rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf \
        --var=LOCAL_CONFDIR="$rs_local" --var=DBDIR="$rs_dir/db" \
        --var=RUNDIR="$rs_dir/run" --var=LOGDIR="$rs_dir/log" \
        > "$rs_dir/log/stdout" 2>&1 &
    rs_pid=$!
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$RSPAMD_PORT/ping"; do
        if ! kill -0 $rs_pid 2>/dev/null || [ $i -ge 1200 ]; then
            echo "rspamd did not start; its log:" >&2
            tail -20 "$rs_dir/log/stdout" "$RSPAMD_LOG" >&2 2>/dev/null
            rspamd_stop
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

rspamd_stop() {
    [ -z "${rs_pid:-}" ] || { kill "$rs_pid" 2>/dev/null; wait "$rs_pid" 2>/dev/null || true; }
    rs_pid=""
}

rspamd_clawback_dir() {
    mkdir -p "$1/plugins.d" "$1/local.d"
    cp "$srcdir/plugin/rspamd/clawback.lua" "$1/plugins.d/"
    echo ".include \"\$LOCAL_CONFDIR/clawback.conf\"" > "$1/rspamd.conf.local"
    cp "$srcdir/plugin/rspamd/clawback.conf" "$1/clawback.conf"
    printf 'library = "%s";\nconfig = "%s";\n' "$2" "$3" > "$1/local.d/clawback.conf"
    chmod -R a+rX "$1"
}
