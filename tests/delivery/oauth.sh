#!/bin/sh
# OAuth2 (XOAUTH2) through the real byosmtpd: a local HTTPS token endpoint (tests/provider/
# byo-oauth.py, test CA, trusted through delivery.tls_ca_file) issues short-lived access tokens,
# and the test provider accepts only those that are current (--xoauth2-tokens). Every message
# opens its own session (conn_max_messages = 1), so every message authenticates.
#  gm  (preset gmail-oauth; tokens live 4 s): a queue that outlasts several tokens is delivered
#      with no refused AUTH (refreshed ahead of expiry) and fewer grants than sessions (cached);
#      a revoked refresh token (invalid_grant) and then an unreachable endpoint defer the message
#      as oauth_refresh_failed, never bounce it; a new refresh token given with target set
#      releases it.
#  ms  (preset office365-oauth; the endpoint rotates the refresh token with every grant, the old
#      one dies): verify shows the token step and stores the rotated token; delivery uses it and
#      stores the next one (the verification result stays); revoked access tokens are renewed
#      once after the refused AUTH; a restarted byosmtpd finds the latest refresh token in the
#      store.
#  cmd (oauth_token_command): its token is used; a failing command and a hanging one (killed
#      after delivery.connect_timeout) defer with their reason; then it is delivered.
# No secret, refresh token or access token appears in the log, the outputs, the spool or the store.
. "$top_srcdir/tests/delivery/lib.sh"

CS_GM='CS-gm-7c1e55' RT_GM='RT-gm-a41f09' RT_GM2='RT-gm-b52d17'
CS_MS='CS-ms-93d2aa' RT_MS='RT-ms-0c88e4'
printf '%s\n' "$CS_GM" >"$T/cs-gm"
printf '%s\n' "$RT_GM" >"$T/rt-gm"
printf '%s\n' "$RT_GM2" >"$T/rt-gm2"
printf '%s\n' "$CS_MS" >"$T/cs-ms"
printf '%s\n' "$RT_MS" >"$T/rt-ms"
SCOPE_MS='https://outlook.office.com/SMTP.Send offline_access'

setup
delivery_set "conn_max_messages = 1;"

# the token endpoints and the providers that trust only their current tokens
start_oauth epg --client-id cid-gm --client-secret "$CS_GM" --refresh-token "$RT_GM" \
    --scope https://mail.google.com/ --expires-in 4
EPG_PORT=$port
start_oauth epm --client-id cid-ms --client-secret "$CS_MS" --refresh-token "$RT_MS" \
    --scope "$SCOPE_MS" --expires-in 3600 --rotate
EPM_PORT=$port
# xoauth2_provider NAME ENDPOINT: a provider for relay@NAME.test that takes ENDPOINT's tokens
xoauth2_provider() {
    start_provider "$1" --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
        --auth XOAUTH2 --user "relay@$1.test" --xoauth2-tokens "$T/$2.tokens" --require-auth
    eval "${1}_PORT=\$port"
}
xoauth2_provider gm epg
xoauth2_provider ms epm
echo "{\"tok-cmd-1b7\": $(($(date +%s) + 3600))}" >"$T/cmd.tokens"
start_provider cmd --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
    --auth XOAUTH2 --user relay@cmd.test --xoauth2-tokens "$T/cmd.tokens" --require-auth
cmd_PORT=$port

