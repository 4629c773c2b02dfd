#!/bin/sh
# A target's limits as the provider sees them, through the real byosmtpd with 4 workers:
#  - max_connections 2: six messages that each take 1.5 s at the provider (a stall before the
#    reply to the final dot) never have more than 2 connections open at once, and do use 2 (the
#    provider records when each connection was accepted and when it ended);
#  - rate 2/s: a first message, then six more on the kept connection, start no closer than
#    0.5 s apart: no three of them in any one second (the provider records each message's time),
#    the first one included, though the target's rate is learned only when it starts.
# Per message: each is delivered once, to its recipient.
. "$top_srcdir/tests/delivery/lib.sh"

IDLE=2
setup
provider cap starttls --rule '{"on": "DOT", "stall": 1.5}'
provider pace starttls
target cap starttls "$cap_PORT" --max-connections 2
target pace starttls "$pace_PORT" --rate 2/s
start

submit "alice@client.example" "bob@cap.example" 6 "capped" || exit 1
check "max_connections: the six messages are delivered" wait_for 30 has_messages cap 6
# the connections are recorded when they end: the idle ones close after IDLE (2 s)
check "max_connections: every connection has ended" wait_for 15 pyrec cap '
assert len(conns) >= 2 and sum(c["messages"] for c in conns) == 6, conns'
check "max_connections: never more than 2 connections open at once, and 2 were" pyrec cap '
spans = [(c["start"], c["time"]) for c in conns]
most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
assert most == 2, (most, spans)'
check "max_connections: each message once, to bob@cap.example" pyrec cap '
subjects = sorted(m["message"].split("Subject: ")[1].split("\r\n")[0] for m in msgs)
assert subjects == ["capped %d" % i for i in range(1, 7)], subjects
assert all([r["addr"] for r in m["rcpt"]] == ["bob@cap.example"] for m in msgs), msgs'

submit "alice@client.example" "carl@pace.example" 1 "first" || exit 1
check "rate: the first message is delivered" wait_for 15 has_messages pace 1
submit "alice@client.example" "carl@pace.example" 6 "paced" || exit 1
check "rate: the six others are delivered" wait_for 30 has_messages pace 7
# The scheduler spaces the starts 0.5 s apart, so three take a second; the provider's time of a
# message follows its start by the transaction (and for the first, the connection's set-up):
# 0.2 s of slack for that. Unpaced, they would be milliseconds apart.
check "rate 2/s: no three messages within one second (0.2 s slack)" pyrec pace '
t = sorted(m["time"] for m in msgs)
close = [(a, b) for a, b in zip(t, t[2:]) if b - a < 0.8]
assert not close, (close, t)'
check "rate 2/s: each message once, to carl@pace.example" pyrec pace '
subjects = sorted(m["message"].split("Subject: ")[1].split("\r\n")[0] for m in msgs)
assert subjects == ["first 1"] + ["paced %d" % i for i in range(1, 7)], subjects
assert all([r["addr"] for r in m["rcpt"]] == ["carl@pace.example"] for m in msgs), msgs'
finish
