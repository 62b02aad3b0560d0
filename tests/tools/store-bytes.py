#!/usr/bin/env python3
"""store-bytes.py - a message's compressed bytes in an archive's store,
read with LMDB's own mdb_dump (lmdb-utils), for the erasure tests.

  store-bytes.py save ARCHIVE DOCID FILE  write message DOCID's bytes (as the
                                          loc and blob databases hold them)
  store-bytes.py live ARCHIVE FILE        0 if FILE's bytes are in the blob
                                          database's live pieces, else 1
  store-bytes.py find ARCHIVE FILE        0 if they are anywhere in data.mdb
                                          (free pages too), else 1

A stretch of 48 bytes from the middle of the frame stands for it: the
stream's pieces cut a frame at 2022-byte boundaries, and the file holds the
pieces, not the frame, so only a stretch within one piece can be looked for.
"""
import subprocess
import sys

PIECE = 2022


def dump(store, db):
    out = subprocess.run(["mdb_dump", "-s", db, store], check=True,
                         capture_output=True, text=True).stdout
    lines = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split("\n")
    lines = [l.strip() for l in lines if l.strip()]
    return {bytes.fromhex(lines[i]): bytes.fromhex(lines[i + 1])
            for i in range(0, len(lines) - 1, 2)}


def frame(store, docid):
    loc = dump(store, "loc")[docid.to_bytes(8, "big")]
    off, n = int.from_bytes(loc[:8], "big"), int.from_bytes(loc[8:12], "big")
    blob = dump(store, "blob")
    out = bytearray()
    piece = off // PIECE
    skip = off % PIECE
    while len(out) < n:
        out += blob[piece.to_bytes(8, "big")][skip:]
        piece += 1
        skip = 0
    return bytes(out[:n])


def needle(data):
    """48 bytes from within one piece, away from the frame's start."""
    mid = len(data) // 2
    return data[mid:mid + 48] if len(data) >= 96 else data[-48:]


def main():
    cmd, archive = sys.argv[1], sys.argv[2]
    store = archive + "/store"
    if cmd == "save":
        data = frame(store, int(sys.argv[3]))
        open(sys.argv[4], "wb").write(needle(data))
        return 0
    n = open(sys.argv[3], "rb").read()
    if len(n) < 32:
        print("store-bytes: the saved stretch is too short", file=sys.stderr)
        return 2
    if cmd == "live":
        return 0 if any(n in v for v in dump(store, "blob").values()) else 1
    if cmd == "find":
        return 0 if n in open(store + "/data.mdb", "rb").read() else 1
    print("usage: store-bytes.py save|live|find ...", file=sys.stderr)
    return 2


sys.exit(main())
