#!/usr/bin/python3
"""faultclient - one message to byosmtpd over the milter protocol, as an MTA sends it, for the
fault-injection tests: unlike milterclient.py's submit it stops at the first reply that is not
"continue" (as Postfix does: it aborts the transaction there) and says where that was.

usage: faultclient.py SOCKET SENDER RCPT[,RCPT...] SUBJECT [BODY-CHUNKS]

Prints one line: the stage that ended the conversation (mail, rcpt, data, header, eoh, body,
eom), the reply letter, and the reply's text for a "y" (e.g. "eom y 451 4.3.0 byosmtpd: ..."),
or for an accepted message "eom d" (discarded: every recipient relayed) or "eom c -<rcpt>..."
(the recipients removed). The body goes in BODY-CHUNKS chunks (default 3), one body call each.
Exit status 0, or 1 when the conversation broke (the milter closed it or did not answer).
Standard library only; the protocol is tests/lib/milterclient.py's.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from milterclient import FINAL_REPLIES, Milter  # noqa: E402


def stop(m, stage, reply):
    """stop - print where the milter ended the message, then abort and quit as an MTA would"""
    letter, data = reply
    text = data.rstrip(b"\0").decode("utf-8", "replace") if letter == b"y" else ""
    print(stage, letter.decode(), text, flush=True)
    m.send(b"A")
    m.quit()


def send(m, sender, rcpts, subject, chunks):
    """send - one message; the stage and reply that ended it are printed"""
    m.start("QFAULT")
    steps = [("mail", lambda: m.mail("<%s>" % sender))]
    steps += [("rcpt", lambda a=a: m.rcpt("<%s>" % a)) for a in rcpts]
    steps.append(("data", lambda: m.call(b"T")))
    for name, value in (("From", "Sender <%s>" % sender), ("To", ", ".join(rcpts)),
                        ("Subject", subject), ("Message-ID", "<%s@client.example>" % subject)):
        steps.append(("header", lambda n=name, v=value: m.header(n, v)))
    steps.append(("eoh", lambda: m.eoh()))
    for i in range(chunks):
        line = ("%s, body part %d of %d.\r\n" % (subject, i + 1, chunks)).encode()
        steps.append(("body", lambda c=line: m.body(c)))
    for stage, step in steps:
        reply = step()
        if reply[0] != b"c":
            stop(m, stage, reply)
            return
    m.send(b"E")
    removed = []
    while True:
        letter, data = m.recv()
        if letter == b"-":
            removed.append(data.rstrip(b"\0").decode())
        elif letter in FINAL_REPLIES:
            break
    if letter in (b"c", b"a", b"d"):
        print("eom", letter.decode(), " ".join("-" + r for r in removed), flush=True)
        m.quit()
    else:
        stop(m, "eom", (letter, data))


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    path = sys.argv[1].split(":", 1)[-1]
    rcpts = [a for a in sys.argv[3].split(",") if a]
    chunks = int(sys.argv[5]) if len(sys.argv) == 6 else 3
    try:
        send(Milter(path), sys.argv[2], rcpts, sys.argv[4], chunks)
    except (OSError, EOFError) as e:
        print("broken", repr(e), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
