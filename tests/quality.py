#!/usr/bin/env python3
"""make quality: how the classifier judges real mail.

  quality.py --claw CLAW [--config FILE] [--out FILE] SET=DIR...

Runs `claw scan --json` over every file of each set (two processes at a
time) and writes, per set, the share of messages at each action and the
number of messages each rule fired on, so weak or noisy rules are visible.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ACTIONS = ["accept", "tag", "quarantine", "reject"]


def scan(claw, config, files):
    cmd = [claw] + (["--config", config] if config else []) + ["scan", "--json"] + files
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return [json.loads(l) for l in out.split(b"\n") if l]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--claw", required=True)
    ap.add_argument("--config")
    ap.add_argument("--out")
    ap.add_argument("sets", nargs="+")
    args = ap.parse_args()

    lines = []
    lines.append("# make quality (Clawback), %s; config: %s" %
                 (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  os.path.basename(args.config) if args.config else "built-in defaults"))
    lines.append("# share of messages per action, then messages per rule")
    rule_lines = []
    all_rules = collections.Counter()
    per_set = []
    for spec in args.sets:
        name, d = spec.split("=", 1)
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs)
        batches = [files[i:i + 400] for i in range(0, len(files), 400)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = [m for b in pool.map(lambda b: scan(args.claw, args.config, b), batches)
                       for m in b]
        actions = collections.Counter(m["action"] for m in results)
        rules = collections.Counter(r["rule"] for m in results for r in m["rules"])
        all_rules.update(rules.keys())
        per_set.append((name, len(results), actions, rules))
    lines.append("%-22s %7s %8s %8s %8s %8s %8s" %
                 ("set", "msgs", "accept%", "tag%", "quar%", "reject%", ">=tag%"))
    for name, n, actions, _ in per_set:
        pct = [100.0 * actions[a] / n for a in ACTIONS]
        lines.append("%-22s %7d %8.2f %8.2f %8.2f %8.2f %8.2f" %
                     (name, n, pct[0], pct[1], pct[2], pct[3], 100 - pct[0]))
    lines.append("")
    lines.append("%-30s" % "rule" + "".join("%22s" % name[:22] for name, *_ in per_set))
    for rule in sorted(all_rules):
        lines.append("%-30s" % rule + "".join(
            "%22s" % ("%d (%.2f%%)" % (r[rule], 100.0 * r[rule] / n)) for _, n, _, r in per_set))
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
