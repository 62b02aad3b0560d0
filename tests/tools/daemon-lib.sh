# daemon-lib.sh - sourced by exim-lib.sh, rspamd-lib.sh and clawd.sh.

# clawd_start CONF SOCKET [ENV=VALUE...]: clawd in the background ($pid,
# its log appended to $tmp/clawd.log); false unless SOCKET appears within
# 10 s.
clawd_start() {
    cs_conf=$1 cs_sock=$2
    shift 2
    env "$@" "$CLAWD" --config "$cs_conf" --stderr >> "$tmp/clawd.log" 2>&1 &
    pid=$!
    i=0
    while [ ! -S "$cs_sock" ] && alive $pid && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    [ -S "$cs_sock" ]
}

# alive PID: PID runs (a zombie not yet waited for does not).
alive() {
    al_state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ -n "$al_state" ] && [ "$al_state" != Z ]
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    "${PYTHON3:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT PID [TENTHS]: until something accepts on PORT; false if PID
# died or TENTHS tenths of a second (default 100) passed.
wait_port() {
    i=0
    until "${PYTHON3:-python3}" -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null && [ $i -lt "${3:-100}" ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
}

# dns_stub_start [ZONE]: tests/tools/dns-stub.py on a free port of
# 127.0.0.1 (DNS_PORT, DNS_PID), answering from ZONE (see the script), every
# other name NXDOMAIN; each question is logged in $tmp/dns.log, and the stub
# ends with the script. DMARC_CONF: the [dmarc] lines that send Clawback's
# DMARC lookups there, for the tests' clawback.conf (no test asks the host's
# resolver, whose answers are the network's).
dns_stub_start() {
    ds_port_file=$tmp/dns.port.$$.$(date +%s%N)
    "${PYTHON3:-python3}" "$srcdir/tests/tools/dns-stub.py" --port-file "$ds_port_file" \
        --log "$tmp/dns.log" ${1:+--zone "$1"} > /dev/null 2>&1 &
    DNS_PID=$!
    i=0
    while [ ! -s "$ds_port_file" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    DNS_PORT=$(cat "$ds_port_file")
    DMARC_CONF="[dmarc]
resolvers = 127.0.0.1:$DNS_PORT"
}