# oauth_target NAME PRESET PORT EP_PORT: a target made from PRESET for provider NAME and endpoint
oauth_target() {
    ctl target add "$1" --provider "$2" --host 127.0.0.1 --port "$3" --from "relay@$1.test" \
        --oauth-token-url "https://localhost:$4/token" --oauth-client-id "cid-$1" \
        --oauth-client-secret-file "$T/cs-$1" --oauth-refresh-token-file "$T/rt-$1" \
        >"$T/add-$1.out" 2>&1 || die "target add $1: $(cat "$T/add-$1.out")"
    ctl route add "@$1.example" "$1" >/dev/null || die "route add $1"
}
oauth_target gm gmail-oauth "$gm_PORT" "$EPG_PORT"
oauth_target ms office365-oauth "$ms_PORT" "$EPM_PORT"
cat >"$T/token-cmd" <<EOF
#!/bin/sh
case \$(cat "$T/cmd.mode") in
ok) printf 'tok-%s-1b7\n' "\$BYOSMTP_TARGET" ;;
fail) echo "no consent for \$BYOSMTP_USERNAME yet" >&2; exit 3 ;;
*) sleep 30 ;;
esac
EOF
chmod 755 "$T/token-cmd"
echo ok >"$T/cmd.mode"
ctl target add cmd --host 127.0.0.1 --port "$cmd_PORT" --username relay@cmd.test \
    --from relay@cmd.test --auth xoauth2 --oauth-token-command "$T/token-cmd" >"$T/add-cmd.out" 2>&1 ||
    die "target add cmd: $(cat "$T/add-cmd.out")"
ctl route add @cmd.example cmd >/dev/null || die "route add cmd"

ctl target show gm >"$T/show-gm.out" 2>&1
check "target show: auth xoauth2 and the preset's token URL replaced, scope kept" sh -c "
    grep -qx 'auth = xoauth2' '$T/show-gm.out' &&
    grep -qx 'oauth_token_url = https://localhost:$EPG_PORT/token' '$T/show-gm.out' &&
    grep -qx 'oauth_scope = https://mail.google.com/' '$T/show-gm.out' &&
    grep -qx 'oauth_client_id = cid-gm' '$T/show-gm.out'"
check "target show: the secrets as (set), no password needed" sh -c "
    grep -qx 'oauth_client_secret = (set)' '$T/show-gm.out' &&
    grep -qx 'oauth_refresh_token = (set)' '$T/show-gm.out' && grep -qx 'password = (not set)' '$T/show-gm.out'"

# --- ms: verify shows the token step and stores the rotated refresh token ---
ctl dump >"$T/dump0.out"
ctl verify ms >"$T/verify-ms.out" 2>&1
check "verify ms succeeds" grep -q '^result: ok' "$T/verify-ms.out"
check "verify shows the token step, not the token" sh -c "
    grep -q 'oauth    POST https://localhost:$EPM_PORT/token (grant_type=refresh_token, client_id=cid-ms, client_secret, scope=$SCOPE_MS)' '$T/verify-ms.out' &&
    grep -q 'oauth    HTTP 200: an access token for 3600 s (not shown), and a new refresh token' '$T/verify-ms.out' &&
    grep -q 'oauth    the rotated refresh token is stored (encrypted)' '$T/verify-ms.out' &&
    grep -q 'AUTH mechanism XOAUTH2' '$T/verify-ms.out'"
ctl dump >"$T/dump1.out"
# refresh_of FILE: the oauth_refresh_token line of target ms in dump FILE
refresh_of() { sed -n '/name = "ms"/,/}/p' "$1" | grep 'oauth_refresh_token = "enc:v1:'; }
RT0=$(refresh_of "$T/dump0.out") RT1=$(refresh_of "$T/dump1.out")
check "the rotated refresh token replaced the stored one (encrypted)" \
    sh -c '[ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]' - "$RT0" "$RT1"

start

# --- gm: a queue that outlasts several access tokens ---
i=1
while [ $i -le 9 ]; do
    submit "alice@client.example" "bob@gm.example" 1 "gm steady $i" || exit 1
    sleep 1
    i=$((i + 1))
done
check "gm: the 9 messages are delivered" wait_for 20 has_messages gm 9
check "gm: each authenticated with XOAUTH2 as relay@gm.test, and no AUTH was refused" pyrec gm '
assert len(msgs) == 9 and all(m["auth_mechanism"] == "XOAUTH2" and m["auth_user"] == "relay@gm.test" for m in msgs), msgs
assert all(a["ok"] for c in conns for a in c["auth_attempts"]), [c["auth_attempts"] for c in conns]'
NGRANTS=$(grants epg 200)
check "gm: several tokens ($NGRANTS), fewer than sessions (reused while fresh)" \
    sh -c '[ "$1" -ge 3 ] && [ "$1" -lt 9 ]' - "$NGRANTS"
