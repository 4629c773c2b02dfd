#!/bin/sh
# senders.sh - a platform with two customers, each with its own provider, routed by the sender
# (issue 13: sender_routes, routing.order, allowed_senders, auth none, envelope_from), through
# the real parts of tests/e2e/lib.sh: swaks -> front Postfix -> byosmtpd -> the test providers.
#   Customer A: target cust-a on the provider "provider" (STARTTLS + AUTH), envelope_from
#     bounces@mail.a.example, allowed_senders @a.example; sender route @a.example; and the
#     recipient route @routed.example.
#   Customer B: target cust-b on the provider "relay" (STARTTLS, no AUTH offered: a relay that
#     authorises by IP address, like a Microsoft 365 connector), auth none, no username or
#     password, allowed_senders @b.example; sender route @b.example.
#   1. The targets are made with byosmtpctl; auth none with security none is refused; verify of
#      cust-b succeeds and says no AUTH was sent; route test shows table and rule.
#   2. routing.order = recipient-first (the default): alice@a.example to an unrouted recipient
#      goes through cust-a with the envelope sender bounces@mail.a.example, authenticated; bob@b.example
#      to an unrouted and to a @routed.example recipient: the first goes through cust-b without
#      AUTH over TLS, the second is named by the recipient route to cust-a, whose allowed_senders
#      refuse bob, so it stays with Postfix (delivered to its Maildir), and byosmtpd logs it.
#   3. The null sender (a bounce): to an unrouted recipient it stays with Postfix (a sender route,
#      "*" included, never takes it); to @routed.example it stays with Postfix too (cust-a does not
#      list "<>").
#   4. routing.order = sender-first and rewrite.envelope_from = "original" (SIGHUP): bob@b.example
#      to @routed.example now goes through cust-b, with bob as the envelope sender; alice's mail
#      keeps cust-a's envelope_from, which overrides the global policy.
#   5. auth none is never used without TLS: cust-c (auth none) on a relay that does not offer
#      STARTTLS: verify fails with starttls_unavailable, a routed copy is deferred with that class,
#      and the relay gets no MAIL command at all.
#   6. dump -> load -> dump gives the same file, with every new field and both route tables.
# Exit 0 pass, 1 fail, 77 skip (not root, Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/e2e/lib.sh"

# --- 1. providers, targets, routes ---
e2e_provider
start_provider relay --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
    --require-tls --hostname relay.test
RELAY_PORT=$port
start_provider strip --mode strip --hostname strip.test
STRIP_PORT=$port
e2e_conf
e2e_target cust-a relay@a.example "Customer A"
ctl target set cust-a --envelope-from bounces@mail.a.example --allowed-sender @A.example \
    >"$T/set-a.out" 2>&1 || die "target set cust-a: $(cat "$T/set-a.out")"
ctl target add cust-b --host 127.0.0.1 --port "$RELAY_PORT" --security starttls --auth none \
    --from app@b.example --from-name "Customer B" --allowed-sender @b.example >"$T/add-b.out" 2>&1 ||
    die "target add cust-b: $(cat "$T/add-b.out")"
ctl target add cust-x --host 127.0.0.1 --port "$RELAY_PORT" --security none --auth none \
    --from app@x.example >"$T/add-x.out" 2>&1
X_RC=$?
check "auth none with security none is refused (exit 1), with a reason" sh -c "[ $X_RC -eq 1 ] &&
    grep -q 'auth: none .* needs security starttls or tls' '$T/add-x.out'"
check "auth none with a password is refused" sh -c "printf 'pw\n' | \"\$BYOSMTPCTL\" -c '$CONF' target add cust-y \
    --host 127.0.0.1 --port $RELAY_PORT --auth none --password-stdin --from app@y.example 2>&1 |
    grep -q 'password: auth none sends no credentials'"
ctl route add --sender @a.example cust-a >/dev/null || die "route add --sender @a.example"
ctl route add --sender @b.example cust-b >/dev/null || die "route add --sender @b.example"
ctl route add --sender '*' cust-a >/dev/null || die "route add --sender *"
ctl route add @routed.example cust-a >/dev/null || die "route add @routed.example"
ctl target add cust-c --host 127.0.0.1 --port "$STRIP_PORT" --auth none --from app@c.example \
    --allowed-sender @c.example >/dev/null || die "target add cust-c"
ctl route add --sender @c.example cust-c >/dev/null || die "route add --sender @c.example"
ctl target show cust-b >"$T/show-b.out" 2>&1
check "target show: auth none, no username, no password, allowed_senders, sender route" sh -c "
    grep -qx 'auth = none' '$T/show-b.out' && grep -qx 'username = ' '$T/show-b.out' &&
    grep -qx 'password = (not set)' '$T/show-b.out' && grep -qx 'allowed_senders = @b.example' '$T/show-b.out' &&
    grep -qx 'sender_routes = @b.example' '$T/show-b.out'"
ctl route list >"$T/routes.out"
check "route list shows both tables" sh -c "grep -qx '@routed.example -> cust-a' '$T/routes.out' &&
    grep -qx -- '--sender @b.example -> cust-b' '$T/routes.out' && grep -qx -- '--sender \\* -> cust-a' '$T/routes.out'"
