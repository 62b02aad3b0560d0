#!/usr/bin/env python3
"""purge-state.py - what the end of a purge run is judged by, for
purge-crash.sh: the files of the Maildirs and the quarantine (path, size,
time, hash; a delete's marks by name), the archive's visible and
quarantined mail, and each plan's copies with their statuses and places
(paths relative to the work directory).

  purge-state.py CLAW CONF DIR PLAN...
  purge-state.py --files-only DIR
"""
import hashlib
import json
import os
import subprocess
import sys


def files(d):
    for top in ("mail", "quarantine"):
        for root, dirs, names in os.walk(os.path.join(d, top)):
            dirs.sort()
            for f in sorted(names):
                if f.endswith(".claw-tmp"):
                    continue
                p = os.path.join(root, f)
                rel = os.path.relpath(p, d)
                if f == "erased":
                    print(rel)
                    continue
                st = os.stat(p)
                digest = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
                print(rel, st.st_size, int(st.st_mtime), digest)


def main():
    if sys.argv[1] == "--files-only":
        files(sys.argv[2])
        return
    claw, conf, d, plans = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

    def run(*a):
        return subprocess.run([claw, "--config", conf, *a], capture_output=True,
                              text=True).stdout

    files(d)
    query = "from:bad@evil.example OR from:good@partner.example"
    print("visible:", " ".join(sorted(run("search", "--ids", query).split())))
    print("quarantined:", " ".join(sorted(run("search", "--ids", "state:quarantined").split())))
    for plan in plans:
        j = json.loads(run("purge", "status", "--json", "--show", "all", plan))
        print(j["plan"], j["action"], j["state"], sorted(j["by_status"].items()))
        for c in j["list"]:
            print(" ", c["copy"], c["target"], c["recipient"], c["where"].replace(d + "/", ""),
                  c["status"], c["detail"].replace(d + "/", ""))


main()
