#!/bin/sh
# Golden output: `claw scan` (readable and JSON) over the fixtures in
# tests/fixtures must match tests/golden/ exactly. The golden files were
# reviewed by eye; after a deliberate change, regenerate them with
#   CLAW_UPDATE_GOLDEN=1 make check-one T=tests/golden/golden.sh
# and review the diff before committing.
. "$srcdir/tests/tools/tap.sh"
# Absolute paths: the loop runs inside the fixtures directory.
fx=$(cd "$srcdir/tests/fixtures" && pwd)
golden=$(cd "$srcdir/tests/golden" && pwd)
cd "$fx" || exit 1

for f in *.eml *.txt; do
    name=${f%.*}
    "$CLAW" scan "$f" > "$tmp/$name.txt" 2>&1
    "$CLAW" scan --json "$f" 2>&1 | "${PYTHON3:-python3}" -c '
import json, sys
for line in sys.stdin:
    print(json.dumps(json.loads(line), indent=1, ensure_ascii=False))' > "$tmp/$name.json" 2>&1
    for kind in txt json; do
        if [ -n "${CLAW_UPDATE_GOLDEN:-}" ]; then
            cp "$tmp/$name.$kind" "$golden/$name.$kind"
        fi
        if diff -u "$golden/$name.$kind" "$tmp/$name.$kind" > "$tmp/diff" 2>&1; then
            ok "golden $name.$kind"
        else
            fail "golden $name.$kind"
            sed 's/^/#  /' "$tmp/diff" | head -40
        fi
    done
done
[ "$n_fail" -eq 0 ]