check "route test: a recipient route, its table and rule" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' route test u@routed.example |
    grep -qx 'u@routed.example -> cust-a (matched @routed.example) in routes, rule domain'"
check "route test --sender: the sender route" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' route test u@dest.example --sender bob@b.example |
    grep -qx 'u@dest.example -> cust-b (matched @b.example) in sender_routes by the sender bob@b.example, rule domain'"
ctl route test u@routed.example --sender bob@b.example >"$T/rt-refused.out"
RT_RC=$?
check "route test --sender: a sender that allowed_senders refuses (exit 1)" sh -c "[ $RT_RC -eq 1 ] &&
    grep -q 'but sender bob@b.example is not in allowed_senders of target cust-a' '$T/rt-refused.out'"
ctl verify cust-b >"$T/verify-b.out" 2>&1
VERIFY_RC=$?
check "verify of the auth none target succeeds" [ "$VERIFY_RC" -eq 0 ]
check "verify says no AUTH was sent, over STARTTLS" sh -c "grep -q 'no AUTH (auth none' '$T/verify-b.out' &&
    grep -q 'STARTTLS' '$T/verify-b.out' && grep -q '^result: ok: .*(no AUTH: auth none' '$T/verify-b.out' &&
    ! grep -q '^  auth  *AUTH ' '$T/verify-b.out'"
check "the relay got verify's message over TLS, without AUTH" pyrec relay '
m = [x for x in msgs if "byosmtp verification of target cust-b" in x["message"]]
assert len(m) == 1, len(m)
assert m[0]["tls"] and not m[0]["auth"], (m[0]["tls"], m[0]["auth"])'
check "target show keeps verify's AUTH none" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' target show cust-b | grep -q '^verified = .* ok, TLSv1.[23] .*AUTH none'"
e2e_start_byosmtpd
e2e_front

# --- 2. recipient-first ---
swaks_send "$FRONT_PORT" "$T/s1.out" --from alice@a.example --to x@dest.example \
    --header "From: Alice <alice@a.example>" --header "Subject: senders one" --body "one e2e-s-1"
check "swaks: message 1 accepted" grep -q 'queued as' "$T/s1.out"
check "provider got message 1 for x, envelope sender bounces@mail.a.example, authenticated" wait_for 20 pyrec provider '
m = [x for x in msgs if "senders one" in x["message"]]
assert len(m) == 1, len(m)
assert [r["addr"] for r in m[0]["rcpt"]] == ["x@dest.example"], m[0]["rcpt"]
assert m[0]["mail_from"] == "bounces@mail.a.example", m[0]["mail_from"]
assert m[0]["auth"] and m[0]["auth_user"] == "apikey" and m[0]["tls"]'
check "message 1 rewritten for customer A" pyrec provider '
msg = parsed("senders one")[1]
assert one(msg, "From") in ("\"Customer A\" <relay@a.example>", "Customer A <relay@a.example>"), one(msg, "From")'
check "byosmtpd logged status=sent for x through cust-a" wait_for 10 log_has "to=<x@dest.example>, relay=cust-a\[127.0.0.1\]:$PROV_PORT, .*status=sent"

swaks_send "$FRONT_PORT" "$T/s2.out" --from bob@b.example --to y@dest.example,z@routed.example \
    --header "From: Bob <bob@b.example>" --header "Subject: senders two" --body "two e2e-s-2"
check "swaks: message 2 accepted" grep -q 'queued as' "$T/s2.out"
check "the relay got message 2 for y only, over TLS, without AUTH, from app@b.example" wait_for 20 pyrec relay '
m = [x for x in msgs if "senders two" in x["message"]]
assert len(m) == 1, len(m)
assert [r["addr"] for r in m[0]["rcpt"]] == ["y@dest.example"], m[0]["rcpt"]
assert m[0]["tls"] and not m[0]["auth"], (m[0]["tls"], m[0]["auth"])
assert m[0]["mail_from"] == "app@b.example", m[0]["mail_from"]'
check "Postfix delivered z (refused by cust-a's allowed_senders) itself" pf_wait_mail "$FRONT" z@routed.example 1 20
check "byosmtpd logged the refused sender for z" log_has "from=<bob@b.example> to=<z@routed.example>: the sender is not in allowed_senders of target cust-a (route @routed.example): left to the MTA"
check "the provider never got message 2" pyrec provider 'not [x for x in msgs if "senders two" in x["message"]]'
check "Postfix delivered nothing of message 2 to y" [ "$(pf_count "$FRONT" y@dest.example)" -eq 0 ]
ZCOPY=$(pf_mailbox "$FRONT" z@routed.example | tail -1)
check "z's copy is not rewritten" sh -c "[ -n '$ZCOPY' ] && grep -q '^From: Bob <bob@b.example>' '$ZCOPY'"

# --- 3. the null sender ---
swaks_send "$FRONT_PORT" "$T/s3.out" --from '<>' --to w@dest.example,v@routed.example \
    --header "From: MAILER-DAEMON <postmaster@front.example>" --header "Subject: senders three" --body "three e2e-s-3"
