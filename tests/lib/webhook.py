#!/usr/bin/python3
"""webhook - an HTTPS endpoint for byosmtp's delivery events (events.webhook_url) in tests.

It listens on 127.0.0.1 with the test certificate (tests/provider/mkcerts.sh), takes POSTs,
checks the X-Byosmtp-Signature header ("sha256=" and the hex HMAC-SHA256 of the raw body under
the key of --secret-file, trailing newlines removed, as byosmtpd reads it) and appends one JSON
line per POST to --record: {"n": N, "path": ..., "signature_ok": bool, "status": the status it
answered, "event": the parsed body (or null), "content_type": ...}. The first --fail-first POSTs
are answered 500, the rest 200 (a wrong signature gets 401 and is recorded as such). The port
goes to --port-file once it listens. SIGTERM stops it.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import signal
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    opts = ap.parse_args()
    with open(opts.secret_file, "rb") as f:
        key = f.read().rstrip(b"\r\n")
    lock = threading.Lock()
    state = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            want = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            got = self.headers.get("X-Byosmtp-Signature", "")
            ok = hmac.compare_digest(want, got)
            with lock:
                state["n"] += 1
                n = state["n"]
                status = 401 if not ok else (500 if n <= opts.fail_first else 200)
                try:
                    event = json.loads(body)
                except ValueError:
                    event = None
                rec = {"n": n, "path": self.path, "signature_ok": ok, "status": status,
                       "content_type": self.headers.get("Content-Type", ""), "event": event}
                with open(opts.record, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook: " + (fmt % args) + "\n")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    with open(opts.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(opts.port_file + ".tmp", opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
