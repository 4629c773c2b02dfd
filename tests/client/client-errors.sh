#!/bin/sh
# client-errors.sh - every error class of doc/design.md ("Error classes") that the client can meet is produced by the
# situation it names, against a real server on loopback, with the action the failure policy gives.
# Exit 0 pass, 1 fail, 77 skip.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/client/lib.sh"

# failed_with NAME WHAT CLASS ACTION LABEL - the probe's WHAT line has CLASS and ACTION, and it
# failed; for a send, every recipient carries the same CLASS/ACTION and is marked failed, never
# delivered
failed_with() {
    if [ "$probe_status" -ne 0 ] && result_is "$1" "$2" "$3" "$4" &&
        { [ "$2" = open ] || rcpts_are "$1" "$3" "$4"; }; then
        ok "$5 -> $3/$4"
    else
        fail "$5: wanted $3/$4"
    fi
}

# dns: a name under .invalid never resolves (RFC 6761).
probe dns --host no-such-provider.invalid --port 587
failed_with dns open dns retry "unresolvable host"
grep -q "^open: dns .*stage=resolve" "$T/dns.out" || fail "dns failure not at stage resolve"

# connection_refused: a port where nothing listens (a provider's port after it stopped).
start_provider gone $(tls_args starttls) $(auth_args PLAIN)
stop_provider gone
probe refused --host 127.0.0.1 --port "$port"
failed_with refused open connection_refused retry "wrong port"

# tls_handshake: implicit TLS spoken to a STARTTLS port.
start_provider stls $(tls_args starttls) $(auth_args PLAIN)
probe handshake --host localhost --port "$port" --security tls
failed_with handshake open tls_handshake retry "TLS to a STARTTLS port"

# auth_failed: a wrong password defers (retry), never bounces.
"$PROBE" --user "$USER_NAME" --password-file "$T/wrongpassword" --ca-file "$certs/ca.pem" \
    --timeout 10 --host localhost --port "$port" >"$T/wrongpw.out" 2>&1
probe_status=$?
failed_with wrongpw open auth_failed retry "wrong password"
grep -q "^open-hint: wrong username or password" "$T/wrongpw.out" || fail "auth_failed hint"
! grep -q "wrong-password" "$T/wrongpw.out" || fail "the password appears in the output"

stop_provider stls

# xoauth2 with a wrong token: the 334 error challenge is answered with an empty line, then 535.
start_provider xoauth $(tls_args starttls) $(auth_args XOAUTH2)
"$PROBE" --user "$USER_NAME" --password-file "$T/wrongpassword" --ca-file "$certs/ca.pem" \
    --timeout 10 --host localhost --port "$port" --auth xoauth2 >"$T/xoauth.out" 2>&1
probe_status=$?
failed_with xoauth open auth_failed retry "XOAUTH2 with a wrong token"
stop_provider xoauth
pyrec xoauth "any('<sasl-empty>' in c['commands'] for c in conns)" ||
    fail "XOAUTH2 error challenge not answered with an empty line"

# tls_certificate: untrusted (self-signed), wrong name, expired; in both TLS modes.
for cert in selfsigned wrongname expired; do
    for mode in starttls tls; do
        start_provider "cert_$cert" $(tls_args $mode $cert) $(auth_args PLAIN)
        probe "cert_${cert}_$mode" --host localhost --port "$port" --security $mode
        failed_with "cert_${cert}_$mode" open tls_certificate retry "$cert certificate ($mode)"
        stop_provider "cert_$cert"
        pyrec "cert_$cert" "not any(c['auth'] or c['auth_attempts'] for c in conns) and not msgs" ||
            fail "$cert: something was sent after a refused certificate"
    done
done
grep -q "open-text: .*expired" "$T/cert_expired_tls.out" || fail "the expired certificate is not named as expired"

