# dovecot.sh - sourced by scripts that need a real Dovecot (Debian's 2.3,
# dovecot-core and dovecot-imapd): its own configuration, users and mail under
# one directory, IMAP on a free loopback port, nothing read from /etc/dovecot,
# so it neither needs nor disturbs a system instance (ports 143/993).
#
#   dovecot_require NAME        skip the script (as NAME) where Dovecot is missing
#   dovecot_start DIR NUSERS    users user1..userN, password "pw"; 2 if Dovecot
#                               is not installed, 1 (and the log's tail) if it
#                               did not start
#   dovecot_stop DIR
#   dovecot_doveadm ARGS...     doveadm against the instance last started
#   dovecot_deliver DIR USER FILE [FOLDER]   as an MTA would, through dovecot-lda
# Sets DOVECOT_CONF, DOVECOT_LOG, DOVECOT_IMAP_PORT, DOVECOT_MAIL (DIR/mail:
# USER's Maildir is DOVECOT_MAIL/USER), DOVECOT_QUARANTINE (the prefix of the
# quarantine, below) and DOVECOT_HTTP_PORT with DOVECOT_API_KEY, doveadm's
# HTTP API on loopback:
#   curl -H "Authorization: X-Dovecot-API $(printf %s "$DOVECOT_API_KEY" | base64)" \
#     -d '[["search",{"user":"user1","query":["mailbox","*","all"]},"t1"]]' \
#     "http://127.0.0.1:$DOVECOT_HTTP_PORT/doveadm/v1"
#
# Mail: Maildir++ (the default layout: folder Work/Sub is DIR/mail/USER/.Work.Sub)
# with "/" as IMAP's separator. It is the layout Exim's maildir transport,
# mutt, mu and notmuch know; LAYOUT=fs would put INBOX's cur/new/tmp beside
# the folders (a folder named "new" would clash) and allow "." in names, which
# the quarantine's prefix relies on being refused.
#
# The quarantine is a second namespace, Clawback.Quarantine/ (its own Maildirs
# under DIR/quarantine/USER), disabled for every protocol but doveadm: a user
# cannot list, select or create anything in it over IMAP (hidden = yes with
# list = no only hides it from LIST and NAMESPACE: SELECT still reaches it), and
# nothing is delivered into it, while `doveadm move` puts messages in and takes
# them back out. Its INBOX (Clawback.Quarantine/INBOX) is there from doveadm's
# first look; any other folder in it needs `doveadm mailbox create` before a
# move (a move never creates its destination: exit 68). The "." in its prefix is what no user can put in a folder
# name, so no folder of theirs can shadow it.
#
# Privileges: the mail belongs to one account, $DOVECOT_MAIL_USER. Dovecot will
# not open mail as root, so run as root it is "mail" (or $DOVECOT_MAIL_USER; and Debian's dovecot and
# dovenull run the internal and login processes); run as anyone else it is
# that user, who then runs every process. doveadm and dovecot-lda must run as
# root or as that user, and reach DIR/run/auth-userdb (they look users up in
# the running instance's auth service).

. "$srcdir/tests/tools/daemon-lib.sh"
DOVECOT_LDA=${DOVECOT_LDA:-/usr/lib/dovecot/dovecot-lda}
# dovecot is in /usr/sbin, which a user's PATH may not have.
DOVECOT_BIN=${DOVECOT_BIN:-$(PATH=$PATH:/usr/sbin; command -v dovecot)}
DOVECOT_QUARANTINE=Clawback.Quarantine

# Everything the harness runs: the master, doveadm, the IMAP server and the LDA.
dovecot_installed() {
    [ -n "$DOVECOT_BIN" ] && command -v doveadm > /dev/null &&
        [ -x /usr/lib/dovecot/imap ] && [ -x "$DOVECOT_LDA" ]
}

dovecot_require() {
    dovecot_installed && return 0
    skip "$1" "dovecot not installed (apt-get install dovecot-core dovecot-imapd)"
    exit 0
}

