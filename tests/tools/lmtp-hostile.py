#!/usr/bin/env python3
"""Hostile LMTP clients for tests/archive/lmtp-limits.sh, each watching the memory
of the clawd they talk to (--pid: its VmRSS sampled every 20 ms, and its
VmHWM at the end).

  lmtp-hostile.py --socket PATH --pid PID pipeline MB
      pipelines MB megabytes of VRFYs and reads no reply until all are
      sent or clawd stops taking them (or --hold seconds), then reads them
      all: every command must get its reply.
  lmtp-hostile.py --socket PATH --pid PID unfinished N MB
      N sessions each send MB megabytes of DATA and stop before the end;
      once all is sent (or after --hold seconds) each ends its message and
      reads the replies.
  lmtp-hostile.py --socket PATH --pid PID large MB
      one message of MB megabytes.
  lmtp-hostile.py --socket PATH --pid PID spent BUDGET_MB
      one session fills a BUDGET_MB memory budget but 16 KiB with a message
      it does not end; another's DATA is told until the first one ends.
  lmtp-hostile.py --socket PATH --pid PID trickle
      a message with dots to unstuff, bare CRs and CR CR LF, one byte a
      write; prints the id clawd stored it as.
  lmtp-hostile.py --socket PATH --pid PID held SECONDS
      for SECONDS opens a session every 20 ms and holds it; then each
      must still answer NOOP and QUIT ("held", "broken": those that did
      not, their socket closed under them or answered wrong).
  lmtp-hostile.py --socket PATH --pid PID bare-lf [TAIL]
      a DATA whose lines end in a bare LF and whose end is "\\n.\\n"
      (TAIL: the bytes that end it, as a Python bytes literal).

Prints one JSON line with what happened and "peak_rss_kb".
"""
import argparse
import ast
import json
import socket
import sys
import threading
import time


