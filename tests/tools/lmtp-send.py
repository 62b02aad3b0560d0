#!/usr/bin/env python3
"""A small LMTP client (RFC 2033) for the tests and the benchmark.

Python's smtplib.LMTP reads one reply after DATA; LMTP gives one per
recipient, so this client does it by hand.

  lmtp-send.py (--socket PATH | --port N [--host H]) [--from ADDR]
               [--rcpt ADDR]... [--xforward ADDR,HELO] [--connections N]
               [--list FILE] [--generate N] [--retry] [--drop-rate P]
               [--for SECONDS] [FILE...]

--generate N sends N small distinct messages (Message-ID gen-I@test.example)
instead of files; --retry resends a message whose recipients were not all
told 250 (a dropped connection, a 4xx), as an MTA's queue would, until they
are. --drop-rate P (with --retry) closes the connection at a random point
of a transaction with probability P (after MAIL, RCPT, DATA, in the middle
of the message, or once it is sent but before its replies are read), then
connects again and resends the message, as an MTA whose connection broke
does. --for SECONDS starts no new message after SECONDS (those started are
still sent until they are acknowledged): a load bounded in time, "sent"
then counts the messages started.

Prints one JSON line: {"sent": N, "replies": {"250": n, ...}, "seconds": s,
"ids": [...] (with --ids), "retries" and "drops" (with --retry)}. Exit 0
when every recipient of every message got 250, 1 otherwise.
"""
import argparse
import json
import random
import socket
import sys
import threading
import time


class Dropped(ConnectionError):
    """The client closed the connection on purpose (--drop-rate)."""


class Session:
    def __init__(self, args):
        self.drop_rate = args.drop_rate
        self.drop_at = None
        if args.socket:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect(args.socket)
        else:
            self.s = socket.create_connection((args.host, args.port))
        self.f = self.s.makefile("rb")
        self.reply()  # greeting
        self.cmd("LHLO test.example")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("connection closed")
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def maybe_drop(self, stage):
        """Close the connection at @stage if this transaction drops there."""
        if self.drop_at == stage:
            self.s.close()
            raise Dropped(f"dropped on purpose {stage}")

    def send(self, sender, rcpts, data, xforward=None):
        stages = ["mail", "rcpt", "data", "body", "end"]
        self.drop_at = random.choice(stages) if random.random() < self.drop_rate else None
        if xforward:
            addr, helo = xforward
            code, _ = self.cmd(f"XFORWARD ADDR={addr} HELO={helo}")
            if code != 250:  # a sender that relies on XFORWARD stops here
                return [str(code)] * len(rcpts), None
        code, _ = self.cmd(f"MAIL FROM:<{sender}>")
        if code != 250:
            return [str(code)] * len(rcpts), None
        self.maybe_drop("mail")
        ok = []
        codes = []
        for r in rcpts:
            c, _ = self.cmd(f"RCPT TO:<{r}>")
            if c == 250:
                ok.append(r)
            else:
                codes.append(str(c))
        if not ok:
            self.cmd("RSET")
            return codes, None
        self.maybe_drop("rcpt")
        c, _ = self.cmd("DATA")
        if c != 354:
            return codes + [str(c)] * len(ok), None
        self.maybe_drop("data")
        body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        lines = body.split(b"\r\n")
        body = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)
        if self.drop_at == "body":
            self.s.sendall(body[:random.randrange(len(body))])
        self.maybe_drop("body")
        self.s.sendall(body + b".\r\n")
        self.maybe_drop("end")
        ids = None
        for _ in ok:
            c, lines = self.reply()
            codes.append(str(c))
            if c == 250:
                parts = lines[-1].split()
                ids = parts[2] if len(parts) > 2 else None
        return codes, ids

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, ConnectionError):
            pass
        self.s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--from", dest="sender", default="sender@test.example")
    ap.add_argument("--rcpt", action="append", default=[])
    ap.add_argument("--xforward")
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--list")
    ap.add_argument("--ids", action="store_true")
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--retry", action="store_true")
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--for", dest="seconds", type=float)
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.drop_rate and not a.retry:
        ap.error("--drop-rate needs --retry (a dropped message is resent)")
    files = list(a.files)
    if a.list:
        files += [l.strip() for l in open(a.list) if l.strip()]
    files += [None] * a.generate

    def content(i):
        if files[i] is not None:
            return open(files[i], "rb").read()
        return (f"From: gen@test.example\nTo: rcpt@test.example\n"
                f"Subject: generated message {i}\nMessage-ID: <gen-{i}@test.example>\n"
                f"Date: Mon, 3 Mar 2025 10:00:00 +0000\n\nBody of message {i}, "
                f"word{i} and the usual text.\n").encode()
    rcpts = a.rcpt or ["archive@test.example"]
    xf = tuple(a.xforward.split(",", 1)) if a.xforward else None
    replies = {}
    ids = []
    lock = threading.Lock()
    nxt = [0]
    errors = []

    retries = [0]
    drops = [0]
    started = [0]

    def connect():
        for _ in range(600 if a.retry else 1):
            try:
                return Session(a)
            except (OSError, ConnectionError) as e:
                if not a.retry:
                    errors.append(str(e))
                    return None
                time.sleep(0.1)
        return None

    def worker():
        s = connect()
        if not s:
            return
        while True:
            with lock:
                i = nxt[0]
                if i >= len(files) or (a.seconds is not None and time.monotonic() - start > a.seconds):
                    break
                nxt[0] += 1
                started[0] = nxt[0]
            data = content(i)
            for attempt in range(600 if a.retry else 1):
                try:
                    codes, mid = s.send(a.sender, rcpts, data, xf)
                except (OSError, ConnectionError) as e:
                    codes, mid = ["dropped"], None
                    if isinstance(e, Dropped):
                        with lock:
                            drops[0] += 1
                    else:
                        errors.append(str(e))
                    s = connect()
                    if not s:
                        return
                if not a.retry or codes == ["250"] * len(rcpts):
                    break
                with lock:
                    retries[0] += 1
                time.sleep(0.05)
            with lock:
                for c in codes:
                    replies[c] = replies.get(c, 0) + 1
                if mid:
                    ids.append(mid)
        s.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = started[0] if a.seconds is not None else len(files)
    out = {"sent": sent, "replies": replies, "seconds": round(time.monotonic() - start, 3)}
    if a.ids:
        out["ids"] = ids
    if a.retry:
        out["retries"] = retries[0]
        out["drops"] = drops[0]
    if errors:
        out["errors"] = errors[:5]
    print(json.dumps(out))
    good = replies.get("250", 0) == sent * len(rcpts) and len(replies) == 1
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
