#!/usr/bin/python3
"""milterclient - the MTA's side of the milter protocol (version 6) towards byosmtpd, for the
tests: what miltertest cannot do in tests/milter (hundreds of concurrent connections, a 50 MB
body, header fields larger than miltertest's buffer), and the messages that tests/delivery hands
to byosmtpd without an MTA in front. Standard library only.

It offers what Postfix offers with milter_protocol = 6 (every SMFIP_NO* step and SMFIP_NR_*
reply may be left out, header values with their leading space) and keeps to what the milter
asks for, as an MTA does: a step it does not want is not sent, a step it answers with no reply
is not waited for (and counts as "continue").

usage: milterclient.py SOCKET load N_CONN BIG_MB
       milterclient.py SOCKET bigheader SIZE
       milterclient.py SOCKET submit SENDER RCPT[,RCPT...] COUNT [SUBJECT-PREFIX]
       milterclient.py SOCKET sessions N_SESSIONS COUNT SENDER RCPT[,RCPT...] [lockstep|free]

SOCKET is unix:PATH (or PATH).

load: N_CONN small messages, one connection each, all open and mid-message at once, and a
message of BIG_MB MB at the same time; prints the final reply letter of each as JSON
({"0": "d", ..., "big": "d"}, or "error: ..." for a conversation that broke).

bigheader: one message to a routed recipient whose header field X-Big has a value of SIZE bytes;
prints the milter's first reply that is not "continue" - to the field, to the end of the header
section or to the end of the message - as its letter and text, e.g. "y 552 5.3.4 message header
field too long", or "d" when the message was taken and the MTA's copy discarded.

submit: COUNT messages, one conversation each, from SENDER ("" = the null sender) to the
recipients (SENDER and each RCPT may be followed by ESMTP parameters after a space, e.g.
"bob@acme.example NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@acme.example"; recipients with
parameters are given one a line instead of separated by commas), with the MTA queue id QTEST<n>, and one line per message: the milter's final reply
letter after end of message and the recipients it removed (delrcpt), e.g.
    1 d <bob@acme.example>
A conversation that breaks (byosmtpd killed, not yet listening) prints "N error ..." and the
next message is tried after a short pause, as an MTA would keep the message and retry.

sessions: COUNT messages (1 to COUNT, MTA queue id QS<n>) from SENDER ("" = the null sender) to
the recipients over N_SESSIONS connections open at once; message n goes over connection
(n - 1) % N_SESSIONS, each connection sends its messages one after another, as Postfix does
for a client that sends several messages in one SMTP session. Each message stops at the first
reply that is not "continue" and is ended with an abort (at RCPT a real MTA would go on with the
other recipients; these tests look at the first refusal). "lockstep" (the
default) holds every connection before end of message until all have reached it, round by
round, so the RCPT checks of a round all come before its commits; "free" does not wait. One
line per message, in order: the step that ended it (mail, rcpt, data, header, eom), the reply
letter, and its text ("y": the SMTP reply) or, after end of message, the removed recipients:
    3 eom d <bob@acme.example>
    57 rcpt y 550 5.7.1 monthly relay quota exhausted
A connection that breaks prints "N error ..." for its messages left. With MILTERCLIENT_SLOWEST=1
in the environment, also the longest time byosmtpd took to answer one step, on stderr:
"slowest reply: N ms".

Exit status 0 (an assertion that fails in load or bigheader exits 1 with its traceback).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

SMFIF_ALL = 0x1FF
SMFIP_NOCONNECT = 0x1
SMFIP_NOHELO = 0x2
SMFIP_NOMAIL = 0x4
SMFIP_NORCPT = 0x8
SMFIP_NOBODY = 0x10
SMFIP_NOHDRS = 0x20
SMFIP_NOEOH = 0x40
SMFIP_NR_HDR = 0x80
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000
# Postfix's offer with milter_protocol = 6 (its MILTER8_V6_PROTO_MASK): every protocol bit.
PROTO_V6 = 0x1FFFFF
FINAL_REPLIES = (b"c", b"a", b"d", b"r", b"t", b"y")
CONTINUE = (b"c", b"")


# the longest wait for a reply of byosmtpd (sessions prints it on stderr as "slowest reply: N ms")
SLOWEST = [0.0]
SLOWEST_LOCK = threading.Lock()


class Milter:
    """One milter conversation over a unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.last_reply = ""
        self.pflags = 0  # the protocol the milter asked for at negotiation

    def send(self, cmd, data=b""):
        self.sent_at = time.monotonic()
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def recv(self):
        n = struct.unpack(">I", self._read(4))[0]
        body = self._read(n)
        took = time.monotonic() - self.sent_at
        with SLOWEST_LOCK:
            SLOWEST[0] = max(SLOWEST[0], took)
        return body[:1], body[1:]

    def _read(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("the milter closed the connection")
            b += c
        return b

    def call(self, cmd, data=b""):
        self.send(cmd, data)
        return self.recv()

    def step(self, cmd, data, skip, noreply):
        """one protocol step: not sent when the milter asked not to have it (flag SKIP), sent
        without waiting when it asked to send no reply (flag NOREPLY): both count as continue"""
        if self.pflags & skip:
            return CONTINUE
        self.send(cmd, data)
        if self.pflags & noreply:
            return CONTINUE
        return self.recv()

    def start(self, qid, ip="127.0.0.1"):
        """option negotiation (version 6, every action, Postfix's protocol offer), a connection
        from IP, HELO, and the queue id macro {i}; returns the reply letters to the connection
        and to HELO"""
        r = self.call(b"O", struct.pack(">III", 6, SMFIF_ALL, PROTO_V6))
        assert r[0] == b"O", r
        self.pflags = struct.unpack(">III", r[1][:12])[2]
        connect = self.step(b"C", b"localhost\0" + b"4" + struct.pack(">H", 25) + ip.encode()
                            + b"\0", SMFIP_NOCONNECT, SMFIP_NR_CONN)
        helo = self.step(b"H", b"client.example\0", SMFIP_NOHELO, SMFIP_NR_HELO)
        self.send(b"D", b"M" + b"i\0" + qid.encode() + b"\0")
        return connect[0], helo[0]

    def mail(self, sender, params=()):
        """MAIL: the sender and its ESMTP parameters, each its own string, as Postfix sends
        them"""
        data = b"".join(w.encode() + b"\0" for w in (sender,) + tuple(params))
        return self.step(b"M", data, SMFIP_NOMAIL, SMFIP_NR_MAIL)

    def rcpt(self, addr, params=()):
        data = b"".join(w.encode() + b"\0" for w in (addr,) + tuple(params))
        return self.step(b"R", data, SMFIP_NORCPT, SMFIP_NR_RCPT)

    def data(self):
        return self.step(b"T", b"", SMFIP_NODATA, SMFIP_NR_DATA)

    def envelope(self, sender, rcpts):
        """MAIL and each RCPT, then DATA; the first reply that is not "continue" ends it"""
        r = self.mail(sender)
        if r[0] != b"c":
            return r
        for a in rcpts:
            r = self.rcpt(a)
            if r[0] != b"c":
                return r
        return self.data()

    def header(self, name, value):
        """a header field "NAME: VALUE"; the value goes with its leading space when the milter
        asked for that (SMFIP_HDR_LEADSPC), without it otherwise, as Postfix sends it"""
        if self.pflags & SMFIP_HDR_LEADSPC:
            value = " " + value
        return self.step(b"L", name.encode() + b"\0" + value.encode() + b"\0", SMFIP_NOHDRS,
                         SMFIP_NR_HDR)

    def eoh(self):
        return self.step(b"N", b"", SMFIP_NOEOH, SMFIP_NR_EOH)

    def body(self, chunk):
        return self.step(b"B", chunk, SMFIP_NOBODY, SMFIP_NR_BODY)

    def eom(self):
        """end of message; returns the final reply letter and the (action, data) pairs before it,
        such as delrcpt; the final reply's text ("y": the SMTP reply) is left in last_reply"""
        self.send(b"E")
        actions = []
        while True:
            cmd, data = self.recv()
            if cmd in FINAL_REPLIES:
                self.last_reply = data.rstrip(b"\0").decode()
                return cmd, actions
            actions.append((cmd, data))

    def quit(self):
        self.send(b"Q")
        self.s.close()


def small_message(path, qid, barrier, results, i):
    """load: one small message, held before its end until every connection is open"""
    try:
        m = Milter(path)
        assert m.start(qid) == (b"c", b"c")
        assert m.envelope("<load@client.example>", ["<bob@acme.example>"])[0] == b"c"
        for name, value in (("From", "load@client.example"), ("Subject", "load %d" % i)):
            assert m.header(name, value)[0] == b"c"
        assert m.eoh()[0] == b"c"
        assert m.body(b"small body\r\n")[0] == b"c"
        barrier.wait()  # all connections are open and mid-message at once
        reply, _ = m.eom()
        results[i] = reply.decode()
        m.quit()
    except Exception as e:  # noqa: BLE001 - reported in the JSON
        results[i] = "error: %r" % (e,)
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass


def big_message(path, mb, results):
    """load: one message with a body of MB MB, in chunks of up to 64 KB"""
    try:
        m = Milter(path)
        assert m.start("QBIG") == (b"c", b"c")
        assert m.envelope("<big@client.example>", ["<bob@acme.example>"])[0] == b"c"
        assert m.header("From", "big@client.example")[0] == b"c"
        assert m.eoh()[0] == b"c"
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
        chunk = line * (65535 // len(line))
        left = mb * 1024 * 1024
        while left > 0:
            c = chunk[:left]
            assert m.body(c)[0] == b"c"
            left -= len(c)
        reply, _ = m.eom()
        results["big"] = reply.decode()
        m.quit()
    except Exception as e:  # noqa: BLE001
        results["big"] = "error: %r" % (e,)


def load(path, n, mb):
    results = {}
    barrier = threading.Barrier(n)
    threads = [threading.Thread(target=small_message,
                                args=(path, "QLOAD%d" % i, barrier, results, i))
               for i in range(n)]
    threads.append(threading.Thread(target=big_message, args=(path, mb, results)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))


def bigheader(path, size):
    m = Milter(path)
    assert m.start("QBOMBSIZE") == (b"c", b"c")
    assert m.envelope("<a@client.example>", ["<bob@acme.example>"])[0] == b"c"
    r = m.header("From", "a@client.example")
    if r[0] == b"c":
        r = m.header("X-Big", "x" * size)
    if r[0] == b"c":
        r = m.eoh()
    if r[0] == b"c":
        r = m.body(b"Body of the big header.\r\n")
    if r[0] == b"c":
        r = (m.eom()[0], b"")
    print(" ".join(x for x in (r[0].decode(), r[1].rstrip(b"\0").decode()) if x))
    m.quit()


def submit_one(path, sender, rcpts, qid, subject):
    """submit: one message; returns (final reply letter, removed recipients). The replies to the
    connection, HELO, each RCPT and each header are not looked at, as an MTA that goes on."""
    m = Milter(path)
    m.start(qid)
    sender, *mail_params = sender.split(" ") if sender else [""]
    r = m.mail("<%s>" % sender, mail_params)
    if r[0] != b"c":
        return r[0].decode(), []
    for a in rcpts:
        addr, *params = a.split(" ")
        m.rcpt("<%s>" % addr, params)
    rcpts = [a.split(" ")[0] for a in rcpts]
    m.data()
    for name, value in (("From", "Sender <%s>" % (sender or "mailer-daemon@client.example")),
                        ("To", ", ".join(rcpts)), ("Subject", subject),
                        ("Message-ID", "<%s@client.example>" % qid)):
        m.header(name, value)
    m.eoh()
    m.body(("Hello, this is %s.\r\n.a line that starts with a dot\r\n" % subject).encode())
    cmd, actions = m.eom()
    m.quit()
    return cmd.decode(), [data.rstrip(b"\0").decode() for action, data in actions if action == b"-"]


def submit(path, sender, rcpts, count, prefix):
    for i in range(1, count + 1):
        try:
            reply, removed = submit_one(path, sender, rcpts, "QTEST%d" % i, "%s %d" % (prefix, i))
        except (OSError, EOFError, AssertionError) as e:
            print(i, "error", repr(e), flush=True)
            time.sleep(0.05)
            continue
        print(i, reply, " ".join(removed), flush=True)


def session_message(m, n, sender, rcpts, barrier):
    """sessions: message N on connection M, held at BARRIER (when not None) before its end;
    returns its line"""
    m.send(b"D", b"M" + b"i\0" + ("QS%d" % n).encode() + b"\0")
    steps = [("mail", lambda: m.mail("<%s>" % sender))]
    steps += [("rcpt", lambda a=a: m.rcpt("<%s>" % a)) for a in rcpts]
    steps += [("data", lambda: m.call(b"T"))]
    steps += [("header", lambda h=h: m.header(h[0], h[1]))
              for h in (("From", "Sender <%s>" % (sender or "mailer-daemon@client.example")),
                        ("Subject", "message %d" % n))]
    steps += [("header", lambda: m.eoh()),
              ("header", lambda: m.body(("This is message %d.\r\n" % n).encode()))]
    for name, step in steps:
        cmd, data = step()
        if cmd != b"c":
            if barrier is not None:
                barrier.wait()
            m.send(b"A")
            return " ".join(w for w in ("%d %s %s" % (n, name, cmd.decode()),
                                        data.rstrip(b"\0").decode()) if w)
    if barrier is not None:
        barrier.wait()
    cmd, actions = m.eom()
    removed = [data.rstrip(b"\0").decode() for action, data in actions if action == b"-"]
    return " ".join(w for w in ["%d eom %s" % (n, cmd.decode()), m.last_reply] + removed if w)


def session(path, s, nsessions, count, sender, rcpts, barrier, lines):
    """sessions: connection S and its messages S+1, S+1+NSESSIONS, ... (one per round); a
    round without a message for S still waits at BARRIER"""
    m = None
    try:
        m = Milter(path)
        m.start("QS")
        for first in range(1, count + 1, nsessions):
            n = first + s
            if n <= count:
                lines[n] = session_message(m, n, sender, rcpts, barrier)
            elif barrier is not None:
                barrier.wait()
        m.quit()
    except Exception as e:  # noqa: BLE001 - reported per message
        for n in range(s + 1, count + 1, nsessions):
            lines.setdefault(n, "%d error %r" % (n, e))
        if barrier is not None:
            barrier.abort()


def sessions(path, nsessions, count, sender, rcpts, mode):
    lines = {}
    barrier = threading.Barrier(nsessions) if mode == "lockstep" else None
    threads = [threading.Thread(target=session,
                                args=(path, s, nsessions, count, sender, rcpts, barrier, lines))
               for s in range(nsessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(1, count + 1):
        print(lines.get(n, "%d error no reply" % n))
    if os.environ.get("MILTERCLIENT_SLOWEST"):
        print("slowest reply: %d ms" % int(SLOWEST[0] * 1000), file=sys.stderr)


def main():
    path = sys.argv[1].split(":", 1)[-1]
    mode = sys.argv[2]
    if mode == "load":
        load(path, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "bigheader":
        bigheader(path, int(sys.argv[3]))
    elif mode == "submit":
        sep = "\n" if "\n" in sys.argv[4] or " " in sys.argv[4] else ","
        submit(path, sys.argv[3], [a for a in sys.argv[4].split(sep) if a], int(sys.argv[5]),
               sys.argv[6] if len(sys.argv) > 6 else "message")
    elif mode == "sessions":
        sessions(path, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
                 [a for a in sys.argv[6].split(",") if a],
                 sys.argv[7] if len(sys.argv) > 7 else "lockstep")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
