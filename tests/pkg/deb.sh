#!/bin/sh
# The Debian packages: debian/ builds them with `dpkg-buildpackage -b`,
# lintian finds no error in them, and what they hold works from a scratch
# root (dpkg -x, nothing installed on the machine): claw --version, a scan
# with the packaged modules, clawd, the Exim plugin's compiled-in paths,
# the conffile, the maintainer scripts (run with stubs: nothing starts),
# the systemd unit and building against libclaw-dev.
# A full build: several minutes. Skips where dpkg-buildpackage, debhelper
# or a build dependency is missing. CLAW_DEB_JOBS (default 2) sets the
# build's parallelism; CLAW_DEB_OUT=DIR keeps the packages built there.
. "$srcdir/tests/tools/tap.sh"

# --- can we build here? -------------------------------------------------------
missing=""
for t in dpkg-buildpackage dpkg-deb dh dpkg-checkbuilddeps; do
    command -v $t > /dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
    skip "debian packages" "not installed:$missing (apt-get install dpkg-dev debhelper)"
    exit 0
fi
if [ ! -f "$srcdir/debian/control" ]; then
    skip "debian packages" "no debian/ in $srcdir"
    exit 0
fi
if ! unmet=$(cd "$srcdir" && dpkg-checkbuilddeps 2>&1); then
    skip "debian packages" "$(echo "$unmet" | sed 's/^dpkg-checkbuilddeps: error: //' | tr '\n' ' ')"
    exit 0
fi

# --- the source tree, as it would be committed ---------------------------------
# The build runs on a copy, so a build tree or an earlier build in $srcdir
# can neither leak into the packages nor be disturbed. In a git checkout the
# copy is what git would commit (tracked and new files, not ignored ones:
# no configure, no build/), so uncommitted changes to debian/ are tested.
src="$tmp/build/clawback"
mkdir -p "$src"
if git -C "$srcdir" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    (cd "$srcdir" && git ls-files -z -c -o --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2> /dev/null) | tar -C "$src" -xf -
else
    (cd "$srcdir" && tar --exclude=./build -cf - .) | tar -C "$src" -xf -
fi

version=$(cd "$src" && dpkg-parsechangelog -S Version)
upstream=${version%-*}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs="$tmp/build"

# --- build -------------------------------------------------------------------
# The package build itself: autoreconf, configure with the Debian paths,
# make, make install, dh_install with debian/*.install (dh_missing fails the
# build for any installed file no package takes). Niced: it is long, and
# the machine may be shared.
start=$(date +%s)
(cd "$src" && nice -n 10 dpkg-buildpackage -b -uc -us -j"${CLAW_DEB_JOBS:-2}") > "$tmp/build.log" 2>&1
rc=$?
echo "# dpkg-buildpackage: exit $rc after $(( $(date +%s) - start ))s"
grep -E '^debian/rules: warning:|^dh_[a-z]*: warning:|^dpkg-[a-z]*: warning:' "$tmp/build.log" | sed 's/^/# /'
if [ $rc != 0 ]; then
    tail -40 "$tmp/build.log" | sed 's/^/# /'
