#!/bin/sh
# client-data.sh - what reaches the provider is CRLF only and exactly one message per submission:
# the SMTP-smuggling line endings, dot-stuffing, long lines, an empty body, no final newline, and a
# large message with every kind of line ending streamed across many chunks; and the SIZE that MAIL
# declares for a message that grows on the wire.
# Exit 0 pass, 1 fail, 77 skip.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/client/lib.sh"

# make_messages DIR - write the test messages and, for each, NAME.want: the content the provider
# must keep (after it removes the dot-stuffing), by an independent reference encoding
"$PY" - "$T" <<'EOF'
import os, random, sys
d = sys.argv[1]

def reference(data):
    """CRLF for CRLF / bare CR / bare LF, lines of at most 998 octets on the wire (dot-stuffing
    counted), then what the receiver keeps: lines with the stuffed dot removed"""
    lines, cur, i = [], bytearray(), 0
    while i < len(data):
        c = data[i]
        if c in (13, 10):
            lines.append(bytes(cur)); cur = bytearray()
            i += 2 if (c == 13 and data[i + 1:i + 2] == b"\n") else 1
            continue
        cur.append(c); i += 1
    if cur:
        lines.append(bytes(cur))
    kept = []
    for line in lines:
        wire = b"." + line if line.startswith(b".") else line
        while len(wire) > 998:
            head, wire = wire[:998], wire[998:]
            kept.append(head[1:] if head.startswith(b".") else head)
            if wire.startswith(b"."):
                wire = b"." + wire
        kept.append(wire[1:] if wire.startswith(b".") else wire)
    return b"".join(l + b"\r\n" for l in kept)

msgs = {}
smuggle = b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"
for n, ending in enumerate([b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\n.\r", b"\r.\r\n"]):
    msgs["smuggle%d" % n] = b"Subject: smuggle\r\n\r\nbody" + ending + smuggle
msgs["dots"] = b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nx.\r\n.\n.\r"
msgs["long"] = (b"Subject: long\r\n\r\n" + b"a" * 998 + b"\r\n" + b"b" * 999 + b"\r\n" + b"c" * 2000 +
                b"\r\n." + b"d" * 997 + b"\r\n." + b"e" * 998 + b"\n")
msgs["empty"] = b""
msgs["nofinal"] = b"Subject: no final newline\r\n\r\nlast line"
rnd = random.Random(5)
big = bytearray(b"Subject: big\r\n\r\n")
while len(big) < 3 * 1024 * 1024:
    big += bytes(rnd.choice(b"abc. ") for _ in range(rnd.choice([0, 1, 5, 80, 997, 998, 999, 1500])))
    big += rnd.choice([b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n."])
msgs["big"] = bytes(big)
for name, data in msgs.items():
    with open(os.path.join(d, name + ".eml"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, name + ".want"), "wb") as f:
        f.write(reference(data))
EOF
[ -s "$T/big.want" ] || { echo "FAIL: cannot make the test messages"; exit 1; }

start_provider data $(tls_args starttls) $(auth_args PLAIN)
count=0
for name in smuggle0 smuggle1 smuggle2 smuggle3 smuggle4 smuggle5 smuggle6 smuggle7 dots long empty nofinal big; do
    probe "$name" --host localhost --port "$port" --message "$T/$name.eml" --body 7bit
    count=$((count + 1))
    if [ $probe_status -eq 0 ] && result_is "$name" send1 ok done; then
        ok "$name submitted"
    else
        fail "$name not submitted"
    fi
done
stop_provider data

# Each submission arrived as exactly one message, CRLF only, with the content the reference says;
# the smuggled commands are content, never commands.
for name in smuggle0 smuggle1 smuggle2 smuggle3 smuggle4 smuggle5 smuggle6 smuggle7 dots long empty nofinal big; do
    if pyrec data "any(b64(m['message_b64']) == open('$T/$name.want', 'rb').read() and not m['bare_cr'] and not m['bare_lf'] for m in msgs)"; then
        ok "$name: one message, CRLF only, content as expected"
    else
        fail "$name: content at the provider"
    fi
done
if pyrec data "len(msgs) == $count and len(conns) == $count and all(sum(1 for c in x['commands'] if c.upper().startswith('MAIL')) == 1 and x['non_crlf_lines'] == 0 for x in conns) and not any(m['mail_from'] == 'evil@example.net' for m in msgs)"; then
    ok "$count submissions, $count messages, one MAIL each, no smuggled transaction"
else
    fail "smuggling: the provider saw more than one transaction per submission"
fi
# No line on the wire is longer than 998 octets (+CRLF), also with dot-stuffing.
if pyrec data "all(len(l) <= 998 for m in msgs for l in b64(m['data_b64']).split(b'\r\n'))"; then
    ok "no wire line longer than 998 octets"
else
    fail "long lines on the wire"
fi

# SIZE (RFC 1870) is never smaller than what is sent: a message with bare LFs, leading dots, a
# long line and no final newline grows on the wire, and MAIL declares what the provider then
# receives (its "size": the DATA octets before the terminator, dots included), however much the
# caller said the stored message was (--size, as the delivery worker gives its spool copy's size).
"$PY" - "$T/grow.eml" <<'EOF'
import sys
m = b"Subject: grows on the wire\n\n" + b".dot\n" * 300 + b"bare LF\n" * 300 + b"\r" + b"x" * 3000 + b"\nno final newline"
open(sys.argv[1], "wb").write(m)
EOF
grow=$(wc -c <"$T/grow.eml")
start_provider size $(tls_args starttls) $(auth_args PLAIN)
probe grow --host localhost --port "$port" --message "$T/grow.eml" --size "$grow" --body 7bit
check "a message that grows on the wire: submitted" result_is grow send1 ok done
probe grow-once --host localhost --port "$port" --message "$T/grow.eml" --size "$grow" --body 7bit --read-once
check "the same from a source read only once: submitted" result_is grow-once send1 ok done
stop_provider size
if pyrec size "[int(p[5:]) for p in msgs[0]['mail_params'] if p.startswith('SIZE=')] == [msgs[0]['size']] and msgs[0]['size'] > $grow"; then
    ok "SIZE declares exactly the octets received, more than the stored $grow"
else
    fail "SIZE is not what the provider received: $(pyrec size "print(msgs[0]['mail_params'], msgs[0]['size'])" 2>&1 | head -3)"
fi
if pyrec size "len(msgs) == 2 and not any(p.startswith('SIZE=') for p in msgs[1]['mail_params'])"; then
    ok "a source read only once: no SIZE declared"
else
    fail "a source read only once: SIZE declared without measuring"
fi

finish
