#!/usr/bin/python3
"""byo-provider - a scriptable SMTP server that plays "the customer's provider" in byosmtp's tests.

It listens on loopback only, speaks SMTP in one of four modes (STARTTLS offered, STARTTLS stripped,
implicit TLS, plaintext), checks AUTH (PLAIN, LOGIN, CRAM-MD5, XOAUTH2) against one configured
account, answers any command with a scripted reply (optionally the Nth time, for one recipient,
after a stall, followed by injected bytes or a close), and appends a JSON record of exactly what
it received to a file: one line per accepted message and one per connection.

It is written on plain sockets rather than aiosmtpd so that the bytes are under the test's control:
the DATA terminator is strictly CRLF.CRLF (bare LF or CR sequences stay inside the message and are
recorded), bytes can follow the 220 to STARTTLS in the same TCP segment, and nothing is normalised.

One thread per connection (socketserver.ThreadingMixIn); the rule counters, connection numbers, the
record file and the log are shared and guarded by one lock. See README in this directory.
"""

import argparse
import base64
import codecs
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

MAX_LINE = 4096  # longest command line accepted (RFC 5321 needs 512; AUTH lines can be longer)
MAX_DATA = 64 * 1024 * 1024  # a runaway client must not eat the test machine's memory
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2")
VERB_ALIASES = {".": "DOT", "EOD": "DOT", "END-OF-DATA": "DOT", "BANNER": "CONNECT"}
XOAUTH2_ERROR = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}


