#!/usr/bin/env python3
"""make quality, display names: how DISPLAY_NAME_IMPERSONATION catches a VIP's
name in the forms mail clients and attackers write it, and how often it
flags the real senders of the ham corpora.

  quality-names.py --claw CLAW [--out FILE] HAMDIR...

The VIPs are the NAMES below (made up, of several languages; none of them
is a sender in the corpora, which the ham figure checks). For each VIP and
each variant class a message comes From: "<variant>" <someone@gmail.com>;
`claw scan --json` with [policy] vip_names set to the list judges them all.
The ham: every message of HAMDIR... under the same configuration; a hit
counts when its detail names a VIP (brand hits are make quality's own
figure).
"""
import argparse
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import emit, scan_all  # noqa: E402

NAMES = [
    ("Jonathan", "Whitfield"), ("Margaret", "Okonkwo"), ("Rafael", "Gutiérrez"),
    ("Ingrid", "Halvorsen"), ("Tobias", "Kräuter"), ("Amélie", "Durand"),
    ("Siddharth", "Raghunathan"), ("Claire", "Fontaine"), ("Marcus", "Abernathy"),
    ("Helena", "Sørensen"), ("Patrick", "O'Donnell"), ("Yusuf", "Demirci"),
    ("Beatriz", "Conceição"), ("Lukas", "Novák"), ("Fiona", "McAllister"),
    ("Dmitri", "Volkonsky"), ("Camille", "Lefèvre"), ("Gregor", "Brandstätter"),
    ("Noura", "Al-Harthy"), ("Wendell", "Pemberton"),
]
CONFUSABLE = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440",
              "i": "\u0456"}
STRIP = str.maketrans("áàâäãåçéèêëíìîïñóòôöõøúùûüýÿčěšžřťďňůæœ",
                      "aaaaaaceeeeiiiinoooooouuuuyycesrztdnuao")
ADD = str.maketrans("aeiouc", "áéíóúç")


def odd_case(s):
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(s))


def variants(first, last, rnd):
    """The classes, each one form of the name."""
    initial = rnd.choice("ABCDEFGHJKLMNPRSTW")
    conf = "".join(CONFUSABLE.get(c, c) if i == 1 else c for i, c in enumerate(first)) + " " + last
    accents = f"{first} {last}".translate(STRIP)
    if accents == f"{first} {last}":
        accents = f"{first} {last[:-1].translate(ADD)}{last[-1]}"
    return {
        "as configured": f"{first} {last}",
        "capitals": f"{first} {last}".upper(),
        "lower case": f"{first} {last}".lower(),
        "odd case": odd_case(f"{first} {last}"),
        "surname, first": f"{last}, {first}",
        "SURNAME, first": f"{last.upper()}, {first}",
        "surname first": f"{last} {first}",
        "middle initial": f"{first} {initial}. {last}",
        "middle initial M": f"{first} M. {last}",
        "run together": f"{first}{last}",
        "surname first, initial": f"{last}, {first} {initial}.",
        "title": f"{rnd.choice(['Dr.', 'Mr.', 'Ms.', 'Prof.'])} {first} {last}",
        "role after": f"{first} {last}, {rnd.choice(['CEO', 'CFO', 'Managing Director'])}",
        "extra spaces": f"  {first}   {last} ",
        "punctuation": f"{first}.{last}",
        "accents changed": accents,
        "confusable letter": conf,
    }


def message(display, i):
    name = display.replace("\\", "\\\\").replace('"', '\\"')
    return (f'From: "{name}" <exec.office{i}@gmail.com>\nTo: ap@corp.example\n'
            f"Subject: quick request\nMessage-ID: <v{i}@gmail.com>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            "Are you at your desk? I need a favour.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--claw", required=True)
    ap.add_argument("--out")
    ap.add_argument("ham", nargs="+")
    a = ap.parse_args()
    rnd = random.Random(24)
    tmp = tempfile.mkdtemp(prefix="claw-names.")
    conf = os.path.join(tmp, "clawback.conf")
    with open(conf, "w") as f:
        f.write("[policy]\nprotected_domains = corp.example\nvip_names = %s\n"
                % "; ".join(f"{x} {y}" for x, y in NAMES))

    files, cls = [], []
    for first, last in NAMES:
        for c, v in variants(first, last, rnd).items():
            p = os.path.join(tmp, "v%d.eml" % len(files))
            with open(p, "w") as f:
                f.write(message(v, len(files)))
            files.append(p)
            cls.append(c)
    per = {}
    for c, v in zip(cls, scan_all(a.claw, conf, files)):
        hit = any(r["rule"] == "DISPLAY_NAME_IMPERSONATION" and "names VIP" in r["detail"]
                  for r in v.get("rules", []))
        n, k = per.get(c, (0, 0))
        per[c] = (n + 1, k + hit)

    ham = sorted(os.path.join(r, x) for d in a.ham for r, _, xs in os.walk(d) for x in xs)
    flagged = []
    for path, v in zip(ham, scan_all(a.claw, conf, ham)):
        for r in v.get("rules", []):
            if r["rule"] == "DISPLAY_NAME_IMPERSONATION" and "names VIP" in r["detail"]:
                flagged.append((path, r["detail"]))

    total = sum(n for n, _ in per.values())
    hits = sum(k for _, k in per.values())
    lines = ["# make quality, display names: %d VIPs (quality-names.py), each in %d forms, "
             "From a free-mail address; and the ham corpora under the same vip_names."
             % (len(NAMES), len(per)),
             "%-22s %6s %8s" % ("form", "msgs", "flagged%")]
    for c in per:
        n, k = per[c]
        lines.append("%-22s %6d %8.1f" % (c, n, 100.0 * k / n))
    lines.append("%-22s %6d %8.1f" % ("all forms", total, 100.0 * hits / total))
    lines.append("%-22s %6d %8.3f" % ("ham senders", len(ham),
                                      100.0 * len(flagged) / max(1, len(ham))))
    for path, detail in flagged[:10]:
        lines.append("#   ham flagged: %s: %s" % (os.path.basename(path), detail[:150]))
    emit(lines, a.out)


if __name__ == "__main__":
    main()
