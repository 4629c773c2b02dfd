#!/usr/bin/python3
"""records - check what the test provider recorded (tests/provider/byo-provider.py --record: one
JSON event a line). Used through pyrec in tests/lib/common.sh. Standard library only.

usage: records.py RECORD CHECK

CHECK is a Python expression that is true when the check holds, or statements whose assertions
must hold. In scope:
    recs, events       every event of RECORD (none when the file does not exist)
    msgs, conns        the "message" and the "connection" events
    b64(s), d(s)       base64 decoding
    parsed(text)       the one message event whose text contains TEXT, and that message parsed
                       (email.message.Message, compat32); asserts there is exactly one
    one(msg, name)     the one NAME field of the parsed MSG, its white space folded
and the modules base64, email, json and sys.
Exit 0 when it holds; otherwise 1, with the reason and the events (each cut to 1500 characters).
"""
import base64
import email
import email.policy
import json
import sys
import traceback


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def main():
    path, check = sys.argv[1], sys.argv[2]
    recs = load(path)
    msgs = [r for r in recs if r.get("event") == "message"]
    conns = [r for r in recs if r.get("event") == "connection"]

    def parsed(text):
        m = [x for x in msgs if text in x["message"]]
        assert len(m) == 1, "%d copies of %r" % (len(m), text)
        return m[0], email.message_from_bytes(base64.b64decode(m[0]["message_b64"]),
                                              policy=email.policy.compat32)

    def one(msg, name):
        v = msg.get_all(name) or []
        assert len(v) == 1, "%s: %r" % (name, v)
        return " ".join(v[0].split())

    scope = {"base64": base64, "email": email, "json": json, "sys": sys, "recs": recs,
             "events": recs, "msgs": msgs, "conns": conns, "b64": base64.b64decode,
             "d": base64.b64decode, "parsed": parsed, "one": one}
    try:
        code = compile("(" + check + "\n)", "<check>", "eval")
    except SyntaxError:
        code = None  # not an expression: statements
    try:
        if code is None:
            exec(compile(check, "<check>", "exec"), scope)
            return 0
        if eval(code, scope):
            return 0
        print("--- record check failed: %s" % check)
    except Exception:  # noqa: BLE001 - a failed assertion or a broken check: reported below
        print("--- record check failed: %s" % check)
        traceback.print_exc(file=sys.stdout)
    print("--- %d events in %s" % (len(recs), path))
    for e in recs:
        print(json.dumps(e)[:1500])
    return 1


if __name__ == "__main__":
    sys.exit(main())
