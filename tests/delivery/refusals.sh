#!/bin/sh
# Every way a provider can fail to take a message, through the real byosmtpd: a refusal before
# MAIL (SIZE, SMTPUTF8), 8-bit content for a server without 8BITMIME, a refused MAIL, DATA or
# final dot, a lost connection, a timeout, a TLS or AUTH failure. For each, per recipient: the
# log line (bounced or deferred, never sent; a deferral's status is 4.x.x even for a 5xx
# reply), the DSN for the bounced ones, the month's quota record (nothing delivered), and the
# provider's own record of the session (no message taken, and for a refusal before MAIL no MAIL
# at all). A recipient is only ever "sent" on the provider's 2xx to its RCPT and the final dot.
. "$top_srcdir/tests/delivery/lib.sh"

COMMAND_TIMEOUT=2
IDLE=2
LIFETIME=3600
setup
# one provider per path; each target is routed @NAME.example
provider big starttls --size 200
provider utf starttls --no-smtputf8
provider eight starttls --no-8bitmime
provider mailref starttls --rule '{"on": "MAIL", "reply": "553 5.7.1 Sender address rejected: not owned by user"}'
provider dataref starttls --rule '{"on": "DATA", "reply": "554 5.7.1 Transaction failed"}'
provider dotref starttls --rule '{"on": "DOT", "reply": "554 5.6.0 Message content rejected"}'
provider dottemp starttls --rule '{"on": "DOT", "reply": "451 4.3.0 Local error in processing"}'
provider lost starttls --rule '{"on": "DOT", "close": true}'
provider stall starttls --rule '{"on": "RCPT", "stall": 5}'
provider tlsfail starttls
provider authfail starttls
target big starttls "$big_PORT"
target utf starttls "$utf_PORT"
target eight starttls "$eight_PORT"
target mailref starttls "$mailref_PORT"
target dataref starttls "$dataref_PORT"
target dotref starttls "$dotref_PORT"
target dottemp starttls "$dottemp_PORT"
target lost starttls "$lost_PORT"
target stall starttls "$stall_PORT"
target tlsfail tls "$tlsfail_PORT"             # implicit TLS spoken to a STARTTLS port
printf 'not-the-password\n' | ctl target add authfail --host 127.0.0.1 --port "$authfail_PORT" \
    --username user-authfail --password-stdin --from relay@authfail.test >/dev/null &&
    ctl route add @authfail.example authfail >/dev/null || { echo "FAIL: target authfail"; exit 1; }
start

# A copy for two recipients per target; the UTF-8 one has a non-ASCII recipient, the 8-bit one
# an 8-bit subject and body. Each message is well over 200 octets.
u=$(printf 'j\303\266rg')
e=$(printf 'caf\303\251')
for name in big mailref dataref dotref dottemp lost stall tlsfail authfail; do
    submit "alice@client.example" "ann@$name.example,ben@$name.example" 1 "to $name" || exit 1
done
submit "alice@client.example" "ann@utf.example,$u@utf.example" 1 "to utf" || exit 1
submit "alice@client.example" "ann@eight.example,ben@eight.example" 1 "$e to eight" || exit 1

# bounced NAME RCPT STATUS CLASS [FINAL-RECIPIENT]: RCPT's line says bounced with STATUS and
# CLASS, and a DSN reports it failed with STATUS (Final-Recipient "rfc822; RCPT" unless given)
bounced() {
    wait_for 15 log_has "to=<$2>, relay=$1\[.*dsn=$3, status=bounced .*class=$4" &&
        wait_for 5 sh -c 'grep -A3 -F "Final-Recipient: $1" "$2" | grep -q "Action: failed" &&
            grep -A3 -F "Final-Recipient: $1" "$2" | grep -q "Status: $3"' - "${5:-rfc822; $2}" "$MBOX" "$3"
}
# deferred NAME RCPT CLASS [DSN]: RCPT's line says deferred with CLASS (and status DSN)
deferred() {
    wait_for 15 log_has "to=<$2>, relay=$1\[.*dsn=${4:-4\.[0-9.]*}, status=deferred .*class=$3"
}
# never_sent RCPT: no line says RCPT was sent, and no DSN reports it delivered
never_sent() {
    ! grep -q "to=<$1>.*status=sent" "$LOG"
}
# quota_is NAME ACCEPTED DELIVERED BOUNCED: the month's record for target NAME
quota_is() {
    ctl quota "$1" | grep -Eq "^$1 +[0-9-]+ +$2 +unlimited +$3 +$4\$" || { ctl quota "$1"; return 1; }
}
# no_mail NAME: the provider saw no MAIL command on any connection, and took no message
no_mail() {
    pyrec "$1" 'assert not msgs, msgs
assert conns, "no connection was recorded"
assert not any(c.split(" ")[0].upper() == "MAIL" for x in conns for c in x["commands"]), conns'
}
# no_message NAME: the provider took no message
no_message() { pyrec "$1" 'assert not msgs, msgs'; }

