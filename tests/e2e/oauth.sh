#!/bin/sh
# oauth.sh - OAuth2 (XOAUTH2) on the full path with real parts (tests/e2e/lib.sh): swaks submits
# to a private front Postfix whose smtpd_milters is the real byosmtpd, which relays through two
# test providers that accept only the current access tokens of two local HTTPS token endpoints
# (tests/provider/byo-oauth.py, the test CA trusted through delivery.tls_ca_file):
#   gm  made as doc/admin-guide.md sets up Gmail with OAuth2 (--provider gmail-oauth; tokens live
#       5 s, so the second message needs a new one);
#   ms  made as it sets up Office 365 with OAuth2 (--provider office365-oauth; the endpoint
#       rotates the refresh token, and the old one dies).
#   1. byosmtpctl verify succeeds for both and shows the token step, never a token.
#   2. One message to a recipient of each target and an unrouted one: each provider receives it
#      once, for its recipient only, over TLS, authenticated with XOAUTH2; Postfix delivers the
#      unrouted recipient; byosmtpd logs status=sent per recipient.
#   3. After the Gmail token expired, another message: a new token, no AUTH refused.
#   4. The Gmail refresh token revoked: a message is deferred as oauth_refresh_failed, never
#      bounced; after consent (a new refresh token, byosmtpctl target set) it is delivered.
#   5. No client secret, refresh token or access token in byosmtpd's log, Postfix's log, the
#      spool or the store.
# Exit 0 pass, 1 fail, 77 skip (not root, Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/e2e/lib.sh"

CS_GM='GOCSPX-e2e-gm-61d0' RT_GM='1//0e2e-gm-refresh-77a' RT_GM2='1//0e2e-gm-consent-2c9'
CS_MS='ms-e2e-secret~4b1' RT_MS='0.AR-e2e-ms-refresh-e3f'
PROV_PW=$CS_GM # lib.sh's last check: not in byosmtpd's log
SCOPE_MS='https://outlook.office.com/SMTP.Send offline_access'
for s in cs-gm:$CS_GM rt-gm:$RT_GM rt-gm2:$RT_GM2 cs-ms:$CS_MS rt-ms:$RT_MS; do
    printf '%s\n' "${s#*:}" >"$T/${s%%:*}"
    chmod 600 "$T/${s%%:*}"
done

# --- the token endpoints, the providers, byosmtpd's configuration ---
make_certs "$T/certs"
start_oauth epg --client-id gm-client.apps.googleusercontent.com --client-secret "$CS_GM" \
    --refresh-token "$RT_GM" --scope https://mail.google.com/ --expires-in 5
EPG_PORT=$port
start_oauth epm --client-id 0e1a-ms-app --client-secret "$CS_MS" --refresh-token "$RT_MS" \
    --scope "$SCOPE_MS" --expires-in 3600 --rotate
EPM_PORT=$port
for p in gm:epg ms:epm; do
    start_provider "${p%%:*}" --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
        --require-tls --require-auth --auth XOAUTH2 --user "relay@${p%%:*}.test" \
        --xoauth2-tokens "$T/${p#*:}.tokens" --hostname provider.test
    eval "${p%%:*}_PORT=\$port"
done
e2e_conf
# every message authenticates on a session of its own
sed -i 's|^delivery = { |delivery = { conn_max_messages = 1; |' "$CONF"
ctl key generate >/dev/null || die "byosmtpctl key generate"

# --- the targets, as doc/admin-guide.md sets them up (host, port and token URL: the test's) ---
ctl target add gm --provider gmail-oauth --host 127.0.0.1 --port "$gm_PORT" \
    --from relay@gm.test --from-name "GM Relay" \
    --oauth-token-url "https://localhost:$EPG_PORT/token" \
    --oauth-client-id gm-client.apps.googleusercontent.com \
    --oauth-client-secret-file "$T/cs-gm" --oauth-refresh-token-file "$T/rt-gm" \
    >"$T/add.out" 2>&1 || die "target add gm: $(cat "$T/add.out")"
ctl target add ms --provider office365-oauth --host 127.0.0.1 --port "$ms_PORT" \
    --from relay@ms.test --oauth-token-url "https://localhost:$EPM_PORT/token" \
    --oauth-client-id 0e1a-ms-app --oauth-client-secret-file "$T/cs-ms" \
    --oauth-refresh-token-file "$T/rt-ms" >>"$T/add.out" 2>&1 || die "target add ms: $(cat "$T/add.out")"
ctl route add @gm.example gm >/dev/null || die "route add gm"
ctl route add @ms.example ms >/dev/null || die "route add ms"

# --- 1. verify ---
for t in gm ms; do
    ctl verify "$t" --no-send >"$T/verify-$t.out" 2>&1
    check "verify $t succeeds" grep -q '^result: ok' "$T/verify-$t.out"
    check "verify $t shows the token step and XOAUTH2, never the token" sh -c "
        grep -q '^  oauth    POST https://localhost:.*/token (grant_type=refresh_token' '$T/verify-$t.out' &&
        grep -q '^  oauth    HTTP 200: an access token for .* s (not shown)' '$T/verify-$t.out' &&
        grep -q 'AUTH mechanism XOAUTH2' '$T/verify-$t.out' && ! grep -Eq '(at|rt)-[0-9]+-' '$T/verify-$t.out'"
