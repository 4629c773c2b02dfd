#!/bin/sh
# fullpath.sh - the full path with real parts (tests/e2e/lib.sh): swaks submits to a private front
# Postfix whose smtpd_milters is the real byosmtpd, which relays the routed recipient through the
# test provider (STARTTLS + AUTH), while Postfix delivers the unrouted one itself.
#   1. byosmtpctl makes the target and the route; byosmtpctl verify succeeds against the provider.
#   2. A message to one routed and one unrouted recipient: the provider receives it once, for the
#      routed recipient only, over TLS and authenticated, rewritten (From = from_name
#      <from_address>, Original-From and Reply-To = the original From, byosmtpd's Received: line),
#      body intact; Postfix delivers the unrouted recipient to its Maildir, and not the routed
#      one; byosmtpd logs the Postfix-shaped line with status=sent, the provider's 250 and the
#      front Postfix's own queue id (read from Postfix's log); byosmtpctl quota shows 1 used,
#      1 delivered; byosmtpctl queue is empty.
#   3. A message whose recipients are all routed: byosmtpd discards Postfix's copy (Postfix logs
#      the milter's DISCARD), nothing lands in Postfix's Maildir, the provider gets it once for
#      both recipients; the quota shows 3 used and delivered, byosmtpctl stats 3 accepted and
#      delivered, and the queue is empty.
# Exit 0 pass, 1 fail, 77 skip (not root, Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/e2e/lib.sh"

# --- set-up: provider, byosmtpd's configuration, target and route, verify, byosmtpd, Postfix ---
e2e_provider
e2e_conf
e2e_target cust relay@cust.test "Cust Relay"
ctl route add @cust.example cust >/dev/null || die "byosmtpctl route add"
ctl verify cust >"$T/verify.out" 2>&1
VERIFY_RC=$?
check "byosmtpctl verify succeeds against the provider" [ "$VERIFY_RC" -eq 0 ]
check "verify reports STARTTLS, AUTH and the provider's 250" sh -c "grep -q 'STARTTLS' '$T/verify.out' &&
    grep -q 'AUTH' '$T/verify.out' && grep -q '250 2.0.0 Ok: queued as' '$T/verify.out' && grep -q 'result: ok' '$T/verify.out'"
check "verify prints no password" sh -c "! grep -qF -- '$PROV_PW' '$T/verify.out'"
e2e_start_byosmtpd
e2e_front

# --- 2. one routed and one unrouted recipient ---
printf 'First line of the body.\n.a line that starts with a dot\n\nLast line, after an empty one: e2e-body-7f3a\n' >"$T/body1"
swaks_send "$FRONT_PORT" "$T/swaks1.out" --from alice@sender.example --to bob@cust.example,carol@local.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: e2e full path" \
    --header "Message-Id: <e2e-mixed@sender.example>" --body "@$T/body1"
check "swaks: the front Postfix accepted the mixed message" grep -q 'queued as' "$T/swaks1.out"
check "Postfix logged the mixed message's queue id" wait_for 10 sh -c "grep -q ': message-id=<e2e-mixed@sender.example>' '$FRONT/log/maillog'"
QID1=$(qid_of_msgid e2e-mixed@sender.example)
check "Postfix's log and swaks agree on the queue id" sh -c "[ -n \"$QID1\" ] && [ \"$QID1\" = \"$(queued_as "$T/swaks1.out")\" ]"

check "the provider received the message" wait_for 20 pyrec provider 'assert any("e2e full path" in m["message"] for m in msgs)'
check "Postfix delivered the unrouted recipient to its Maildir" pf_wait_mail "$FRONT" carol@local.example 1 20
check "byosmtpd logged status=sent with the provider's 250 and Postfix's queue id" \
    wait_for 10 log_has "_$QID1: to=<bob@cust.example>, relay=cust\[127.0.0.1\]:$PROV_PORT, .*status=sent (250 2.0.0 Ok: queued as "
check "the provider got it once, for the routed recipient only, over TLS, authenticated" pyrec provider '
m = [x for x in msgs if "e2e full path" in x["message"]]
assert len(m) == 1, "%d copies" % len(m)
m = m[0]
assert [r["addr"] for r in m["rcpt"]] == ["bob@cust.example"], m["rcpt"]
assert m["rcpt"][0]["accepted"]
assert m["tls"] and m["tls_version"] in ("TLSv1.2", "TLSv1.3"), (m["tls"], m["tls_version"])
assert m["auth"] and m["auth_user"] == "apikey", (m["auth"], m["auth_user"])
assert m["mail_from"] == "relay@cust.test", m["mail_from"]
assert not m["bare_cr"] and not m["bare_lf"]'
check "the relayed copy is rewritten" pyrec provider '
import base64, email, email.policy
raw = [base64.b64decode(x["message_b64"]) for x in msgs if "e2e full path" in x["message"]][0]
msg = email.message_from_bytes(raw, policy=email.policy.compat32)
def one(name):
    v = msg.get_all(name) or []
    assert len(v) == 1, "%s: %r" % (name, v)
    return " ".join(v[0].split())
