#!/bin/sh
# dsn.sh - bounces on the full path (tests/e2e/lib.sh): the provider answers 550 5.1.1 to the RCPT
# of one routed address; byosmtpd's delivery.bounce.command is the front Postfix's own sendmail.
#   1. A message from a local sender of the front Postfix to that address: byosmtpd logs
#      status=bounced with the provider's reply and hands a DSN to Postfix, which delivers it to
#      the sender's Maildir with the null sender: multipart/report; report-type=delivery-status,
#      Reporting-MTA, Final-Recipient, Action: failed, Status: 5.1.1, Diagnostic-Code: smtp;
#      550 5.1.1 ..., and the original headers. The DSN passes back through byosmtpd
#      (non_smtpd_milters) untouched: it is not relayed, and no loop follows.
#   2. The same with the null sender (swaks --from '<>'): byosmtpd logs that no DSN is sent for a
#      null sender, and nothing arrives in Postfix's Maildir within a bounded wait.
#   3. byosmtpctl quota counts 2 used, 0 delivered, 2 bounced; the queue is empty.
# Exit 0 pass, 1 fail, 77 skip (not root: "sendmail -C DIR" is refused to other users, and
# Postfix's master needs root anyway; or Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
if [ "$(id -u)" -ne 0 ]; then
    # Postfix honours "sendmail -C DIR" from a user other than root only when DIR is listed in
    # the system main.cf's alternate_config_directories, which the tests never touch.
    echo "SKIP: needs root (the bounce command is 'sendmail -C DIR' of a private Postfix)"
    exit 77
fi
. "$top_srcdir/tests/e2e/lib.sh"

REJECT='550 5.1.1 <gone@cust.example>: Recipient address rejected: User unknown'
e2e_provider --rule "{\"on\": \"RCPT\", \"rcpt\": \"gone@cust.example\", \"reply\": \"$REJECT\"}"
e2e_conf
e2e_target cust relay@cust.test "Cust Relay"
ctl route add @cust.example cust >/dev/null || die "byosmtpctl route add"
e2e_start_byosmtpd
e2e_front

# --- 1. a 5xx for the routed recipient: a DSN in the sender's local mailbox ---
swaks_send "$FRONT_PORT" "$T/swaks1.out" --from alice@front.example --to gone@cust.example \
    --header "From: Alice Author <alice@front.example>" --header "Subject: e2e bounce me" \
    --header "Message-Id: <e2e-dsn@front.example>" --body "a message that the provider refuses"
check "swaks: the front Postfix accepted the message" grep -q 'queued as' "$T/swaks1.out"
check "Postfix logged the message" wait_for 10 sh -c "grep -q ': message-id=<e2e-dsn@front.example>' '$FRONT/log/maillog'"
QID1=$(qid_of_msgid e2e-dsn@front.example)
check "Postfix discarded its copy (the one recipient was relayed)" wait_for 10 front_log_has "$QID1: milter-discard:"
check "byosmtpd logged status=bounced with the provider's reply and Postfix's queue id" \
    wait_for 20 log_has "_$QID1: to=<gone@cust.example>, relay=cust\[127.0.0.1\]:$PROV_PORT, .*dsn=5.1.1, status=bounced ($REJECT)"
check "byosmtpd logged the DSN to the sender" wait_for 10 log_has ": sender non-delivery notification to <alice@front.example> for 1 recipient"
check "the DSN arrived in the sender's Maildir" pf_wait_mail "$FRONT" alice@front.example 1 20
DSN=$(pf_mailbox "$FRONT" alice@front.example | head -1)
[ -n "$DSN" ] || DSN=/nonexistent
check "the DSN has the null sender" grep -q '^Return-Path: <>' "$DSN"
check "the DSN is multipart/report; report-type=delivery-status" \
    grep -Eqi '^Content-Type: multipart/report;.*report-type="?delivery-status' "$DSN"
check "the DSN has a message/delivery-status part" grep -qi '^Content-Type: message/delivery-status' "$DSN"
check "the DSN has Reporting-MTA" grep -Eq '^Reporting-MTA: dns; *[^ ]' "$DSN"
check "the DSN has Final-Recipient" grep -Eq '^Final-Recipient: rfc822; *gone@cust.example' "$DSN"
check "the DSN has Action: failed" grep -q '^Action: failed' "$DSN"
check "the DSN has Status: 5.1.1" grep -q '^Status: 5.1.1' "$DSN"
# header fields unfolded (the DSN folds long fields at 78 columns)
awk '/^[ \t]/ { sub(/^[ \t]+/, " "); line = line $0; next } { if (NR > 1) print line; line = $0 } END { print line }' \
    "$DSN" >"$T/dsn.unfolded"
check "the DSN has Diagnostic-Code: smtp; 550 5.1.1 ..." grep -qxF "Diagnostic-Code: smtp; $REJECT" "$T/dsn.unfolded"
check "the DSN carries the original headers" sh -c "grep -q '^Subject: e2e bounce me' '$DSN' &&
    grep -q '^Message-Id: <e2e-dsn@front.example>' '$DSN' && grep -q '^Original-From: Alice Author <alice@front.example>' '$DSN'"
check "the DSN is addressed to the sender" grep -q '^To: .*alice@front.example' "$DSN"
check "the DSN has a readable part naming the recipient" grep -q 'gone@cust.example' "$DSN"
# The DSN went back through byosmtpd (non_smtpd_milters): its sender domain has no route, so it
# is not relayed; Postfix delivered it itself, and the provider saw nothing but the refused RCPT.
check "Postfix received the DSN with the null sender and delivered it" \
    sh -c "grep -q ': from=<>, size=' '$FRONT/log/maillog' && grep -q 'to=<alice@front.example>, relay=virtual.*status=sent' '$FRONT/log/maillog'"
check "the provider accepted no message" pyrec provider 'assert len(msgs) == 0, len(msgs)'

# --- 2. the null sender: no DSN ---
swaks_send "$FRONT_PORT" "$T/swaks2.out" --from '<>' --to gone@cust.example \
    --header "From: Mailer <mailer@front.example>" --header "Subject: e2e null sender" \
    --header "Message-Id: <e2e-null@front.example>" --body "a bounce-like message that the provider refuses"
check "swaks: the front Postfix accepted the null-sender message" grep -q 'queued as' "$T/swaks2.out"
check "Postfix logged it" wait_for 10 sh -c "grep -q ': message-id=<e2e-null@front.example>' '$FRONT/log/maillog'"
QID2=$(qid_of_msgid e2e-null@front.example)
check "byosmtpd logged status=bounced for it" wait_for 20 log_has "_$QID2: to=<gone@cust.example>, .*status=bounced (550 5.1.1"
check "byosmtpd logged that no DSN is sent for a null sender" wait_for 10 log_has ": no non-delivery notification: null sender"
sleep 3
check "no DSN arrived (the Maildir holds only the first one)" [ "$(pf_count "$FRONT")" -eq 1 ]
# (the null-sender message itself was discarded at cleanup, so qmgr never saw it)
check "Postfix queued only one null-sender message: the DSN of step 1" \
    [ "$(grep -c ']: [0-9A-Za-z]*: from=<>, size=' "$FRONT/log/maillog")" -eq 1 ]
check "Postfix discarded its copy of the null-sender message" front_log_has "$QID2: milter-discard:"

# --- 3. the counts and the queue ---
check "byosmtpctl quota: 2 used, 0 delivered, 2 bounced" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cust | grep -Eq '^cust +[0-9]{4}-[0-9]{2} +2 +unlimited +0 +2'"
check "byosmtpctl queue is empty" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -q '^0 messages in the queue'"
finish