# starttls_unavailable: STARTTLS stripped; proof from the provider that no AUTH and no mail was sent.
start_provider strip --mode strip $(auth_args PLAIN,LOGIN) --auth-before-tls
probe strip --host localhost --port "$port" --security starttls
failed_with strip open starttls_unavailable retry "STARTTLS stripped"
stop_provider strip
pyrec strip "len(conns) == 1 and not conns[0]['auth'] and not conns[0]['auth_attempts'] and not conns[0]['plaintext_auth_attempted'] and not any(c.split(' ')[0].upper() in ('AUTH', 'MAIL', 'RCPT', 'DATA') for c in conns[0]['commands']) and not msgs" &&
    ok "stripped STARTTLS: the provider saw no AUTH and no mail" || fail "stripped STARTTLS: the provider saw AUTH or mail"

# protocol: bytes injected after the 220 to STARTTLS (CVE-2011-0411).
start_provider inject $(tls_args starttls) $(auth_args PLAIN) --inject-after-starttls '250 injected\r\n'
probe inject --host localhost --port "$port"
failed_with inject open protocol retry "plaintext injected after STARTTLS"
grep -q "CVE-2011-0411" "$T/inject.out" || fail "injection not explained"
stop_provider inject
pyrec inject "not msgs and not any(c['auth'] for c in conns)" || fail "injection: something was sent"

# protocol: a banner that is not SMTP.
start_provider ssh --mode plain $(auth_args PLAIN) --banner 'SSH-2.0-OpenSSH_9.2p1 Debian'
probe ssh --host localhost --port "$port" --security none
failed_with ssh open protocol retry "non-SMTP banner"
stop_provider ssh

# auth_unavailable: no AUTH offered at all (never deliver without AUTH), and an explicit mechanism
# the server does not offer.
start_provider noauth $(tls_args starttls)
probe noauth --host localhost --port "$port"
failed_with noauth open auth_unavailable retry "no AUTH offered"
# the provider records a session when it ends: wait for that record before stopping it
wait_for 10 pyrec noauth "len(conns) >= 1"
stop_provider noauth
pyrec noauth "not msgs and not any(c.split(' ')[0].upper() == 'MAIL' for c in conns[0]['commands'])" ||
    fail "mail sent without AUTH"
start_provider onlyplain $(tls_args starttls) $(auth_args PLAIN)
probe onlyplain --host localhost --port "$port" --auth cram-md5
failed_with onlyplain open auth_unavailable retry "CRAM-MD5 asked, only PLAIN offered"
stop_provider onlyplain

# starttls_required: security none against a server that demands STARTTLS (530 5.7.0).
start_provider reqtls $(tls_args starttls) $(auth_args PLAIN) --auth-before-tls --require-tls
probe reqtls --host localhost --port "$port" --security none
failed_with reqtls open starttls_required retry "530 5.7.0 under security none"
stop_provider reqtls

# sender_rejected, recipient_rejected (for that recipient only), message_rejected.
start_provider reject $(tls_args starttls) $(auth_args PLAIN) \
    --rule '{"on": "MAIL", "conn": 1, "reply": "553 5.7.1 <sender@example.com>: Sender address rejected: not owned by user"}' \
    --rule '{"on": "RCPT", "rcpt": "bad@example.com", "reply": "550 5.1.1 <bad@example.com>: Recipient address rejected: User unknown"}' \
    --rule '{"on": "DOT", "conn": 3, "reply": "554 5.7.1 Message rejected: content"}'
probe sender --host localhost --port "$port"
failed_with sender send1 sender_rejected bounce "MAIL refused"
grep -q "^rcpt <rcpt@example.com>: sender_rejected action=bounce status=failed code=553" "$T/sender.out" || fail "recipient not given the MAIL refusal"
probe rcpt --host localhost --port "$port" --to good@example.com --to bad@example.com
if result_is rcpt send1 ok done && grep -q "^rcpt <good@example.com>: ok action=done status=delivered" "$T/rcpt.out" &&
    grep -q "^rcpt <bad@example.com>: recipient_rejected action=bounce status=failed code=550" "$T/rcpt.out"; then
    ok "one recipient refused -> recipient_rejected/bounce for it, delivered to the other"
else
    fail "per-recipient result"
