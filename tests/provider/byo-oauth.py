#!/usr/bin/python3
"""byo-oauth.py - a test OAuth2 token endpoint (RFC 6749 refresh token grant) on loopback HTTPS.

It plays the Google or Microsoft token endpoint in byosmtp's tests: POST /token with
grant_type=refresh_token (a form, parsed by urllib.parse) gets a fresh short-lived access token,
and the file --tokens lists every access token issued with its expiry, which the test provider
(byo-provider.py --xoauth2-tokens FILE) reads to accept only current tokens. Standard library
only; run with /usr/bin/python3. See tests/provider/README ("The token endpoint").

Control while it runs (signals, so a test needs no client of its own):
  SIGUSR1  revoke the refresh token: every later grant gets 400 invalid_grant
  SIGUSR2  revoke every access token issued so far (the provider refuses them from now on)
  SIGTERM  exit 0
"""
import argparse
import hmac
import http.server
import ipaddress
import json
import os
import secrets
import signal
import ssl
import sys
import threading
import time
import urllib.parse


class State:
    """what the endpoint knows: the valid refresh token, the access tokens issued"""

    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.refresh = opts.refresh_token
        self.revoked = False
        self.issued = {}  # access token -> expiry (unix time)
        self.count = 0

    def write_tokens(self):
        """write_tokens - the access tokens and their expiry, atomically (the provider reads it)"""
        tmp = "%s.%d.tmp" % (self.opts.tokens, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.issued, f)
        os.rename(tmp, self.opts.tokens)

    def revoke_refresh(self):
        with self.lock:
            self.revoked = True

    def revoke_access(self):
        with self.lock:
            self.issued = {}
            self.write_tokens()


def same(a, b):
    """same - constant-time comparison of two optional strings"""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "byo-oauth/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if not self.server.opts.quiet:
            sys.stderr.write("byo-oauth: %s\n" % (fmt % args))

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def record(self, rec):
        if self.server.opts.record:
            rec["time"] = time.time()
            with self.server.record_lock, open(self.server.opts.record, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")

    def do_GET(self):
        self.answer(405, {"error": "invalid_request", "error_description": "POST only"})

    def do_POST(self):
        opts, st = self.server.opts, self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        rec = {"path": self.path, "content_type": ctype}
        try:
            form = urllib.parse.parse_qs(raw, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            form = None
        if form is not None and any(len(v) != 1 for v in form.values()):
            form = None  # a parameter given twice (RFC 6749 3.2)
        form = {k: v[0] for k, v in form.items()} if form is not None else None
        if form is not None:
            rec.update(grant_type=form.get("grant_type"), client_id=form.get("client_id"),
                       scope=form.get("scope"), keys=sorted(form))
        status, reply = self.decide(opts, st, ctype, form, rec)
        rec.update(status=status, error=reply.get("error"))
        if opts.stall:
            time.sleep(opts.stall)
        self.record(rec)
        self.answer(status, reply)

    def decide(self, opts, st, ctype, form, rec):
        """decide - the status and JSON reply for one request (RFC 6749 5.1 and 5.2)"""
        if opts.status:
            return opts.status, {"error": "temporarily_unavailable"} if opts.status < 500 else {}
        if self.path != "/token":
            return 404, {"error": "invalid_request", "error_description": "no such endpoint"}
        if ctype != "application/x-www-form-urlencoded" or form is None:
            return 400, {"error": "invalid_request", "error_description": "expected one form"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        secret_ok = opts.client_secret is None or same(form.get("client_secret"), opts.client_secret)
        rec["client_secret_ok"] = secret_ok
        if not same(form.get("client_id"), opts.client_id) or not secret_ok:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized client"}
        if opts.scope is not None and form.get("scope") != opts.scope:
            return 400, {"error": "invalid_scope"}
        with st.lock:
            ok = not st.revoked and same(form.get("refresh_token"), st.refresh)
            rec["refresh_token_ok"] = ok
            if not ok:
                return 400, {"error": "invalid_grant",
                             "error_description": "Token has been expired or revoked."}
            st.count += 1
            access = "at-%d-%s" % (st.count, secrets.token_urlsafe(24))
            now = time.time()
            st.issued = {t: e for t, e in st.issued.items() if e > now}
            st.issued[access] = now + opts.expires_in
            st.write_tokens()
            reply = {"access_token": access, "token_type": "Bearer", "expires_in": opts.expires_in,
                     "scope": form.get("scope") or ""}
            if opts.rotate:
                st.refresh = "rt-%d-%s" % (st.count, secrets.token_urlsafe(24))
                reply["refresh_token"] = st.refresh
            rec.update(issued=st.count, rotated=opts.rotate)
        return 200, reply


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    p = argparse.ArgumentParser(prog="byo-oauth.py", description="Test OAuth2 token endpoint (loopback HTTPS).")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True, help="written once listening (the ready marker)")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tokens", required=True, help="the issued access tokens, JSON {token: expiry}")
    p.add_argument("--record", help="append one JSON line per request (never a secret)")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", help="required of the client when given")
    p.add_argument("--refresh-token", required=True, help="the refresh token that is valid at start")
    p.add_argument("--scope", help="the scope a request must name, when given")
    p.add_argument("--expires-in", type=int, default=3600, help="lifetime of an access token (s)")
    p.add_argument("--rotate", action="store_true", help="a new refresh token with every grant; the old one dies")
    p.add_argument("--status", type=int, default=0, help="answer every request with this HTTP status")
    p.add_argument("--stall", type=float, default=0, help="seconds to wait before answering")
    p.add_argument("--quiet", action="store_true")
    opts = p.parse_args(argv)
    if not ipaddress.ip_address(opts.listen).is_loopback:
        p.error("--listen: loopback only")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(opts.cert, opts.key)
    server = Server((opts.listen, opts.port), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.opts = opts
    server.state = State(opts)
    server.record_lock = threading.Lock()
    server.state.write_tokens()

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda *_: server.state.revoke_refresh())
    signal.signal(signal.SIGUSR2, lambda *_: server.state.revoke_access())
    tmp = "%s.%d.tmp" % (opts.port_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
