#!/bin/sh
# provider.sh - the smarthost client and "byosmtpctl verify" against a real Postfix acting as the
# customer's provider (tests/postfix/lib.sh, profile "provider": STARTTLS required, Cyrus SASL
# with PLAIN LOGIN CRAM-MD5, mail only from authenticated clients, bare LF refused), started by
# this test on 127.0.0.1 and stopped when it ends:
#   1. verify succeeds, prints its steps (TLS, AUTH, 250), stores the result, and the test message
#      arrives at the provider, over TLS, authenticated, from from_address to verify_to;
#   2. smtp_probe submits with each of PLAIN, LOGIN and CRAM-MD5, and several messages over one
#      connection with auto, all of which arrive; a message with SMTP-smuggling line endings
#      arrives as one message, and nothing reaches the smuggled recipient;
#   3. a wrong password: verify exits 1 with auth_failed, stored on the target;
#   4. security none against the encrypt-only Postfix: starttls_required;
#   5. the "front" profile (no milter yet) takes a local submission and delivers it.
# No password appears in any output or in Postfix's log. Exit 0 pass, 1 fail, 77 skip (Postfix or
# Cyrus SASL not installed, or not root).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/cli/lib.sh"
. "$top_srcdir/tests/postfix/lib.sh"
pf_init notrap
# at_cleanup: stop the Postfix instances and remove $PF_TOP (the common clean-up then removes $T)
at_cleanup() { pf_cleanup; }

PROBE=$top_builddir/tests/client/smtp_probe
[ -x "$PROBE" ] || die "$PROBE is not built (make check builds it)"
PW='Pf-verify-Secret-31'
PROBE_PW='Pf-probe-Secret-47'
P=$PF_TOP/provider

make_certs "$PF_TOP/certs"
pf_provider "$P" "$PF_TOP/certs" || die "cannot write the provider's configuration"
pf_add_user "$P" apikey "$PW" || die "saslpasswd2 apikey"
pf_add_user "$P" alice@example.com "$PROBE_PW" || die "saslpasswd2 alice"
pf_start "$P" || exit 1
PORT=$PF_PORT

# delivered ADDR TEXT WHAT - the newest message delivered to ADDR contains the line TEXT
delivered() {
    if pf_wait_mail "$P" "$1" 1 20 && grep -qF -- "$2" "$(pf_mailbox "$P" "$1" | tail -1)"; then
        ok
    else
        fail "$3: no message for $1 with '$2' at the provider (log: $(pf_log "$P" | grep -v ']: connect' | tail -5))"
    fi
}

cat >>"$CONF" <<CONF
delivery = { tls_ca_file = "$PF_TOP/certs/ca.pem"; connect_timeout = 5; command_timeout = 10; };
CONF
ctl key generate >/dev/null || fail "key generate"

# --- 1. verify: success, steps, stored result, the message at the provider ---
printf '%s\n' "$PW" | ctl target add pf --host 127.0.0.1 --port "$PORT" --username apikey \
    --password-stdin --from noreply@acme.example --verify-to postmaster@acme.example >/dev/null ||
    fail "target add pf"
run ctl verify pf
expect_rc 0 "verify against Postfix"
expect_out "verifying target pf: 127.0.0.1:$PORT" "verify says what it does"
expect_out "STARTTLS" "verify prints the STARTTLS step"
expect_out "TLSv1." "verify prints the TLS version"
expect_out "AUTH mechanism" "verify prints the AUTH step"
expect_out "235 2.7.0 Authentication successful" "Postfix accepted the credentials"
expect_out "250 2.0.0 Ok: queued as" "verify prints Postfix's 250"
expect_out "result: ok" "verify result"
printf '%s\n%s\n' "$OUT" "$ERR" >"$T/verify.out"
expect_not_in "$T/verify.out" "$PW" "verify output"
run ctl target show pf
expect_out "verified = " "target show has the result"
expect_out " ok, TLSv1." "target show has ok and the TLS version"
expect_out "AUTH CRAM-MD5" "target show has the mechanism (auto: the strongest Postfix offers)"
expect_out "reply \"250 2.0.0 Ok: queued as" "target show has Postfix's reply"
delivered postmaster@acme.example "Subject: byosmtp verification of target pf" "verify's test message"
M=$(pf_mailbox "$P" postmaster@acme.example | tail -1)
expect_in "$M" "Return-Path: <noreply@acme.example>" "envelope sender is from_address"
expect_in "$M" "(Authenticated sender: apikey)" "verify authenticated"
expect_in "$M" "with ESMTPSA id" "verify used TLS and AUTH"
[ "$(pf_count "$P")" -eq 1 ] && ok || fail "verify delivered $(pf_count "$P") messages, expected 1"

# --- 2. the client with each mechanism, several messages on one connection, line endings ---
printf '%s\n' "$PROBE_PW" >"$T/probe.pw"
# probe NAME ARGS... - smtp_probe as alice@example.com, trusting the test CA; status in $RC
probe() {
    pr_name=$1
    shift
    run "$PROBE" --host 127.0.0.1 --port "$PORT" --user alice@example.com --password-file "$T/$pr_name.pw" \
        --ca-file "$PF_TOP/certs/ca.pem" --timeout 10 --connect-timeout 5 --from sender@example.com "$@"
    printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/probe.out"
}
for mech in plain login cram-md5; do
    MECH=$(echo "$mech" | tr "[:lower:]" "[:upper:]")
    probe probe --auth "$mech" --to "$mech@dest.example"
    expect_rc 0 "submission with AUTH $MECH"
    expect_out "open-auth: $MECH" "AUTH $MECH was used"
    expect_out "open-tls: TLSv1." "AUTH $MECH over TLS"
    expect_out "rcpt <$mech@dest.example>: ok action=done status=delivered code=250" "Postfix accepted the AUTH $MECH message"
    delivered "$mech@dest.example" "Subject: smtp_probe" "the AUTH $MECH message"
    expect_in "$(pf_mailbox "$P" "$mech@dest.example" | tail -1)" "(Authenticated sender: alice@example.com)" \
        "AUTH $MECH message authenticated as alice"
