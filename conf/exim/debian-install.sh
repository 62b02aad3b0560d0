#!/bin/sh
# debian-install.sh - wire Clawback into Debian's Exim (exim4-config), in
# either of its layouts, without editing a file dpkg owns (a conffile):
# only drop-ins in the places Debian keeps for the admin.
#
#   debian-install.sh [--archive [--socket PATH]] [CONFDIR]
#        CONFDIR: /etc/exim4; PATH: clawd's socket, /run/clawback/clawd.sock
#
# It takes the snippets from its own directory and, by the layout that
# CONFDIR/update-exim4.conf.conf chooses (dc_use_split_config):
#   both:    CONFDIR/clawback-acl.conf, the DATA ACL fragment, which Debian's
#            acl_check_data includes through CHECK_DATA_LOCAL_ACL_FILE;
#   split:   CONFDIR/conf.d/main/00_clawback, the main settings
#            (clawback-main.conf); with --archive also the journal router
#            and LMTP transport to clawd, conf.d/router/150_clawback_journal
#            and conf.d/transport/30_clawback_lmtp, and quarantined mail
#            kept by clawd (CLAWBACK_QUAR_ARCHIVE) instead of frozen;
#   single:  the main settings in CONFDIR/exim4.conf.localmacros, between
#            "# BEGIN clawback" and "# END clawback" (the rest of that file
#            is kept). The template has no place for a router of one's own:
#            with --archive the journal copy goes through a system filter,
#            CONFDIR/clawback.filter (clawback-filter, with clawd's socket
#            filled in), which pipes each message to claw-journal; that
#            block then names it (system_filter) and defines
#            CLAWBACK_QUAR_ARCHIVE, as in the split layout. An Exim
#            system_filter of the admin's own stops it.
# Running it again replaces what it wrote before. It does not run
# update-exim4.conf or restart Exim: do both after it. (update-exim4.conf
# --confdir DIR reads DIR's exim4.conf.localmacros only when
# /etc/exim4/exim4.conf.localmacros exists: Debian's own quirk.)
set -eu

usage() {
    echo "usage: $0 [--archive [--socket PATH]] [CONFDIR]   (CONFDIR: /etc/exim4)" >&2
    exit 64
}

die() {
    echo "$0: $*" >&2
    exit 1
}