class Sampler(threading.Thread):
    """The highest VmRSS of a process, sampled until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def status(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, self.status("VmRSS"))
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.join()
        return max(self.peak, self.status("VmRSS"))


class Session:
    def __init__(self, path, timeout):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.reply()
        self.cmd("LHLO hostile.example")

    def reply(self):
        while True:
            line = self.f.readline()
            if not line:
                return "closed"
            if line[3:4] != b"-":
                return line.decode("utf-8", "replace").rstrip("\r\n")

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def envelope(self):
        self.cmd("MAIL FROM:<hostile@example.net>")
        self.cmd("RCPT TO:<victim@corp.example>")
        return self.cmd("DATA")


def body(mb, eol=b"\r\n"):
    """About MB megabytes of message: a header and lines of text."""
    line = b"x" * 76 + eol
    head = b"Subject: big" + eol + b"Message-ID: <big-%d@hostile.example>" % time.time_ns() + eol + eol
    return head + line * (mb * 1024 * 1024 // len(line))


def pipeline(a, out):
    s = Session(a.socket, a.timeout)
    # VRFY: 8 bytes in, 39 out, the most a command gets back but LHLO's.
    cmds = b"VRFY x\r\n" * (a.mb * 1024 * 1024 // 8)
    expect = cmds.count(b"\n")
    sent = [0]

    def writer():
        view = memoryview(cmds)
        try:
            while sent[0] < len(cmds):
                sent[0] += s.s.send(view[sent[0]:sent[0] + 65536])
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    # Not reading until everything is sent, or clawd has taken nothing
    # more for a second (it stopped reading), or --hold seconds.
    last, still, deadline = -1, 0, time.time() + a.hold
    while t.is_alive() and still < 4 and time.time() < deadline:
        t.join(0.25)
        still = still + 1 if sent[0] == last else 0
        last = sent[0]
    out["sent_before_reading"] = sent[0]
    got, buf = 0, b""
    deadline = time.time() + a.timeout
    while got < expect and time.time() < deadline:
        try:
            chunk = s.s.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk.count(b"\n")
        buf = chunk[-64:]
    t.join(1)
    out.update(commands=expect, replies=got, sent=sent[0], last=buf.decode(errors="replace").split("\r\n")[-2:])


def unfinished(a, out):
    data = body(a.mb)
    sessions = [Session(a.socket, a.timeout) for _ in range(a.n)]
    out["data"] = [s.envelope()[:3] for s in sessions]

    def push(s):
        try:
            s.s.sendall(data)
        except OSError:
            pass

    threads = [threading.Thread(target=push, args=(s,), daemon=True) for s in sessions]
    for t in threads:
        t.start()
    deadline = time.time() + a.hold
    for t in threads:
        t.join(max(0, deadline - time.time()))
    out["all_sent"] = not any(t.is_alive() for t in threads)
    for t in threads:
        t.join(a.timeout)
    for s in sessions:
        s.s.sendall(b"\r\n.\r\n")
    out["replies"] = [s.reply()[:9] for s in sessions]


def large(a, out):
    s = Session(a.socket, a.timeout)
    out["data"] = s.envelope()[:3]
    t0 = time.time()
    s.s.sendall(body(a.mb) + b".\r\n")
    out["reply"] = s.reply()
    out["seconds"] = round(time.time() - t0, 2)


def spent(a, out):
    """One session holds all of a BUDGET_MB budget but 16 KiB (a message
    not yet ended); another's DATA must be told 452 until it ends."""
    hog, other = Session(a.socket, a.timeout), Session(a.socket, a.timeout)
    out["hog_data"] = hog.envelope()[:3]
    head = b"Subject: hog\r\nMessage-ID: <hog-%d@hostile.example>\r\n\r\n" % time.time_ns()
    line = b"y" * 76 + b"\r\n"  # kept as 77 bytes: CRLF is stored as LF
    keep = a.budget_mb * 1024 * 1024 - 16384 - (len(head) - 3)
    hog.s.sendall(head + line * (keep // 77) + b"z" * (keep % 77))
    other.cmd("MAIL FROM:<other@example.net>")
    other.cmd("RCPT TO:<victim@corp.example>")
    deadline, told = time.time() + 20, None
    while time.time() < deadline:
        told = other.cmd("DATA")
        if not told.startswith("354"):
            break
        # clawd had not read all of the hog's bytes yet: end this one.
        other.s.sendall(b"Subject: early\r\n\r\nx\r\n.\r\n")
        other.reply()
        other.cmd("MAIL FROM:<other@example.net>")
        other.cmd("RCPT TO:<victim@corp.example>")
        time.sleep(0.2)
    out["other_data"] = told
    hog.s.sendall(b"\r\n.\r\n")
    out["hog"] = hog.reply()[:9]
    out["other_again"] = other.cmd("DATA")[:3]
    other.s.sendall(b"Subject: after\r\nMessage-ID: <after-hog@hostile.example>\r\n\r\nx\r\n.\r\n")
    out["other"] = other.reply()[:9]


TRICKLE = (b"Subject: trickle\r\nMessage-ID: <trickle@hostile.example>\r\n\r\n"
           b"..one dot\r\n...two dots\r\nbare\rCR\r\nCR CR LF\r\r\n.\r\r\n..\r\nend\r\n.\r\n")


def trickle(a, out):
    """A message with every case of the DATA reader (doubled dots, bare CR,
    CR CR LF, a dot before CR CR LF), sent one byte a write."""
    s = Session(a.socket, a.timeout)
    out["data"] = s.envelope()[:3]
    for i in range(len(TRICKLE)):
        s.s.sendall(TRICKLE[i:i + 1])
        time.sleep(0.001)
    out["reply"] = s.reply()
    out["id"] = out["reply"].split()[2] if out["reply"].startswith("250") else ""


def held(a, out):
    sessions, end = [], time.time() + a.seconds
    while time.time() < end:
        sessions.append(Session(a.socket, a.timeout))
        time.sleep(0.02)
    broken = 0
    for s in sessions:
        try:
            ok = s.cmd("NOOP").startswith("250") and s.cmd("QUIT").startswith("221")
        except OSError:
            ok = False
        broken += not ok
    out["held"], out["broken"] = len(sessions), broken


def bare_lf(a, out):
    s = Session(a.socket, a.timeout)
    out["data"] = s.envelope()[:3]
    tail = ast.literal_eval(a.tail) if a.tail else b"\n.\n"
    t0 = time.time()
    s.s.sendall(b"Subject: bare LF\nMessage-ID: <bare-lf@hostile.example>\n\nline one\nline two" + tail)
    out["reply"] = s.reply()
    out["seconds"] = round(time.time() - t0, 2)
    try:
        out["then"] = s.cmd("NOOP")
    except OSError:
        out["then"] = "closed"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("--timeout", type=float, default=60)
    sub = p.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("pipeline")
    sp.add_argument("mb", type=int)
    sp = sub.add_parser("unfinished")
    sp.add_argument("n", type=int)
    sp.add_argument("mb", type=int)
    sp = sub.add_parser("large")
    sp.add_argument("mb", type=int)
    sp = sub.add_parser("spent")
    sp.add_argument("budget_mb", type=int)
    sub.add_parser("trickle")
    sp = sub.add_parser("held")
    sp.add_argument("seconds", type=float)
    sp = sub.add_parser("bare-lf")
    sp.add_argument("tail", nargs="?")
    a = p.parse_args()
    sampler = Sampler(a.pid)
    sampler.start()
    out = {"mode": a.mode}
    try:
        {"pipeline": pipeline, "unfinished": unfinished, "large": large, "spent": spent,
         "trickle": trickle, "held": held, "bare-lf": bare_lf}[a.mode](a, out)
    except (OSError, socket.timeout) as e:
        out["error"] = str(e)
    out["peak_rss_kb"] = sampler.stop()
    out["hwm_kb"] = sampler.status("VmHWM")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
