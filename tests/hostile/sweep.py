#!/usr/bin/env python3
"""Run `claw scan --json` over many files and check every outcome (TAP).

  sweep.py --claw CLAW [--jobs N] [--batch N] [--max-rss-mb M] [--sanitized]
           [--messages SET...] [--expect CODE...] [--max-seconds S] FILE|DIR...

For every input it checks: exactly one JSON line comes back naming it; the
process neither crashed nor hung (exit 0 or 1, within --max-seconds per
batch); no message hit LIMIT_TIME (the per-message deadline) unless
expected; memory stayed under --max-rss-mb; with --sanitized, stderr holds
no AddressSanitizer, LeakSanitizer or UBSan report. --messages names path
parts (e.g. ham-trec07p) whose files must all parse as messages. --expect
lists anomaly codes every input must carry (for the bombs).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def run_batch(args, files):
    """Like run_batch but with the child's own peak RSS via wait4."""
    cmd = [args.claw, "scan", "--json"] + args.set + files
    start = time.monotonic()
    out_r, out_w = os.pipe()
    err_path = "/tmp/claw-sweep-%d-%d.err" % (os.getpid(), threading.get_ident())
    with open(err_path, "wb") as errf:
        pid = os.fork()
        if pid == 0:
            os.dup2(out_w, 1)
            os.dup2(errf.fileno(), 2)
            os.close(out_r)
            os.execv(args.claw if os.path.isabs(args.claw) else os.path.abspath(args.claw), cmd)
        os.close(out_w)
        killed = []

        def kill():
            killed.append(True)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(args.max_seconds, kill)
        timer.start()
        chunks = []
        while True:
            b = os.read(out_r, 1 << 20)
            if not b:
                break
            chunks.append(b)
        os.close(out_r)
        _, status, ru = os.wait4(pid, 0)
        timer.cancel()
    with open(err_path, "rb") as f:
        err = f.read()
    os.unlink(err_path)
    rc = os.waitstatus_to_exitcode(status)
    return rc, b"".join(chunks), err, time.monotonic() - start, ru.ru_maxrss, bool(killed)


def expand(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for n in sorted(names):
                    files.append(os.path.join(root, n))
        else:
            files.append(p)
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--claw", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--max-rss-mb", type=int, default=0)
    ap.add_argument("--sanitized", action="store_true")
    ap.add_argument("--messages", nargs="*", default=[])
    ap.add_argument("--expect", nargs="*", default=[],
                    help="codes every input must carry; A|B accepts either")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--label", default="sweep")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    args.set = [x for s in args.set for x in ("--set", s)]

    files = expand(args.paths)
    batches = [files[i:i + args.batch] for i in range(0, len(files), args.batch)]
    failures = []
    stats = {"files": len(files), "messages": 0, "not_messages": 0, "unscannable": 0,
             "max_rss_mb": 0.0, "seconds": 0.0}
    codes = {}

    def one(batch):
        return batch, run_batch(args, batch)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for batch, (rc, out, err, secs, rss_kb, killed) in pool.map(one, batches):
            stats["seconds"] += secs
            stats["max_rss_mb"] = max(stats["max_rss_mb"], rss_kb / 1024)
            label = "%s (+%d more)" % (batch[0], len(batch) - 1) if len(batch) > 1 else batch[0]
            if killed:
                failures.append("%s: killed after %.0f s (hang?)" % (label, args.max_seconds))
                continue
            if rc not in (0, 1):
                failures.append("%s: exit status %d: %s" % (label, rc,
                                                           err.decode(errors="replace")[-400:]))
            text = err.decode(errors="replace")
            if args.sanitized and any(m in text for m in SANITIZER_MARKS):
                failures.append("%s: sanitizer report: %s" % (label, text[:1500]))
            if args.max_rss_mb and rss_kb / 1024 > args.max_rss_mb:
                failures.append("%s: peak memory %.0f MB over %d MB" %
                                (label, rss_kb / 1024, args.max_rss_mb))
            # Split on LF only: str.splitlines() would also split on U+0085
            # and friends, which are legal inside a JSON string.
            lines = out.decode("utf-8", errors="replace").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if len(lines) != len(batch):
                failures.append("%s: %d JSON lines for %d inputs" % (label, len(lines),
                                                                     len(batch)))
                continue
            for path, line in zip(batch, lines):
                try:
                    d = json.loads(line)
                except ValueError as e:
                    failures.append("%s: invalid JSON: %s" % (path, e))
                    continue
                if d.get("file") != path:
                    failures.append("%s: output names %r" % (path, d.get("file")))
                got = {a["code"] for a in d["anomalies"]}
                for c in got:
                    codes[c] = codes.get(c, 0) + 1
                if d["is_message"]:
                    stats["messages"] += 1
                else:
                    stats["not_messages"] += 1
                    if any(m in path for m in args.messages):
                        failures.append("%s: real mail read as not a message: %s" %
                                        (path, d["anomalies"][:3]))
                if d["unscannable"]:
                    stats["unscannable"] += 1
                expected = {c for alt in args.expect for c in alt.split("|")}
                if "LIMIT_TIME" in got and "LIMIT_TIME" not in expected:
                    failures.append("%s: over the per-message time limit" % path)
                missing = [c for c in args.expect if not set(c.split("|")) & got]
                if missing:
                    failures.append("%s: missing anomalies %s (got %s)" %
                                    (path, missing, sorted(got)))

    name = args.label
    if failures:
        print("not ok - %s: %d problems" % (name, len(failures)))
        for f in failures[:30]:
            print("#  " + f.replace("\n", "\n#  "))
    else:
        print("ok - %s: %d inputs, %d messages, %d not messages, %d unscannable, "
              "peak %.0f MB" % (name, stats["files"], stats["messages"],
                                stats["not_messages"], stats["unscannable"],
                                stats["max_rss_mb"]))
    print("# anomaly codes: " + ", ".join("%s=%d" % kv for kv in sorted(codes.items())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
