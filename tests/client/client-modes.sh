#!/bin/sh
# client-modes.sh - the smarthost client succeeds against the test provider in all three security
# modes with each AUTH mechanism, reuses one connection for several messages, and keeps the
# password out of its trace. Exit 0 pass, 1 fail, 77 skip.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/client/lib.sh"

for mode in starttls tls none; do
    case $mode in
    starttls) pmode=starttls ;;
    tls) pmode=tls ;;
    none) pmode=plain ;;
    esac
    start_provider "m_$mode" $(tls_args $pmode) $(auth_args PLAIN,LOGIN,CRAM-MD5,XOAUTH2)
    for mech in plain login cram-md5 xoauth2 auto; do
        name="m_${mode}_$mech"
        probe "$name" --host localhost --port "$port" --security "$mode" --auth "$mech"
        want=$(echo "$mech" | tr a-z A-Z)
        [ "$mech" = auto ] && want=CRAM-MD5
        if [ $probe_status -eq 0 ] && result_is "$name" open ok done && result_is "$name" send1 ok done &&
            grep -q "^open-auth: $want\$" "$T/$name.out" && no_secret_in "$name"; then
            ok "$mode with AUTH $mech"
        else
            fail "$mode with AUTH $mech (status $probe_status)"
        fi
    done
    stop_provider "m_$mode"
    tls_expect=True
    [ "$mode" = none ] && tls_expect=False
    if pyrec "m_$mode" "len(msgs) == 5 and all(m['tls'] == $tls_expect and m['auth'] for m in msgs) and [m['auth_mechanism'] for m in msgs] == ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2', 'CRAM-MD5']"; then
        ok "$mode: the provider received 5 authenticated messages, TLS=$tls_expect, one per mechanism"
    else
        fail "$mode: provider record"
    fi
done

# The trace shows the steps and never an AUTH exchange's base64.
start_provider trace $(tls_args starttls) $(auth_args PLAIN,LOGIN)
probe trace --host localhost --port "$port" --auth login
plain_b64=$(printf '\000%s\000%s' "$USER_NAME" "$PASSWORD" | base64 -w0)
user_b64=$(printf '%s' "$USER_NAME" | base64 -w0)
pw_b64=$(printf '%s' "$PASSWORD" | base64 -w0)
if [ $probe_status -eq 0 ] &&
    grep -q "^trace\[tls\]: TLS TLSv1\.[23], cipher .*certificate CN=localhost.*(verified)" "$T/trace.out" &&
    grep -q "^trace\[resolve\]: resolved localhost: " "$T/trace.out" &&
    grep -q "^trace\[connect\]: connected to " "$T/trace.out" &&
    grep -q "^trace\[auth\]: AUTH mechanism LOGIN" "$T/trace.out" &&
    grep -q "^open-trail: resolve -> connect -> banner -> ehlo -> starttls -> tls -> ehlo -> auth\$" "$T/trace.out" &&
    grep -q "^send1-trail: mail -> rcpt -> data -> dot\$" "$T/trace.out" &&
    ! grep -qF "$user_b64" "$T/trace.out" && ! grep -qF "$pw_b64" "$T/trace.out" &&
    ! grep -qF "VXNlcm5hbWU6" "$T/trace.out" && no_secret_in trace; then
    ok "trace: steps shown, no credentials nor AUTH base64"
else
    fail "trace"
    cat "$T/trace.out"
fi
[ -n "$plain_b64" ] || fail "base64 tool"
stop_provider trace

# Legacy "AUTH=LOGIN" advertisements are understood (and the IP literal is verified against the
# certificate's IP address, with no SNI).
start_provider legacy $(tls_args starttls) $(auth_args LOGIN) --auth-legacy
probe legacy --host 127.0.0.1 --port "$port" --auth auto
if [ $probe_status -eq 0 ] && grep -q "^open-auth: LOGIN\$" "$T/legacy.out" &&
    grep -q "verified=yes" "$T/legacy.out"; then
    ok "legacy AUTH=LOGIN, IP literal verified"
else
    fail "legacy AUTH=LOGIN"
    cat "$T/legacy.out"
fi
stop_provider legacy
pyrec legacy "conns and conns[0]['sni'] is None and conns[0]['auth']" &&
    ok "no SNI for an IP literal" || fail "SNI for an IP literal"

