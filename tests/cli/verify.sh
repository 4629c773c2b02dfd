# verify.sh - "byosmtpctl verify" against the test provider on loopback: each step printed, the
# result stored and shown by "target show", a wrong password classified auth_failed, and the
# sixth attempt inside the window refused with the time of the next allowed one.
. "$top_srcdir/tests/cli/lib.sh"
[ -x "$PY" ] || skip "$PY is missing"
need openssl
PW='verify-Secret-77'

make_certs "$T/certs"
cat >>"$CONF" <<CONF
delivery = { tls_ca_file = "$T/certs/ca.pem"; connect_timeout = 5; command_timeout = 10; };
CONF

start_provider good --cert "$T/certs/good.pem" --key "$T/certs/good.key" --mode starttls \
    --auth PLAIN,LOGIN --user apikey --password "$PW" --require-auth
ctl key generate >/dev/null
printf '%s\n' "$PW" | ctl target add good --host 127.0.0.1 --port "$port" --username apikey \
    --password-stdin --from noreply@acme.example --verify-to postmaster@acme.example >/dev/null ||
    fail "target add good"

run ctl verify good
expect_rc 0 "verify good"
expect_out "verifying target good: 127.0.0.1:$port" "verify says what it does"
expect_out "TLSv1." "verify prints the TLS version"
expect_out "AUTH" "verify prints the AUTH step"
expect_out "250" "verify prints the server's replies"
expect_out "result: ok" "verify result"
printf '%s\n' "$OUT" >"$T/verify.out"
expect_not_in "$T/verify.out" "$PW" "verify output"
# the provider recorded one message, over TLS with AUTH, from from_address to verify_to
check "the test message reached the provider as expected" pyrec good '
assert len(msgs) == 1, msgs
m = msgs[0]
assert m["tls"] and m["auth_user"] == "apikey", m
assert m["mail_from"] == "noreply@acme.example", m["mail_from"]
assert [r["addr"] for r in m["rcpt"]] == ["postmaster@acme.example"], m["rcpt"]
assert "Subject: byosmtp verification of target good" in m["message"], m["message"]
'

run ctl target show good
expect_out "verified = " "show has the result"
expect_out " ok, TLSv1." "show has ok and the TLS version"
expect_out "AUTH PLAIN" "show has the mechanism"

run ctl verify good --no-send --to other@acme.example
expect_rc 0 "verify --no-send"
[ "$(grep -c '"event": "message"' "$T/good.jsonl")" -eq 1 ] && ok || fail "--no-send sent a message"

# a wrong password: auth_failed, stored, exit 1
printf 'wrong-password\n' | ctl target add bad --host 127.0.0.1 --port "$port" --username apikey \
    --password-stdin --from noreply@acme.example >/dev/null || fail "target add bad"
run ctl verify bad
expect_rc 1 "verify with a wrong password"
expect_out "result: failed: auth_failed" "wrong password class"
run ctl target show bad
expect_out "failed: auth_failed" "show has the failure"

# the rate limit: default 5 attempts per 900 s; "good" has used 2, "bad" 1
run ctl verify good --no-send
expect_rc 0 "third attempt"
run ctl verify good --no-send
run ctl verify good --no-send
expect_rc 0 "fifth attempt"
run ctl verify good --no-send
expect_rc 1 "sixth attempt"
expect_err "refused: 5 attempts in the last 900 seconds" "sixth attempt is refused"
expect_err "next attempt is allowed at" "the refusal says when"
run ctl verify bad --no-send
expect_rc 1 "other targets have their own limit (bad still fails on its password)"
expect_out "auth_failed" "other targets have their own limit"

run ctl verify missing
expect_rc 1 "verify of a missing target"
expect_err "target 'missing' does not exist" "verify of a missing target"
finish
