#!/usr/bin/env python3
"""make quality: how the classifier judges real mail.

  quality.py --claw CLAW [--config FILE] [--rspamd HOST:PORT] [--out FILE] SET=DIR...

Runs `claw scan --json` over every file of each set (two processes at a
time) and writes, per set, the share of messages at each action and the
number of messages each rule fired on, so weak or noisy rules are visible.

With --rspamd, every message also goes to that rspamd's /checkv2 (four
connections at a time) and its actions are written beside Clawback's: as
rspamd gives them, and again without the symbols that fire only because
the scan is offline or the mail is old (OFFLINE below), using the stock
thresholds (add header 6, reject 15).
"""
import argparse
import collections
import http.client
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ACTIONS = ["accept", "tag", "quarantine", "reject"]
RSPAMD_TAG, RSPAMD_REJECT = 6.0, 15.0
# Symbols that an offline scan of old mail gets whatever the message is:
# no DNS (every name NXDOMAIN here) and dates long past.
OFFLINE = {"DATE_IN_PAST", "HFILTER_HOSTNAME_UNKNOWN", "HFILTER_FROMHOST_NORES_A_OR_MX",
           "HFILTER_HELO_NORES_A_OR_MX", "HFILTER_HELO_NORESOLVE_MX",
           "HFILTER_FROMHOST_NORESOLVE_MX", "RDNS_NONE", "RDNS_DNSFAIL", "AUTH_NA",
           "R_SPF_DNSFAIL", "R_DKIM_TEMPFAIL", "DMARC_DNSFAIL", "R_SPF_NA"}


def offline_symbol(name):
    return name in OFFLINE or name.endswith("_DNSFAIL") or name.endswith("_TEMPFAIL")


def rspamd_scan(hostport, files):
    """(score, offline-adjusted score, action) per file, in order."""
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    out = []
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        for attempt in range(3):
            try:
                conn.request("POST", "/checkv2", body=body)
                r = json.loads(conn.getresponse().read())
                break
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                r = None
        if r is None:
            out.append(None)
            continue
        score = r.get("score", 0.0)
        offline = sum(s.get("score", 0.0) for n, s in r.get("symbols", {}).items()
                      if offline_symbol(n))
        out.append((score, score - offline, r.get("action", "")))
    conn.close()
    return out


def scan(claw, config, files):
    cmd = [claw] + (["--config", config] if config else []) + ["scan", "--json"] + files
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return [json.loads(l) for l in out.split(b"\n") if l]


def scan_all(claw, config, files):
    """`claw scan --json` over @files, two processes at a time, in order."""
    batches = [files[i:i + 400] for i in range(0, len(files), 400)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [m for b in pool.map(lambda b: scan(claw, config, b), batches) for m in b]


def emit(lines, out):
    """Write @lines to the file @out (if given) and to standard output."""
    text = "\n".join(lines) + "\n"
    if out:
        with open(out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--claw", required=True)
    ap.add_argument("--config")
    ap.add_argument("--out")
    ap.add_argument("--rspamd", metavar="HOST:PORT")
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
    rspamd_rows = []
    for spec in args.sets:
        name, d = spec.split("=", 1)
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs)
        results = scan_all(args.claw, args.config, files)
        actions = collections.Counter(m["action"] for m in results)
        rules = collections.Counter(r["rule"] for m in results for r in m["rules"])
        all_rules.update(rules.keys())
        per_set.append((name, len(results), actions, rules))
        if args.rspamd:
            chunks = [files[i::4] for i in range(4)]
            with ThreadPoolExecutor(max_workers=4) as pool:
                scans = [x for c in pool.map(lambda c: rspamd_scan(args.rspamd, c), chunks)
                         for x in c]
            rspamd_rows.append((name, scans))
    lines.append("%-22s %7s %8s %8s %8s %8s %8s" %
                 ("set", "msgs", "accept%", "tag%", "quar%", "reject%", ">=tag%"))
    for name, n, actions, _ in per_set:
        pct = [100.0 * actions[a] / n for a in ACTIONS]
        lines.append("%-22s %7d %8.2f %8.2f %8.2f %8.2f %8.2f" %
                     (name, n, pct[0], pct[1], pct[2], pct[3], 100 - pct[0]))
    if rspamd_rows:
        lines.append("")
        lines.append("# side by side on the same messages: share at tag or above, and at reject")
        lines.append("# (Clawback: quarantine or reject). rspamd 3.4, stock rules, offline, DNS")
        lines.append("# answered NXDOMAIN; 'w/o offline' leaves out %s,"
                     % ", ".join(sorted(OFFLINE)))
        lines.append("# *_DNSFAIL and *_TEMPFAIL.")
        lines.append("%-22s %7s %10s %10s %10s %10s %10s %10s %6s" %
                     ("set", "msgs", "claw>=tag", "claw>=quar", "rspamd>=tag", "rspamd rej",
                      "w/o offl.", "w/o rej", "errors"))
        for (name, n, actions, _), (_, scans) in zip(per_set, rspamd_rows):
            ok = [x for x in scans if x]
            k = max(1, len(ok))
            lines.append("%-22s %7d %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %6d" % (
                name, n, 100.0 * (n - actions["accept"]) / n,
                100.0 * (actions["quarantine"] + actions["reject"]) / n,
                100.0 * sum(1 for x in ok if x[0] >= RSPAMD_TAG) / k,
                100.0 * sum(1 for x in ok if x[0] >= RSPAMD_REJECT) / k,
                100.0 * sum(1 for x in ok if x[1] >= RSPAMD_TAG) / k,
                100.0 * sum(1 for x in ok if x[1] >= RSPAMD_REJECT) / k,
                len(scans) - len(ok)))
    lines.append("")
    lines.append("%-30s" % "rule" + "".join("%22s" % name[:22] for name, *_ in per_set))
    for rule in sorted(all_rules):
        lines.append("%-30s" % rule + "".join(
            "%22s" % ("%d (%.2f%%)" % (r[rule], 100.0 * r[rule] / n)) for _, n, _, r in per_set))
    emit(lines, args.out)


if __name__ == "__main__":
    main()
