#!/bin/sh
# One message to five recipients of one target, each answered differently by the provider at
# RCPT: ann accepted; bob refused (550 5.1.1) and eve refused (553 5.7.1); cat refused once
# (451 4.2.0), then accepted; dan always refused for now (452 4.2.2). Per recipient: the log
# line(s), the DSN (one, for bob and eve only), the queued copy's state, and the provider's
# record of each transaction (a retry carries only the recipients still pending).
. "$top_srcdir/tests/delivery/lib.sh"

MIN_BACKOFF=1 MAX_BACKOFF=2
setup
provider mix starttls \
    --rule '{"on": "RCPT", "rcpt": "bob@mix.example", "reply": "550 5.1.1 <bob@mix.example>: Recipient address rejected: User unknown"}' \
    --rule '{"on": "RCPT", "rcpt": "eve@mix.example", "reply": "553 5.7.1 <eve@mix.example>: Relay access denied"}' \
    --rule '{"on": "RCPT", "rcpt": "cat@mix.example", "times": 1, "reply": "451 4.2.0 <cat@mix.example>: Mailbox busy"}' \
    --rule '{"on": "RCPT", "rcpt": "dan@mix.example", "reply": "452 4.2.2 <dan@mix.example>: Mailbox full"}'
target mix starttls "$mix_PORT"
start

all="ann@mix.example,bob@mix.example,cat@mix.example,dan@mix.example,eve@mix.example"
submit "alice@client.example" "$all" 1 "five ways" || exit 1

# line RCPT PATTERN: a log line of RCPT matches PATTERN (after "to=<RCPT>, ")
line() { log_has "to=<$1>, .*$2"; }
# lines RCPT PATTERN: how many log lines of RCPT match PATTERN
lines() { grep -c -- "to=<$1>, .*$2" "$LOG"; }

check "ann: sent on the first attempt" wait_for 15 line ann@mix.example "dsn=2.0.0, status=sent (250 "
check "bob: bounced 5.1.1" \
    wait_for 15 line bob@mix.example "dsn=5\.1\.1, status=bounced (550 5\.1\.1 .*class=recipient_rejected"
check "eve: bounced 5.7.1" \
    wait_for 15 line eve@mix.example "dsn=5\.7\.1, status=bounced (553 5\.7\.1 .*class=recipient_rejected"
check "cat: deferred 4.2.0" \
    wait_for 15 line cat@mix.example "dsn=4\.2\.0, status=deferred (451 4\.2\.0 .*class=temporary"
check "cat: sent on a later attempt" wait_for 15 line cat@mix.example "status=sent (250 "
check "dan: deferred 4.2.2, again on the later attempts" \
    wait_for 15 sh -c "[ \$(grep -c 'to=<dan@mix.example>, .*dsn=4\.2\.2, status=deferred (452 4\.2\.2 .*class=temporary' '$LOG') -ge 2 ]"

for r in ann cat; do
    expect_eq "$(lines $r@mix.example 'status=sent')" 1 "$r: one sent line"
done
for r in bob eve; do
    expect_eq "$(lines $r@mix.example 'status=')" 1 "$r: one line only (bounced)"
done
for r in ann bob eve; do
    expect_eq "$(lines $r@mix.example 'status=deferred')" 0 "$r: never deferred"
done
for r in bob dan eve; do
    expect_eq "$(lines $r@mix.example 'status=sent')" 0 "$r: never sent"
done
expect_eq "$(lines dan@mix.example 'status=bounced')" 0 "dan: never bounced"

check "one DSN" wait_for 5 sh -c "[ \$(grep -c '^From MAILER-DAEMON' '$MBOX') -eq 1 ]"
check "the DSN: bob failed 5.1.1, eve failed 5.7.1, no one else" "$PY" -c 'import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
got = re.findall(r"Final-Recipient: rfc822; (\S+)\r?\nAction: (\S+)\r?\nStatus: (\S+)", text)
assert got == [("bob@mix.example", "failed", "5.1.1"), ("eve@mix.example", "failed", "5.7.1")], got
assert "args: -i -f <> -- alice@client.example" in text, text
' "$MBOX"

check "the provider: first transaction with all five, ann alone accepted; cat then on a retry" \
    pyrec mix '
first = [(r["addr"], r["accepted"]) for r in msgs[0]["rcpt"]]
assert first == [("ann@mix.example", True), ("bob@mix.example", False), ("cat@mix.example", False),
                 ("dan@mix.example", False), ("eve@mix.example", False)], first
assert len(msgs) == 2, msgs
retry = [(r["addr"], r["accepted"]) for r in msgs[1]["rcpt"]]
assert retry == [("cat@mix.example", True), ("dan@mix.example", False)], retry'
for f in "$SPOOL"/queue/*; do
    case $f in *.state) ;; *) id=${f##*/} ;; esac
done
show=$(ctl queue show "$id")
for pair in ann:sent bob:bounced cat:sent dan:pending eve:bounced; do
    expect_eq "$(echo "$show" | grep -c "^recipient: <${pair%%:*}@mix.example> ${pair#*:}\$")" 1 \
        "the queued copy: ${pair%%:*} ${pair#*:}"
done
# the connections are recorded when they end: stop byosmtpd (it says QUIT) to have them all
stop
check "the provider: after the first transaction, only cat and dan were sent again" pyrec mix '
rcpts = [c.split("<")[1].split(">")[0] for x in sorted(conns, key=lambda x: x["conn"])
         for c in x["commands"] if c.startswith("RCPT")]
assert rcpts[:5] == ["ann@mix.example", "bob@mix.example", "cat@mix.example", "dan@mix.example",
                     "eve@mix.example"], rcpts
assert len(rcpts) > 5 and set(rcpts[5:]) == {"cat@mix.example", "dan@mix.example"}, rcpts'
finish
