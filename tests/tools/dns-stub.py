#!/usr/bin/env python3
"""A resolver stub for tests: answers from a small zone, offline; every
other name is NXDOMAIN.

  dns-stub.py [--port N] [--port-file FILE] [--zone FILE] [--log FILE]

Listens on 127.0.0.1 (UDP and TCP). Each negative answer carries an SOA
record in the authority section, and every answer echoes the query's EDNS
OPT record: rspamd's resolver drops replies of about 28 bytes or less (a
bare NXDOMAIN for a short name) and would stall a second per query. With
--port 0 (default) the kernel picks the port, written to --port-file once
it is listening. It ends when the process that started it does.

The zone file has a line per record, NAME TYPE VALUE:
  _dmarc.example.com  TXT       v=DMARC1; p=reject
  broken.example      SERVFAIL  (every query for the name fails)
  slow.example        DROP      (never answered: the client times out)
TXT values are the rest of the line, split into 255-byte strings; a name
may have several. A name with '*' is a pattern (_dmarc.*), used where no
name matches exactly. A name with records of other types answers NOERROR with
no data. The zone is read again when the file changes. --log appends each
question ("NAME TYPE") as it comes, for tests that count lookups.
"""
import argparse
import fnmatch
import os
import socket
import struct
import threading
import time


def soa():
    """An SOA for the root zone, as the authority of the NXDOMAIN."""
    def name(n):
        return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".") if p) + b"\0"
    rdata = name("ns.invalid") + name("hostmaster.invalid") + struct.pack(
        "!IIIII", 1, 3600, 600, 86400, 300)
    return b"\0" + struct.pack("!HHIH", 6, 1, 300, len(rdata)) + rdata


SOA = soa()
ZONE = {"path": None, "mtime": None, "records": {}}
LOG = {"path": None}
LOCK = threading.Lock()


def zone():
    """NAME -> [(TYPE, VALUE)], lower-case names, re-read when changed."""
    path = ZONE["path"]
    if not path:
        return {}
    with LOCK:
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return ZONE["records"]
        if mtime != ZONE["mtime"]:
            records = {}
            with open(path) as f:
                for raw in f:
                    parts = raw.strip().split(None, 2)
                    if len(parts) < 2 or parts[0].startswith("#"):
                        continue
                    name = parts[0].lower().rstrip(".")
                    records.setdefault(name, []).append(
                        (parts[1].upper(), parts[2] if len(parts) > 2 else ""))
            ZONE["records"], ZONE["mtime"] = records, mtime
        return ZONE["records"]


def txt_rdata(value):
    data = value.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def qname(q):
    """The question's name, lower-case, and where its labels end (at the
    root's zero byte); None for a compressed or cut name."""
    labels, i = [], 12
    while i < len(q) and q[i]:
        if q[i] & 0xC0:
            return None, i
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    return (".".join(labels).lower() if i < len(q) else None), i


def answer(q):
    if len(q) < 12:
        return None
    qid, flags, qd, _, _, ar = struct.unpack("!HHHHHH", q[:12])
    if flags & 0x8000 or qd != 1:
        return None
    # The question: labels up to the root, then type and class.
    name, end = qname(q)
    i = end + 5
    if name is None or i > len(q):
        return None
    question = q[12:i]
    opt = b""
    if ar and i + 11 <= len(q) and q[i] == 0 and q[i + 1:i + 3] == b"\x00\x29":
        udp = struct.unpack("!H", q[i + 3:i + 5])[0]
        opt = b"\0" + struct.pack("!HHIH", 41, max(512, min(udp, 1232)), 0, 0)
    qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
    if LOG["path"]:
        with LOCK, open(LOG["path"], "a") as f:
            f.write("%s %d\n" % (name, qtype))
    z = zone()
    records = z.get(name) or next(
        (r for pat, r in z.items() if "*" in pat and fnmatch.fnmatchcase(name, pat)), [])
    kinds = {k for k, _ in records}
    if "DROP" in kinds:
        return None
    base = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080  # QR, opcode, RD; AA, RA
    if "SERVFAIL" in kinds:
        return struct.pack("!HHHHHH", qid, base | 2, 1, 0, 0, 1 if opt else 0) + question + opt
    if records:
        txt = [v for k, v in records if k == "TXT"] if qtype == 16 else []
        head = struct.pack("!HHHHHH", qid, base, 1, len(txt), 0 if txt else 1, 1 if opt else 0)
        body = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(txt_rdata(v))) +
                        txt_rdata(v) for v in txt)
        return head + question + body + (b"" if txt else SOA) + opt
    head = struct.pack("!HHHHHH", qid, base | 3, 1, 0, 1, 1 if opt else 0)  # NXDOMAIN
    return head + question + SOA + opt


def serve_udp(sock):
    while True:
        q, peer = sock.recvfrom(4096)
        r = answer(q)
        if r:
            sock.sendto(r, peer)


def serve_tcp_client(conn):
    with conn:
        while True:
            n = conn.recv(2)
            if len(n) < 2:
                return
            want = struct.unpack("!H", n)[0]
            q = b""
            while len(q) < want:
                chunk = conn.recv(want - len(q))
                if not chunk:
                    return
                q += chunk
            r = answer(q)
            if not r:
                return
            conn.sendall(struct.pack("!H", len(r)) + r)


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--zone")
    ap.add_argument("--log")
    args = ap.parse_args()
    ZONE["path"], LOG["path"] = args.zone, args.log
    # The same number for UDP and TCP: a free UDP port may be taken for TCP
    # (by an Exim or rspamd of another test), so a chosen one is tried again.
    for attempt in range(100):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", args.port))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
            tcp.close()
            if args.port or attempt == 99:
                raise
    tcp.listen(16)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
    threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
    # Ends with the script that started it: a test that dies leaves no stub.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