done
probe probe --auth auto --to reuse@dest.example --count 3
expect_rc 0 "three messages on one connection"
expect_out "send3: ok action=done" "the third message on the reused connection"
pf_wait_mail "$P" reuse@dest.example 3 20 && ok || fail "reuse: $(pf_count "$P" reuse@dest.example) of 3 arrived"
# Postfix logs one session with three transactions.
pf_log "$P" | grep -q 'disconnect from .* auth=1 mail=3 rcpt=3 data=3' && ok ||
    fail "the three messages did not share one authenticated session"

# Postfix here refuses bare LF (smtpd_forbid_bare_newline): the message is accepted only if the
# client sent CRLF only; "\n.\n" must not end it early, so nothing reaches the smuggled recipient.
printf 'Subject: smuggle\r\n\r\nbody\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n\r.\r\n..dots\nlast line' >"$T/smuggle.eml"
probe probe --to smuggle@dest.example --message "$T/smuggle.eml"
expect_rc 0 "the smuggling message is accepted by a Postfix that refuses bare LF"
delivered smuggle@dest.example "RCPT TO:<victim@example.org>" "the smuggled commands stay in the body"
SM=$(pf_mailbox "$P" smuggle@dest.example | tail -1)
expect_in "$SM" "..dots" "dot-stuffing is undone by Postfix: '..dots' arrives as written"
expect_in "$SM" "last line" "the last line without a newline arrives"
grep -qx '\.' "$SM" && ok || fail "the lone '.' lines did not arrive as lines of the body"
sleep 0.5
[ "$(pf_count "$P" victim@example.org)" -eq 0 ] && ok || fail "a smuggled message reached victim@example.org"
[ "$(pf_count "$P" smuggle@dest.example)" -eq 1 ] && ok || fail "the smuggling message arrived more than once"

# --- 3. a wrong password ---
printf '%s\n' 'wrong-password' | ctl target add bad --host 127.0.0.1 --port "$PORT" --username apikey \
    --password-stdin --from noreply@acme.example --verify-to wrongpw@acme.example >/dev/null ||
    fail "target add bad"
run ctl verify bad
expect_rc 1 "verify with a wrong password"
expect_out "535 5.7.8" "Postfix's 535 is shown"
expect_out "result: failed: auth_failed" "wrong password class"
run ctl target show bad
expect_out "failed: auth_failed" "target show has the failure"
printf 'wrong-password\n' >"$T/wrong.pw"
probe wrong --auth plain --to wrongpw@dest.example
expect_rc 1 "probe with a wrong password"
expect_out "open: auth_failed action=retry stage=auth code=535" "probe: 535 is auth_failed, retried"

# --- 4. security none against a Postfix that requires STARTTLS ---
printf '%s\n' "$PW" | ctl target add cleartext --host 127.0.0.1 --port "$PORT" --security none \
    --username apikey --password-stdin --from noreply@acme.example --verify-to cleartext@acme.example \
    >/dev/null || fail "target add cleartext"
run ctl verify cleartext
expect_rc 1 "verify with security none"
expect_out "result: failed: starttls_required" "security none against an encrypt-only Postfix"
expect_out "use STARTTLS security" "the hint says what to change"
printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/verify.out"
expect_not_in "$T/verify.out" "$PW" "verify output"
[ "$(pf_count "$P" wrongpw@acme.example)" -eq 0 ] && [ "$(pf_count "$P" cleartext@acme.example)" -eq 0 ] &&
    ok || fail "a failed verify delivered a message"

# No secret in any output, nor in Postfix's log.
expect_not_in "$T/probe.out" "$PROBE_PW" "probe output"
expect_not_in "$P/log/maillog" "$PW" "Postfix's log"
expect_not_in "$P/log/maillog" "$PROBE_PW" "Postfix's log"

# --- 5. the "front" profile: starts, takes a local submission, delivers to its Maildir ---
F=$PF_TOP/front
pf_front "$F" "" || fail "cannot write the front profile"
if pf_start "$F"; then
    [ "$PF_PORT" != "$PORT" ] && ok || fail "front and provider share port $PORT"
    printf 'Subject: front\n\nhello from the front\n' |
        pf_sendmail "$F" -i -f someone@example.com local-user@example.net && ok || fail "sendmail -C front"
    if pf_wait_mail "$F" local-user@example.net 1 20; then
        ok
        expect_in "$(pf_mailbox "$F" local-user@example.net)" "hello from the front" "front delivery"
    else
        fail "the front instance did not deliver ($(pf_log "$F" | tail -3))"
    fi
    FRONT_MASTER=$(pf_master_pid "$F")
    pf_stop "$F"
    [ -z "$(ps -o pid= -s "$FRONT_MASTER")" ] && ok || fail "front processes left after pf_stop"
else
    fail "the front instance did not start"
fi

# Stopping leaves no process behind (the trap stops it too, but this checks it).
MASTER=$(pf_master_pid "$P")
pf_stop "$P"
[ -n "$MASTER" ] && [ -z "$(ps -o pid= -s "$MASTER")" ] && ok || fail "provider processes left after pf_stop"
finish