fi
probe message --host localhost --port "$port"
failed_with message send1 message_rejected bounce "end of DATA refused"
probe allbad --host localhost --port "$port" --to bad@example.com
failed_with allbad send1 recipient_rejected bounce "only recipient refused"
stop_provider reject
pyrec reject "len(msgs) == 1 and [r['addr'] for r in msgs[0]['rcpt'] if r['accepted']] == ['good@example.com']" ||
    fail "reject: provider record"

# Without PIPELINING the same refusals come out the same.
start_provider nopipe $(tls_args starttls) $(auth_args PLAIN) --no-pipelining \
    --rule '{"on": "RCPT", "rcpt": "bad@example.com", "reply": "550 5.1.1 User unknown"}'
probe nopipe --host localhost --port "$port" --to bad@example.com --to good@example.com
if result_is nopipe send1 ok done && grep -q "^rcpt <bad@example.com>: recipient_rejected action=bounce status=failed" "$T/nopipe.out" &&
    grep -q "^rcpt <good@example.com>: ok action=done status=delivered" "$T/nopipe.out"; then
    ok "no PIPELINING: per-recipient results"
else
    fail "no PIPELINING"
fi
stop_provider nopipe

# rate_limited: the throttling replies (doc/delivery-rules.md, "Throttling") slow the target down, never bounce.
n=0
for spec in '{"on": "MAIL", "reply": "454 Throttling failure: Maximum sending rate exceeded."}' \
    '{"on": "MAIL", "reply": "421 4.7.0 Try again later, closing connection.", "close": true}' \
    '{"on": "RCPT", "reply": "432 4.3.2 System not accepting network messages"}' \
    '{"on": "RCPT", "reply": "550 5.4.5 Daily user sending quota exceeded."}' \
    '{"on": "DOT", "reply": "451 4.4.5 Sending rate limit exceeded"}' \
    '{"on": "AUTH", "reply": "454 4.7.0 Throttling failure: too many connections"}'; do
    n=$((n + 1))
    start_provider "thr$n" $(tls_args starttls) $(auth_args PLAIN) --rule "$spec"
    probe "thr$n" --host localhost --port "$port"
    if grep -q '"AUTH"' <<EOF
$spec
EOF
    then what=open; else what=send1; fi
    failed_with "thr$n" $what rate_limited throttle "throttling reply $spec"
    stop_provider "thr$n"
done

# temporary: any other 4xx retries.
start_provider temp $(tls_args starttls) $(auth_args PLAIN) --rule '{"on": "RCPT", "reply": "450 4.2.0 Mailbox busy"}'
probe temp --host localhost --port "$port"
failed_with temp send1 temporary retry "450 to RCPT"
stop_provider temp

# timeout: a stalled server and a short timeout.
start_provider stall $(tls_args starttls) $(auth_args PLAIN) --rule '{"on": "MAIL", "stall": 6}'
"$PROBE" --user "$USER_NAME" --password-file "$T/password" --ca-file "$certs/ca.pem" \
    --host localhost --port "$port" --timeout 1 >"$T/stall.out" 2>&1
probe_status=$?
failed_with stall send1 timeout retry "server stalls after MAIL"
start_provider stallbanner --mode plain $(auth_args PLAIN) --rule '{"on": "CONNECT", "stall": 6}'
"$PROBE" --user "$USER_NAME" --password-file "$T/password" --host localhost --port "$port" \
    --security none --timeout 1 >"$T/stallbanner.out" 2>&1
probe_status=$?
failed_with stallbanner open timeout retry "server stalls before its banner"
stop_provider stall
stop_provider stallbanner

# After RCPT was accepted for both recipients: DATA refused, the connection lost at DATA and after
# the message, a 4xx to the final dot, a server that stalls at DATA. Every recipient carries the
# message's outcome; none is delivered, and the provider recorded no message.
two="--to ann@example.com --to ben@example.com"
start_provider midway $(tls_args starttls) $(auth_args PLAIN) \
    --rule '{"on": "DATA", "conn": 1, "reply": "554 5.7.1 No DATA for you"}' \
    --rule '{"on": "DATA", "conn": 2, "close": true}' \
    --rule '{"on": "DOT", "conn": 3, "close": true}' \
    --rule '{"on": "DOT", "conn": 4, "reply": "451 4.3.0 Try again later"}' \
    --rule '{"on": "DATA", "conn": 5, "stall": 4}'
