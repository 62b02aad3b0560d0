#!/bin/sh
# make install as an admin or a package build meets it (into a scratch
# root, DESTDIR; run.sh runs this test alone, after the others: libtool
# relinks claw's modules in the build tree as it installs them): everything in its place; an edited clawback.conf kept on
# the next install; the public header and libclaw.pc good enough to build
# a program against the installed library; clawd.service clean by systemd's
# own checks with an exposure of at most 2.5; the sysusers.d and tmpfiles.d
# files made into users, groups and directories by systemd's own tools in
# a scratch root.
. "$srcdir/tests/tools/tap.sh"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
R="$tmp/root"
# The build's own prefix and directories, as make install uses them.
var() { make -s --no-print-directory -C "$builddir" -f Makefile -f - print-var V="$1" <<'EOF'
print-var:
	@echo $($(V))
EOF
}
prefix=$(var prefix)
sysconfdir=$(var sysconfdir)
libdir=$(var libdir)
includedir=$(var includedir)
sbindir=$(var sbindir)
bindir=$(var bindir)
unitdir=$(var systemdsystemunitdir)
[ -n "$prefix" ] && [ -n "$unitdir" ] || { fail "read the build's install directories"; exit 1; }

make -C "$builddir" install DESTDIR="$R" > "$tmp/install.log" 2>&1; rc=$?
check "make install DESTDIR=...: 0" [ $rc = 0 ]
for f in "$bindir/claw" "$sbindir/clawd" "$sysconfdir/clawback/clawback.conf" \
    "$includedir/clawback/claw.h" "$libdir/pkgconfig/libclaw.pc" "$unitdir/clawd.service" \
    "$prefix/lib/sysusers.d/clawback.conf" "$prefix/lib/tmpfiles.d/clawback.conf"; do
    [ -e "$R$f" ] || echo "# missing: $f" >&2
    [ -e "$R$f" ] || missing=1
done
check "installed: claw, clawd, clawback.conf, <clawback/claw.h>, libclaw.pc, the unit, sysusers.d, tmpfiles.d" \
    [ -z "${missing:-}" ]

# --- an admin's clawback.conf survives the next install ------------------------
echo "# an admin's edit" >> "$R$sysconfdir/clawback/clawback.conf"
make -C "$builddir" install DESTDIR="$R" > "$tmp/install2.log" 2>&1; rc=$?
check "install again: 0; the edited clawback.conf kept, the shipped one beside it (.dist), and said so" \
    sh -c "[ $rc = 0 ] && tail -1 '$R$sysconfdir/clawback/clawback.conf' | grep -q \"admin's edit\" && cmp -s '$srcdir/conf/clawback.conf' '$R$sysconfdir/clawback/clawback.conf.dist' && grep -q 'clawback.conf is there: kept' '$tmp/install2.log'"

# --- a program built against the installed library ---------------------------
cat > "$tmp/v.c" <<'EOF'
#include <claw.h>
#include <stdio.h>
int main(void) { puts(claw_version()); return 0; }
EOF
pc() { PKG_CONFIG_SYSROOT_DIR="$R" PKG_CONFIG_PATH="$R$libdir/pkgconfig" pkg-config "$@"; }
cc="${CC:-cc}"
"$cc" $(pc --cflags libclaw) -o "$tmp/v" "$tmp/v.c" $(pc --libs libclaw) > "$tmp/cc.log" 2>&1; rc=$?
got=$(LD_LIBRARY_PATH="$R$libdir" "$tmp/v" 2>&1)
check "pkg-config libclaw: a program using <claw.h> builds and runs against the installed library ($got)" \
    sh -c "[ $rc = 0 ] && \"$R$bindir/claw\" --version 2>/dev/null | grep -qF '$got'"
sed 's/^/#  /' "$tmp/cc.log" >&2

# --- the service --------------------------------------------------------------
if ! command -v systemd-analyze > /dev/null; then
    skip "clawd.service" "systemd-analyze not installed"
