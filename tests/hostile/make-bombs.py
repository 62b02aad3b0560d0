#!/usr/bin/env python3
"""Write hostile messages into a directory, for tests/hostile/bombs.sh.

They are generated rather than shipped: together they are over 100 MB.
Each file name says what it is; bombs.sh names the anomaly each must get.
"""
import base64
import io
import os
import struct
import sys
import zipfile
import zlib

HDR = (
    "From: Mallory <mallory@example.net>\n"
    "To: victim@example.org\n"
    "Subject: bomb\n"
    "Date: Sun, 22 Nov 2026 10:00:00 +0000\n"
    "Message-ID: <bomb@example.net>\n"
    "MIME-Version: 1.0\n"
)


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def nesting(depth):
    out = io.StringIO()
    out.write(HDR)
    out.write('Content-Type: multipart/mixed; boundary="b0"\n\n')
    for i in range(1, depth):
        out.write("--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n" % (i - 1, i))
    out.write("--b%d\nContent-Type: text/plain\n\ndeep\n" % (depth - 1))
    for i in range(depth - 1, -1, -1):
        out.write("--b%d--\n" % i)
    return out.getvalue()


def many_parts(n):
    out = io.StringIO()
    out.write(HDR)
    out.write('Content-Type: multipart/mixed; boundary="p"\n\n')
    for i in range(n):
        out.write("--p\nContent-Type: text/plain\n\n%d\n" % i)
    out.write("--p--\n")
    return out.getvalue()


def attach(name, payload, ctype="application/zip"):
    b64 = base64.encodebytes(payload).decode()
    return (
        HDR
        + 'Content-Type: multipart/mixed; boundary="z"\n\n'
        + "--z\nContent-Type: text/plain\n\nsee attached\n"
        + '--z\nContent-Type: %s; name="%s"\n' % (ctype, name)
        + 'Content-Disposition: attachment; filename="%s"\n' % name
        + "Content-Transfer-Encoding: base64\n\n"
        + b64
        + "--z--\n"
    )


def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def recursive_zip(levels=4, fanout=16, leaf_mib=16):
    """42.zip-style: fanout^levels leaves of leaf_mib MiB of zeros each."""
    blob = zip_of([("0.dll", b"\0" * (leaf_mib << 20))])
    for level in range(levels):
        blob = zip_of([("lib%d_%d.zip" % (level, i), blob) for i in range(fanout)])
    return blob


def overlapping_zip(entries=256, kernel_mib=32):
    """Every central directory entry points at the same local file: each
    member expands to the same kernel (the non-recursive zip bomb idea)."""
    data = b"\0" * (kernel_mib << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    c = comp.compress(data) + comp.flush()
    crc = zlib.crc32(data) & 0xFFFFFFFF
    name = b"kernel"
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(c), len(data), len(name), 0
    ) + name + c
    cd = b""
    for i in range(entries):
        n = b"f%05d.bin" % i
        cd += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(c), len(data), len(n), 0, 0, 0, 0, 0, 0,
        ) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(cd), len(local), 0)
    return local + cd + eocd


def base64_line(mb):
    payload = os.urandom(3 * 1024 * 1024)
    line = base64.b64encode(payload * (mb // 4 + 1))[: mb * 1000 * 1000]
    return (
        HDR
        + 'Content-Type: application/octet-stream; name="blob.bin"\n'
        + "Content-Transfer-Encoding: base64\n\n"
    ).encode() + line + b"\n"


def many_headers(n):
    out = io.StringIO()
    out.write(HDR)
    for i in range(n):
        out.write("X-Filler-%d: %d\n" % (i, i))
    out.write("\nbody\n")
    return out.getvalue()


def nul_and_cr():
    return (
        HDR.encode()
        + b"Content-Type: text/plain\n\nline one\rline two\0with a NUL\r\nend\r\n"
        + b"\0" * 64
        + b"\n"
    )


def encoded_crlf():
    # Encoded words that decode to CR/LF: a header injection attempt in the
    # Subject, a display name and an attachment name.
    return (
        "From: =?utf-8?q?Boss=0D=0ABcc=3A_all=40example=2Eorg?= <boss@example.net>\n"
        "To: victim@example.org\n"
        "Subject: =?utf-8?b?"
        + base64.b64encode(b"Invoice\r\nX-Injected: yes\n\x1b[31mred").decode()
        + "?=\n"
        "Date: Sun, 22 Nov 2026 10:00:00 +0000\n"
        "Message-ID: <crlf@example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="c"\n\n'
        "--c\nContent-Type: text/plain\n\nhello\n"
        "--c\nContent-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=utf-8''evil%0D%0Aname.exe\n\n"
        "MZ\n--c--\n"
    )


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    write(d, "nesting-10000.eml", nesting(10000))
    write(d, "parts-100000.eml", many_parts(100000))
    write(d, "zip-recursive.eml", attach("42.zip", recursive_zip()))
    write(d, "zip-overlap.eml", attach("overlap.zip", overlapping_zip()))
    write(d, "base64-line-50mb.eml", base64_line(50))
    write(d, "headers-100000.eml", many_headers(100000))
    write(d, "nul-bare-cr.eml", nul_and_cr())
    write(d, "encoded-crlf.eml", encoded_crlf())


if __name__ == "__main__":
    main()
