#!/bin/sh
# fallback.sh - the hand-back to the MTA on the full path (tests/e2e/lib.sh), with the real
# Postfix in front of byosmtpd and DSN options given over SMTP:
#   1. A message to bob@cust.example, whose target has fallback = mta and a password the provider
#      refuses for good (535), sent with RET=HDRS ENVID=... and NOTIFY=SUCCESS,FAILURE
#      ORCPT=rfc822;robert@...: Postfix passes the RCPT parameters to byosmtpd (the log line's
#      orig_to); byosmtpd hands the copy back at once (status=fallback) through Postfix's own
#      sendmail, with X-Byosmtp-Fallback; byosmtpd's milter sees that field on Postfix's local
#      submission and leaves the message to Postfix (not routed again, no loop warning); Postfix
#      delivers it to the local mailbox with the field, and, asked by -N success, sends the
#      sender its own success DSN with the Original-Envelope-Id (-V).
#   2. An SMTP client that writes X-Byosmtp-Fallback itself gets no bypass: its message to a
#      routed recipient goes to the provider as usual, and byosmtpd warns.
#   3. The quota counts the handed-back recipient as accepted, neither delivered nor bounced.
# Exit 0 pass, 1 fail, 77 skip (not root, or Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (the fallback command is 'sendmail -C DIR' of a private Postfix)"
    exit 77
fi
. "$top_srcdir/tests/e2e/lib.sh"

e2e_provider
e2e_conf
sed -i "s|^delivery = { |delivery = { fallback_command = \"$(pf_sendmail_cmd "$FRONT") -i\"; |" "$CONF"
grep -q 'fallback_command = ' "$CONF" || die "no delivery group in $CONF"
ctl key generate >/dev/null || die "byosmtpctl key generate"
printf 'not-the-password\n' | ctl target add cust --host 127.0.0.1 --port "$PROV_PORT" \
    --security starttls --username "$PROV_USER" --password-stdin --from relay@cust.test \
    --fallback mta >/dev/null || die "target add cust"
printf '%s\n' "$PROV_PW" | ctl target add good --host 127.0.0.1 --port "$PROV_PORT" \
    --security starttls --username "$PROV_USER" --password-stdin --from relay@good.test \
    >/dev/null || die "target add good"
ctl route add @cust.example cust >/dev/null || die "route add cust"
ctl route add @good.example good >/dev/null || die "route add good"
e2e_start_byosmtpd
e2e_front

# smtp_send FROM TO MSGID SUBJECT "MAIL-OPTIONS" "RCPT-OPTIONS" [EXTRA-HEADER]: one message to the
# front Postfix over SMTP with ESMTP options (space-separated)
smtp_send() {
    "$PY" - "$FRONT_PORT" "$@" <<'PYEND'
import smtplib, sys
port, frm, to, msgid, subject, mopts, ropts = sys.argv[1:8]
extra = sys.argv[8] + "\r\n" if len(sys.argv) > 8 else ""
msg = ("From: Alice Author <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-Id: <%s>\r\n%s\r\n"
       "a message for the fallback test\r\n" % (frm, to, subject, msgid, extra))
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.ehlo("client.byosmtp.test")
    assert s.has_extn("dsn"), "the front Postfix offers no DSN"
    s.sendmail(frm, [to], msg.encode(), mail_options=mopts.split(), rcpt_options=ropts.split())
PYEND
}

# --- 1. handed back at once on the 535, delivered by Postfix to the local mailbox ---
smtp_send alice@front.example bob@cust.example e2e-fb@front.example "e2e fallback" \
    "RET=HDRS ENVID=fb-e2e-1" "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;robert@cust.example" >"$T/send1.out" 2>&1
check "the front Postfix accepted the message (smtplib said nothing)" sh -c "[ -f '$T/send1.out' ] && ! [ -s '$T/send1.out' ]"
check "byosmtpd: status=fallback at once on the 535, with the ORCPT Postfix passed (orig_to)" \
    wait_for 30 log_has "to=<bob@cust.example>, orig_to=<robert@cust.example>, relay=cust\[127.0.0.1\]:$PROV_PORT, .*status=fallback (handed back to the local MTA after [0-9]* s (fallback = mta): 535 "