probe dataref --host localhost --port "$port" $two
failed_with dataref send1 message_rejected bounce "DATA refused"
probe datalost --host localhost --port "$port" $two
failed_with datalost send1 temporary retry "connection lost at DATA"
probe dotlost --host localhost --port "$port" $two
failed_with dotlost send1 temporary retry "connection lost before the final reply"
probe dottemp --host localhost --port "$port" $two
failed_with dottemp send1 temporary retry "4xx to the final dot"
grep -q "^rcpt <ben@example.com>: temporary action=retry status=failed code=451 enhanced=4.3.0" \
    "$T/dottemp.out" || fail "4xx to the final dot: the reply is not each recipient's"
probe datastall --host localhost --port "$port" $two --timeout 1
failed_with datastall send1 timeout retry "server stalls at DATA"
stop_provider midway
pyrec midway "not msgs" || fail "midway: the provider recorded a message"

# message_rejected before MAIL: too big for SIZE, 8-bit without 8BITMIME, non-ASCII address
# without SMTPUTF8 — the provider never sees a MAIL, and every recipient is bounced with the
# status that names the refusal.
start_provider limits $(tls_args starttls) $(auth_args PLAIN) --size 1000 --no-8bitmime --no-smtputf8
# 969 octets as stored, 1161 on the wire (its 192 bare LFs become CRLF): the client refuses it
# by what it would send, not by the size the caller gives (the stored one, as the worker does).
{ printf 'Subject: bare LFs\n\n'; i=0; while [ $i -lt 190 ]; do printf 'line\n'; i=$((i + 1)); done; } >"$T/grows.eml"
probe size --host localhost --port "$port" --message "$T/grows.eml" --size "$(wc -c <"$T/grows.eml")" --body 7bit $two
failed_with size send1 message_rejected bounce "message larger than SIZE once encoded"
grep -q "the message (1161 octets) is larger than the server accepts (SIZE 1000)" "$T/size.out" ||
    fail "SIZE refusal not explained by the encoded size"
grep -q "^rcpt <ben@example.com>: .* enhanced=5.3.4 " "$T/size.out" || fail "SIZE refusal: status 5.3.4"
probe eight --host localhost --port "$port" --body 8bit $two
failed_with eight send1 message_rejected bounce "8-bit message, no 8BITMIME"
grep -q "^rcpt <ben@example.com>: .* enhanced=5.6.3 " "$T/eight.out" || fail "8BITMIME refusal: status 5.6.3"
printf 'Subject: caf\303\251\r\n\r\nna\303\257ve\r\n' >"$T/8bit.eml"
probe eightlate --host localhost --port "$port" --body unknown --message "$T/8bit.eml" $two
failed_with eightlate send1 message_rejected bounce "8-bit content found while sending, no 8BITMIME"
probe utf8 --host localhost --port "$port" --to ann@example.com --to "j$(printf '\303\274')rgen@example.com"
failed_with utf8 send1 message_rejected bounce "non-ASCII address, no SMTPUTF8"
grep -q "^rcpt <ann@example.com>: .* enhanced=5.6.7 " "$T/utf8.out" || fail "SMTPUTF8 refusal: status 5.6.7"
# A source the client can read only once is not measured: the caller's size decides.
probe sizeonce --host localhost --port "$port" --size 5000 --read-once $two
failed_with sizeonce send1 message_rejected bounce "message larger than SIZE, read once"
grep -q "the message (5000 octets)" "$T/sizeonce.out" || fail "SIZE refusal, read once: not by the caller's size"
stop_provider limits
pyrec limits "not msgs and not any(c.split(' ')[0].upper() == 'MAIL' for x in conns for c in x['commands'] if x['conn'] != 3)" ||
    fail "limits: a refused-early message reached MAIL"

finish
