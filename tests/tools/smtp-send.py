#!/usr/bin/env python3
"""A small SMTP client for the tests and benchmarks.

  smtp-send.py --port P [--host H] [--from ADDR] [--to ADDR]... FILE...
  smtp-send.py --port P --bench N-CONNECTIONS FILE...


Sends every FILE as one message over a single connection (RSET between
them) and prints, per file, one line: the final reply to its DATA (or to
the command that failed first), e.g. "250 OK id=1abc" or "550 Rejected...".
A dropped connection prints "DROP" for the remaining files and exits 3.
Lines are sent with CRLF and dot-stuffed. QUIT is sent without waiting for
the 221: Exim 4.96 waits up to 200 ms for the client to close first.

--bench C spreads the files over C parallel connections (a new connection
every --per-connection N messages, if given) and prints one
JSON line: messages, seconds, messages/s, the median and 99th percentile
of the time from the end of DATA to its reply (ms), and the reply codes.
"""
import argparse
import collections
import json
import socket
import sys
import threading
import time


class Dropped(Exception):
    pass


class Client:
    def __init__(self, host, port, timeout):
        self.s = socket.create_connection((host, port), timeout=timeout)
        # Replies are waited for after small writes: no Nagle delay.
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def reply(self):
        """The whole (multi-line) reply as (code, text of its last line)."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise Dropped()
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]) if line[:3].isdigit() else 0, " ".join(
                    l[4:] for l in lines)

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()


def data_bytes(raw):
    out = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    if out and out[-1] == b"":
        out.pop()
    return b"\r\n".join(out) + b"\r\n.\r\n"


def send_all(args, files, rcpts, codes, lat):
    """One connection, every file in turn; reply codes and latencies out."""
    c = Client(args.host, args.port, args.timeout)
    if c.reply()[0] != 220:
        raise Dropped()
    c.cmd("EHLO " + args.helo)
    for i, path in enumerate(files):
        with open(path, "rb") as f:
            raw = f.read()
        if i:
            c.cmd("RSET")
        code, _ = c.cmd("MAIL FROM:<%s>" % args.sender)
        for r in rcpts:
            if code == 250:
                code, _ = c.cmd("RCPT TO:<%s>" % r)
        if code == 250:
            code, _ = c.cmd("DATA")
            if code == 354:
                c.s.sendall(data_bytes(raw)[:-3])
                t = time.perf_counter()
                c.s.sendall(b".\r\n")
                code, _ = c.reply()
                lat.append(time.perf_counter() - t)
        codes[code] += 1
    c.s.sendall(b"QUIT\r\n")
    c.s.close()


def bench(args, rcpts):
    codes = collections.Counter()
    lat = []
    parts = [args.files[i::args.bench] for i in range(args.bench)]
    errors = []

    def run(files):
        k = args.per_connection or len(files)
        try:
            for i in range(0, len(files), k):
                send_all(args, files[i:i + k], rcpts, codes, lat)
        except (Dropped, OSError) as e:
            errors.append(str(e) or "dropped")
    threads = [threading.Thread(target=run, args=(p,)) for p in parts if p]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    print(json.dumps({
        "messages": sum(codes.values()), "seconds": round(secs, 3),
        "msgs_per_s": round(sum(codes.values()) / secs, 1),
        "p50_ms": round(1000 * lat[n // 2], 3) if n else None,
        "p99_ms": round(1000 * lat[min(n - 1, n * 99 // 100)], 3) if n else None,
        "codes": {str(k): v for k, v in sorted(codes.items())}, "errors": errors}))
    sys.exit(1 if errors else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--from", dest="sender", default="sender@outside.example")
    ap.add_argument("--to", action="append")
    ap.add_argument("--helo", default="client.outside.example")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--bench", type=int, metavar="CONNECTIONS")
    ap.add_argument("--per-connection", type=int, metavar="N",
                    help="with --bench: a new connection every N messages")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    rcpts = args.to or ["user@clawback.test"]
    if args.bench:
        bench(args, rcpts)

    done = 0
    try:
        c = Client(args.host, args.port, args.timeout)
        code, text = c.reply()
        if code != 220:
            raise Dropped()
        c.cmd("EHLO " + args.helo)
        for i, path in enumerate(args.files):
            with open(path, "rb") as f:
                raw = f.read()
            if i:
                c.cmd("RSET")
            code, text = c.cmd("MAIL FROM:<%s>" % args.sender)
            if code == 250:
                for r in rcpts:
                    code, text = c.cmd("RCPT TO:<%s>" % r)
                    if code != 250:
                        break
            if code == 250:
                code, text = c.cmd("DATA")
                if code == 354:
                    c.s.sendall(data_bytes(raw))
                    code, text = c.reply()
            print("%03d %s" % (code, text), flush=True)
            done += 1
        c.s.sendall(b"QUIT\r\n")
        c.s.close()
    except (Dropped, OSError):
        for _ in args.files[done:]:
            print("DROP", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
