#!/usr/bin/env python3
"""feed-server.py - a local HTTPS server of threat-intel feeds for the tests:
the project's own fixtures served as a MISP feed and a TAXII 2.1 collection,
over TLS with a certificate the test made (its CA given to claw and clawd).

  feed-server.py --cert CERT --key KEY --root DIR --port-file FILE --log FILE

Routes:
  /misp/manifest.json, /misp/UUID.json   files of DIR/misp/
  /taxii/collections/C/objects/          DIR/taxii-page1.json, then, with
                                         ?next=..., DIR/taxii-page2.json;
                                         406 unless Accept is TAXII 2.1's
  /files/NAME                            DIR/NAME as it is
  /huge                                  an endless body (the bound stops it)
  /status/N                              answers N
Each request is logged as one JSON line: path, query, accept.
"""
import argparse
import json
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TAXII = "application/taxii+json;version=2.1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    root = Path(a.root)
    log = open(a.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, code, body, ctype="application/json", headers=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            accept = self.headers.get("Accept", "")
            log.write(json.dumps({"path": u.path, "query": q, "accept": accept}) + "\n")
            parts = [p for p in u.path.split("/") if p]
            if parts[:1] == ["misp"] and len(parts) == 2:
                f = root / "misp" / parts[1]
                if f.is_file():
                    return self.send(200, f.read_bytes())
                return self.send(404, b"{}")
            if parts[:2] == ["taxii", "collections"] and parts[3:] == ["objects"]:
                if accept.replace(" ", "") != TAXII:
                    return self.send(406, b"{}")
                page = "taxii-page2.json" if q.get("next") else "taxii-page1.json"
                body = (root / page).read_bytes()
                last = "2026-11-02T10:00:00.000Z" if page.endswith("2.json") else \
                       "2026-11-01T10:00:00.000Z"
                return self.send(200, body, TAXII, [("X-TAXII-Date-Added-Last", last)])
            if parts[:1] == ["files"] and len(parts) == 2 and (root / parts[1]).is_file():
                return self.send(200, (root / parts[1]).read_bytes(), "text/plain")
            if parts == ["huge"]:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                line = b"domain:huge.example\n" * 4096
                try:
                    while True:
                        self.wfile.write(line)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    return
            if parts[:1] == ["status"] and len(parts) == 2 and parts[1].isdigit():
                return self.send(int(parts[1]), b"{}")
            self.send(404, b"{}")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    Path(a.port_file).write_text(str(srv.server_address[1]))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
