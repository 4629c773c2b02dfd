#!/bin/sh
# A recipient that may already have the message: the provider took the whole message and its
# final dot, then gave no reply in time (a stall longer than delivery.data_done_timeout, after
# which it accepts), or closed the connection without one. The recipient is deferred, marked
# in doubt (delivery/doubt/ID), and its later delivery is logged as a possible duplicate; a
# recipient the provider refused at RCPT in the same transaction is never in doubt, and a
# delivery with no unanswered dot before it is not noted. Per recipient: the log lines, the
# provider's record (the stalled message really arrived twice), the marks.
. "$top_srcdir/tests/delivery/lib.sh"

MIN_BACKOFF=1 MAX_BACKOFF=1
setup
delivery_set "data_done_timeout = 2;"
# dup: the first final dot is answered (250) only after 4 s; ben is refused at RCPT
provider dup starttls --rule '{"on": "DOT", "stall": 4, "times": 1}' \
    --rule '{"on": "RCPT", "rcpt": "ben@dup.example", "reply": "550 5.1.1 <ben@dup.example>: Recipient address rejected"}'
# gone: the first final dot gets no reply, the connection is closed (the provider has nothing)
provider gone starttls --rule '{"on": "DOT", "close": true, "times": 1}'
target dup starttls "$dup_PORT"
target gone starttls "$gone_PORT"
start

submit "alice@client.example" "ann@dup.example,ben@dup.example" 1 "stalled dot" || exit 1
submit "alice@client.example" "cid@gone.example" 1 "lost dot" || exit 1

# line RCPT PATTERN: the log line of RCPT matches PATTERN (after "to=<RCPT>, ")
line() { log_has "to=<$1>, .*$2"; }
# lines RCPT PATTERN: how many log lines of RCPT match PATTERN
lines() { grep -c -- "to=<$1>, .*$2" "$LOG"; }

check "ann: no reply to the final dot in time: deferred as a timeout" \
    wait_for 15 line ann@dup.example "dsn=4\.[0-9.]*, status=deferred .*class=timeout"
check "ben: refused at RCPT in the same transaction: bounced" \
    wait_for 15 line ben@dup.example "dsn=5\.1\.1, status=bounced"
check "ann: delivered by a later attempt, noted as a possible duplicate" \
    wait_for 20 line ann@dup.example "status=sent (250 .*), possible duplicate: an earlier attempt got no reply to its final dot$"
check "ann: the provider has the message twice (it accepted it after the stall)" \
    wait_for 10 pyrec dup '
got = [m for m in msgs for r in m["rcpt"] if r["addr"] == "ann@dup.example" and r["accepted"]]
assert len(got) == 2, got'
check "ann: one sent line, one duplicate note" \
    sh -c "[ \$(grep -c 'to=<ann@dup.example>, .*status=sent' '$LOG') -eq 1 ] &&
        [ \$(grep -c 'to=<ann@dup.example>, .*possible duplicate' '$LOG') -eq 1 ]"
expect_eq "$(lines ben@dup.example 'possible duplicate')" 0 "ben: never noted as a possible duplicate"
expect_eq "$(lines ben@dup.example 'status=sent')" 0 "ben: never sent"

check "cid: connection closed after the final dot: deferred" \
    wait_for 15 line cid@gone.example "status=deferred .*class=temporary"
check "cid: delivered by a later attempt, noted as a possible duplicate" \
    wait_for 20 line cid@gone.example "status=sent (250 .*), possible duplicate: "
check "cid: the provider has it once (it closed without taking the first)" pyrec gone '
assert [r["addr"] for m in msgs for r in m["rcpt"]] == ["cid@gone.example"], msgs'

# a delivery with nothing unanswered before it is not noted
submit "alice@client.example" "dee@dup.example" 1 "plain" || exit 1
check "dee: delivered" wait_for 15 line dee@dup.example "status=sent (250 "
expect_eq "$(lines dee@dup.example 'possible duplicate')" 0 "dee: not noted as a possible duplicate"

check "the queue is empty" wait_for 10 queue_empty
check "no recipient is left in doubt (delivery/doubt/ is empty)" \
    sh -c "[ -d '$SPOOL/delivery/doubt' ] && [ -z \"\$(ls '$SPOOL/delivery/doubt')\" ]"
check "stats: possible duplicates, in total and per target" wait_for 10 sh -c \
    "\"\$BYOSMTPCTL\" -c '$CONF' stats | grep -qx 'possible duplicates: 2 (dup 1, gone 1)'"
finish