else
    # verify needs the binary where ExecStart names it: the installed one.
    mkdir "$tmp/units"
    for u in clawd.service clawback-query.service clawback-query.socket; do
        sed -e "s|^ExecStart=$sbindir/clawd|ExecStart=$R$sbindir/clawd|" \
            -e "s|^ExecStart=$bindir/claw|ExecStart=$R$bindir/claw|" "$R$unitdir/$u" > "$tmp/units/$u"
    done
    cp "$tmp/units/clawd.service" "$tmp/clawd.service"
    (cd "$tmp/units" && systemd-analyze verify --man=no clawd.service clawback-query.service \
        clawback-query.socket) > "$tmp/verify" 2>&1; rc=$?
    check "systemd-analyze verify clawd.service, clawback-query.service and .socket: clean" \
        sh -c "[ $rc = 0 ] && [ ! -s '$tmp/verify' ]"
sed 's/^/#  /' "$tmp/verify" >&2
    for u in clawd.service clawback-query.service; do
        systemd-analyze security --offline=true "$tmp/units/$u" > "$tmp/security" 2>&1
        level=$(sed -n "s/.*Overall exposure level for $u: \([0-9.]*\).*/\1/p" "$tmp/security")
        check "systemd-analyze security $u: exposure ${level:-?} (at most 2.5)" \
            sh -c "[ -n '$level' ] && [ \$(echo '$level <= 2.5' | bc) = 1 ]"
    done
    # claw looks for $(runstatedir)/clawback-query.sock (search/include.am).
    check "the query socket: 0660, of clawback-read, where claw looks for it" \
        sh -c "grep -qx 'SocketMode=0660' '$tmp/units/clawback-query.socket' && grep -qx 'SocketGroup=clawback-read' '$tmp/units/clawback-query.socket' && grep -qx 'ListenStream=$(var runstatedir)/clawback-query.sock' '$tmp/units/clawback-query.socket' && grep -qF '$(var runstatedir)/clawback-query.sock' '$R$bindir/claw'"
    check "the unit: Type=notify, reload by SIGHUP, its own user, the archive and socket directories" \
        sh -c "grep -qx 'Type=notify' '$tmp/clawd.service' && grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' '$tmp/clawd.service' && grep -qx 'User=clawback' '$tmp/clawd.service' && grep -qx 'StateDirectory=clawback' '$tmp/clawd.service' && grep -qx 'RuntimeDirectory=clawback' '$tmp/clawd.service'"
fi

if ! command -v systemd-sysusers > /dev/null || ! command -v systemd-tmpfiles > /dev/null; then
    skip "sysusers.d and tmpfiles.d" "systemd-sysusers or systemd-tmpfiles not installed"
else
    S="$tmp/sys"
    mkdir -p "$S/etc"
    : > "$S/etc/passwd"
    : > "$S/etc/group"
    systemd-sysusers --root="$S" "$R$prefix/lib/sysusers.d/clawback.conf" > "$tmp/sysusers" 2>&1; rc=$?
    check "systemd-sysusers: the user clawback (no login, home the archive), the groups clawback and clawback-read" \
        sh -c "[ $rc = 0 ] && grep -q '^clawback:x:[0-9]*:[0-9]*:Clawback archive daemon:/var/lib/clawback:/usr/sbin/nologin\$' '$S/etc/passwd' && grep -q '^clawback:' '$S/etc/group' && grep -q '^clawback-read:' '$S/etc/group'"
sed 's/^/#  /' "$tmp/sysusers" >&2
    systemd-tmpfiles --create --root="$S" "$R$prefix/lib/tmpfiles.d/clawback.conf" > "$tmp/tmpfiles" 2>&1; rc=$?
    uid=$(sed -n 's/^clawback:x:\([0-9]*\):.*/\1/p' "$S/etc/passwd")
    check "systemd-tmpfiles: /var/lib/clawback and /run/clawback, 0750, owned by clawback" \
        sh -c "[ $rc = 0 ] && [ \"\$(stat -c '%a %u' '$S/var/lib/clawback' '$S/run/clawback' | sort -u)\" = '750 $uid' ]"
sed 's/^/#  /' "$tmp/tmpfiles" >&2
fi

[ $n_fail = 0 ]
