#!/usr/bin/python3
"""milterclient - a minimal MTA side of the milter protocol (version 6) for the tests that
miltertest cannot do: hundreds of concurrent connections, a 50 MB body, header fields larger
than miltertest's buffer. Standard library only.

usage: milterclient.py SOCKET load N_CONN BIG_MB      (concurrency + big message; prints JSON)
       milterclient.py SOCKET bigheader SIZE          (one field of SIZE bytes; prints the reply)
"""
import json
import socket
import struct
import sys
import threading

SMFIF_ALL = 0x1FF


class Milter:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def recv(self):
        hdr = self._read(4)
        n = struct.unpack(">I", hdr)[0]
        body = self._read(n)
        return body[:1], body[1:]

    def _read(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("milter closed the connection")
            b += c
        return b

    def call(self, cmd, data=b""):
        self.send(cmd, data)
        return self.recv()

    def start(self, ip="127.0.0.1", qid="QLOAD"):
        r = self.call(b"O", struct.pack(">III", 6, SMFIF_ALL, 0))
        assert r[0] == b"O", r
        assert self.call(b"C", b"localhost\0" + b"4" + struct.pack(">H", 25) + ip.encode() + b"\0")[0] == b"c"
        assert self.call(b"H", b"client.example\0")[0] == b"c"
        self.send(b"D", b"M" + b"i\0" + qid.encode() + b"\0")

    def envelope(self, sender, rcpts):
        r = self.call(b"M", sender.encode() + b"\0")
        if r[0] != b"c":
            return r
        for a in rcpts:
            r = self.call(b"R", a.encode() + b"\0")
            if r[0] != b"c":
                return r
        return self.call(b"T")

    def header(self, name, value):
        return self.call(b"L", name.encode() + b"\0" + value.encode() + b"\0")

    def eom(self):
        """Send EOM; return (final reply, list of (action, data)) such as delrcpt."""
        self.send(b"E")
        actions = []
        while True:
            cmd, data = self.recv()
            if cmd in (b"c", b"a", b"d", b"r", b"t", b"y"):
                return cmd, actions
            actions.append((cmd, data))

    def quit(self):
        self.send(b"Q")
        self.s.close()


def small_message(path, qid, barrier, results, i):
    try:
        m = Milter(path)
        m.start(qid=qid)
        assert m.envelope("<load@client.example>", ["<bob@acme.example>"])[0] == b"c"
        for name, value in (("From", "load@client.example"), ("Subject", "load %d" % i)):
            assert m.header(name, value)[0] == b"c"
        assert m.call(b"N")[0] == b"c"
        assert m.call(b"B", b"small body\r\n")[0] == b"c"
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
    try:
        m = Milter(path)
        m.start(qid="QBIG")
        assert m.envelope("<big@client.example>", ["<bob@acme.example>"])[0] == b"c"
        assert m.header("From", "big@client.example")[0] == b"c"
        assert m.call(b"N")[0] == b"c"
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
        chunk = line * (65535 // len(line))
        left = mb * 1024 * 1024
        while left > 0:
            c = chunk[:left]
            assert m.call(b"B", c)[0] == b"c"
            left -= len(c)
        reply, _ = m.eom()
        results["big"] = reply.decode()
        m.quit()
    except Exception as e:  # noqa: BLE001
        results["big"] = "error: %r" % (e,)


def main():
    path = sys.argv[1].split(":", 1)[1]
    mode = sys.argv[2]
    if mode == "bigheader":
        m = Milter(path)
        m.start(qid="QBOMBSIZE")
        assert m.envelope("<a@client.example>", ["<bob@acme.example>"])[0] == b"c"
        cmd, data = m.header("X-Big", "x" * int(sys.argv[3]))
        print(cmd.decode(), data.rstrip(b"\0").decode())
        m.quit()
        return
    n, mb = int(sys.argv[3]), int(sys.argv[4])
    results = {}
    barrier = threading.Barrier(n)
    threads = [threading.Thread(target=small_message, args=(path, "QLOAD%d" % i, barrier, results, i))
               for i in range(n)]
    threads.append(threading.Thread(target=big_message, args=(path, mb, results)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
