#!/bin/sh
# Permanent failures: a 5xx gives an RFC 3464 DSN to the original sender (with the null sender,
# through delivery.bounce.command); a null-sender message never gets one; in a transaction
# where one recipient fails permanently the others are delivered once; a message still
# deferred after retry.max_lifetime expires into a DSN; the quota counts outcomes.
. "$top_srcdir/tests/delivery/lib.sh"

LIFETIME=4
setup
provider px starttls --rule '{"on": "RCPT", "rcpt": "gone@px.example", "reply": "550 5.1.1 <gone@px.example>: no such user"}' \
    --rule '{"on": "RCPT", "rcpt": "slow@px.example", "reply": "451 4.3.0 mailbox busy"}'
target px starttls "$px_PORT"
start

submit "alice@client.example" "gone@px.example" 1 "permanent" || exit 1
check "5xx: bounced in the log" wait_for 10 log_has "to=<gone@px.example>.*dsn=5.1.1, status=bounced (550 5.1.1"
check "5xx: a DSN was submitted" wait_for 10 test -s "$MBOX"
check "5xx: DSN with the null sender, to the original sender" grep -q "^From MAILER-DAEMON args: -i -f <> -- alice@client.example" "$MBOX"
check "5xx: DSN fields" sh -c "grep -q 'multipart/report' '$MBOX' && grep -q 'report-type=delivery-status' '$MBOX' && grep -q 'message/delivery-status' '$MBOX' && grep -q 'Reporting-MTA: dns;' '$MBOX' && grep -q 'Final-Recipient: rfc822; *gone@px.example' '$MBOX' && grep -q 'Action: failed' '$MBOX' && grep -q 'Status: 5.1.1' '$MBOX' && grep -q 'Diagnostic-Code: smtp; 550 5.1.1' '$MBOX'"
check "5xx: the original headers are in the DSN" grep -q "Subject: permanent 1" "$MBOX"
check "5xx: the copy is gone" wait_for 5 queue_empty

: >"$MBOX"
submit "" "gone@px.example" 1 "nullsender" || exit 1
check "null sender: bounced in the log" wait_for 10 log_has "no non-delivery notification: null sender"
check "null sender: no DSN" sh -c "sleep 1; [ ! -s '$MBOX' ]"

: >"$MBOX"
submit "erin@client.example" "ann@px.example,gone@px.example,ben@px.example" 1 "mixed" || exit 1
check "mixed: two recipients delivered" wait_for 10 log_has "to=<ben@px.example>.*status=sent"
check "mixed: the failed one bounced with a DSN naming only it" wait_for 10 sh -c "grep -q 'Final-Recipient: rfc822; *gone@px.example' '$MBOX' && ! grep -q 'Final-Recipient: rfc822; *ann@px.example' '$MBOX'"
check "mixed: one message to ann and ben, each once" pyrec px '
m = [x for x in msgs if "mixed 1" in x["message"]]
assert len(m) == 1, len(m)
acc = sorted(r["addr"] for r in m[0]["rcpt"] if r["accepted"])
assert acc == ["ann@px.example", "ben@px.example"], acc'

: >"$MBOX"
submit "fred@client.example" "slow@px.example,ok@px.example" 1 "expiring" || exit 1
check "expiry: ok@ delivered at once" wait_for 10 log_has "to=<ok@px.example>.*status=sent"
check "expiry: slow@ deferred" wait_for 10 log_has "to=<slow@px.example>.*status=deferred"
check "expiry: slow@ expires after retry.max_lifetime" wait_for 20 log_has "to=<slow@px.example>.*status=expired"
check "expiry: a DSN for slow@ only" wait_for 10 sh -c "grep -q 'Final-Recipient: rfc822; *slow@px.example' '$MBOX' && grep -q 'Action: failed' '$MBOX' && ! grep -q 'Final-Recipient: rfc822; *ok@px.example' '$MBOX'"
check "expiry: ok@ was sent once only (not again with the retries)" pyrec px '
n = sum(1 for x in msgs if "expiring 1" in x["message"] for r in x["rcpt"] if r["addr"] == "ok@px.example" and r["accepted"])
assert n == 1, n'
check "the queue is empty" wait_for 5 queue_empty
check "quota: accepted 7, delivered 3, bounced 4" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota px | grep -Eq 'px +[0-9-]+ +7 +unlimited +3 +4'"
finish
