#!/usr/bin/env python3
"""ioc-latency.py PORT ROUNDS CLAW [ARG...]: the time from `claw ioc add` to
the MTA applying the indicator, as a sender sees it.

Each round makes a link no indicator names, checks that a message with it
gets 250 from the MTA on PORT, then starts the clock, runs
`CLAW [ARG...] ioc add --action block url:...` (its own time included: it
writes the store and publishes the set) and sends the message again and
again on one SMTP connection until the reply is a 5xx refusal. Prints one
JSON object: the rounds, p50/p99/max of that time in ms, the add command's
own p50, and the rounds that never saw the refusal within 10 s (a failure:
the exit status is 1 then)."""
import json
import random
import smtplib
import subprocess
import sys
import time

GIVE_UP_S = 10


def percentile(sorted_ms, q):
    if not sorted_ms:
        return None
    i = min(len(sorted_ms) - 1, int(round(q * (len(sorted_ms) - 1))))
    return sorted_ms[i]


def main():
    port, rounds, claw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    smtp.ehlo("latency.bench.example")

    def refused(host):
        msg = ("From: a@sender.example\r\nTo: user@clawback.test\r\n"
               "Subject: the invoice\r\n\r\nPay at http://%s/pay now.\r\n" % host)
        try:
            smtp.sendmail("sender@outside.example", ["user@clawback.test"], msg)
            return False
        except smtplib.SMTPDataError as e:
            if 500 <= e.smtp_code < 600:
                return True
            raise

    rng = random.Random(2026)
    total, add, missed = [], [], 0
    for _ in range(rounds):
        host = "late-%012x.latency.example" % rng.getrandbits(48)
        if refused(host):
            sys.exit("%s: refused before its indicator was added" % host)
        t0 = time.monotonic()
        subprocess.run(claw + ["ioc", "add", "--action", "block", "--source", "bench-latency",
                               "url:http://%s/pay" % host],
                       check=True, stdout=subprocess.DEVNULL)
        add.append((time.monotonic() - t0) * 1000)
        while not refused(host):
            if time.monotonic() - t0 > GIVE_UP_S:
                missed += 1
                break
        else:
            total.append((time.monotonic() - t0) * 1000)
    smtp.quit()
    total.sort()
    add.sort()
    print(json.dumps({"rounds": rounds, "p50_ms": round(percentile(total, 0.5) or 0, 1),
                      "p99_ms": round(percentile(total, 0.99) or 0, 1),
                      "max_ms": round(total[-1] if total else 0, 1),
                      "add_p50_ms": round(percentile(add, 0.5), 1), "missed": missed}))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
