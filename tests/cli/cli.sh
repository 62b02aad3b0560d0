#!/bin/sh
# claw's command line: usage, exit codes, stdin, config checking.
. "$srcdir/tests/tools/tap.sh"
fx="$srcdir/tests/fixtures"

"$CLAW" --help > "$tmp/help" 2>&1; rc=$?
check "--help exits 0" [ $rc -eq 0 ]
check "--help describes scan" grep -q "scan \[--config FILE\] \[--json\]" "$tmp/help"
"$CLAW" --version > "$tmp/v" 2>&1
check "--version prints the version" grep -q "^claw (Clawback) [0-9]" "$tmp/v"

"$CLAW" > /dev/null 2>&1; rc=$?
check "no command: usage error 64" [ $rc -eq 64 ]
"$CLAW" frobnicate > /dev/null 2> "$tmp/err"; rc=$?
check "unknown command: 64 and says so" sh -c "[ $rc -eq 64 ] && grep -q \"unknown command 'frobnicate'\" '$tmp/err'"
"$CLAW" scan > /dev/null 2>&1; rc=$?
check "scan without input: 64" [ $rc -eq 64 ]

"$CLAW" scan "$tmp/missing.eml" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "unreadable input: exit 2" [ $rc -eq 2 ]
check "unreadable input: error names the file" grep -q "missing.eml: No such file" "$tmp/err"
"$CLAW" scan "$tmp" > /dev/null 2> "$tmp/err"; rc=$?
check "a directory as input: exit 2" [ $rc -eq 2 ]

"$CLAW" scan --json "$fx/not-a-message.txt" > "$tmp/out"; rc=$?
check "not a message: exit 1" [ $rc -eq 1 ]
check "not a message: still one JSON line" [ "$(wc -l < "$tmp/out")" -eq 1 ]
check "not a message: NOT_A_MESSAGE code" grep -q '"code":"NOT_A_MESSAGE"' "$tmp/out"

"$CLAW" scan --json "$fx/plain.eml" "$fx/not-a-message.txt" "$fx/html-phish.eml" > "$tmp/out"; rc=$?
check "mixed inputs: exit 1 (one is not a message)" [ $rc -eq 1 ]
check "mixed inputs: one line per input" [ "$(wc -l < "$tmp/out")" -eq 3 ]

"$CLAW" scan --json - < "$fx/plain.eml" > "$tmp/out"; rc=$?
check "stdin: exit 0" [ $rc -eq 0 ]
check "stdin: named <stdin>" grep -q '"file":"<stdin>"' "$tmp/out"
cat "$fx/plain.eml" | "$CLAW" scan --json - > "$tmp/out2"
strip() { sed 's/"file":"[^"]*",//' "$1"; }
check "stdin through a pipe: same model as from a file" [ "$(strip "$tmp/out")" = "$(strip "$tmp/out2")" ]

"$CLAW" scan "$fx/plain.eml" > "$tmp/out"; rc=$?
check "readable summary: exit 0" [ $rc -eq 0 ]
check "readable summary: header line" grep -q "^== .*plain.eml" "$tmp/out"

# Every command's --help: usage on stdout, nothing on stderr, exit 0, and
# no archive touched (reindex --help used to run a reindex, creating the
# archive; check --help said "no archive here").
none="$tmp/no-archive"
for cmd in scan import search show export stats check reindex; do
    HOME="$tmp" "$CLAW" --config /dev/null --archive "$none" $cmd --help > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "$cmd --help: exit 0, usage on stdout, stderr empty" \
        sh -c "[ $rc -eq 0 ] && grep -q '^Usage: .* $cmd' '$tmp/out' && [ ! -s '$tmp/err' ]"
    check "$cmd --help: no archive created" [ ! -e "$none" ]
    "$CLAW" --config /dev/null --archive "$none" $cmd --bogus x > "$tmp/out" 2> "$tmp/err"; rc=$?
    check "$cmd --bogus: exit 64, usage on stderr, nothing created" \
        sh -c "[ $rc -eq 64 ] && grep -q '^Usage: .* $cmd' '$tmp/err' && [ ! -s '$tmp/out' ] && [ ! -e '$none' ]"
done
"$CLAW" --config /dev/null --archive "$none" import "$tmp/nonexistent" > /dev/null 2> "$tmp/err"; rc=$?
check "import of a missing path: exit 66 (EX_NOINPUT), names it, creates nothing" \
    sh -c "[ $rc -eq 66 ] && grep -q 'nonexistent: No such file' '$tmp/err' && [ ! -e '$none' ]"
"$CLAW" --config /dev/null --archive "$none" reindex > /dev/null 2> "$tmp/err"; rc=$?
check "reindex of a missing archive: exit 66, creates nothing" sh -c "[ $rc -eq 66 ] && [ ! -e '$none' ]"
"$CLAW" --config /dev/null --archive "$none" check --json > /dev/null 2> "$tmp/err"; rc=$?
check "check of a missing archive: exit 66" [ $rc -eq 66 ]