check "gm: each grant is a form with the client's secret and the preset's scope" pyrec epg '
assert recs and all(r["content_type"] == "application/x-www-form-urlencoded" and r["grant_type"] == "refresh_token"
    and r["client_id"] == "cid-gm" and r["client_secret_ok"] and r["scope"] == "https://mail.google.com/"
    and r["refresh_token_ok"] for r in recs), recs'

# --- gm: the refresh token revoked, then the endpoint down: deferred, never bounced ---
kill -USR1 "$pid_epg"
sleep 4.5 # the last access token has expired
submit "alice@client.example" "carol@gm.example" 1 "gm revoked" || exit 1
check "revoked: deferred as oauth_refresh_failed with invalid_grant's meaning" wait_for 15 log_has \
    "to=<carol@gm.example>.*status=deferred (target gm: the token endpoint answered HTTP 400 invalid_grant: the refresh token was revoked or has expired: consent again.*class=oauth_refresh_failed"
ctl verify gm --no-send >"$T/verify-gm.out" 2>&1
VRC=$?
check "revoked: verify fails (exit 1) at the token step" [ "$VRC" -eq 1 ]
check "revoked: verify says oauth_refresh_failed with its hint and the endpoint's reason" sh -c "
    grep -q '^  oauth    refused: the token endpoint answered HTTP 400 invalid_grant: the refresh token was revoked or has expired' '$T/verify-gm.out' &&
    grep -qF 'result: failed: oauth_refresh_failed (re-consent and store the new refresh token, or check oauth_client_id and oauth_client_secret (Google revokes the refresh tokens of apps left in \"Testing\" after 7 days))' '$T/verify-gm.out' &&
    ! grep -q 'AUTH' '$T/verify-gm.out'"
stop_provider epg
check "endpoint down: deferred as oauth_refresh_failed, cannot reach" wait_for 15 log_has \
    "to=<carol@gm.example>.*status=deferred (target gm: token endpoint: cannot reach https://localhost:$EPG_PORT/token.*class=oauth_refresh_failed"
start_oauth epg --port "$EPG_PORT" --client-id cid-gm --client-secret "$CS_GM" --refresh-token "$RT_GM2" \
    --scope https://mail.google.com/ --expires-in 4