done
check "verify ms stored the rotated refresh token" grep -q 'the rotated refresh token is stored (encrypted)' "$T/verify-ms.out"
e2e_start_byosmtpd
e2e_front

# --- 2. one message, three recipients: one per target, one for Postfix ---
swaks_send "$FRONT_PORT" "$T/swaks1.out" --from alice@sender.example \
    --to bob@gm.example,dan@ms.example,carol@local.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: e2e oauth one" \
    --header "Message-Id: <e2e-oauth-1@sender.example>" --body "OAuth2 body e2e-oauth-51c"
check "swaks: the front Postfix accepted the message" grep -q 'queued as' "$T/swaks1.out"
check "Postfix delivered the unrouted recipient to its Maildir" pf_wait_mail "$FRONT" carol@local.example 1 20
for p in gm:bob ms:dan; do
    check "${p%%:*}: status=sent for ${p#*:} in byosmtpd's log" wait_for 20 \
        log_has "to=<${p#*:}@${p%%:*}.example>, relay=${p%%:*}\[127.0.0.1\]:.*status=sent (250"
    check "${p%%:*}: the message once, for ${p#*:} only, TLS, XOAUTH2 as relay@${p%%:*}.test" pyrec "${p%%:*}" "
m = [x for x in msgs if 'e2e oauth one' in x['message']]
assert len(m) == 1, len(m)
m = m[0]
assert [r['addr'] for r in m['rcpt']] == ['${p#*:}@${p%%:*}.example'], m['rcpt']
assert m['tls'] and m['auth_mechanism'] == 'XOAUTH2' and m['auth_user'] == 'relay@${p%%:*}.test', m
assert 'OAuth2 body e2e-oauth-51c' in m['message']"
done
check "gm: the copy is rewritten for the target" pyrec gm '
msg = parsed("e2e oauth one")[1]
assert one(msg, "From") in ("\"GM Relay\" <relay@gm.test>", "GM Relay <relay@gm.test>"), one(msg, "From")'

# --- 3. the Gmail token expires between messages ---
sleep 6
swaks_send "$FRONT_PORT" "$T/swaks2.out" --from alice@sender.example --to bob@gm.example \
    --header "Subject: e2e oauth two" --body "second"
check "gm: the second message is delivered after the token expired" wait_for 20 \
    pyrec gm 'any("e2e oauth two" in m["message"] for m in msgs)'
check "gm: no AUTH was ever refused (a new token before the old one expired)" pyrec gm '
assert all(a["ok"] for c in conns for a in c["auth_attempts"]), [c["auth_attempts"] for c in conns]'
check "gm: the endpoint issued a token for verify and two for delivery" pyrec epg '
assert [r["status"] for r in recs] == [200, 200, 200], [r["status"] for r in recs]'
check "ms: one grant by verify, one by delivery, each with the refresh token of the one before" pyrec epm '
assert [(r["status"], r["refresh_token_ok"]) for r in recs] == [(200, True), (200, True)], recs'

# --- 4. the Gmail refresh token revoked: deferred, then consent releases it ---
kill -USR1 "$pid_epg"
sleep 6
swaks_send "$FRONT_PORT" "$T/swaks3.out" --from alice@sender.example --to erin@gm.example \
    --header "Subject: e2e oauth revoked" --body "third"
check "revoked: deferred as oauth_refresh_failed with invalid_grant" wait_for 20 log_has \
    "to=<erin@gm.example>.*status=deferred (target gm: the token endpoint answered HTTP 400 invalid_grant: .*class=oauth_refresh_failed"
check "revoked: not bounced, still queued" sh -c "! grep -q 'to=<erin@gm.example>.*status=bounced' '$LOG' && [ -n \"\$(ls '$SPOOL/queue')\" ]"
stop_provider epg
start_oauth epg --port "$EPG_PORT" --client-id gm-client.apps.googleusercontent.com \
    --client-secret "$CS_GM" --refresh-token "$RT_GM2" --scope https://mail.google.com/ --expires-in 5
check "consent: target set with the new refresh token" ctl target set gm --oauth-refresh-token-file "$T/rt-gm2"
check "consent: the deferred message is delivered" wait_for 30 log_has "to=<erin@gm.example>.*status=sent (250"
check "consent: the provider has it" pyrec gm 'any("e2e oauth revoked" in m["message"] for m in msgs)'
check "the queue is empty" wait_for 10 queue_empty

# --- 5. no secret or token anywhere ---
stop_byosmtpd
for s in "$CS_GM" "$RT_GM" "$RT_GM2" "$CS_MS" "$RT_MS"; do
    check "no $s in byosmtpd's or Postfix's log, the spool or the store" sh -c "
        ! grep -raqF -- '$s' '$LOG' '$FRONT/log/maillog' '$SPOOL' '$T/store'"
done
check "no access or rotated refresh token in byosmtpd's or Postfix's log, the spool or the store" sh -c "
    ! grep -raEq '(at|rt)-[0-9]+-[A-Za-z0-9_-]{20}' '$LOG' '$FRONT/log/maillog' '$SPOOL' '$T/store'"
finish
