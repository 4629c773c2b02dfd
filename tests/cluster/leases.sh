#!/bin/sh
# leases.sh - connection leases over time and without Redis (doc/cluster.md, "Connections, pace
# and slow-down"), three hosts:
#   - renewal: max_connections = 1, lease_ttl = 6 (renewed every 2 s); mx1's message stalls
#     10 s at the provider, longer than a lease lives. Its lease is still mx1's 8 s into the
#     stall (renewed by the delivery's thread), and mx2's message, submitted meanwhile, opens
#     no connection while mx1's is open: the provider never has 2 at once;
#   - Redis stopped: max_connections = 2, each message 1.5 s at the provider; 3 messages to each
#     host. Each host keeps its share of the 2 (mx1 1, mx2 1, mx3 0: the sum is the limit):
#     the provider never has more than 2 open, mx1 and mx2 deliver theirs, mx3 none; Redis
#     started again (empty): mx3 delivers its 3. Each host logs one line as its delivery side
#     lost Redis. Every message exactly once.
. "$top_srcdir/tests/cluster/lib.sh"
IDLE=2
LEASE_TTL=6

# took FILE: milterclient.py submit's line in FILE says the message was taken for relay
took() { grep -qE '^1 (d|c <[^>]*>) ?$' "$1"; }

# most NAME: the most connections provider NAME had open at once
most() {
    pyrec "$1" '
spans = [(c["start"], c["time"]) for c in conns]
print(max([sum(1 for s, e in spans if s <= t < e) for t, _ in spans] or [0])) or True'
}

start_redis
setup_hosts 100
cluster_provider long --rule '{"on": "DOT", "nth": 1, "stall": 10}'
add_target long "$port" --max-connections 1
cluster_provider shared --rule '{"on": "DOT", "stall": 1.5}'
add_target shared "$port" --max-connections 2
start_hosts

# 1. a lease outlives lease_ttl while its connection is in use
"$PY" "$TESTLIB/milterclient.py" "unix:$TOP/mx1/milter.sock" submit alice@client.example \
    mx1@long.example 1 "long" >"$TOP/long1.out" 2>&1
check "renewal: mx1 took its message for relay" took "$TOP/long1.out"
wait_for 15 grep -q 'stalling' "$TOP/long.log" ||
    fail "renewal: mx1's message did not reach the end of data at the provider"
stalled=$(now)
"$PY" "$TESTLIB/milterclient.py" "unix:$TOP/mx2/milter.sock" submit alice@client.example \
    mx2@long.example 1 "waits" >"$TOP/long2.out" 2>&1
check "renewal: mx2 took its message for relay" took "$TOP/long2.out"
# 8 s into the stall: 2 s more than a lease lives unless renewed
sleep "$("$PY" -c 'import sys, time; print(max(0, 8 - (time.time() - float(sys.argv[1]))))' "$stalled")"
dpid=$(cat "$TOP/mx1/spool/delivery/pid")
# the leases and their expiry, and Redis's clock in ms (a lease past it is expired, even if no
# script has removed it yet)
set -- $(redis ZRANGE byosmtp:conns:long 0 -1 WITHSCORES)
nwords=$# lease=${1:-} score=${2:-0}
set -- $(redis TIME)
redis_ms=$(($1 * 1000 + $2 / 1000))
case $lease:$nwords in
"mx1:$dpid:"*:2) ok "renewal: 8 s into a 10 s stall the one lease is mx1's ($lease)" ;;
*) fail "renewal: 8 s into the stall the leases are not mx1's alone: $(redis ZRANGE byosmtp:conns:long 0 -1 | tr '\n' ' ')" ;;
esac
[ "$score" -gt "$redis_ms" ] && ok "renewal: and it is valid ($((score - redis_ms)) ms left of lease_ttl 6 s)" ||
    fail "renewal: it expired $((redis_ms - score)) ms ago (not renewed)"
wait_for 30 delivered long 2 && ok "renewal: both messages reached the provider" ||
    fail "renewal: $(pyrec long 'print(len(msgs)) or True') of 2 reached the provider"
expect_eq "$(most long)" 1 "renewal: the provider never had 2 connections at once (max_connections 1)"
check "renewal: mx2's message came after mx1's connection ended" pyrec long "$HOSTOF"'
end1 = [c["time"] for c in conns if host[c["conn"]] == "mx1"]
start2 = [c["start"] for c in conns if host[c["conn"]] == "mx2"]
assert len(end1) == 1 and len(start2) == 1 and start2[0] >= end1[0], (end1, start2)'

# 2. Redis stopped: each host keeps its share of max_connections = 2
stop_redis
# unreachable HOST: HOST's delivery side logged that it lost Redis
unreachable() { grep -q 'cluster: delivery: Redis .* is unreachable' "$TOP/$1/byosmtpd.log"; }
for h in $HOSTS; do
    wait_for 10 unreachable "$h" || fail "$h's delivery side did not notice that Redis stopped"
done
send_all 3 %h@shared.example
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 3 "Redis stopped: $h took its 3 for relay"
done
# mine HOST: how many of HOST's messages provider "shared" has
mine() { pyrec shared 'print(sum(1 for m in msgs if m["rcpt"][0]["addr"] == "'"$1"'@shared.example")) or True'; }
two_hosts_done() { [ "$(mine mx1)" = 3 ] && [ "$(mine mx2)" = 3 ]; }
wait_for 30 two_hosts_done && ok "Redis stopped: mx1 and mx2 delivered their 3 (a share of 1 each)" ||
    fail "Redis stopped: mx1 delivered $(mine mx1), mx2 $(mine mx2) of 3"
sleep 3 # mx3's share is 0: nothing of it may come, however long it waits
expect_eq "$(mine mx3)" 0 "Redis stopped: mx3 (a share of 0 of the 2) delivered nothing"
for h in $HOSTS; do
    expect_eq "$(grep -c 'cluster: delivery: Redis .* is unreachable' "$TOP/$h/byosmtpd.log")" 1 \
        "Redis stopped: $h's delivery side logged one line"
done
start_redis
wait_for 40 delivered shared 9 && ok "Redis back (empty): mx3 delivered its 3 too" ||
    fail "Redis back: $(mine mx3) of mx3's 3 reached the provider"
check "shared: each message exactly once, delivered by the host that took it" once shared 3
expect_eq "$(most shared)" 2 "shared: never more than 2 connections open at the provider at once, and 2 were"
for h in $HOSTS; do
    check "Redis back: $h's delivery side said so" grep -q 'cluster: delivery: Redis .* answers again; shared limits resume' "$TOP/$h/byosmtpd.log"
done
redis_clean relay@long.test relay@shared.test long.example shared.example
stop_hosts
finish
