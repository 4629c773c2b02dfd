#!/bin/sh
# degraded.sh - Redis hung (SIGSTOP), back, restarted empty, and stopped (doc/cluster.md, "When
# Redis is unreachable"), with three hosts sharing target acme's monthly_quota of 100:
#   - 30 relayed while Redis answers, then Redis hung: every milter reply comes within
#     2 x timeout_ms, each host takes exactly its share (100 - 30) / 3 = 23 and no more, the
#     others get 451, and each host logs one line as it becomes degraded;
#   - Redis back: each host logs one line, republishes, and the Redis total is the sum of the
#     stores' counts (99);
#   - Redis restarted empty: the totals are rebuilt from the stores within 2 x sync_interval,
#     and the cluster is exact again: 1 more relayed of 180 tries, 100 in all;
#   - with degraded_quota = "tempfail" and Redis stopped: 451 for acme (which has a quota),
#     every message to target free (no quota) relayed, replies within 2 x timeout_ms.
# Nothing is lost: every message is relayed and delivered, or refused with 451.
. "$top_srcdir/tests/cluster/lib.sh"
Q=100
SYNC=3
TIMEOUT_MS=250
LIMIT_MS=$((2 * TIMEOUT_MS))
month=$(date -u +%Y%m)

# phase WHAT: the checks of one send_all: no conversation broke, every reply within LIMIT_MS,
# every message relayed or answered 451
phase() {
    for h in $HOSTS; do
        expect_eq "$(grep -c ' error ' "$TOP/$h.out")" 0 "$1, $h: every conversation completed"
        ms=$(slowest "$h")
        [ -n "$ms" ] && [ "$ms" -le "$LIMIT_MS" ] && ok "$1, $h: slowest reply $ms ms" ||
            fail "$1, $h: slowest reply ${ms:-?} ms (at most $LIMIT_MS)"
        expect_eq "$(grep -vcE '^[0-9]+ eom (d|c <r@[a-z]+\.example>)$|^[0-9]+ (rcpt|eom) y 451 ' "$TOP/$h.out")" 0 \
            "$1, $h: each message relayed or answered 451"
    done
}

# sum_local TARGET: the sum of the hosts' own counts
sum_local() {
    s=0
    for h in $HOSTS; do s=$((s + $(local_used "$h" "$1"))); done
    echo "$s"
}

# total_is N: the Redis total of acme is N
total_is() { [ "$(redis_total acme)" = "$1" ]; }

start_redis
setup_hosts "$Q"
start_hosts

# 1. Redis answers: 10 to each host
send_all 10
phase "Redis up"
expect_eq "$(redis_total acme)" 30 "30 relayed while Redis answers"
sleep 2.5 # every host's cached total has seen the 30

# 2. Redis hung
kill -STOP "$REDIS_PID"
send_all 60
phase "Redis hung"
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 23 "Redis hung, $h: exactly its share (100 - 30) / 3 = 23"
    expect_eq "$(grep -c 'degraded mode (cluster.degraded_quota = share)' "$TOP/$h/byosmtpd.log")" 1 \
        "$h: one line as it became degraded"
done
expect_eq "$(sum_local acme)" 99 "the stores hold 99: within the quota while all are cut off"

# 3. Redis back
kill -CONT "$REDIS_PID"
wait_for $((2 * SYNC + 6)) total_is 99 && ok "Redis back: the total is the stores' 99" ||
    fail "Redis back: the Redis total is $(redis_total acme), not 99"
for h in $HOSTS; do
    wait_for 10 grep -q 'answers again; degraded mode ends' "$TOP/$h/byosmtpd.log"
    expect_eq "$(grep -c 'answers again; degraded mode ends' "$TOP/$h/byosmtpd.log")" 1 \
        "$h: one line as Redis answered again"
    expect_eq "$(redis HGET "byosmtp:quota:acme:$month" "$h")" "$(local_used "$h" acme)" \
        "Redis back, $h: its field is its store's count"
done

# 4. Redis restarted empty
stop_redis
start_redis
expect_eq "$(redis --scan | wc -l)" 0 "Redis restarted empty"
wait_for $((2 * SYNC)) total_is 99 && ok "restarted empty: totals rebuilt within 2 x sync_interval" ||
    fail "restarted empty: the Redis total is $(redis_total acme) after $((2 * SYNC)) s, not 99"
sleep 2 # every host sees every host's field again
send_all 60
phase "after the restart"
expect_eq "$(sum_local acme)" "$Q" "exact again after the restart: $Q in the stores"
expect_eq "$(redis_total acme)" "$Q" "and $Q in Redis"
expect_eq "$(( $(relayed mx1) + $(relayed mx2) + $(relayed mx3) ))" 1 "one more relayed, of 180"

# every relayed message reached the provider
for h in $HOSTS; do
    on "$h"
    wait_for 60 queue_empty || fail "$h: its queue did not empty"
done
on top
check "the provider received all $Q relayed" pyrec prov "len(msgs) == $Q"

# 5. degraded_quota = "tempfail", Redis stopped
stop_hosts
DEGRADED=tempfail
for h in $HOSTS; do cluster_conf "$h"; done
on top
start_hosts
stop_redis
send_all 20
phase "tempfail, Redis stopped, acme"
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 0 "tempfail, $h: nothing relayed for acme (451)"
done
send_all 20 r@free.example
phase "tempfail, Redis stopped, free"
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 20 "tempfail, $h: every message to free (no quota) relayed"
done
for h in $HOSTS; do
    on "$h"
    wait_for 60 queue_empty || fail "$h: its queue did not empty"
done
on top
check "the provider received the 60 for free as well" pyrec prov "len(msgs) == $Q + 60"
stop_hosts
finish