fi
check "dpkg-buildpackage -b -uc -us: exit 0" [ $rc = 0 ]
[ $rc = 0 ] || exit 1
if [ -n "${CLAW_DEB_OUT:-}" ]; then
    mkdir -p "$CLAW_DEB_OUT" && cp "$debs"/*.deb "$debs"/*.changes "$debs"/*.buildinfo "$CLAW_DEB_OUT"/
    echo "# packages kept in $CLAW_DEB_OUT"
fi

# The split the issue asks for; a package renamed or dropped from
# debian/control shows here rather than on an admin's apt-get.
for p in clawback_${version}_$arch clawback-exim_${version}_$arch \
        rspamd-clawback_${version}_all libclaw0_${version}_$arch libclaw-dev_${version}_$arch; do
    check "built $p.deb" [ -f "$debs/$p.deb" ]
done

# --- lintian -------------------------------------------------------------------
# Errors are what the Debian archive refuses; warnings are listed in the
# log to be read, not counted.
if command -v lintian > /dev/null 2>&1; then
    # TMPDIR: lintian leaves its mldbm-* scratch files behind; here they go with $tmp.
    TMPDIR="$tmp" lintian --tag-display-limit 0 "$debs/clawback_${version}_$arch.changes" > "$tmp/lintian.out" 2>&1
    sed 's/^/# lintian: /' "$tmp/lintian.out"
    check "lintian: no errors (E:)" sh -c "! grep -q '^E: ' '$tmp/lintian.out'"
else
    skip "lintian: no errors" "lintian is not installed"
fi

# --- what the packages hold, from a scratch root ---------------------------------
root="$tmp/root"
mkdir -p "$root"
for d in "$debs"/*.deb; do
    case "$d" in *-dbgsym_*) continue ;; esac
    dpkg -x "$d" "$root"
done
export LD_LIBRARY_PATH="$root/usr/lib/$ma"

# The first thing anyone runs: claw itself, linked and versioned right.
"$root/usr/bin/claw" --version > "$tmp/version" 2>&1; rc=$?
check "claw --version from the package: exit 0, says $upstream" \
    sh -c "[ $rc = 0 ] && grep -qx 'claw (Clawback) $upstream' '$tmp/version'"

# claw runs each command from a module in pkglibdir: a scan loads
# claw-mail.so and libclaw.so.0 from the packages (--version loads neither),
# so a module or library left out of a package fails here.
CLAW_MODULE_DIR="$root/usr/lib/$ma/clawback" "$root/usr/bin/claw" --config /dev/null \
    scan --json "$srcdir/tests/fixtures/html-phish.eml" > "$tmp/scan" 2> "$tmp/scan.err"; rc=$?
check "claw scan with the packaged modules and libclaw: exit 0, a verdict" \
    sh -c "[ $rc = 0 ] && grep -q '\"action\"' '$tmp/scan'"

# The shipped configuration must pass claw's own check as shipped: it is
# the conffile every installation starts from.
CLAW_MODULE_DIR="$root/usr/lib/$ma/clawback" "$root/usr/bin/claw" \
    --check-config "$root/etc/clawback/clawback.conf" > "$tmp/cc" 2>&1; rc=$?
check "claw --check-config on the packaged clawback.conf: exit 0" [ $rc = 0 ]

"$root/usr/sbin/clawd" --version > /dev/null 2>&1; rc=$?
check "clawd --version from the package: exit 0" [ $rc = 0 ]

# claw_exim.so starts claw-scanner by the path compiled into it, and the
# Exim snippets name claw_exim.so by the path configure gave: both must be
# where the packages put them, or Exim fails at its first message.
check "claw_exim.so names the packaged claw-scanner, which is there" \
    sh -c "grep -q '/usr/libexec/clawback/claw-scanner' '$root/usr/lib/$ma/clawback/claw_exim.so' &&
           [ -x '$root/usr/libexec/clawback/claw-scanner' ]"
check "the Exim snippet names the packaged claw_exim.so" \
    sh -c "grep -q '/usr/lib/$ma/clawback/claw_exim.so' '$root/usr/share/clawback/exim/clawback-main.conf' &&
           [ -f '$root/usr/lib/$ma/clawback/claw_exim.so' ]"

# The issue's requirement: an admin's edits to clawback.conf survive an
# upgrade, which dpkg does only for files listed as conffiles.
dpkg-deb -I "$debs/clawback_${version}_$arch.deb" conffiles > "$tmp/conffiles" 2>&1
check "clawback.deb: /etc/clawback/clawback.conf is a conffile" \
    grep -qx /etc/clawback/clawback.conf "$tmp/conffiles"

# --- maintainer scripts, run against stubs ----------------------------------------
# "Never start anything that is not configured": the postinst is run for a
# first installation and for an upgrade with every command it may call
# replaced by a stub that logs its arguments (PATH holds the stubs alone, so
# nothing on this machine is touched; a command without a stub fails the
# run). deb-systemd-helper answers as the real one does: on a first
# installation there is no state yet (debian-installed false, was-enabled
# true, which makes an enabling postinst enable); on this upgrade the unit
# was installed before and never enabled by the admin.
stubs="$tmp/stubs"
mkdir -p "$stubs" "$tmp/ctrl"
for c in systemctl deb-systemd-invoke systemd-sysusers systemd-tmpfiles; do
    printf '#!/bin/sh\necho "%s $*" >> "%s"\n' "$c" "$tmp/calls" > "$stubs/$c"
done
cat > "$stubs/deb-systemd-helper" <<STUB
#!/bin/sh
echo "deb-systemd-helper \$*" >> "$tmp/calls"
[ "\$1" = --quiet ] && shift
read -r scenario < "$tmp/scenario"
case "\$1 \$scenario" in
    "debian-installed install") exit 1 ;;
    "was-enabled upgrade") exit 1 ;;
esac
exit 0
STUB
chmod +x "$stubs/systemctl" "$stubs/deb-systemd-invoke" "$stubs/systemd-sysusers" \
    "$stubs/systemd-tmpfiles" "$stubs/deb-systemd-helper"
dpkg-deb -e "$debs/clawback_${version}_$arch.deb" "$tmp/ctrl"
if [ -f "$tmp/ctrl/postinst" ]; then
    : > "$tmp/calls"
    echo install > "$tmp/scenario"
    env -i PATH="$stubs" /bin/sh "$tmp/ctrl/postinst" configure > "$tmp/postinst.out" 2>&1; rc=$?
    sed 's/^/# postinst configure (install): /' "$tmp/calls" "$tmp/postinst.out"
    check "postinst (first installation): exit 0 with stubs" [ $rc = 0 ]
    check "postinst (first installation): enables and starts nothing" \
        sh -c "! grep -Eq '^(deb-systemd-invoke|systemctl .*(start|enable)|deb-systemd-helper enable)' '$tmp/calls'"
    : > "$tmp/calls"
    echo upgrade > "$tmp/scenario"
    env -i PATH="$stubs" /bin/sh "$tmp/ctrl/postinst" configure 0.0.1-1 > "$tmp/postinst.out" 2>&1; rc=$?
    sed 's/^/# postinst configure 0.0.1-1 (upgrade): /' "$tmp/calls" "$tmp/postinst.out"
    check "postinst (upgrade, clawd never enabled): exit 0, enables and starts nothing" \
        sh -c "[ $rc = 0 ] && ! grep -Eq '^deb-systemd-invoke (start|restart)|^systemctl .*(start|enable)|^deb-systemd-helper enable' '$tmp/calls'"
else
    skip "postinst starts nothing" "clawback has no postinst"
fi

# The user and the directories: upstream's sysusers.d and tmpfiles.d files,
# turned into postinst calls by dh_installsysusers and dh_installtmpfiles.
# The user must exist before tmpfiles creates directories it owns.
if [ -f "$root/usr/lib/sysusers.d/clawback.conf" ]; then
    check "postinst creates the user (systemd-sysusers clawback.conf), then the directories" \
        sh -c "grep -n 'systemd-sysusers.*clawback.conf' '$tmp/ctrl/postinst' > '$tmp/su' &&
               grep -n 'systemd-tmpfiles.*--create.*clawback.conf' '$tmp/ctrl/postinst' > '$tmp/tf' &&
               [ \$(cut -d: -f1 '$tmp/su') -lt \$(cut -d: -f1 '$tmp/tf') ]"
else
    fail "postinst creates the user: no usr/lib/sysusers.d/clawback.conf in the package"
fi

# What those calls do, done in the scratch root (--root: its own
# etc/passwd and etc/group, nothing of this machine's): the user clawd
# runs as and the group investigators join, then the directories, whose
# owners must resolve (a name sysusers does not create fails tmpfiles).
if [ -f "$root/usr/lib/sysusers.d/clawback.conf" ] && command -v systemd-sysusers > /dev/null 2>&1; then
    mkdir -p "$root/etc"
    systemd-sysusers --root="$root" clawback.conf > "$tmp/sysusers.out" 2>&1; rc=$?
    sed 's/^/# sysusers: /' "$tmp/sysusers.out"
    check "sysusers.d: creates user clawback, groups clawback and clawback-read" \
        sh -c "[ $rc = 0 ] && grep -q '^clawback:' '$root/etc/passwd' &&
               grep -q '^clawback:' '$root/etc/group' && grep -q '^clawback-read:' '$root/etc/group'"
    if [ ! -f "$root/usr/lib/tmpfiles.d/clawback.conf" ]; then
        fail "tmpfiles.d: no usr/lib/tmpfiles.d/clawback.conf in the package"
    elif [ "$(id -u)" != 0 ]; then
        skip "tmpfiles.d: creates the directories" "not root (the directories' owners cannot be set)"
    else
        systemd-tmpfiles --root="$root" --create clawback.conf > "$tmp/tmpfiles.out" 2>&1; rc=$?
        sed 's/^/# tmpfiles: /' "$tmp/tmpfiles.out"
        check "tmpfiles.d: creates the directories, owners resolved (exit 0)" [ $rc = 0 ]
    fi
else
    skip "sysusers.d: creates the user" "no sysusers.d file in the package, or no systemd-sysusers"
fi

# The unit as systemd reads it: a typo, an unknown key or a missing
# ExecStart binary shows only when an admin enables it. The scratch root's
# binaries stand in for /usr/sbin's.
unit="$root/lib/systemd/system/clawd.service"
if [ ! -f "$unit" ]; then
    fail "systemd-analyze verify clawd.service: the package holds no clawd.service"
elif ! command -v systemd-analyze > /dev/null 2>&1; then
    skip "systemd-analyze verify clawd.service" "systemd-analyze is not installed"
else
    mkdir -p "$tmp/unit"
    sed -e "s|^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/|\1$root/usr/|" "$unit" > "$tmp/unit/clawd.service"
    # --man=no: the unit's man: pages are in the scratch root, not in
    # /usr/share/man; they are looked for there below.
    systemd-analyze verify --man=no "$tmp/unit/clawd.service" > "$tmp/verify" 2>&1; rc=$?
    sed 's/^/# verify: /' "$tmp/verify"
    check "systemd-analyze verify clawd.service: exit 0, no complaint about it" \
        sh -c "[ $rc = 0 ] && ! grep -q 'clawd.service' '$tmp/verify'"
    missing=""
    for m in $(sed -n 's/^Documentation=//p' "$unit" | tr ' ' '\n' | sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p'); do
        [ -f "$root/usr/share/man/man${m##*.}/$m.gz" ] || missing="$missing $m"
    done
    check "the unit's Documentation= man pages are in the packages" [ -z "$missing" ]
    # On an upgrade a running clawd gets the new binary; a stopped one stays
    # stopped (dh_installsystemd --no-start: try-restart, never start).
    check "postinst restarts clawd on upgrade only if it runs (try-restart)" \
        sh -c "grep -q 'deb-systemd-invoke try-restart.*clawd.service' '$tmp/ctrl/postinst' &&
               ! grep -Eq 'deb-systemd-invoke (start|restart) ' '$tmp/ctrl/postinst'"
    # The query service (claw serve) for investigators: its socket and
    # service, verified together, and its module.
    for u in clawback-query.service clawback-query.socket; do
        sed -e "s|^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/|\1$root/usr/|" "$root/lib/systemd/system/$u" \
            > "$tmp/unit/$u" 2> /dev/null
    done
    (cd "$tmp/unit" && systemd-analyze verify --man=no clawback-query.socket clawback-query.service) \
        > "$tmp/verify" 2>&1; rc=$?
    sed 's/^/# verify: /' "$tmp/verify"
    check "systemd-analyze verify clawback-query.socket and .service: exit 0, no complaint" \
        sh -c "[ $rc = 0 ] && ! grep -q 'clawback-query' '$tmp/verify' && ls '$root'/usr/lib/*/clawback/claw-serve.so > /dev/null"
