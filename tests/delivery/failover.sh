#!/bin/sh
# Failover (fallback_hosts, byosmtp-targets(5)) through the real byosmtpd and real TLS servers:
#   1. target acme lists its host (a closed port: connection refused), then a provider whose
#      certificate names another host (TLS fails), then a second provider of the same account:
#      each recipient is sent through the second one, its log line names the host used, and a
#      line per failed host says why it was left;
#   2. each host has its own backoff: the next message goes straight to the host that works,
#      without a new connection to the two that failed;
#   3. a 5xx from a host that answered (MAIL refused) is the provider's word, not a failover:
#      the recipients bounce and the fallback host is never contacted.
. "$top_srcdir/tests/delivery/lib.sh"

MIN_BACKOFF=60     # the hosts' own backoff lasts longer than the test
MAX_BACKOFF=120
setup
CLOSED=$(free_port)
provider badtls starttls --cert "$T/certs/wrongname.pem" --key "$T/certs/wrongname.key" \
    --user user-acme --password pw-acme
provider second starttls --user user-acme --password pw-acme
provider beta starttls --rule '{"on": "MAIL", "reply": "553 5.7.1 Sender address rejected: not owned by user"}'
provider betaalt starttls --user user-beta --password pw-beta
target acme starttls "$CLOSED" --fallback-host "127.0.0.1:$badtls_PORT" \
    --fallback-host "127.0.0.1:$second_PORT"
target beta starttls "$beta_PORT" --fallback-host "127.0.0.1:$betaalt_PORT"
check "target show lists the fallback hosts in order" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' target show acme |
    grep -qxF 'fallback_hosts = 127.0.0.1:$badtls_PORT,127.0.0.1:$second_PORT'"
start

# --- 1. refused, TLS failure, then the second host takes it ---
submit "alice@client.example" "ann@acme.example,ben@acme.example" 1 "failover one" || exit 1
for r in ann ben; do
    check "$r@acme.example sent through the second host, named in its line" \
        wait_for 20 log_has "to=<$r@acme.example>, relay=acme\[127.0.0.1\]:$second_PORT, .*status=sent"
done
check "the closed primary is logged as refused, and the next host tried" \
    log_has ": relay=acme\[127.0.0.1\]:$CLOSED failed (connection_refused: .*): trying the next host"
check "the TLS failure of the first fallback host is logged, and the next host tried" \
    log_has ": relay=acme\[127.0.0.1\]:$badtls_PORT failed (tls_certificate: .*): trying the next host"
check "no recipient was deferred or bounced" sh -c "! grep -q 'to=<[a-z]*@acme.example>.*status=\(deferred\|bounced\)' '$LOG'"
check "the second provider has the message, for both recipients" \
    wait_for 10 pyrec second 'len(msgs) == 1 and sorted(r["addr"] for r in msgs[0]["rcpt"]) == ["ann@acme.example", "ben@acme.example"]'
check "the wrong-certificate provider took no message" pyrec badtls 'assert not msgs, msgs'
check "quota: 2 accepted, 2 delivered" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota acme | grep -Eq '^acme +[0-9-]+ +2 +unlimited +2 +0\$'"

# --- 2. each host its own backoff: the next message goes straight to the working host ---
IDLE_WAIT=$(grep -c "relay=acme\[127.0.0.1\]:$CLOSED failed" "$LOG")
submit "alice@client.example" "cat@acme.example" 1 "failover two" || exit 1
check "cat@acme.example sent through the second host" \
    wait_for 20 log_has "to=<cat@acme.example>, relay=acme\[127.0.0.1\]:$second_PORT, .*status=sent"
check "the closed primary was not tried again within its backoff" \
    [ "$(grep -c "relay=acme\[127.0.0.1\]:$CLOSED failed" "$LOG")" -eq "$IDLE_WAIT" ]
check "the wrong-certificate host was not tried again within its backoff" \
    [ "$(grep -c "relay=acme\[127.0.0.1\]:$badtls_PORT failed" "$LOG")" -eq 1 ]
check "the second provider has both messages" wait_for 10 pyrec second 'len(msgs) == 2'

# --- 3. a 5xx from a host that answered: no failover ---
submit "alice@client.example" "dan@beta.example" 1 "no failover" || exit 1
check "dan@beta.example bounced with the primary's reply" \
    wait_for 20 log_has "to=<dan@beta.example>, relay=beta\[127.0.0.1\]:$beta_PORT, .*status=bounced (553 5.7.1"
check "the fallback host of beta was never contacted" sh -c "sleep 1; ! grep -q 'relay=beta.*failed' '$LOG'"
check "beta's fallback provider recorded no connection" pyrec betaalt 'assert not conns and not msgs, (conns, msgs)'
finish