assert one("From") == "\"Cust Relay\" <relay@cust.test>" or one("From") == "Cust Relay <relay@cust.test>", one("From")
assert one("Original-From") == "Alice Author <alice@sender.example>", one("Original-From")
assert one("Reply-To") == "Alice Author <alice@sender.example>", one("Reply-To")
assert one("Subject") == "e2e full path"
assert one("Message-Id") == "<e2e-mixed@sender.example>"
assert any("(byosmtpd)" in r for r in msg.get_all("Received")), msg.get_all("Received")
assert "alice@sender.example" not in " ".join(msg.get_all("From"))'
CAROL=$(pf_mailbox "$FRONT" carol@local.example | tail -1)
# swaks ends the body with two empty lines of its own: the body Postfix delivered to carol is the
# reference, and it starts with the body file.
check "the relayed body is intact (the same bytes as carol's copy, CRLF)" pyrec provider '
import base64
raw = [base64.b64decode(x["message_b64"]) for x in msgs if "e2e full path" in x["message"]][0]
body = raw.split(b"\r\n\r\n", 1)[1]
carol = open("'"$CAROL"'", "rb").read().split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
sent = open("'"$T/body1"'", "rb").read().replace(b"\n", b"\r\n")
assert body == carol, (body, carol)
assert body.startswith(sent), (body, sent)'
check "the unrouted copy keeps the original From, unrewritten" sh -c "grep -q '^From: Alice Author <alice@sender.example>' '$CAROL' &&
    ! grep -qi '^Original-From:' '$CAROL' && grep -q 'e2e-body-7f3a' '$CAROL'"
check "Postfix's copy no longer has the routed recipient" [ "$(pf_count "$FRONT" bob@cust.example)" -eq 0 ]
check "Postfix delivered the mixed message only to carol" sh -c "[ \$(grep -c '$QID1: to=<' '$FRONT/log/maillog') -eq 1 ] &&
    grep -q '$QID1: to=<carol@local.example>.*status=sent' '$FRONT/log/maillog'"
check "byosmtpd logged the spooling with Postfix's queue id" log_has "$QID1: 1 of 2 recipients relayed"
check "byosmtpctl quota: 1 used, 1 delivered" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cust | grep -Eq '^cust +[0-9]{4}-[0-9]{2} +1 +unlimited +1 +0'"
check "byosmtpctl queue is empty" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -q '^0 messages in the queue'"

# --- 3. every recipient routed: Postfix discards its copy ---
swaks_send "$FRONT_PORT" "$T/swaks2.out" --from alice@sender.example --to dave@cust.example,erin@cust.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: e2e all routed" \
    --header "Message-Id: <e2e-all@sender.example>" --body "all routed e2e-body-91c2"
check "swaks: the front Postfix accepted the all-routed message" grep -q 'queued as' "$T/swaks2.out"
check "Postfix logged the all-routed message" wait_for 10 sh -c "grep -q ': message-id=<e2e-all@sender.example>' '$FRONT/log/maillog'"
QID2=$(qid_of_msgid e2e-all@sender.example)
check "Postfix logs the milter's DISCARD for it" wait_for 10 front_log_has "$QID2: milter-discard: END-OF-MESSAGE .*milter triggers DISCARD action"
check "byosmtpd logged that all recipients were relayed" log_has "$QID2: all 2 recipients relayed: discarded from the MTA"
check "the provider received it for both recipients" wait_for 20 pyrec provider '
m = [x for x in msgs if "e2e all routed" in x["message"]]
assert len(m) == 1, len(m)
assert sorted(r["addr"] for r in m[0]["rcpt"] if r["accepted"]) == ["dave@cust.example", "erin@cust.example"]'
check "byosmtpd logged status=sent for both" wait_for 10 sh -c "grep -q '_$QID2: to=<dave@cust.example>.*status=sent (250 ' '$LOG' &&
    grep -q '_$QID2: to=<erin@cust.example>.*status=sent (250 ' '$LOG'"
sleep 1
check "Postfix delivered nothing of the all-routed message" sh -c "! grep -q '$QID2: to=<' '$FRONT/log/maillog' &&
    ! grep -lq 'e2e-body-91c2' '$FRONT'/mail/inbox/new/* 2>/dev/null"
check "Postfix's Maildir holds only carol's message" [ "$(pf_count "$FRONT")" -eq 1 ]
check "byosmtpctl quota: 3 used, 3 delivered" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cust | grep -Eq '^cust +[0-9]{4}-[0-9]{2} +3 +unlimited +3 +0'"
check "byosmtpctl queue is empty at the end" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -q '^0 messages in the queue'"
check "byosmtpctl stats: 3 accepted, 3 delivered, 0 deferred, 0 bounced" \
    sh -c "\"\$BYOSMTPCTL\" -c '$CONF' stats | grep -Eq '^cust +3 +3 +0 +0 +0 +0\$'"
check "no password in Postfix's log" sh -c "! grep -qF -- '$PROV_PW' '$FRONT/log/maillog'"
finish
