#!/usr/bin/env python3
"""Messages that each hide one indicator where a hunt must still find it.

  make-hunt-mail.py DIR   writes DIR/NAME.eml, and prints one line per
                          message: NAME, then the indicators (TYPE:VALUE,
                          as an analyst would write them) that it alone
                          holds, tab-separated.

Written for the suite (nobody else's mail): an HTML-only link, quoted-
printable and base64 bodies, a URL in an HTML attachment and in a .url
shortcut, a zip member and a member of a zip inside it, an IDN host
written in Unicode (and found by its A-label), a percent-encoded host, IPs
written as a decimal and a hex number, a subdomain of a bad domain, an IP
in a Received hop, an address in Reply-To only, and a clean message.
"""
import base64
import hashlib
import io
import os
import quopri
import sys
import zipfile

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def message(name, body, ctype="text/plain; charset=utf-8", cte=None, headers=()):
    h = [("From", "Alice <alice@sender.example>"), ("To", "bob@corp.example"),
         ("Subject", "hunt " + name), ("Message-ID", "<%s@sender.example>" % name),
         ("Date", "Mon, 02 Nov 2026 10:00:00 +0000")] + list(headers)
    text = "".join("%s: %s\n" % kv for kv in h)
    text += "MIME-Version: 1.0\nContent-Type: %s\n" % ctype
    if cte:
        text += "Content-Transfer-Encoding: %s\n" % cte
    with open(os.path.join(out, name + ".eml"), "w", encoding="utf-8") as f:
        f.write(text + "\n" + body)


def found(name, *iocs):
    print("\t".join((name,) + iocs))


message("html-only", '<html><body><a href="http://html-only.example/login">Your account</a>'
        '</body></html>\n', "text/html; charset=utf-8")
found("html-only", "url:http://HTML-only.example/login")

message("qp", quopri.encodestring(b"Pay at http://qp-link.example/pay?to=me today, a line long "
                                  b"enough that quoted-printable folds it somewhere\n").decode(),
        cte="quoted-printable")
found("qp", "url:http://qp-link.example/pay?to=me")

message("base64", base64.encodebytes(b"Visit http://b64-link.example/x today\n").decode(),
        cte="base64")
found("base64", "host:b64-link.example")

member = b"the payload member\n"
deep = b"a member of a zip inside the zip\n"
inner = io.BytesIO()
with zipfile.ZipFile(inner, "w") as z:
    z.writestr("deep.txt", deep)
outer = io.BytesIO()
with zipfile.ZipFile(outer, "w") as z:
    z.writestr("payload.txt", member)
    z.writestr("inner.zip", inner.getvalue())
b = "hunt-boundary"
message("attachments",
        "--%s\nContent-Type: text/plain\n\nsee attached\n"
        "--%s\nContent-Type: application/zip; name=\"a.zip\"\n"
        "Content-Disposition: attachment; filename=\"a.zip\"\n"
        "Content-Transfer-Encoding: base64\n\n%s\n"
        "--%s\nContent-Type: text/html; name=\"page.html\"\n"
        "Content-Disposition: attachment; filename=\"page.html\"\n\n"
        "<a href=\"http://in-html-attachment.example/\">x</a>\n"
        "--%s\nContent-Type: application/octet-stream; name=\"link.url\"\n"
        "Content-Disposition: attachment; filename=\"link.url\"\n\n"
        "[InternetShortcut]\nURL=http://in-dot-url.example/go\n--%s--\n"
        % (b, b, base64.encodebytes(outer.getvalue()).decode(), b, b, b),
        'multipart/mixed; boundary="%s"' % b)
found("attachments", "sha256:" + hashlib.sha256(member).hexdigest().upper(),
      "sha256:" + hashlib.sha256(deep).hexdigest(), "host:in-html-attachment.example",
      "url:http://in-dot-url.example/go")

message("idn", "Go to http://b\u00fccher-shop.example/ now\n")
found("idn", "host:xn--bcher-shop-9db.example", "domain:b\u00fccher-shop.example")

message("percent", "Go to http://%62ad-pct.example/ now\n")
found("percent", "domain:bad-pct.example")

message("numeric-ip", "Go to http://3232235777/ and http://0xC0A80102/ now\n")
found("numeric-ip", "ip:192.168.1.1", "ip:192.168.1.2", "ip:192.168.0.0/16")

message("subdomain", "Go to http://a.b.evil-sub.example/x now\n")
found("subdomain", "domain:evil-sub.example", "domain:b.evil-sub.example")

message("received", "plain text\n", headers=[
    ("Received", "from mx.bad-relay.example (mx.bad-relay.example [203.0.113.66]) by "
     "mx.corp.example with ESMTP id 1; Mon, 02 Nov 2026 10:00:00 +0000")])
found("received", "ip:203.0.113.66", "ip:203.0.113.0/24")

message("reply-to", "please pay the new account\n",
        headers=[("Reply-To", "Payments <payments@reply-fraud.example>")])
found("reply-to", "sender:Payments@Reply-Fraud.example", "domain:reply-fraud.example")

message("clean", "nothing here but http://good.example/\n")
found("clean")
