#!/usr/bin/env python3
"""imap.py - what a user sees over IMAP, for the tests (stdlib imaplib only).

  imap.py --port P --user U --password PW find HEADER VALUE [--folder F | --all-folders]
      one JSON line per message whose HEADER contains VALUE (IMAP SEARCH
      HEADER): folder, uid, flags, internaldate, size (RFC822.SIZE) and the
      SHA-256 of the whole message; exit 0 if any, 1 if none
  imap.py ... list
      one JSON line per folder: folder, messages
  imap.py ... store HEADER VALUE FLAGS [--folder F | --all-folders]
      add FLAGS ("\\Seen \\Flagged kw") to those messages, then print them
      as find does; exit 0 if any, 1 if none

Folders are opened read-only (EXAMINE) and bodies read with BODY.PEEK[], so
looking changes nothing: no \\Seen set, no \\Recent taken (\\Recent, which
belongs to a session, is not printed). The SHA-256 is of the message as IMAP
gives it (CRLF line ends). Folder names are printed as the server sends them
(modified UTF-7), to be passed back as they are. Exit 2 on any error, with
the reason on stderr.
"""
import argparse
import hashlib
import imaplib
import json
import re
import sys


class Failed(Exception):
    pass


def quote(s):
    """An IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ok(reply, what):
    typ, data = reply
    if typ != "OK":
        raise Failed("%s: %s %s" % (what, typ, b" ".join(d for d in data if isinstance(d, bytes))
                                    .decode("utf-8", "replace")))
    return data


# A LIST line: (flags) "sep" name, the name an atom, a quoted string or a
# literal (which imaplib hands over as a tuple).
LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) ?(?P<name>.*)$')


def folders(m):
    out = []
    for item in ok(m.list(), "LIST"):
        if item is None:
            continue
        if isinstance(item, tuple):
            head, name = item[0], item[1]
            mt = LIST_RE.match(head.rstrip(b" {0123456789}") + b" ")
        else:
            mt = LIST_RE.match(item)
            name = mt.group("name") if mt else None
            if name and name.startswith(b'"'):
                name = re.sub(rb'\\(.)', rb'\1', name[1:-1])
        if not mt:
            raise Failed("LIST: cannot parse %r" % (item,))
        if b"\\noselect" in mt.group("flags").lower() or b"\\nonexistent" in mt.group("flags").lower():
            continue
        out.append(name.decode("ascii", "replace"))
    return out


def search(m, folder, header, value):
    ok(m.select(quote(folder), readonly=True), "EXAMINE " + folder)
    if value.isascii():
        data = ok(m.uid("SEARCH", "HEADER", quote(header), quote(value)), "SEARCH")
    else:
        m.literal = value.encode("utf-8")
        data = ok(m.uid("SEARCH", "CHARSET", "UTF-8", "HEADER", quote(header)), "SEARCH")
    return [int(u) for u in b" ".join(d for d in data if d).split()]


def describe(m, folder, uid):
    data = ok(m.uid("FETCH", str(uid), "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"), "FETCH")
    meta, body = b"", None
    for d in data:
        if isinstance(d, tuple):
            meta += d[0]
            body = d[1]
        elif d:
            meta += d
    if body is None:
        raise Failed("FETCH %s %d: no body" % (folder, uid))
    def item(pattern):
        mt = re.search(pattern, meta)
        if not mt:
            raise Failed("FETCH %s %d: no %r in %r" % (folder, uid, pattern, meta))
        return mt.group(1).decode()
    # The body as IMAP gives it (CRLF line ends): the same bytes wherever
    # the message is moved.
    return {"folder": folder, "uid": int(item(rb"UID (\d+)")),
            "flags": sorted(f for f in item(rb"FLAGS \(([^)]*)\)").split() if f != "\\Recent"),
            "internaldate": item(rb'INTERNALDATE "([^"]*)"'),
            "size": int(item(rb"RFC822\.SIZE (\d+)")),
            "sha256": hashlib.sha256(body).hexdigest()}


def main():
    ap = argparse.ArgumentParser(description="What a user sees over IMAP.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    for name in ("find", "store"):
        p = sub.add_parser(name)
        p.add_argument("header")
        p.add_argument("value")
        if name == "store":
            p.add_argument("flags")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--folder", default="INBOX")
        where.add_argument("--all-folders", action="store_true")
    a = ap.parse_args()

    try:
        m = imaplib.IMAP4(a.host, a.port, timeout=30)
        try:
            ok(m.login(a.user, a.password), "LOGIN")
            if a.cmd == "list":
                for f in folders(m):
                    st = ok(m.status(quote(f), "(MESSAGES)"), "STATUS " + f)
                    n = re.search(rb"MESSAGES (\d+)", b" ".join(x for x in st if isinstance(x, bytes)))
                    print(json.dumps({"folder": f, "messages": int(n.group(1)) if n else None}))
                return 0
            found = 0
            for f in folders(m) if a.all_folders else [a.folder]:
                uids = search(m, f, a.header, a.value)
                if a.cmd == "store" and uids:
                    ok(m.select(quote(f)), "SELECT " + f)
                    ok(m.uid("STORE", ",".join(map(str, uids)), "+FLAGS", "(%s)" % a.flags), "STORE")
                for uid in uids:
                    print(json.dumps(describe(m, f, uid)))
                    found += 1
            return 0 if found else 1
        finally:
            try:
                m.logout()
            except Exception:
                pass
    except (Failed, imaplib.IMAP4.error, OSError) as e:
        why = e.args[0] if isinstance(e, imaplib.IMAP4.error) and e.args else e
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        print("imap.py: %s:%d: %s" % (a.host, a.port, why), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
