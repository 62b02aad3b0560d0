#!/usr/bin/env python3
"""DKIM-sign a message for the tests (RFC 6376: rsa-sha256, relaxed/relaxed).

  dkim-sign.py KEY.pem DOMAIN SELECTOR < message > signed
  dkim-sign.py --dns KEY.pem            the key's TXT value (v=DKIM1; k=rsa; p=...)

Debian has no DKIM signer that runs without a mail server; the RSA part is
OpenSSL's command line (openssl dgst -sign), the canonicalisation is the
RFC's few rules. The verifiers are the real ones: Exim's and rspamd's.
"""
import base64
import hashlib
import re
import subprocess
import sys

SIGNED = ["from", "to", "subject", "date", "message-id"]


def relaxed_header(name, value):
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    value = re.sub(r"[ \t]+", " ", value).strip()
    return "%s:%s\r\n" % (name.lower().strip(), value)


def relaxed_body(body):
    lines = body.replace("\r\n", "\n").split("\n")
    lines = [re.sub(r"[ \t]+", " ", line).rstrip(" ") for line in lines]
    while lines and lines[-1] == "":
        lines.pop()
    return "".join(line + "\r\n" for line in lines)


def split(message):
    head, _, body = message.replace("\r\n", "\n").partition("\n\n")
    fields = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += "\n" + line
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append([name, value])
    return head, fields, body


def sign(key, domain, selector, message):
    head, fields, body = split(message)
    bh = base64.b64encode(hashlib.sha256(relaxed_body(body).encode()).digest()).decode()
    present = [n for n in SIGNED if any(f[0].lower() == n for f in fields)]
    tags = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s; h=%s; bh=%s; b=" % (
        domain, selector, ":".join(present), bh)
    data = ""
    for n in present:
        value = [f[1] for f in fields if f[0].lower() == n][-1]
        data += relaxed_header(n, value)
    data += relaxed_header("DKIM-Signature", " " + tags).rstrip("\r\n")
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data.encode(),
                         capture_output=True, check=True).stdout
    b = base64.b64encode(sig).decode()
    return "DKIM-Signature: %s%s\n%s\n\n%s" % (tags, b, head, body)


def dns_value(key):
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def main():
    if sys.argv[1] == "--dns":
        print(dns_value(sys.argv[2]))
        return
    key, domain, selector = sys.argv[1:4]
    sys.stdout.write(sign(key, domain, selector, sys.stdin.read()))


if __name__ == "__main__":
    main()