# A reader that closes the pipe early (claw ... | head) ends claw quietly
# with exit 0, whether SIGPIPE is inherited as default or ignored.
. "$srcdir/tests/cli/closed-pipe.sh"
closed_pipe "$CLAW" --config /dev/null scan "$fx/plain.eml" "$fx/html-phish.eml" > "$tmp/pipe"
check "scan into a closed pipe: exit 0, stderr empty ($(tr '\n' ' ' < "$tmp/pipe"))" \
    [ "$(cat "$tmp/pipe")" = "$(printf "0 ''\n0 ''")" ]

# Each command loads only what it uses: --help and usage errors libc alone
# (they used to load 41 libraries: GMime, ICU, Xapian ...).
loaded() { # loaded COMMAND...: the libraries the run initialised, one a line
    LD_DEBUG=libs "$@" 2>&1 > /dev/null | sed -n 's/.*calling init: //p' | sed 's|.*/||'
}
# (A sanitizer's runtime may be there too: the check names what must not.)
heavy="-e ^libclaw\. -e ^libgmime -e ^libicu -e ^libxapian -e ^libmagic -e ^libarchive -e ^libstdc++ -e ^libcrypto -e ^libglib"
loaded "$CLAW" --help > "$tmp/libs"
check "--help loads none of libclaw, GMime, ICU, Xapian, libstdc++... ($(tr '\n' ' ' < "$tmp/libs"))" \
    sh -c "grep -q '^libc\.so' '$tmp/libs' && ! grep -q $heavy '$tmp/libs'"
loaded "$CLAW" frobnicate > "$tmp/libs"
check "an unknown command loads none of them either" \
    sh -c "grep -q '^libc\.so' '$tmp/libs' && ! grep -q $heavy '$tmp/libs'"
loaded "$CLAW" --config /dev/null scan "$fx/plain.eml" > "$tmp/libs"
check "scan loads libclaw (the parser) and not the archive's libraries" \
    sh -c "grep -q '^libclaw\.so' '$tmp/libs' && ! grep -q -e '^libxapian' -e '^liblmdb' '$tmp/libs'"
# The archive module does not link libclaw: every libclaw function it calls
# must be defined in it (lib/base/, or cli-model.c's way to claw-mail.so),
# or the first call would end claw with "symbol lookup error".
mod="$builddir/search/.libs/claw-archive.so"
if [ -f "$mod" ]; then
    undef=$(nm -D --undefined-only "$mod" | awk '{ print $2 }' | grep '^_\{0,1\}claw_' | tr '\n' ' ')
    check "claw-archive.so leaves no claw_ function to be found at run time ($undef)" [ -z "$undef" ]
fi
CLAW_MODULE_DIR="$tmp/nowhere" "$CLAW" --config /dev/null stats > /dev/null 2> "$tmp/err"; rc=$?
check "a missing module: exit 69 (EX_UNAVAILABLE), and says which" \
    sh -c "[ $rc -eq 69 ] && grep -q 'claw-archive.so' '$tmp/err'"

# Configuration.
printf '[limits]\nmax_parts = 10\n' > "$tmp/good.conf"
"$CLAW" --check-config "$tmp/good.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config good file: OK, exit 0" sh -c "[ $rc -eq 0 ] && grep -q ': OK$' '$tmp/out'"
printf '[limits]\n\nmax_parts = ten\n' > "$tmp/bad.conf"
"$CLAW" --check-config "$tmp/bad.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config bad file: exit 78" [ $rc -eq 78 ]
check "--check-config bad file: file:line: message" grep -q "^$tmp/bad.conf:3: max_parts: expected a number, got 'ten'$" "$tmp/out"
# --check-config runs what the programs that read the file run (issue 19): the
# engine reads each indicator file, clawd checks its networks and its group.
printf 'url: http://ok.example/\n\nno type here\n' > "$tmp/iocs.txt"
printf '[ioc]\nfiles = %s\n' "$tmp/iocs.txt" > "$tmp/ioc.conf"
"$CLAW" --check-config "$tmp/ioc.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config: a malformed indicator line exits 78 with the indicator file's line ($(cat "$tmp/out"))" \
    sh -c "[ $rc -eq 78 ] && grep -q '^$tmp/iocs.txt:3: expected TYPE:VALUE' '$tmp/out'"
# A file that is not a configuration (no newline ever) is an error, read in
# bounded memory and time: /dev/zero as the file, and as an indicator file.
timeout 20 "$CLAW" --check-config /dev/zero > "$tmp/out" 2>&1; rc=$?
check "--check-config /dev/zero: exit 78, not OK ($(cat "$tmp/out"))" \
    sh -c "[ $rc -eq 78 ] && grep -q 'not a configuration file' '$tmp/out'"
printf '[ioc]\nfiles = /dev/zero\n' > "$tmp/zero-ioc.conf"
timeout 20 "$CLAW" --check-config "$tmp/zero-ioc.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config with /dev/zero as an indicator file: exit 78 ($(cat "$tmp/out"))" \
    sh -c "[ $rc -eq 78 ] && grep -q 'not an indicator file' '$tmp/out'"
