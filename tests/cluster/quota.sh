#!/bin/sh
# quota.sh - one monthly quota shared exactly by three hosts (doc/cluster.md, "Quota"): target
# acme with monthly_quota = 100 on mx1, mx2 and mx3, 60 messages to each host over 20
# concurrent sessions, all hosts at once (180 in all). Exactly 100 are taken for relay and
# reach the provider; each host's own count in its store equals its field in Redis, and their
# sum, the Redis total and the total byosmtpctl quota shows on every host are 100, with the
# per-host split. Once the quota is used up, RCPT refuses without calling Redis. No Redis key
# holds a password, ciphertext, address or message byte.
. "$top_srcdir/tests/cluster/lib.sh"
Q=100
start_redis
setup_hosts "$Q"
start_hosts
send_all 60
on top

total=0
for h in $HOSTS; do
    expect_eq "$(grep -c ' error ' "$TOP/$h.out")" 0 "$h: every conversation completed"
    n=$(relayed "$h")
    total=$((total + n))
    expect_eq "$(local_used "$h" acme)" "$n" "$h: its store counts what it relayed ($n)"
    expect_eq "$(redis HGET "byosmtp:quota:acme:$(date -u +%Y%m)" "$h")" "$n" \
        "$h: its field in Redis is its store's count"
    others=$(grep -vcE '^[0-9]+ eom (d|c <r@[a-z]+\.example>)$|^[0-9]+ (rcpt y 451 4\.7\.1|eom y 451 4\.7\.1) ' "$TOP/$h.out")
    expect_eq "$others" 0 "$h: the messages not relayed got 451 (quota.action = tempfail)"
done
expect_eq "$total" "$Q" "exactly $Q relayed by the three hosts together"
late=$(cat "$TOP"/mx?.out | grep -c ' eom y 451 4.7.1')
[ "$late" -ge 1 ] && ok "the shared check at end of message refused $late" ||
    fail "no refusal at end of message: the race between the hosts was not exercised"
expect_eq "$(redis_total acme)" "$Q" "the Redis total is $Q"
for h in $HOSTS; do
    expect_eq "$(cluster_used "$h" acme)" "$Q" "byosmtpctl quota on $h shows the cluster total"
    "$BYOSMTPCTL" -c "$TOP/$h/byosmtp.conf" quota acme >"$TOP/$h.quota"
    for o in $HOSTS; do
        line=$(grep -E "^  host $o +$(local_used "$o" acme)( |\$)" "$TOP/$h.quota")
        [ -n "$line" ] && ok "quota on $h: the line of $o shows its count" ||
            fail "quota on $h: no line for $o with $(local_used "$o" acme): $(cat "$TOP/$h.quota")"
    done
    expect_in "$TOP/$h.quota" "host $h" "quota on $h: marks this host"
done
expect_in "$TOP/mx2.quota" "(this host)" "the split marks this host"

# the quota full: RCPT refuses from the cached total, and never calls Redis: no reservation
# (EVALSHA), give-back (HINCRBY) or read by the milter (HGET) is counted meanwhile
calls() { redis INFO commandstats | grep -E '^cmdstat_(evalsha|eval|hincrby|hget):' | cut -d, -f1; }
sleep 1.5 # every host's cached total has seen the last commit
calls >"$TOP/calls.before"
send_all 20
for h in $HOSTS; do
    expect_eq "$(grep -cv ' rcpt y 451 4.7.1 ' "$TOP/$h.out")" 0 "quota full, $h: 451 at RCPT for all 20"
done
calls >"$TOP/calls.after"
cmp -s "$TOP/calls.before" "$TOP/calls.after" && ok "RCPT made no reservation or read in Redis" ||
    fail "Redis calls at RCPT: $(diff "$TOP/calls.before" "$TOP/calls.after")"
expect_eq "$(redis_total acme)" "$Q" "still $Q in Redis"

# what reached the provider: exactly the 100 relayed, each once
for h in $HOSTS; do
    on "$h"
    wait_for 60 queue_empty || fail "$h: its queue did not empty"
done
on top
check "the provider received exactly $Q messages" pyrec prov "len(msgs) == $Q"

# every key in Redis: no password, ciphertext, address, or message byte
redis_clean r@acme.example relay@acme.test
expect_eq "$(grep -c '^KEY ' "$TOP/dump")" "$(wc -l <"$TOP/keys")" "every key was read"
stop_hosts
finish