for r in ann@big.example ben@big.example; do
    check "SIZE: $r bounced 5.3.4" bounced big "$r" 5.3.4 message_rejected
done
check "SMTPUTF8: ann@utf.example bounced 5.6.7" bounced utf ann@utf.example 5.6.7 message_rejected
check "SMTPUTF8: $u@utf.example bounced 5.6.7 (RFC 6533 utf-8 address in the DSN)" \
    bounced utf "$u@utf.example" 5.6.7 message_rejected 'utf-8; j\x{F6}rg@utf.example'
for r in ann@eight.example ben@eight.example; do
    check "8BITMIME: $r bounced 5.6.3" bounced eight "$r" 5.6.3 message_rejected
done
for r in ann@mailref.example ben@mailref.example; do
    check "MAIL refused: $r bounced" bounced mailref "$r" 5.7.1 sender_rejected
done
for r in ann@dataref.example ben@dataref.example; do
    check "DATA refused: $r bounced" bounced dataref "$r" 5.7.1 message_rejected
done
for r in ann@dotref.example ben@dotref.example; do
    check "final dot refused: $r bounced" bounced dotref "$r" 5.6.0 message_rejected
done
for r in ann@dottemp.example ben@dottemp.example; do
    check "final dot 4xx: $r deferred" deferred dottemp "$r" temporary
done
for r in ann@lost.example ben@lost.example; do
    check "connection lost after the message: $r deferred" deferred lost "$r" temporary
done
for r in ann@stall.example ben@stall.example; do
    check "timeout: $r deferred" deferred stall "$r" timeout
done
for r in ann@tlsfail.example ben@tlsfail.example; do
    check "TLS failure: $r deferred" deferred tlsfail "$r" tls_handshake
done
# the provider's 535 5.7.8 is retried, so the deferral reports 4.7.8 (Postfix's soft bounce)
for r in ann@authfail.example ben@authfail.example; do
    check "AUTH failure: $r deferred with dsn=4.7.8" deferred authfail "$r" auth_failed 4.7.8
done

for name in big utf eight mailref dataref dotref dottemp lost stall tlsfail authfail; do
    for r in "ann@$name.example" "ben@$name.example" "$u@$name.example"; do
        check "$name: $r is never logged sent" never_sent "$r"
    done
done
for name in big utf eight mailref dataref dotref; do
    check "$name: quota counts 2 accepted, 0 delivered, 2 bounced" quota_is "$name" 2 0 2
done
for name in dottemp lost stall tlsfail authfail; do
    check "$name: quota counts 2 accepted, 0 delivered, 0 bounced" quota_is "$name" 2 0 0
done
for name in big utf; do
    # (the provider records a connection when it ends: the idle session closes after IDLE s)
    check "$name: refused before MAIL, the provider saw no MAIL" wait_for 15 no_mail "$name"
done
# 8-bit content is found while the body streams (the copy does not say it beforehand): the
# transfer is abandoned unterminated, so the provider has no message either
for name in eight mailref dataref dotref dottemp lost stall tlsfail authfail; do
    check "$name: the provider took no message" no_message "$name"
done
check "the deferred copies stay in the queue" sh -c "[ \$(ls '$SPOOL/queue' | grep -vc '\\.state\$') -eq 5 ]"
finish