class Closing(Exception):
    """The session ends now; the argument says why (recorded as the connection's "end")."""


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived: stop serving. A BaseException, so that socketserver's
    "except Exception" around a request (the signal may land while it starts a thread) cannot
    swallow it and leave the provider running."""


def unescape(text):
    """unescape - turn a command-line string with backslash escapes (\\r \\n \\xHH) into bytes"""
    return codecs.decode(text, "unicode_escape").encode("latin-1")


def b64(data):
    """b64 - base64 text of bytes, for the JSON record"""
    return base64.b64encode(data).decode("ascii")


def unstuff(raw):
    """unstuff - remove SMTP dot-stuffing from DATA bytes; lines are split on CRLF only"""
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in raw.split(b"\r\n"))


def has_bare_cr(data):
    """has_bare_cr - whether data holds a CR that does not start a CRLF pair"""
    return data.replace(b"\r\n", b"").find(b"\r") >= 0


def has_bare_lf(data):
    """has_bare_lf - whether data holds an LF that does not end a CRLF pair"""
    return data.replace(b"\r\n", b"").find(b"\n") >= 0


def parse_path(arg, keyword):
    """parse_path - split "FROM:<a@b> P1 P2" into ("a@b", ["P1", "P2"]); None on bad syntax"""
    if arg[: len(keyword) + 1].upper() != keyword + ":":
        return None
    rest = arg[len(keyword) + 1 :].lstrip(" ")
    if not rest.startswith("<") or ">" not in rest:
        return None
    end = rest.index(">")
    return rest[1:end], rest[end + 1 :].split()


class Rule:
    """One scripted reply: which command it answers, when, and what it does instead of the default."""

    KEYS = {"on", "nth", "times", "conn", "rcpt", "tls", "reply", "raw", "append", "close", "stall"}

    def __init__(self, spec):
        if not isinstance(spec, dict) or "on" not in spec:
            raise ValueError('a rule is a JSON object with at least "on": %r' % (spec,))
        unknown = set(spec) - self.KEYS
        if unknown:
            raise ValueError("unknown rule keys %s in %r" % (sorted(unknown), spec))
        verb = str(spec["on"]).upper()
        self.on = VERB_ALIASES.get(verb, verb)
        self.nth = int(spec.get("nth", 1))
        default_times = 1 if "nth" in spec else None
        self.times = spec.get("times", default_times)
        self.conn = spec.get("conn")
        self.rcpt = spec["rcpt"].lower() if "rcpt" in spec else None
        self.tls = spec.get("tls")
        reply = spec.get("reply")
        self.reply = "\n".join(reply) if isinstance(reply, list) else reply
        self.raw = spec["raw"].encode("latin-1") if "raw" in spec else None
        self.append = spec.get("append", "").encode("latin-1")
        self.close = bool(spec.get("close", False))
        self.stall = float(spec.get("stall", 0))
        self.hits = 0  # how many times the conditions matched so far (guarded by the provider lock)

    def conditions_hold(self, verb, session, rcpt):
        """conditions_hold - whether every condition other than nth/times holds"""
        if verb != self.on:
            return False
        if self.conn is not None and session.number != self.conn:
            return False
        if self.tls is not None and session.tls_active != self.tls:
            return False
        if self.rcpt is not None and (rcpt is None or rcpt.lower() != self.rcpt):
            return False
        return True

    def in_window(self):
        """in_window - whether the current hit count falls into nth .. nth+times-1"""
        if self.hits < self.nth:
            return False
        return self.times is None or self.hits < self.nth + self.times


class Wire:
    """A socket with a receive buffer that the session reads lines and DATA from, byte-exactly."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        """fill - receive more bytes; Closing when the peer has gone"""
        data = self.sock.recv(65536)
        if not data:
            raise Closing("client_closed")
        self.buf += data

    def readline(self):
        """readline - the next line with its terminator (LF, with or without CR before it)"""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[: end + 1], self.buf[end + 1 :]
                return line
            if len(self.buf) > MAX_LINE:
                raise Closing("line_too_long")
            self.fill()

    def read_data(self):
        """read_data - DATA bytes up to the CRLF.CRLF terminator, which alone ends the message

        The result keeps the CRLF that ends the last line and leaves out ".CRLF". Data starts at the
        beginning of a line, so a buffer that starts with ".CRLF" is an empty message.
        """
        searched = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                self.buf = self.buf[3:]
                return b""
            end = self.buf.find(b"\r\n.\r\n", searched)
            if end >= 0:
                raw, self.buf = self.buf[: end + 2], self.buf[end + 5 :]
                return raw
            searched = max(0, len(self.buf) - 4)
            if len(self.buf) > MAX_DATA:
                raise Closing("data_too_long")
            self.fill()

    def take_pending(self):
        """take_pending - whatever was received but not read yet, emptying the buffer"""
        pending, self.buf = self.buf, b""
        return pending

    def send(self, data):
        """send - write all bytes in one call (so a reply and injected bytes share a segment)"""
        self.sock.sendall(data)


class Provider(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The listening server: options, rules, the shared counters, the record file and the log."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, opts, rules, tls_context):
        self.opts = opts
        self.rules = rules
        self.tls_context = tls_context
        self.lock = threading.Lock()
        self.connections = 0
        self.address_family = socket.AF_INET6 if ":" in opts.listen else socket.AF_INET
        super().__init__((opts.listen, opts.port), Session)

    def next_connection(self):
        """next_connection - the number of a new connection, counted from 1"""
        with self.lock:
            self.connections += 1
            return self.connections

    def match_rule(self, verb, session, rcpt=None):
        """match_rule - the first rule that fires for this command now, counting its hits"""
        with self.lock:
            for rule in self.rules:
                if rule.conditions_hold(verb, session, rcpt):
                    rule.hits += 1
                    if rule.in_window():
                        return rule
        return None

    def record(self, event):
        """record - append one JSON object as one line to --record, flushed at once"""
        if not self.opts.record:
            return
        event["time"] = round(time.time(), 3)
        line = (json.dumps(event, sort_keys=True) + "\n").encode("utf-8")
        with self.lock:
            fd = os.open(self.opts.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def log(self, number, text):
        """log - one debugging line on stderr (never with a password: callers redact)"""
        if self.opts.quiet:
            return
        with self.lock:
            sys.stderr.write("byo-provider[%d] %s\n" % (number, text))
            sys.stderr.flush()


class Session(socketserver.BaseRequestHandler):
    """One SMTP connection: a state machine with one method per command.

    States: greeting (no EHLO/HELO yet) -> ready -> mail (MAIL accepted) -> rcpt (a RCPT accepted)
    -> back to ready after end-of-data or RSET. STARTTLS returns to greeting.
    """

    def setup(self):
        """setup - the per-connection state, before the first byte is exchanged"""
        self.provider = self.server
        self.opts = self.provider.opts
        self.number = self.provider.next_connection()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(self.opts.idle_timeout)
        self.wire = Wire(self.request)
        self.state = "greeting"
        self.esmtp = False
        self.tls_active = False
        self.authenticated = False
        self.rule = None  # the rule that answers the command being handled, until its reply is sent
        self.closing = False
        self.last_reply = None
        self.messages = 0
        self.conn = {
            "event": "connection",
            "conn": self.number,
            "start": round(time.time(), 3),  # accepted; "time" is when it ended
            "peer": self.client_address[0],
            "local_port": self.provider.server_address[1],
            "mode": self.opts.mode,
            "banner": None,
            "tls": False,
            "tls_version": None,
            "tls_cipher": None,
            "tls_error": None,
            "sni": None,
            "starttls": False,
            "plaintext_after_starttls": None,
            "auth": False,
            "auth_mechanism": None,
            "auth_user": None,
            "auth_attempts": [],
            "plaintext_auth_attempted": False,
            "commands": [],
            "replies": [],
            "non_crlf_lines": 0,
            "messages": 0,
            "end": None,
        }
        self.recorded = False
        self.reset_transaction()

    # --- plumbing ---

    def log(self, text):
        """log - a debugging line tagged with this connection's number"""
        self.provider.log(self.number, text)

    def reset_transaction(self):
        """reset_transaction - forget the current MAIL/RCPT state (RSET, EHLO, end-of-data)"""
        self.mail_from = None
        self.mail_params = []
        self.smtputf8 = False
        self.rcpts = []
        if self.state in ("mail", "rcpt"):
            self.state = "ready"

    def enhanced(self, code, status, text):
        """enhanced - a one-line reply, with the enhanced status code only when advertised"""
        if self.opts.no_enhancedstatuscodes:
            return "%s %s" % (code, text)
        return "%s %s %s" % (code, status, text)

    def planned(self, text):
        """planned - the reply that reply(text) will send: the scripted one if a rule replaces it"""
        if self.rule is not None and self.rule.raw is not None:
            return self.rule.raw.decode("latin-1")
        if self.rule is not None and self.rule.reply is not None:
            return self.rule.reply
        return text

    def reply(self, text):
        """reply - send a reply (or the scripted one that replaces it); True when it is 2xx/3xx

        The scripted rule of the current command, if any, replaces the first reply sent for it,
        may append raw bytes in the same write, and may ask for the connection to close after it.
        """
        rule = self.rule
        text = self.planned(text)
        self.rule = None
        if rule is not None and rule.raw is not None:
            payload = rule.raw
        else:
            payload = b"".join(line.encode("utf-8") + b"\r\n" for line in text.split("\n"))
        if rule is not None:
            payload += rule.append
            self.closing = self.closing or rule.close
        self.wire.send(payload)
        for line in text.rstrip("\r\n").split("\n"):
            self.log("> " + line.rstrip("\r"))
        if rule is not None and rule.append:
            self.log("> (appended) %r" % rule.append)
        self.last_reply = text
        if len(self.conn["replies"]) < len(self.conn["commands"]):
            self.conn["replies"].append(text)
        if rule is not None and rule.raw is not None:
            return False
        return text[:1] in ("2", "3")

    def note_command(self, shown):
        """note_command - add a received command (already redacted) to the record and the log"""
        self.conn["commands"].append(shown)
        self.log("< " + shown)

    def read_command_line(self):
        """read_command_line - the next client line as text without its terminator"""
        line = self.wire.readline()
        if not line.endswith(b"\r\n"):
            self.conn["non_crlf_lines"] += 1
        return line.rstrip(b"\r\n").decode("utf-8", errors="replace")

    def read_sasl_line(self):
        """read_sasl_line - one client line inside an AUTH exchange, recorded redacted"""
        line = self.read_command_line()
        self.conn["commands"].append("<sasl>" if line else "<sasl-empty>")
        self.log("< <sasl response redacted>" if line else "< (empty line)")
        return line

    def start_tls(self):
        """start_tls - the server side of a TLS handshake on this connection"""
        self.wire.sock = self.provider.tls_context.wrap_socket(self.wire.sock, server_side=True)
        self.tls_active = True
        self.conn["tls"] = True
        self.conn["tls_version"] = self.wire.sock.version()
        self.conn["tls_cipher"] = self.wire.sock.cipher()[0]
        self.conn["sni"] = getattr(self.wire.sock, "byo_sni", None)
        self.log("TLS %s %s sni=%s" % (self.conn["tls_version"], self.conn["tls_cipher"], self.conn["sni"]))

    def auth_offered(self):
        """auth_offered - the AUTH mechanisms advertised and accepted on this connection now"""
        if self.tls_active or self.opts.mode in ("strip", "plain") or self.opts.auth_before_tls:
            return self.opts.auth_mechanisms
        return []

    def finish(self):
        """finish - write the connection record once, however the session ended, and hang up"""
        self.write_connection_record()
        if self.wire.sock is not self.request:
            self.wire.sock.close()  # the TLS socket; socketserver closes the plain one

    def write_connection_record(self):
        """write_connection_record - the per-connection JSON record (once)"""
        if self.recorded:
            return
        self.recorded = True
        self.conn["messages"] = self.messages
        self.provider.record(self.conn)

    # --- the session ---

    def handle(self):
        """handle - run the session until QUIT, a scripted close, an error or the peer leaving"""
        end = "server_closed"
        try:
            if self.opts.mode == "tls":
                try:
                    self.start_tls()
                except (ssl.SSLError, OSError) as e:
                    self.conn["tls_error"] = str(e)
                    self.log("TLS handshake failed: %s" % e)
                    raise Closing("tls_error")
            self.greet()
            while not self.closing:
                self.dispatch(self.read_command_line())
        except Closing as why:
            end = str(why)
        except socket.timeout:
            end = "timeout"
            try:
                self.wire.send(b"421 4.4.2 Timeout exceeded\r\n")
            except OSError:
                pass
        except (ConnectionError, ssl.SSLError, OSError) as e:
            end = "client_closed"
            self.log("connection error: %s" % e)
        if self.conn["end"] is None:
            self.conn["end"] = "scripted_close" if self.closing and end == "server_closed" else end
        self.log("closed (%s)" % self.conn["end"])

    def greet(self):
        """greet - the 220 banner, or the scripted CONNECT reply"""
        self.rule = self.provider.match_rule("CONNECT", self)
        if self.rule is not None:
            if self.rule.stall:
                time.sleep(self.rule.stall)
            if self.rule.reply is None and self.rule.raw is None and self.rule.close:
                raise Closing("scripted_close")
        self.reply(self.opts.banner or "220 %s ESMTP byo-provider" % self.opts.hostname)
        self.conn["banner"] = self.last_reply

    COMMANDS = ("HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT")
    BEFORE_TLS = ("HELO", "EHLO", "STARTTLS", "NOOP", "RSET", "QUIT")

    def dispatch(self, line):
        """dispatch - apply the scripted rule, the TLS requirement, then the command's handler"""
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "AUTH":
            mech, _, initial = arg.partition(" ")
            self.note_command("AUTH %s%s" % (mech, " <redacted>" if initial else ""))
        else:
            self.note_command(line)
        rcpt = None
        if verb == "RCPT":
            parsed = parse_path(arg, "TO")
            rcpt = parsed[0] if parsed else None
        self.rule = self.provider.match_rule(verb, self, rcpt)
        if self.rule is not None:
            if self.rule.stall:
                self.log("(stalling %gs)" % self.rule.stall)
                time.sleep(self.rule.stall)
            if self.rule.reply is None and self.rule.raw is None and self.rule.close:
                self.conn["replies"].append("")
                raise Closing("scripted_close")
        if verb == "AUTH" and not self.tls_active:
            self.conn["plaintext_auth_attempted"] = True
        if self.opts.require_tls and not self.tls_active and verb not in self.BEFORE_TLS:
            self.reply(self.enhanced("530", "5.7.0", "Must issue a STARTTLS command first"))
            return
        if verb not in self.COMMANDS:
            if not line:
                self.reply(self.enhanced("500", "5.5.2", "Error: bad syntax"))
            else:
                self.reply(self.enhanced("502", "5.5.2", "Error: command not recognized"))
            return
        getattr(self, "cmd_" + verb.lower())(arg.strip())

    # --- one method per command ---

    def cmd_helo(self, arg):
        """cmd_helo - HELO: greeted, without extensions"""
        if not arg:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: HELO hostname"))
            return
        if self.reply("250 %s" % self.opts.hostname):
            self.reset_transaction()
            self.state, self.esmtp = "ready", False

    def cmd_ehlo(self, arg):
        """cmd_ehlo - EHLO: the extension list for this point of the session (before/after TLS)"""
        if not arg:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: EHLO hostname"))
            return
        lines = [self.opts.hostname]
        if not self.opts.no_pipelining:
            lines.append("PIPELINING")
        if self.opts.size:
            lines.append("SIZE %d" % self.opts.size)
        if self.opts.mode == "starttls" and not self.tls_active:
            lines.append("STARTTLS")
        mechs = self.auth_offered()
        if mechs:
            lines.append("AUTH " + " ".join(mechs))
            if self.opts.auth_legacy:
                lines.append("AUTH=" + " ".join(mechs))
        if not self.opts.no_enhancedstatuscodes:
            lines.append("ENHANCEDSTATUSCODES")
        if not self.opts.no_8bitmime:
            lines.append("8BITMIME")
        if not self.opts.no_smtputf8:
            lines.append("SMTPUTF8")
        lines.extend(self.opts.ehlo_extra)
        text = "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l) for i, l in enumerate(lines))
        if self.reply(text):
            self.reset_transaction()
            self.state, self.esmtp = "ready", True

    def cmd_starttls(self, arg):
        """cmd_starttls - STARTTLS: 220 (plus any injected bytes), then the handshake; back to greeting"""
        if self.opts.mode == "strip":
            self.reply(self.enhanced("454", "4.7.0", "TLS not available due to local problem"))
            return
        if self.opts.mode != "starttls":
            self.reply(self.enhanced("502", "5.5.1", "Error: command not implemented"))
            return
        if self.tls_active:
            self.reply(self.enhanced("554", "5.5.1", "Error: TLS already active"))
            return
        if arg:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: STARTTLS"))
            return
        if self.state == "greeting":
            self.reply(self.enhanced("503", "5.5.1", "Error: send EHLO first"))
            return
        if not self.reply(self.enhanced("220", "2.0.0", "Ready to start TLS")):
            return
        pending = self.wire.take_pending()
        if pending:
            # A client that pipelines after STARTTLS is itself open to plaintext injection.
            self.conn["plaintext_after_starttls"] = b64(pending)
            self.log("discarding %d plaintext bytes sent after STARTTLS" % len(pending))
        try:
            self.start_tls()
        except (ssl.SSLError, OSError) as e:
            self.conn["tls_error"] = str(e)
            self.log("TLS handshake failed: %s" % e)
            raise Closing("tls_error")
        self.conn["starttls"] = True
        self.state, self.esmtp, self.authenticated = "greeting", False, False
        self.reset_transaction()

    def cmd_auth(self, arg):
        """cmd_auth - AUTH: check the mechanism is offered here, then run its SASL exchange"""
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if self.rule is not None and (self.rule.reply is not None or self.rule.raw is not None):
            # A scripted AUTH reply answers the command itself, without a SASL exchange.
            ok = self.reply("")
            self.auth_result(mech, None, ok and self.last_reply.startswith("235"))
            return
        offered = self.auth_offered()
        if not self.esmtp:
            self.reply(self.enhanced("503", "5.5.1", "Error: send EHLO first"))
        elif self.authenticated:
            self.reply(self.enhanced("503", "5.5.1", "Error: already authenticated"))
        elif self.state != "ready":
            self.reply(self.enhanced("503", "5.5.1", "Error: MAIL transaction in progress"))
        elif not self.opts.auth_mechanisms:
            self.reply(self.enhanced("503", "5.5.1", "Error: authentication not enabled"))
        elif not offered:
            self.reply(self.enhanced("538", "5.7.11", "Encryption required for requested authentication mechanism"))
        elif mech not in offered:
            self.reply(self.enhanced("504", "5.5.4", "Unrecognized authentication type"))
        else:
            initial_response = None if not initial else ("" if initial == "=" else initial)
            getattr(self, "sasl_" + mech.replace("-", "_").lower())(initial_response)

    def sasl_challenge(self, challenge):
        """sasl_challenge - send a 334 challenge and return the decoded response; None if cancelled"""
        self.reply("334 " + b64(challenge))
        line = self.read_sasl_line()
        if line == "*":
            self.reply(self.enhanced("501", "5.7.0", "Authentication aborted"))
            return None
        return self.decode_response(line)

    def decode_response(self, text):
        """decode_response - base64-decode a SASL response; None (and a 501 sent) if it is not base64"""
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            self.reply(self.enhanced("501", "5.5.2", "Cannot decode response"))
            return None

    def auth_result(self, mech, user, ok):
        """auth_result - remember an AUTH outcome for the record (the username, never the secret)"""
        self.conn["auth_attempts"].append({"mechanism": mech, "user": user, "ok": ok})
        if ok:
            self.authenticated = True
            self.conn.update(auth=True, auth_mechanism=mech, auth_user=user)

    def credentials_match(self, user, password):
        """credentials_match - constant-time comparison with the configured account"""
        return (
            self.opts.user is not None
            and self.opts.password is not None
            and hmac.compare_digest(user.encode("utf-8"), self.opts.user.encode("utf-8"))
            and hmac.compare_digest(password.encode("utf-8"), self.opts.password.encode("utf-8"))
        )

    def token_current(self, user, token):
        """token_current - with --xoauth2-tokens: TOKEN is one the test token endpoint issued to
        this account and it has not expired (the endpoint keeps the file: {token: expiry})"""
        if self.opts.user is None or not hmac.compare_digest(user.encode("utf-8"), self.opts.user.encode("utf-8")):
            return False
        try:
            with open(self.opts.xoauth2_tokens, encoding="utf-8") as f:
                tokens = json.load(f)
        except (OSError, ValueError):
            return False
        expiry = tokens.get(token)
        return isinstance(expiry, (int, float)) and expiry > time.time()

    def auth_finish(self, mech, user, ok):
        """auth_finish - send 235 or 535 and record the outcome"""
        if ok:
            sent_ok = self.reply(self.enhanced("235", "2.7.0", "Authentication successful"))
        else:
            self.reply(self.enhanced("535", "5.7.8", "Error: authentication failed"))
            sent_ok = False
        self.auth_result(mech, user, ok and sent_ok)

    def sasl_plain(self, initial):
        """sasl_plain - PLAIN (RFC 4616): authzid NUL authcid NUL password"""
        data = self.decode_response(initial) if initial is not None else self.sasl_challenge(b"")
        if data is None:
            return
        parts = data.split(b"\0")
        if len(parts) != 3:
            self.reply(self.enhanced("501", "5.5.2", "Malformed PLAIN response"))
            self.auth_result("PLAIN", None, False)
            return
        user, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        self.auth_finish("PLAIN", user, self.credentials_match(user, password))

    def sasl_login(self, initial):
        """sasl_login - LOGIN: username and password in two 334 rounds"""
        user = self.decode_response(initial) if initial is not None else self.sasl_challenge(b"Username:")
        if user is None:
            return
        password = self.sasl_challenge(b"Password:")
        if password is None:
            return
        user = user.decode("utf-8", "replace")
        self.auth_finish("LOGIN", user, self.credentials_match(user, password.decode("utf-8", "replace")))

    def sasl_cram_md5(self, initial):
        """sasl_cram_md5 - CRAM-MD5 (RFC 2195): 'user hex(HMAC-MD5(password, challenge))'"""
        if initial is not None:
            self.reply(self.enhanced("501", "5.7.0", "CRAM-MD5 takes no initial response"))
            return
        challenge = ("<%d.%d@%s>" % (secrets.randbits(31), int(time.time()), self.opts.hostname)).encode()
        data = self.sasl_challenge(challenge)
        if data is None:
            return
        user, _, digest = data.decode("utf-8", "replace").rpartition(" ")
        ok = False
        if self.opts.user is not None and user == self.opts.user:
            expect = hmac.new(self.opts.password.encode("utf-8"), challenge, hashlib.md5).hexdigest()
            ok = hmac.compare_digest(expect, digest.lower())
        self.auth_finish("CRAM-MD5", user, ok)

    def sasl_xoauth2(self, initial):
        """sasl_xoauth2 - XOAUTH2: user=U^Aauth=Bearer TOKEN^A^A; the token is --password"""
        data = self.decode_response(initial) if initial is not None else self.sasl_challenge(b"")
        if data is None:
            return
        fields = dict(f.split("=", 1) for f in data.decode("utf-8", "replace").split("\x01") if "=" in f)
        user = fields.get("user")
        token = fields.get("auth", "")
        if self.opts.xoauth2_tokens:
            ok = user is not None and token.startswith("Bearer ") and self.token_current(user, token[7:])
        else:
            ok = user is not None and token.startswith("Bearer ") and self.credentials_match(user, token[7:])
        if ok:
            self.auth_finish("XOAUTH2", user, True)
            return
        # Google's way: a 334 with a JSON error, then 535 once the client has sent an empty line.
        self.reply("334 " + b64(json.dumps(XOAUTH2_ERROR).encode()))
        self.read_sasl_line()
        self.auth_finish("XOAUTH2", user, False)

    def cmd_mail(self, arg):
        """cmd_mail - MAIL FROM: start a transaction (needs EHLO/HELO, and AUTH with --require-auth)"""
        if self.state == "greeting":
            self.reply(self.enhanced("503", "5.5.1", "Error: send HELO/EHLO first"))
            return
        if self.state != "ready":
            self.reply(self.enhanced("503", "5.5.1", "Error: nested MAIL command"))
            return
        if self.opts.require_auth and not self.authenticated:
            self.reply(self.enhanced("530", "5.7.0", "Authentication required"))
            return
        parsed = parse_path(arg, "FROM")
        if parsed is None:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: MAIL FROM:<address>"))
            return
        address, params = parsed
        upper = [p.upper() for p in params]
        if "BODY=8BITMIME" in upper and self.opts.no_8bitmime:
            self.reply(self.enhanced("555", "5.5.4", "Unsupported option: BODY=8BITMIME"))
            return
        if "SMTPUTF8" in upper and self.opts.no_smtputf8:
            self.reply(self.enhanced("555", "5.5.4", "Unsupported option: SMTPUTF8"))
            return
        if not address.isascii() and "SMTPUTF8" not in upper:
            self.reply(self.enhanced("553", "5.6.7", "Non-ASCII address requires SMTPUTF8"))
            return
        for p in upper:
            if p.startswith("SIZE=") and self.opts.size and p[5:].isdigit() and int(p[5:]) > self.opts.size:
                self.reply(self.enhanced("552", "5.3.4", "Message size exceeds fixed limit"))
                return
        if self.reply(self.enhanced("250", "2.1.0", "Ok")):
            self.mail_from, self.mail_params, self.smtputf8 = address, params, "SMTPUTF8" in upper
            self.state = "mail"

    def cmd_rcpt(self, arg):
        """cmd_rcpt - RCPT TO: add a recipient, remembering the reply it got"""
        if self.state not in ("mail", "rcpt"):
            self.reply(self.enhanced("503", "5.5.1", "Error: need MAIL command"))
            return
        parsed = parse_path(arg, "TO")
        if parsed is None:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: RCPT TO:<address>"))
            return
        address, params = parsed
        if not address.isascii() and not self.smtputf8:
            accepted = self.reply(self.enhanced("553", "5.6.7", "Non-ASCII address requires SMTPUTF8")) and False
        else:
            accepted = self.reply(self.enhanced("250", "2.1.5", "Ok"))
        entry = {"addr": address, "params": params, "reply": self.last_reply, "accepted": accepted}
        self.rcpts.append(entry)
        if accepted:
            self.state = "rcpt"

    def cmd_data(self, arg):
        """cmd_data - DATA: 354, read up to CRLF.CRLF, then answer the end of data"""
        if arg:
            self.reply(self.enhanced("501", "5.5.4", "Syntax: DATA"))
            return
        if self.state == "mail":
            self.reply(self.enhanced("554", "5.5.1", "Error: no valid recipients"))
            return
        if self.state != "rcpt":
            self.reply(self.enhanced("503", "5.5.1", "Error: need RCPT command"))
            return
        if not self.reply("354 End data with <CR><LF>.<CR><LF>"):
            return
        raw = self.wire.read_data()
        self.log("< (%d bytes of data)" % len(raw))
        self.end_of_data(raw)

    def end_of_data(self, raw):
        """end_of_data - answer the final dot: record the message first if the answer accepts it"""
        self.note_command(".")
        message = unstuff(raw)
        self.rule = self.provider.match_rule("DOT", self)
        if self.rule is not None and self.rule.stall:
            self.log("(stalling %gs)" % self.rule.stall)
            time.sleep(self.rule.stall)
        if self.rule is not None and self.rule.reply is None and self.rule.raw is None and self.rule.close:
            self.conn["replies"].append("")
            raise Closing("scripted_close")
        if self.opts.size and len(message) > self.opts.size:
            default = self.enhanced("552", "5.3.4", "Message size exceeds fixed limit")
        else:
            default = self.enhanced("250", "2.0.0", "Ok: queued as %d.%d" % (self.number, self.messages + 1))
        answer = self.planned(default)
        if answer.startswith("2") and (self.rule is None or self.rule.raw is None):
            self.messages += 1
            self.provider.record(self.message_record(raw, message))
        self.reply(default)
        self.reset_transaction()

    def message_record(self, raw, message):
        """message_record - the JSON record of one accepted message"""
        return {
            "event": "message",
            "conn": self.number,
            "msg": self.messages,
            "tls": self.tls_active,
            "tls_version": self.conn["tls_version"],
            "auth": self.authenticated,
            "auth_mechanism": self.conn["auth_mechanism"],
            "auth_user": self.conn["auth_user"],
            "mail_from": self.mail_from,
            "mail_params": self.mail_params,
            "rcpt": self.rcpts,
            "size": len(raw),
            "data_b64": b64(raw),
            "message_b64": b64(message),
            "message": message.decode("utf-8", errors="replace"),
            "bare_cr": has_bare_cr(raw),
            "bare_lf": has_bare_lf(raw),
            "eight_bit": any(byte >= 0x80 for byte in raw),
        }

    def cmd_rset(self, arg):
        """cmd_rset - RSET: abandon the transaction"""
        if self.reply(self.enhanced("250", "2.0.0", "Ok")):
            self.reset_transaction()

    def cmd_noop(self, arg):
        """cmd_noop - NOOP"""
        self.reply(self.enhanced("250", "2.0.0", "Ok"))

    def cmd_quit(self, arg):
        """cmd_quit - QUIT: record the connection, say 221, close"""
        # Record before the 221, so a client that has seen 221 finds the record complete.
        bye = self.enhanced("221", "2.0.0", "Bye")
        self.conn["end"] = "quit"
        self.conn["replies"].append(self.planned(bye))
        self.write_connection_record()
        self.reply(bye)
        raise Closing("quit")


