#!/usr/bin/python3
"""submit - play the MTA's side of the milter protocol towards byosmtpd, to hand it messages in
the delivery tests without a Postfix in front (standard library only).

usage: submit.py SOCKET SENDER RCPT[,RCPT...] COUNT [SUBJECT-PREFIX]

Sends COUNT messages, one milter conversation each, from SENDER ("" = the null sender) to the
recipients, with the MTA queue id QTEST<n>, and prints one line per message: the milter's
final reply letter after end of message and the recipients it removed (delrcpt), e.g.
    1 d <bob@acme.example>
A conversation that breaks (byosmtpd killed, not yet listening) prints "N error ..." and the
next message is tried after a short pause, as an MTA would keep the message and retry.
Exit status 0.
"""
import socket
import struct
import sys
import time

SMFIF_ALL = 0x1FF


class Milter:
    """One milter conversation over a unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def recv(self):
        n = struct.unpack(">I", self._read(4))[0]
        body = self._read(n)
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


def one(path, sender, rcpts, qid, subject):
    """one - one message; returns (reply letter, removed recipients)"""
    m = Milter(path)
    r = m.call(b"O", struct.pack(">III", 6, SMFIF_ALL, 0))
    assert r[0] == b"O", r
    m.call(b"C", b"localhost\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
    m.call(b"H", b"client.example\0")
    m.send(b"D", b"M" + b"i\0" + qid.encode() + b"\0")
    r = m.call(b"M", ("<%s>" % sender).encode() + b"\0")
    if r[0] != b"c":
        return r[0].decode(), []
    for a in rcpts:
        m.call(b"R", ("<%s>" % a).encode() + b"\0")
    m.call(b"T")
    for name, value in (("From", "Sender <%s>" % (sender or "mailer-daemon@client.example")),
                        ("To", ", ".join(rcpts)), ("Subject", subject),
                        ("Message-ID", "<%s@client.example>" % qid)):
        m.call(b"L", name.encode() + b"\0" + (" " + value).encode() + b"\0")
    m.call(b"N")
    m.call(b"B", ("Hello, this is %s.\r\n.a line that starts with a dot\r\n" % subject).encode())
    m.send(b"E")
    removed = []
    while True:
        cmd, data = m.recv()
        if cmd == b"-":
            removed.append(data.rstrip(b"\0").decode())
        if cmd in (b"c", b"a", b"d", b"r", b"t", b"y"):
            break
    m.send(b"Q")
    m.s.close()
    return cmd.decode(), removed


def main():
    path = sys.argv[1].split(":", 1)[-1]
    sender = sys.argv[2]
    rcpts = [a for a in sys.argv[3].split(",") if a]
    count = int(sys.argv[4])
    prefix = sys.argv[5] if len(sys.argv) > 5 else "message"
    for i in range(1, count + 1):
        try:
            reply, removed = one(path, sender, rcpts, "QTEST%d" % i, "%s %d" % (prefix, i))
        except (OSError, EOFError, AssertionError) as e:
            print(i, "error", repr(e), flush=True)
            time.sleep(0.05)
            continue
        print(i, reply, " ".join(removed), flush=True)


if __name__ == "__main__":
    main()