# One authenticated connection carries several messages (RSET-free reuse after success).
start_provider reuse $(tls_args starttls) $(auth_args PLAIN)
probe reuse --host localhost --port "$port" --count 4 --to one@example.com --to two@example.com
stop_provider reuse
if [ $probe_status -eq 0 ] && [ "$(grep -c '^send[0-9]: ok ' "$T/reuse.out")" -eq 4 ] &&
    pyrec reuse "len(conns) == 1 and conns[0]['messages'] == 4 and len(msgs) == 4 and all(m['conn'] == 1 and len(m['rcpt']) == 2 for m in msgs) and sum(1 for c in conns[0]['commands'] if c.startswith('AUTH')) == 1"; then
    ok "4 messages, 2 recipients each, over one connection with one AUTH"
else
    fail "connection reuse"
fi

# After a refused message the session is RSET and still usable for the next one.
start_provider rset $(tls_args starttls) $(auth_args PLAIN) \
    --rule '{"on": "MAIL", "nth": 1, "reply": "553 5.7.1 Sender address rejected"}'
probe rset --host localhost --port "$port" --count 2
stop_provider rset
if result_is rset send1 sender_rejected bounce && result_is rset send2 ok done &&
    pyrec rset "len(conns) == 1 and len(msgs) == 1 and 'RSET' in conns[0]['commands']"; then
    ok "refused message, RSET, next message on the same connection"
else
    fail "RSET and reuse after a refusal"
fi

# tls_verify = false: a self-signed certificate is accepted, reported unverified, and logged.
start_provider noverify $(tls_args tls selfsigned) $(auth_args PLAIN)
probe noverify --host localhost --port "$port" --security tls --no-verify
if [ $probe_status -eq 0 ] && grep -q "verified=no" "$T/noverify.out" &&
    grep -q "NOT verified" "$T/noverify.out" && grep -q "not verified (tls_verify = false)" "$T/noverify.err"; then
    ok "tls_verify = false honoured and reported as unverified"
else
    fail "tls_verify = false"
    cat "$T/noverify.out" "$T/noverify.err"
fi
stop_provider noverify

# TLS 1.3 minimum refuses a TLS 1.2-only server.
start_provider tls12 $(tls_args tls) $(auth_args PLAIN) --tls-max 1.2
probe tls12 --host localhost --port "$port" --security tls --tls-min TLSv1.3
if result_is tls12 open tls_handshake retry; then
    ok "tls_min_version TLSv1.3 refuses a TLS 1.2 server"
else
    fail "tls_min_version TLSv1.3"
fi
probe tls12b --host localhost --port "$port" --security tls
if result_is tls12b open ok done && grep -q "TLSv1.2" "$T/tls12b.out"; then
    ok "TLS 1.2 accepted by default"
else
    fail "TLS 1.2 by default"
fi
stop_provider tls12

# auth none (a relay that authorises by IP address): no AUTH over TLS; never without TLS
start_provider ipstarttls $(tls_args starttls) --require-tls
probe none_starttls --host localhost --port "$port" --security starttls --auth none
start_provider iptls $(tls_args tls)
probe none_tls --host localhost --port "$port" --security tls --auth none
start_provider ipplain $(tls_args plain)
probe none_plain --host localhost --port "$port" --security none --auth none
start_provider ipstrip $(tls_args strip)
probe none_strip --host localhost --port "$port" --security starttls --auth none
for p in ipstarttls iptls ipplain ipstrip; do stop_provider "$p"; done
if result_is none_starttls open ok done && result_is none_starttls send1 ok done &&
    result_is none_tls send1 ok done && ! grep -q '^open-auth:' "$T/none_starttls.out" &&
    pyrec ipstarttls "len(msgs) == 1 and msgs[0]['tls'] and not msgs[0]['auth']" &&
    pyrec iptls "len(msgs) == 1 and msgs[0]['tls'] and not msgs[0]['auth']"; then
    ok "auth none: delivered over STARTTLS and over TLS without any AUTH"
else
    fail "auth none over TLS"
fi
if result_is none_plain open temporary retry &&
    grep -q '^open-text: auth none needs security starttls or tls: nothing was sent' "$T/none_plain.out" &&
    pyrec ipplain "not msgs and not [x for c in conns for x in c['commands'] if x.upper().startswith(('MAIL', 'AUTH'))]"; then
    ok "auth none with security none: refused before a single command"
else
    fail "auth none with security none"
fi
if result_is none_strip open starttls_unavailable && pyrec ipstrip "not msgs and not [x for c in conns for x in c['commands'] if x.upper().startswith(('MAIL', 'AUTH'))]"; then
    ok "auth none where STARTTLS is stripped: starttls_unavailable, no MAIL sent in clear"
else
    fail "auth none where STARTTLS is stripped"
fi

finish