archive=no
socket=/run/clawback/clawd.sock
socket_given=no
while [ $# -gt 0 ]; do
    case "$1" in
        --archive) archive=yes; shift ;;
        --socket) [ $# -ge 2 ] || usage; socket=$2; socket_given=yes; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) break ;;
    esac
done
case "$socket" in
    /*) ;;
    *) die "--socket wants an absolute path, got '$socket'" ;;
esac
case "$socket" in
    *[!A-Za-z0-9/._-]*) die "--socket '$socket': only letters, digits and / . _ - (it goes into a filter)" ;;
esac
[ $# -le 1 ] || usage
confdir=${1:-/etc/exim4}
here=$(cd "$(dirname "$0")" && pwd)

for f in clawback-acl.conf clawback-main.conf clawback-router.conf clawback-transport.conf \
    clawback-filter; do
    [ -r "$here/$f" ] || die "$here/$f is missing (the snippets belong beside this script)"
done
ue4cc=$confdir/update-exim4.conf.conf
[ -r "$ue4cc" ] || die "no $ue4cc: is $confdir Debian's Exim configuration (exim4-config)?"

# The layout, as update-exim4.conf reads it: the file is shell.
# shellcheck source=/dev/null
split=$( (. "$ue4cc"; echo "${dc_use_split_config:-false}") | tr '[:upper:]' '[:lower:]')
case "$split" in
    true|false) ;;
    *) die "dc_use_split_config='$split' in $ue4cc is neither true nor false" ;;
esac

block_begin='# BEGIN clawback (debian-install.sh writes this block; it replaces it when run again)'
block_end='# END clawback'
localmacros=$confdir/exim4.conf.localmacros
main_dropin=$confdir/conf.d/main/00_clawback

# The admin's files without what this script wrote before.
without_ours() {
    if [ "$1" = "$localmacros" ]; then
        sed "/^# BEGIN clawback/,/^# END clawback/d" "$1"
    elif [ "$1" != "$main_dropin" ]; then
        cat "$1"
    fi
}

# Exim refuses a macro defined twice: an ACL file of the admin's own must
# include ours instead. (update-exim4.conf.conf's capitalised lines become
# macros too.)
if [ "$split" = true ]; then
    set -- "$ue4cc" "$confdir"/conf.d/main/*
else
    set -- "$ue4cc" "$localmacros"
fi
for f in "$@"; do
    [ -f "$f" ] || continue
    if without_ours "$f" | grep -q '^[[:space:]]*CHECK_DATA_LOCAL_ACL_FILE[[:space:]]*='; then
        die "$f already sets CHECK_DATA_LOCAL_ACL_FILE: add" \
            "'.include $confdir/clawback-acl.conf' to the file it names instead"
    fi
    if [ "$split" = false ] && [ "$archive" = yes ] &&
        without_ours "$f" | grep -q '^[[:space:]]*system_filter[[:space:]]*='; then
        die "$f already sets system_filter: add the lines of $here/clawback-filter" \
            "(CLAWD_SOCKET: $socket) to your filter instead"
    fi
done

# The main settings, with the ACL fragment where this CONFDIR has it; with
# the archive, quarantined mail goes to clawd's quarantine, not frozen on
# the queue (clawback-router.conf).
main_settings() {
    if [ "$archive" = yes ]; then
        echo "# debian-install.sh --archive: quarantined mail is kept by clawd (claw release ID)."
        echo "CLAWBACK_QUAR_ARCHIVE = yes"
    fi
    sed "s|^CHECK_DATA_LOCAL_ACL_FILE = .*|CHECK_DATA_LOCAL_ACL_FILE = $confdir/clawback-acl.conf|" \
        "$here/clawback-main.conf"
    if [ "$archive" = yes ] && [ "$split" = true ] && [ "$socket_given" = yes ]; then
        echo "CLAWBACK_ARCHIVE_SOCKET = $socket"
    fi
    if [ "$archive" = yes ] && [ "$split" = false ]; then
        echo "# debian-install.sh --archive: the journal copy through Exim's system filter."
        echo "system_filter = $confdir/clawback.filter"
        echo "system_filter_user = Debian-exim"
        echo "system_filter_pipe_transport = address_pipe"
    fi
}

install -m 644 "$here/clawback-acl.conf" "$confdir/clawback-acl.conf"
echo "installed $confdir/clawback-acl.conf"
if [ "$split" = true ]; then
    main_settings > "$main_dropin.new"
    chmod 644 "$main_dropin.new"
    mv "$main_dropin.new" "$main_dropin"
    echo "installed $main_dropin"
    if [ "$archive" = yes ]; then
        install -m 644 "$here/clawback-router.conf" "$confdir/conf.d/router/150_clawback_journal"
        install -m 644 "$here/clawback-transport.conf" "$confdir/conf.d/transport/30_clawback_lmtp"
        echo "installed $confdir/conf.d/router/150_clawback_journal," \
             "$confdir/conf.d/transport/30_clawback_lmtp"
    fi
else
    if [ "$archive" = yes ]; then
        sed "s|CLAWD_SOCKET|$socket|g" "$here/clawback-filter" > "$confdir/clawback.filter.new"
        chmod 644 "$confdir/clawback.filter.new"
        mv "$confdir/clawback.filter.new" "$confdir/clawback.filter"
        echo "installed $confdir/clawback.filter (clawd's socket: $socket)"
    fi
    {
        [ ! -f "$localmacros" ] || without_ours "$localmacros"
        echo "$block_begin"
        main_settings
        echo "$block_end"
    } > "$localmacros.new"
    # Over the old file, not renamed onto it: its owner and mode stay.
    cat "$localmacros.new" > "$localmacros"
    rm -f "$localmacros.new"
    echo "wrote the clawback block in $localmacros"
fi
echo "now run update-exim4.conf, then reload Exim (systemctl reload exim4)"