fi

# --- libclaw-dev ----------------------------------------------------------------
# What someone building against libclaw gets: the header, libclaw.so and
# libclaw.pc. Compiling, linking and running
# a caller is the only way to see that the three agree.
hdr=""
for h in clawback/claw.h claw.h; do
    [ -f "$root/usr/include/$h" ] && { hdr=$h; break; }
done
pc="$root/usr/lib/$ma/pkgconfig/libclaw.pc"
flags="-I$root/usr/include -L$root/usr/lib/$ma -lclaw"
if [ -f "$pc" ] && command -v pkg-config > /dev/null 2>&1; then
    check "libclaw.pc: pkg-config reads it" \
        env PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" \
        pkg-config --exists libclaw
    flags="-I$root/usr/include $(PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig" \
        PKG_CONFIG_SYSROOT_DIR="$root" pkg-config --cflags --libs libclaw)"
else
    fail "libclaw.pc: libclaw-dev holds none"
fi
# The issue asks for the header under clawback/ (#include <clawback/claw.h>),
# out of the way of other projects' claw.h.
check "libclaw-dev: the header is under clawback/" [ "$hdr" = clawback/claw.h ]
if [ -n "$hdr" ] && command -v cc > /dev/null 2>&1; then
    printf '#include <%s>\n#include <stdio.h>\nint main(void) { return claw_api_version() == CLAW_API_VERSION ? 0 : 1; }\n' \
        "$hdr" > "$tmp/caller.c"
    # shellcheck disable=SC2086
    cc -o "$tmp/caller" "$tmp/caller.c" $flags > "$tmp/cc.out" 2>&1 && "$tmp/caller"; rc=$?
    sed 's/^/# cc: /' "$tmp/cc.out"
    check "a caller of libclaw builds from libclaw-dev and runs against libclaw0" [ $rc = 0 ]
else
    skip "a caller of libclaw builds" "no header in libclaw-dev, or no C compiler"
fi

[ $n_fail = 0 ]
