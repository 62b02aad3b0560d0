# daemon-lib.sh - sourced by exim-lib.sh and rspamd-lib.sh.

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