def parse_args(argv):
    """parse_args - the command line (see README)"""
    p = argparse.ArgumentParser(prog="byo-provider.py", description="Scriptable test SMTP provider (loopback only).")
    p.add_argument("--listen", default="127.0.0.1", help="loopback address to listen on (127.0.0.1, ::1)")
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    p.add_argument("--port-file", help="write the port here once listening (the ready marker)")
    p.add_argument("--mode", choices=("starttls", "strip", "tls", "plain"), default="starttls")
    p.add_argument("--cert", help="PEM certificate (chain) to present")
    p.add_argument("--key", help="PEM private key of --cert")
    p.add_argument("--tls-max", choices=("1.2", "1.3"), default="1.3", help="highest TLS version (lowest is 1.2)")
    p.add_argument("--hostname", default="provider.test", help="name in the banner and EHLO reply")
    p.add_argument("--banner", help="the whole banner line instead of 220 HOSTNAME ESMTP")
    p.add_argument("--auth", default="", help="comma list of mechanisms: PLAIN,LOGIN,CRAM-MD5,XOAUTH2")
    p.add_argument("--auth-legacy", action="store_true", help="also advertise AUTH=MECHS")
    p.add_argument("--auth-before-tls", action="store_true", help="starttls mode: offer AUTH before TLS too")
    p.add_argument("--user", help="the account's username")
    p.add_argument("--password", help="the account's password (the bearer token for XOAUTH2)")
    p.add_argument("--xoauth2-tokens", metavar="FILE",
                   help="XOAUTH2 accepts only the unexpired tokens in FILE (JSON {token: expiry}, kept by byo-oauth.py)")
    p.add_argument("--require-auth", action="store_true", help="530 5.7.0 to MAIL before AUTH")
    p.add_argument("--require-tls", action="store_true", help="530 5.7.0 to anything but EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before TLS")
    p.add_argument("--size", type=int, default=10240000, help="advertised and enforced SIZE; 0: none")
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--no-enhancedstatuscodes", action="store_true")
    p.add_argument("--ehlo-extra", action="append", default=[], metavar="KEYWORD", help="another EHLO line")
    p.add_argument("--inject-after-starttls", metavar="BYTES", help="bytes sent with the 220 to STARTTLS (\\r\\n escapes)")
    p.add_argument("--rule", action="append", default=[], metavar="JSON", help="a scripted rule (JSON object)")
    p.add_argument("--script", help="JSON file: a list of rules, or {\"rules\": [...]}")
    p.add_argument("--record", help="append JSON records, one per line, to this file")
    p.add_argument("--idle-timeout", type=float, default=120, help="seconds to wait for a client line")
    p.add_argument("--quiet", action="store_true", help="no session log on stderr")
    opts = p.parse_args(argv)

    try:
        if not ipaddress.ip_address(opts.listen).is_loopback:
            p.error("--listen %s: only loopback addresses are allowed" % opts.listen)
    except ValueError:
        p.error("--listen %s: not an IP address" % opts.listen)
    opts.auth_mechanisms = [m.strip().upper() for m in opts.auth.split(",") if m.strip()]
    for mech in opts.auth_mechanisms:
        if mech not in MECHANISMS:
            p.error("--auth: unknown mechanism %s (known: %s)" % (mech, ",".join(MECHANISMS)))
    if opts.auth_mechanisms and (opts.user is None or (opts.password is None and not opts.xoauth2_tokens)):
        p.error("--auth needs --user and --password (or --xoauth2-tokens for XOAUTH2 alone)")
    if opts.mode in ("starttls", "tls") and not (opts.cert and opts.key):
        p.error("--mode %s needs --cert and --key" % opts.mode)
    return opts, p


