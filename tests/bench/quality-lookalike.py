#!/usr/bin/env python3
"""make quality, part two: lookalike domains.

  quality-lookalike.py --claw CLAW [--out FILE] HAMDIR...

1. Twenty real domains (airlines, couriers, banks, pharma) are configured,
   ten as protected and ten as partner domains. Every permutation dnstwist
   generates for them (its own fuzzers, with its English dictionary and its
   common and abused TLD lists) is put in the From of a message, and
   `claw scan` must flag LOOKALIKE_DOMAIN. Internationalised permutations
   are tried twice: as dnstwist prints them (xn--) and in UTF-8 (RFC 6532).
   Goal: >= 99% flagged, overall and per fuzzer.
2. The distinct sender domains (From, Sender, Reply-To, Return-Path) of the
   ham corpora are put in the From of a message each, with the same policy.
   Goal: <= 0.1% flagged.

dnstwist is Debian's package (apt-get install dnstwist); it generates
permutations offline and is imported, not run, so nothing is resolved.
"""
import argparse
import collections
import email.parser
import email.policy
import email.utils
import os
import subprocess
import sys
import tempfile
import time

from quality import emit, scan_all  # tests/bench/quality.py, beside this script

sys.path.append("/usr/lib/python3/dist-packages")
try:
    import dnstwist
except ImportError:
    sys.exit("quality-lookalike: dnstwist is missing (apt-get install dnstwist)")

DICTS = "/usr/share/dnstwist/dictionaries"
PROTECTED = ["lufthansa.com", "britishairways.com", "emirates.com", "delta.com",
             "airfrance.com", "dhl.com", "fedex.com", "ups.com", "maersk.com", "dpd.com"]
PARTNERS = ["hsbc.com", "barclays.co.uk", "santander.com", "bnpparibas.com", "ing.com",
            "pfizer.com", "novartis.com", "roche.com", "bayer.com", "sanofi.com"]


def words(name):
    with open(os.path.join(DICTS, name)) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def permutations():
    """(target, fuzzer, domain) for every permutation of every target."""
    english = words("english.dict")
    tlds = sorted(set(words("common_tlds.dict") + words("abused_tlds.dict")))
    out = []
    for target in PROTECTED + PARTNERS:
        fz = dnstwist.Fuzzer(target, dictionary=english, tld_dictionary=tlds)
        fz.generate()
        for p in sorted(fz.domains, key=lambda p: (p["fuzzer"], p["domain"])):
            d = p["domain"]
            if p["fuzzer"] == "*original" or d in PROTECTED + PARTNERS:
                continue
            out.append((target, p["fuzzer"], d))
            if d.startswith("xn--") or ".xn--" in d:
                try:
                    u = d.encode().decode("idna")
                except UnicodeError:
                    continue
                out.append((target, p["fuzzer"] + " (UTF-8)", u))
    return out


def write_messages(tmp, domains):
    """One message per domain, From: someone@domain; returns the paths."""
    paths = []
    for i, d in enumerate(domains):
        p = os.path.join(tmp, "%07d.eml" % i)
        with open(p, "wb") as f:
            f.write(("From: \"Accounts\" <accounts@%s>\nTo: ap@corp.example\n"
                     "Subject: invoice\nMessage-ID: <%d@q>\n\nplease see the invoice\n"
                     % (d, i)).encode())
        paths.append(p)
    return paths


def ham_sender_domains(dirs):
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    domains = set()
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    head = f.read(65536)
                try:
                    h = parser.parsebytes(head)
                except Exception:
                    continue
                for field in ("From", "Sender", "Reply-To", "Return-Path"):
                    for v in h.get_all(field) or []:
                        for _, addr in email.utils.getaddresses([str(v)]):
                            dom = addr.rpartition("@")[2].strip().strip(">").lower()
                            if "." in dom and "@" in addr and all(
                                    c.isalnum() or c in "-." for c in dom):
                                domains.add(dom.rstrip("."))
    return sorted(domains)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--claw", required=True)
    ap.add_argument("--out")
    ap.add_argument("ham", nargs="*")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="claw-lookalike.")
    config = os.path.join(tmp, "policy.conf")
    with open(config, "w") as f:
        f.write("[policy]\nprotected_domains = %s\npartner_domains = %s\n"
                % (", ".join(PROTECTED), ", ".join(PARTNERS)))

    lines = ["# make quality: lookalike domains (Clawback), %s"
             % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "# protected: " + ", ".join(PROTECTED),
             "# partners:  " + ", ".join(PARTNERS),
             "# dnstwist %s, English dictionary, common+abused TLDs; each in From:"
             % getattr(dnstwist, "__version__", "?")]

    perms = permutations()
    pdir = os.path.join(tmp, "perm")
    os.mkdir(pdir)
    results = scan_all(args.claw, config, write_messages(pdir, [d for _, _, d in perms]))
    assert len(results) == len(perms), "claw scan lost messages"
    by_fuzzer = collections.defaultdict(lambda: [0, 0])
    by_target = collections.defaultdict(lambda: [0, 0])
    missed = []
    for (target, fuzzer, d), m in zip(perms, results):
        hit = any(r["rule"] == "LOOKALIKE_DOMAIN" for r in m["rules"])
        for table, key in ((by_fuzzer, fuzzer), (by_target, target)):
            table[key][0] += 1
            table[key][1] += hit
        if not hit:
            missed.append((target, fuzzer, d))
    total = len(perms)
    flagged = total - len(missed)
    lines.append("permutations flagged: %d of %d (%.2f%%)  goal >= 99%%"
                 % (flagged, total, 100.0 * flagged / total))
    lines.append("")
    lines.append("%-24s %8s %8s %8s" % ("fuzzer", "domains", "flagged", "%"))
    for k in sorted(by_fuzzer):
        n, h = by_fuzzer[k]
        lines.append("%-24s %8d %8d %8.2f" % (k, n, h, 100.0 * h / n))
    lines.append("")
    lines.append("%-24s %8s %8s %8s" % ("target", "domains", "flagged", "%"))
    for k in PROTECTED + PARTNERS:
        n, h = by_target[k]
        lines.append("%-24s %8d %8d %8.2f" % (k, n, h, 100.0 * h / n))
    if missed:
        lines.append("")
        lines.append("missed (up to 6 per fuzzer):")
        shown = collections.Counter()
        for target, fuzzer, d in missed:
            shown[fuzzer] += 1
            if shown[fuzzer] <= 6:
                lines.append("  %-18s %-22s %s" % (target, fuzzer, d))

    if args.ham:
        domains = ham_sender_domains(args.ham)
        hdir = os.path.join(tmp, "ham")
        os.mkdir(hdir)
        results = scan_all(args.claw, config, write_messages(hdir, domains))
        assert len(results) == len(domains), "claw scan lost messages"
        noisy = [(d, r["detail"]) for d, m in zip(domains, results)
                 for r in m["rules"] if r["rule"] == "LOOKALIKE_DOMAIN"]
        lines.append("")
        lines.append("ham sender domains flagged: %d of %d (%.3f%%)  goal <= 0.1%%   (%s)"
                     % (len(noisy), len(domains), 100.0 * len(noisy) / max(1, len(domains)),
                        ", ".join(os.path.basename(h.rstrip("/")) for h in args.ham)))
        for d, detail in noisy[:40]:
            lines.append("  " + detail)

    subprocess.run(["rm", "-rf", tmp])
    emit(lines, args.out)


if __name__ == "__main__":
    main()