dovecot_start() {
    dc_dir=$1 dc_n=$2
    dovecot_installed || { echo "dovecot not installed" >&2; return 2; }
    DOVECOT_CONF=$dc_dir/dovecot.conf
    DOVECOT_LOG=$dc_dir/log/dovecot.log
    DOVECOT_MAIL=$dc_dir/mail
    # The interpreter itself, not pyenv's shim (half a second a start).
    dc_py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
    # Two loopback ports nothing listens on now, both held while choosing.
    # shellcheck disable=SC2046
    set -- $("$dc_py" -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
    DOVECOT_IMAP_PORT=$1 DOVECOT_HTTP_PORT=$2
    DOVECOT_API_KEY=clawback-test
    mkdir -p "$dc_dir/run" "$dc_dir/state" "$dc_dir/log" "$dc_dir/mail" "$dc_dir/quarantine" \
        "$dc_dir/home"
    if [ "$(id -u)" -eq 0 ]; then
        DOVECOT_MAIL_USER=${DOVECOT_MAIL_USER:-mail}
        dc_internal=dovecot dc_login=dovenull dc_chroot=""
        # The mail account's processes must get through DIR (mktemp's is 0700).
        chmod 711 "$dc_dir"
        chown "$DOVECOT_MAIL_USER:" "$dc_dir/mail" "$dc_dir/quarantine" "$dc_dir/home"
        if ! setpriv --reuid="$(id -u "$DOVECOT_MAIL_USER")" --regid="$(id -g "$DOVECOT_MAIL_USER")" \
                --clear-groups test -w "$dc_dir/mail"; then
            echo "dovecot: $DOVECOT_MAIL_USER cannot reach $dc_dir/mail (a folder above it is not o+x)" >&2
            return 1
        fi
    else
        # Without root nothing can change user or chroot: every process is us.
        DOVECOT_MAIL_USER=$(id -un)
        dc_internal=$DOVECOT_MAIL_USER dc_login=$DOVECOT_MAIL_USER
        dc_chroot="service imap-login {
  chroot =
}
service anvil {
  chroot =
}
service ipc {
  chroot =
}
service old-stats {
  chroot =
}"
    fi
    dc_uid=$(id -u "$DOVECOT_MAIL_USER") dc_gid=$(id -g "$DOVECOT_MAIL_USER")

    # name:password:uid:gid:gecos:home. The uid in the userdb is what lets
    # the mail account itself (not only root) look its users up: an MTA's
    # transport running dovecot-lda as that account, doveadm run by it.
    dc_i=1
    while [ "$dc_i" -le "$dc_n" ]; do
        echo "user$dc_i:{PLAIN}pw:$dc_uid:$dc_gid::$dc_dir/home/user$dc_i::"
        dc_i=$((dc_i + 1))
    done > "$dc_dir/users"
    chmod 644 "$dc_dir/users"

    # dovecot-lda and doveadm write to the log themselves, as whoever runs them.
    : > "$DOVECOT_LOG"
    chown "$DOVECOT_MAIL_USER:" "$DOVECOT_LOG"

    cat > "$DOVECOT_CONF" <<EOF
# A test instance (tests/tools/dovecot.sh): nothing outside $dc_dir.
base_dir = $dc_dir/run
state_dir = $dc_dir/state
log_path = $DOVECOT_LOG
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = $dc_internal
default_internal_group = $(id -gn "$dc_internal")
default_login_user = $dc_login
mail_uid = $dc_uid
mail_gid = $dc_gid
first_valid_uid = $dc_uid
last_valid_uid = $dc_uid
first_valid_gid = $dc_gid
last_valid_gid = $dc_gid
mail_location = maildir:$dc_dir/mail/%u
# Nothing here outlives the test: no fsync, a lighter load beside builds.
mail_fsync = never
postmaster_address = postmaster@example.invalid
# dovecot-lda -m FOLDER creates FOLDER (an invalid name still goes to INBOX).
lda_mailbox_autocreate = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dc_dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dc_dir/users
}
namespace inbox {
  inbox = yes
  separator = /
}
namespace quarantine {
  prefix = $DOVECOT_QUARANTINE/
  separator = /
  location = maildir:$dc_dir/quarantine/%u
  hidden = yes
  list = no
  subscriptions = no
  disabled = yes
  # So that a move there (for one user or -A) needs no create first.
  mailbox INBOX {
    auto = create
  }
}
protocol doveadm {
  namespace quarantine {
    disabled = no
  }
}
# Every client reports to stats: let the mail account's LDA and doveadm too.
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
doveadm_api_key = $DOVECOT_API_KEY
service doveadm {
  inet_listener http {
    address = 127.0.0.1
    port = $DOVECOT_HTTP_PORT
  }
}
$dc_chroot
EOF
    [ -z "${DOVECOT_DEBUG:-}" ] ||
        printf 'mail_debug = yes\nauth_verbose = yes\nauth_debug = yes\n' >> "$DOVECOT_CONF"

    # In the foreground (-F) as our child, so a dead master is seen at once;
    # what it says before its log is open goes to DIR/log/stderr.
    "$DOVECOT_BIN" -F -c "$DOVECOT_CONF" > "$dc_dir/log/stderr" 2>&1 &
    dc_pid=$!
    # Up when it greets: the master, a login process and auth all answered.
    dc_end=$(( $(date +%s) + ${DOVECOT_START_SECONDS:-15} ))
    until "$dc_py" -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $DOVECOT_IMAP_PORT), 1)
s.settimeout(2)
up = s.recv(100).startswith(b'* OK')
s.sendall(b'a LOGOUT\r\n')
sys.exit(0 if up else 1)" 2>/dev/null; do
        if ! alive "$dc_pid" || [ "$(date +%s)" -gt "$dc_end" ]; then
            echo "dovecot did not start; its log:" >&2
            tail -20 "$dc_dir/log/stderr" "$DOVECOT_LOG" >&2 2>/dev/null
            dovecot_stop "$dc_dir"
            return 1
        fi
        sleep 0.1
    done
}

# The master's pid from DIR (any instance, not only the one last started);
# its children leave when it does.
dovecot_stop() {
    ds_pid=$(cat "$1/run/master.pid" 2>/dev/null)
    [ -n "$ds_pid" ] || ds_pid=${dc_pid:-}
    [ -n "$ds_pid" ] || return 0
    kill "$ds_pid" 2>/dev/null
    ds_end=$(( $(date +%s) + 10 ))
    while alive "$ds_pid" && [ "$(date +%s)" -le "$ds_end" ]; do sleep 0.1; done
    alive "$ds_pid" && kill -9 "$ds_pid" 2>/dev/null
    rm -f "$1/run/master.pid"
    [ "$ds_pid" != "${dc_pid:-}" ] || { wait "$dc_pid" 2>/dev/null; dc_pid=""; }
    return 0
}

# With -u, -A or -F doveadm asks the running instance's auth service for the
# user (stopped: exit 75; -A even aborts); USER=user1 dovecot_doveadm ARGS,
# without -u, works on the Maildirs with Dovecot stopped.
dovecot_doveadm() {
    doveadm -c "$DOVECOT_CONF" "$@"
}

# Delivered as by an MTA's pipe transport. Its exit status is sysexits':
# 0, 67 (no such user), 75 (try again: e.g. Dovecot not running).
dovecot_deliver() {
    "$DOVECOT_LDA" -c "$1/dovecot.conf" -d "$2" ${4:+-m "$4"} < "$3"
}
