#!/bin/sh
# Every one of HTML5's named character references (html-entities.h) decodes
# as an outside decoder reads it: a message whose HTML holds each of them
# once, in a paragraph of its own, through `claw scan --json`, against
# Python's html.entities.html5 (the WHATWG table). Whitespace references
# (&Tab;, &NewLine;, &nbsp;...) are whitespace in the text, as the renderer
# folds it. And the link the issue named: shown as www.paypal&period;com.
. "$srcdir/tests/tools/tap.sh"
py=$("${PYTHON3:-python3}" -c 'import sys; print(sys.executable)')
"$py" - > "$tmp/all.eml" <<'PY'
import html.entities, sys
names = sorted(k for k in html.entities.html5 if k.endswith(";"))
body = "".join("<p>[%s]&%s</p>\n" % (k[:-1], k) for k in names)
sys.stdout.write("From: a@b.example\nTo: c@d.example\nSubject: entities\nMIME-Version: 1.0\n"
                 "Content-Type: text/html; charset=utf-8\n\n<html><body>\n" + body + "</body></html>\n")
PY
"$CLAW" --config /dev/null scan --json "$tmp/all.eml" > "$tmp/out.json"
"$py" - "$tmp/out.json" > "$tmp/result" <<'PY'
import html.entities, json, re, sys
text = json.load(open(sys.argv[1]))["texts"][0]["text"]
got = dict(re.findall(r"\[([A-Za-z0-9]+)\](.*?)(?=\n\[[A-Za-z0-9]+\]|\Z)", text, re.S))
bad = []
for k, want in html.entities.html5.items():
    if not k.endswith(";"):
        continue
    g = got.get(k[:-1])
    if g is None:
        bad.append("%s: missing" % k)
    elif g.strip() != want.strip() and not (want.isspace() and (g == "" or g.isspace())):
        bad.append("%s: %r, want %r" % (k, g, want))
print(len([k for k in html.entities.html5 if k.endswith(";")]), len(bad))
for b in bad[:10]:
    print("# " + b)
PY
read total bad < "$tmp/result"
sed -n '2,$p' "$tmp/result"
check "all $total named references decode as the WHATWG table says ($bad wrong)" \
    sh -c "[ '$total' -gt 2000 ] && [ '$bad' = 0 ]"

printf 'From: a@b.example\nTo: c@d.example\nSubject: t\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n<p><a href="http://evil.example/login?a=1&copy=2">www.paypal&period;com</a></p>\n' \
    > "$tmp/period.eml"
"$CLAW" --config /dev/null scan --json "$tmp/period.eml" > "$tmp/period.json"
check "a link shown as www.paypal&period;com is flagged URL_TEXT_MISMATCH" \
    grep -q '"URL_TEXT_MISMATCH"' "$tmp/period.json"
check "...and &copy=2 in its href stays the URL's query, as browsers read it" \
    grep -q '"url":"http://evil.example/login?a=1&copy=2"' "$tmp/period.json"
[ $n_fail = 0 ]