# refused_grants: the restarted endpoint refused a grant (invalid_grant: the old refresh token)
refused_grants() { [ "$(grants epg 400)" -ge 1 ]; }
check "back up, the old refresh token still refused" wait_for 15 refused_grants
check "not bounced: no DSN, still queued" sh -c "[ ! -s '$MBOX' ] && ! grep -q 'to=<carol@gm.example>.*status=bounced' '$LOG' &&
    [ -n \"\$(ls '$SPOOL/queue')\" ]"
check "target set with the new refresh token" ctl target set gm --oauth-refresh-token-file "$T/rt-gm2"
check "re-consented: delivered" wait_for 20 log_has "to=<carol@gm.example>.*status=sent (250"
check "re-consented: the provider has it" wait_for 5 pyrec gm 'any("gm revoked" in m["message"] for m in msgs)'

# --- ms: delivery uses the refresh token verify stored, and stores the next one ---
submit "alice@client.example" "dan@ms.example" 2 "ms rotated" || exit 1
check "ms: 2 messages delivered" wait_for 20 has_messages ms 3
check "ms: one grant by delivery with the rotated token, scope and secret" pyrec epm '
ok = [r for r in recs if r["status"] == 200]
assert len(ok) == 2 and len(recs) == 2, recs
assert all(r["refresh_token_ok"] and r["client_secret_ok"] and r["scope"] == "https://outlook.office.com/SMTP.Send offline_access" for r in recs)'
check "ms: the rotation by delivery is logged and stored" wait_for 5 log_has \
    "target ms: the token endpoint rotated the refresh token; the new one is stored (encrypted)"
check "ms: the verification result stays after the rotation" sh -c "
    \"\$BYOSMTPCTL\" -c '$CONF' target show ms | grep -q '^verified = .* ok'"

# --- ms: access tokens revoked: the refused token is renewed once ---
kill -USR2 "$pid_epm"
sleep 0.5
submit "alice@client.example" "erin@ms.example" 1 "ms renewed" || exit 1
check "renewed: delivered" wait_for 20 log_has "to=<erin@ms.example>.*status=sent (250"
check "renewed: logged" log_has "target ms refused the cached OAuth2 access token: obtaining a new one"
check "renewed: one refused XOAUTH2, then success" pyrec ms '
att = [a for c in conns for a in c["auth_attempts"]]
assert [a["ok"] for a in att].count(False) == 1, att'
check "renewed: one more grant" pyrec epm '[r["status"] for r in recs] == [200, 200, 200]'

# --- ms: a new delivery process finds the latest refresh token in the store ---
stop
start
submit "alice@client.example" "fay@ms.example" 1 "ms restarted" || exit 1
check "restarted: delivered with the stored rotated token" wait_for 20 log_has "to=<fay@ms.example>.*status=sent (250"
check "restarted: every grant used the current refresh token" pyrec epm '
assert len(recs) == 4 and all(r["refresh_token_ok"] and r["status"] == 200 for r in recs), recs'

# --- cmd: the token command ---
submit "alice@client.example" "gus@cmd.example" 1 "cmd ok" || exit 1
check "command: delivered with its token" wait_for 20 log_has "to=<gus@cmd.example>.*status=sent (250"
echo fail >"$T/cmd.mode"
submit "alice@client.example" "hal@cmd.example" 1 "cmd later" || exit 1
check "command failing: deferred with its status and its error line" wait_for 15 log_has \
    "to=<hal@cmd.example>.*status=deferred (target cmd: oauth_token_command exited with status 3: no consent for relay@cmd.test yet).*class=oauth_refresh_failed"
echo hang >"$T/cmd.mode"
check "command hanging: stopped after connect_timeout, deferred" wait_for 25 log_has \
    "to=<hal@cmd.example>.*status=deferred (target cmd: oauth_token_command did not finish within 5 s and was stopped)"
echo ok >"$T/cmd.mode"
check "command mended: delivered" wait_for 20 log_has "to=<hal@cmd.example>.*status=sent (250"
check "command: both messages at the provider, XOAUTH2" pyrec cmd '
assert len(msgs) == 2 and all(m["auth_mechanism"] == "XOAUTH2" for m in msgs), msgs'
check "nothing bounced: no DSN" [ ! -s "$MBOX" ]
check "the queue is empty" wait_for 10 queue_empty

# --- no secret anywhere ---
stop
ctl dump >"$T/dump2.out" 2>&1
ctl target show ms >"$T/show-ms.out" 2>&1
for f in "$LOG" "$T/verify-ms.out" "$T/verify-gm.out" "$T/show-gm.out" "$T/show-ms.out" "$T/dump1.out" "$T/dump2.out" \
    "$T/add-gm.out" "$T/add-ms.out"; do
    for s in "$CS_GM" "$RT_GM" "$RT_GM2" "$CS_MS" "$RT_MS" tok-cmd-1b7; do
        check "no $s in $(basename "$f")" lacks "$f" "$s"
    done
    check "no access or rotated refresh token in $(basename "$f")" sh -c "! grep -aEq '(at|rt)-[0-9]+-' '$f'"
done
check "no secret or token in the spool or the store files" sh -c "
    ! grep -raEq '$CS_GM|$RT_GM|$RT_GM2|$CS_MS|$RT_MS|tok-cmd-1b7|(at|rt)-[0-9]+-[A-Za-z0-9_-]{20}' '$SPOOL' '$T/store'"
finish