ID=$(sed -n 's/.*: handed back to the local MTA (X-Byosmtp-Fallback: \([0-9A-F]*\)) for 1 recipient$/\1/p' "$LOG" | head -1)
check "byosmtpd logged the hand-back with the spool id" [ -n "$ID" ]
check "byosmtpd's milter left the copy handed back to Postfix, not routed again" \
    wait_for 20 log_has ": a copy handed back to the MTA by byosmtpd (X-Byosmtp-Fallback: $ID): left to the MTA, not routed again"
check "no mail loop warning (the field is recognised first)" sh -c "! grep -q 'a mail loop' '$LOG'"
check "Postfix delivered it to bob's local mailbox" pf_wait_mail "$FRONT" bob@cust.example 1 30
MB=$(pf_mailbox "$FRONT" bob@cust.example | head -1)
[ -n "$MB" ] || MB=/nonexistent
check "the delivered message carries X-Byosmtp-Fallback with the spool id" grep -q "^X-Byosmtp-Fallback: $ID" "$MB"
check "the delivered message is the copy (subject, Original-From, byosmtpd's Received)" sh -c "
    grep -q '^Subject: e2e fallback' '$MB' && grep -q '^Original-From: Alice Author <alice@front.example>' '$MB' &&
    grep -q '(byosmtpd) id $ID' '$MB'"
check "its envelope sender is the original one" grep -q '^Return-Path: <alice@front.example>' "$MB"
check "byosmtpd spooled one copy only (one line for bob)" [ "$(grep -c 'to=<bob@cust.example>' "$LOG")" -eq 1 ]
check "the provider took no message" pyrec provider 'assert not msgs, msgs'
check "Postfix's success DSN for bob reached alice (NOTIFY via -N, ENVID via -V)" \
    pf_wait_mail "$FRONT" alice@front.example 1 30
DSN=$(pf_mailbox "$FRONT" alice@front.example | head -1)
[ -n "$DSN" ] || DSN=/nonexistent
check "it says Action: delivered for bob, with Original-Envelope-Id fb-e2e-1" sh -c "
    grep -q '^Action: delivered' '$DSN' && grep -qi '^Final-Recipient: rfc822; *bob@cust.example' '$DSN' &&
    grep -q '^Original-Envelope-Id: fb-e2e-1' '$DSN'"
check "the queue is empty" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -q '^0 messages in the queue'"

# --- 2. the field from an SMTP client: no bypass ---
smtp_send alice@front.example carol@good.example e2e-forged@front.example "e2e forged" \
    "" "" "X-Byosmtp-Fallback: 0123456789ABCDEF0123" >"$T/send2.out" 2>&1
check "byosmtpd warned about the field from an SMTP client" \
    wait_for 20 log_has "X-Byosmtp-Fallback: field from client .* ignored"
check "carol@good.example was relayed to the provider as usual" \
    wait_for 30 log_has "to=<carol@good.example>, relay=good\[127.0.0.1\]:$PROV_PORT, .*status=sent"
check "the provider has the message with the forged field" wait_for 10 pyrec provider \
    'len(msgs) == 1 and "X-Byosmtp-Fallback: 0123456789ABCDEF0123" in msgs[0]["message"]'
check "Postfix did not deliver it locally" [ "$(pf_count "$FRONT" carol@good.example)" -eq 0 ]

# --- 3. quota and counters ---
check "quota cust: 1 accepted, 0 delivered, 0 bounced" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cust | grep -Eq '^cust +[0-9-]+ +1 +unlimited +0 +0\$'"
# stats: the FALLBACK column (the 7th) for cust and in total
check "stats count the hand-back" wait_for 10 sh -c \
    "\"\$BYOSMTPCTL\" -c '$CONF' stats | awk '\$1 == \"cust\" && \$7 == 1 { a = 1 } \$1 == \"total\" && \$7 == 1 { b = 1 } END { exit !(a && b) }'"
finish