printf '[clawd]\nallow = 127.0.0.0/8, 192.0.2.0/24/8\n' > "$tmp/allow.conf"
"$CLAW" --check-config "$tmp/allow.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config: a bad [clawd] allow network exits 78 with file:line ($(cat "$tmp/out"))" \
    sh -c "[ $rc -eq 78 ] && grep -q '^$tmp/allow.conf:2: allow: .192.0.2.0/24/8. is not' '$tmp/out'"
printf '[clawd]\n\nlisten = 127.0.0.1\n' > "$tmp/listen.conf"
"$CLAW" --check-config "$tmp/listen.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config: a [clawd] listen address without its port exits 78 with file:line" \
    sh -c "[ $rc -eq 78 ] && grep -q '^$tmp/listen.conf:3: listen: ' '$tmp/out'"
printf '[clawd]\nsocket_group = no-such-group-claw\n' > "$tmp/group.conf"
"$CLAW" --check-config "$tmp/group.conf" > "$tmp/out" 2>&1; rc=$?
check "--check-config: a [clawd] socket_group that does not exist exits 78 with file:line" \
    sh -c "[ $rc -eq 78 ] && grep -q '^$tmp/group.conf:2: \[clawd\] socket_group: no group' '$tmp/out'"
printf '[limits]\nmax_message_bytes = 64M\nmax_time = 2S\n' > "$tmp/units.conf"
"$CLAW" --config "$tmp/units.conf" --dump-config > "$tmp/out"
check "upper-case units load, and are written back as the file wrote them" \
    sh -c "grep -q '^max_message_bytes = 64M$' '$tmp/out' && grep -q '^max_time = 2S$' '$tmp/out'"
"$CLAW" --config "$tmp/nope.conf" scan "$fx/plain.eml" > /dev/null 2> "$tmp/err"; rc=$?
check "--config naming a missing file: 78" [ $rc -eq 78 ]
"$CLAW" --config "$tmp/bad.conf" scan "$fx/plain.eml" > /dev/null 2> "$tmp/err"; rc=$?
check "--config with an error: 78 and file:line" sh -c "[ $rc -eq 78 ] && grep -q 'bad.conf:3:' '$tmp/err'"
printf '[limits]\nmax_urls = 1\n' > "$tmp/urls.conf"
"$CLAW" scan --config "$tmp/urls.conf" --json "$fx/html-phish.eml" > "$tmp/out"
check "scan --config FILE applies the file" grep -q '"code":"LIMIT_URLS"' "$tmp/out"
"$CLAW" scan --set limits.max_urls=2000 --config "$tmp/urls.conf" --json "$fx/html-phish.eml" > "$tmp/out"
check "--set wins over --config whatever the order" sh -c "! grep -q '\"code\":\"LIMIT_URLS\"' '$tmp/out'"
"$CLAW" scan --config "$tmp/bad.conf" "$fx/plain.eml" > /dev/null 2> "$tmp/err"; rc=$?
check "scan --config with an error: 78 and file:line" sh -c "[ $rc -eq 78 ] && grep -q 'bad.conf:3:' '$tmp/err'"
"$CLAW" scan --set limits.max_parts=many "$fx/plain.eml" > /dev/null 2> "$tmp/err"; rc=$?
check "--set with a bad value: 78" [ $rc -eq 78 ]
"$CLAW" scan --set limits.max_parts "$fx/plain.eml" > /dev/null 2> "$tmp/err"; rc=$?
check "--set without =: 64" [ $rc -eq 64 ]
"$CLAW" scan --json --set limits.max_urls=1 "$fx/html-phish.eml" > "$tmp/out"
check "--set applies: LIMIT_URLS at 1" grep -q '"code":"LIMIT_URLS"' "$tmp/out"

# The shipped sample configuration is exactly what the option table says.
"$CLAW" --config /dev/null --dump-config > "$tmp/dump.conf"
check "conf/clawback.conf matches the option table" cmp -s "$tmp/dump.conf" "$srcdir/conf/clawback.conf"
"$CLAW" --check-config "$srcdir/conf/clawback.conf" > /dev/null 2>&1
check "the sample configuration checks clean" [ $? -eq 0 ]
sed 's/^#max_time = 2000$/max_time = 750ms/' "$srcdir/conf/clawback.conf" > "$tmp/edited.conf"
"$CLAW" --config "$tmp/edited.conf" --dump-config | grep -q '^max_time = 750ms$'
check "an uncommented sample option takes effect" [ $? -eq 0 ]

# clawback.conf(5) documents every option and every rule the code knows.
missing=""
for name in $(sed -n 's/^#\{0,1\}\([A-Za-z_]*\) =.*/\1/p' "$srcdir/conf/clawback.conf" | sort -u); do
    grep -q "^\.B $name\$" "$srcdir/conf/clawback.conf.5.in" || missing="$missing $name"
done
if [ -z "$missing" ]; then
    ok "clawback.conf(5) documents every option and rule"
else
    fail "clawback.conf(5) lacks:$missing"
fi

[ "$n_fail" -eq 0 ]
