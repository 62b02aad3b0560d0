#!/usr/bin/env python3
"""A resolver stub for tests: answers every query NXDOMAIN, offline.

  dns-stub.py [--port N] [--port-file FILE]

Listens on 127.0.0.1 (UDP and TCP). Each answer carries an SOA record in
the authority section and echoes the query's EDNS OPT record: rspamd's
resolver drops replies of about 28 bytes or less (a bare NXDOMAIN for a
short name) and would stall a second per query. With --port 0 (default)
the kernel picks the port, written to --port-file once it is listening.
"""
import argparse
import os
import socket
import struct
import threading


def soa():
    """An SOA for the root zone, as the authority of the NXDOMAIN."""
    def name(n):
        return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".") if p) + b"\0"
    rdata = name("ns.invalid") + name("hostmaster.invalid") + struct.pack(
        "!IIIII", 1, 3600, 600, 86400, 300)
    return b"\0" + struct.pack("!HHIH", 6, 1, 300, len(rdata)) + rdata


SOA = soa()


def answer(q):
    if len(q) < 12:
        return None
    qid, flags, qd, _, _, ar = struct.unpack("!HHHHHH", q[:12])
    if flags & 0x8000 or qd != 1:
        return None
    # The question: labels up to the root, then type and class.
    i = 12
    while i < len(q) and q[i]:
        if q[i] & 0xC0:
            return None
        i += 1 + q[i]
    i += 5
    if i > len(q):
        return None
    question = q[12:i]
    opt = b""
    if ar and i + 11 <= len(q) and q[i] == 0 and q[i + 1:i + 3] == b"\x00\x29":
        udp = struct.unpack("!H", q[i + 3:i + 5])[0]
        opt = b"\0" + struct.pack("!HHIH", 41, max(512, min(udp, 1232)), 0, 0)
    rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | 3  # QR, opcode, RD; AA, RA; NXDOMAIN
    head = struct.pack("!HHHHHH", qid, rflags, 1, 0, 1, 1 if opt else 0)
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
    args = ap.parse_args()
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
    serve_udp(udp)


if __name__ == "__main__":
    main()