check "swaks: message 3 (null sender) accepted" grep -q 'queued as' "$T/s3.out"
check "Postfix delivered w (no sender route takes the null sender, not even *)" pf_wait_mail "$FRONT" w@dest.example 1 20
check "Postfix delivered v (cust-a does not list <>)" pf_wait_mail "$FRONT" v@routed.example 1 20
check "byosmtpd logged the null sender refused for v" log_has "from=<> to=<v@routed.example>: the sender is not in allowed_senders of target cust-a"
sleep 1
check "the provider did not get message 3" pyrec provider 'not [x for x in msgs if "senders three" in x["message"]]'
check "the relay did not get message 3" pyrec relay 'not [x for x in msgs if "senders three" in x["message"]]'

# --- 4. sender-first ---
printf 'routing = { order = "sender-first"; };\nrewrite = { envelope_from = "original"; };\n' >>"$CONF"
kill -HUP "$BYO_PID"
check "byosmtpd reloaded byosmtp.conf" wait_for 10 log_has "reloaded $CONF"
check "route test follows routing.order = sender-first" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' route test z@routed.example --sender bob@b.example |
    grep -qx 'z@routed.example -> cust-b (matched @b.example) in sender_routes by the sender bob@b.example, rule domain'"
swaks_send "$FRONT_PORT" "$T/s4.out" --from bob@b.example --to q@routed.example \
    --header "From: Bob <bob@b.example>" --header "Subject: senders four" --body "four e2e-s-4"
check "swaks: message 4 accepted" grep -q 'queued as' "$T/s4.out"
check "sender-first: the relay got message 4 for q@routed.example" wait_for 20 pyrec relay '
m = [x for x in msgs if "senders four" in x["message"]]
assert len(m) == 1 and [r["addr"] for r in m[0]["rcpt"]] == ["q@routed.example"], m
assert m[0]["mail_from"] == "bob@b.example", m[0]["mail_from"]'
check "byosmtpd logged status=sent for q through cust-b" wait_for 10 log_has "to=<q@routed.example>, relay=cust-b\[127.0.0.1\]:$RELAY_PORT, .*status=sent"
check "Postfix delivered nothing to q" [ "$(pf_count "$FRONT" q@routed.example)" -eq 0 ]
swaks_send "$FRONT_PORT" "$T/s5.out" --from alice@a.example --to p@dest.example \
    --header "From: Alice <alice@a.example>" --header "Subject: senders five" --body "five e2e-s-5"
check "envelope_from of cust-a overrides rewrite.envelope_from = original" wait_for 20 pyrec provider '
m = [x for x in msgs if "senders five" in x["message"]]
assert len(m) == 1 and m[0]["mail_from"] == "bounces@mail.a.example", m'
check "byosmtpctl queue is empty before message 6 (everything sent)" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -q '^0 messages in the queue'"

# --- 5. auth none never without TLS ---
ctl verify cust-c >"$T/verify-c.out" 2>&1
VC_RC=$?
check "verify of auth none on a relay without STARTTLS fails: starttls_unavailable" sh -c "[ $VC_RC -eq 1 ] &&
    grep -q '^result: failed: starttls_unavailable' '$T/verify-c.out'"
swaks_send "$FRONT_PORT" "$T/s6.out" --from carol@c.example --to r@dest.example \
    --header "From: Carol <carol@c.example>" --header "Subject: senders six" --body "six e2e-s-6"
check "swaks: message 6 accepted" grep -q 'queued as' "$T/s6.out"
check "the copy for cust-c is deferred as starttls_unavailable" wait_for 20 log_has "to=<r@dest.example>, relay=cust-c\[127.0.0.1\]:$STRIP_PORT, .*status=deferred.*class=starttls_unavailable"
check "the relay without STARTTLS never got MAIL, AUTH or a message" pyrec strip '
assert not msgs, msgs
assert conns and all(not c.get("auth") and not c.get("auth_attempts") for c in conns), conns
assert not [x for c in conns for x in c["commands"] if x.upper().startswith(("MAIL", "AUTH"))], conns'

# --- 6. dump -> load -> dump ---
ctl dump >"$T/dump1.conf" || die "dump"
check "dump holds every new field and both tables" sh -c "grep -q 'auth = \"none\";' '$T/dump1.conf' &&
    grep -q 'envelope_from = \"bounces@mail.a.example\";' '$T/dump1.conf' &&
    grep -q 'allowed_senders = \[ \"@a.example\" \];' '$T/dump1.conf' && grep -q '^sender_routes = (' '$T/dump1.conf' &&
    grep -q 'match = \"@b.example\"; target = \"cust-b\";' '$T/dump1.conf'"
ctl load "$T/dump1.conf" >"$T/load.out" 2>&1
check "load of the dump succeeds" grep -q 'loaded 3 targets, 1 routes, 4 sender routes' "$T/load.out"
ctl dump >"$T/dump2.conf"
check "dump -> load -> dump is the same" cmp -s "$T/dump1.conf" "$T/dump2.conf"
finish