def load_rules(opts, parser):
    """load_rules - rules from --script, then --rule, then the shorthand options"""
    specs = []
    try:
        if opts.script:
            with open(opts.script, encoding="utf-8") as f:
                script = json.load(f)
            specs.extend(script["rules"] if isinstance(script, dict) else script)
        specs.extend(json.loads(r) for r in opts.rule)
        if opts.inject_after_starttls:
            specs.append({"on": "STARTTLS", "append": unescape(opts.inject_after_starttls).decode("latin-1")})
        return [Rule(s) for s in specs]
    except (OSError, ValueError, KeyError, TypeError) as e:
        parser.error("rules: %s" % e)


def tls_context(opts):
    """tls_context - the server's TLS context: TLS 1.2 minimum, the chosen certificate, SNI noted"""
    if not (opts.cert and opts.key):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if opts.tls_max == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(opts.cert, opts.key)

    def note_sni(sslsock, server_name, _ctx):
        sslsock.byo_sni = server_name

    ctx.sni_callback = note_sni
    return ctx


def write_port_file(path, port):
    """write_port_file - write the port atomically, so a reader never sees a partial number"""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main(argv):
    opts, parser = parse_args(argv)
    rules = load_rules(opts, parser)
    try:
        server = Provider(opts, rules, tls_context(opts))
    except (OSError, ssl.SSLError) as e:
        print("byo-provider: cannot listen on %s port %d: %s" % (opts.listen, opts.port, e), file=sys.stderr)
        return 1

    def terminate(signum, _frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    port = server.server_address[1]
    if opts.port_file:
        write_port_file(opts.port_file, port)
    if not opts.quiet:
        print("byo-provider: listening on %s port %d, mode %s" % (opts.listen, port, opts.mode), file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.2)
    except Terminated:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
