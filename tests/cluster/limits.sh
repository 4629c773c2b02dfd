#!/bin/sh
# limits.sh - a target's rate and max_connections are the cluster's, not each host's
# (doc/cluster.md, "Rate" and "Connection leases"); three hosts, each provider records when each
# connection started and ended, each message's time, and the EHLO name of the host that sent it:
#   - rate = "10/s": 20 messages to each host at once; all 60 delivered once, each by its own
#     host; no window [t, t + 1) at the provider holds more than 10 (three hosts pacing for
#     themselves would deliver 30 in one), and the 60 take 5 s or more;
#   - max_connections = 2, each message 1 s at the provider: 4 messages to each host at once; all
#     12 delivered once; the provider never has more than 2 connections open at once (three
#     hosts capping for themselves would open 6), and does have 2; every lease is given back
#     once the connections close;
#   - max_connections = 1, lease_ttl = 6: mx1 holds the one lease (its message stalls at the
#     provider) and is killed with SIGKILL (byosmtpd and its delivery process); a message to mx2
#     reaches the provider within lease_ttl + 1 s of the kill, and not in the first 2 s (the
#     lease, renewed every lease_ttl / 3 s, was still valid then: the slot was held cluster-wide);
#   - a delivery process started again after a SIGKILL removes the leases its host left (mx3's,
#     with lease_ttl = 60: gone at once, not expired).
. "$top_srcdir/tests/cluster/lib.sh"
IDLE=2
LEASE_TTL=6

# took FILE: milterclient.py submit's line in FILE says the message was taken for relay
took() { grep -qE '^1 (d|c <[^>]*>) ?$' "$1"; }

# held_by HOST WHAT: the one lease of target single is HOST's delivery process's (check WHAT);
# sets $dpid and $member
held_by() {
    dpid=$(cat "$TOP/$1/spool/delivery/pid")
    member=$(redis ZRANGE byosmtp:conns:single 0 -1)
    case $member in
    "$1:$dpid:"*) ok "$2 ($member)" ;;
    *) fail "$2: the leases are '$member', not $1:$dpid:N" ;;
    esac
}

# kill_host HOST: SIGKILL to HOST's byosmtpd and its delivery process $dpid, by PID (its
# supervisor follows byosmtpd); sets $killed; $T etc. are HOST's after it
kill_host() {
    on "$1"
    kill -KILL "$BYO_PID" "$dpid"
    killed=$(now)
    wait "$BYO_PID" 2>/dev/null
    BYO_PID=
    wait_for 5 sh -c "! kill -0 $dpid 2>/dev/null || grep -q '^[^ ]* ([^)]*) Z' /proc/$dpid/stat" ||
        die "$1's delivery process $dpid did not die"
}

start_redis
setup_hosts 100
cluster_provider paced
add_target paced "$port" --rate 10/s
cluster_provider capped --rule '{"on": "DOT", "stall": 1}'
add_target capped "$port" --max-connections 2
# the first and the third end of data of its run stall (the second rule counts only the ends
# of data that the first one let pass)
cluster_provider single --rule '{"on": "DOT", "nth": 1, "stall": 60}' \
    --rule '{"on": "DOT", "nth": 2, "stall": 60}'
add_target single "$port" --max-connections 1
# mx3's leases live 60 s: a lease of it that is gone after its restart was removed, not expired
LEASE_TTL=60
cluster_conf mx3
LEASE_TTL=6
start_hosts

# 1. rate = "10/s" over three hosts
send_all 20 %h@paced.example
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 20 "rate: $h took its 20 for relay"
done
wait_for 45 delivered paced 60 && ok "rate: the 60 reached the provider" ||
    fail "rate: $(pyrec paced 'print(len(msgs)) or True') of 60 reached the provider"
check "rate: each message exactly once, delivered by the host that took it" once paced 20
check "rate: every host delivered" pyrec paced "$HOSTOF"'
assert sorted(set(host[m["conn"]] for m in msgs)) == ["mx1", "mx2", "mx3"]'
# the busiest second at the provider, the span of the 60, and the shortest time 11 took
stats=$(pyrec paced '
t = sorted(m["time"] for m in msgs)
print(max(sum(1 for u in t if s <= u < s + 1) for s in t), "%.3f" % (t[-1] - t[0]),
      "%.3f" % min(b - a for a, b in zip(t, t[10:]))) or True')
set -- $stats
[ "$#" = 3 ] || die "rate: no statistics from the provider's record: $stats"
[ "$1" -le 10 ] && ok "rate 10/s: no window [t, t + 1) at the provider holds more than 10 (at most $1; 11 took $3 s)" ||
    fail "rate 10/s: a window [t, t + 1) at the provider holds $1 messages (11 took $3 s)"
awk -v s="$2" 'BEGIN { exit !(s >= 5) }' && ok "rate 10/s: the pace was used: the 60 took $2 s (5 or more)" ||
    fail "rate 10/s: the 60 took $2 s, less than 5: they were not paced together"
for h in $HOSTS; do
    expect_eq "$(grep -c 'degraded mode' "$TOP/$h/byosmtpd.log")" 0 "rate: $h was never in degraded mode"
done

# 2. max_connections = 2 over three hosts
send_all 4 %h@capped.example
for h in $HOSTS; do
    expect_eq "$(relayed "$h")" 4 "max_connections: $h took its 4 for relay"
done
# two_leases: byosmtp:conns:capped holds 2 leases
two_leases() { [ "$(leases capped)" = 2 ]; }
check "max_connections: 2 leases in Redis while the 12 are delivered" wait_for 10 two_leases
wait_for 50 delivered capped 12 && ok "max_connections: the 12 reached the provider" ||
    fail "max_connections: $(pyrec capped 'print(len(msgs)) or True') of 12 reached the provider"
# idle connections close after IDLE (2 s) and give their leases back
wait_for 15 no_leases capped && ok "max_connections: every lease given back once the connections closed" ||
    fail "max_connections: $(redis ZRANGE byosmtp:conns:capped 0 -1 WITHSCORES | tr '\n' ' ') still held"
check "max_connections: each message exactly once, delivered by the host that took it" once capped 4
check "max_connections 2: never more than 2 connections open at the provider at once, and 2 were" \
    pyrec capped '
spans = [(c["start"], c["time"]) for c in conns]
most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
assert most == 2, (most, sorted(spans))'
check "max_connections: connections from every host" pyrec capped "$HOSTOF"'
assert sorted(set(host.values())) == ["mx1", "mx2", "mx3"], host'

# 3. max_connections = 1: mx1 holds the lease and is killed
"$PY" "$TESTLIB/milterclient.py" "unix:$TOP/mx1/milter.sock" submit alice@client.example \
    mx1@single.example 1 "held" >"$TOP/held.out" 2>&1
check "lease: mx1 took its message for relay" took "$TOP/held.out"
wait_for 15 grep -q 'stalling' "$TOP/single.log" ||
    fail "lease: mx1's message did not reach the end of data at the provider"
expect_eq "$(leases single)" 1 "lease: one lease is held while mx1 delivers"
held_by mx1 "lease: it is mx1's delivery process's"
kill_host mx1
on top
"$PY" "$TESTLIB/milterclient.py" "unix:$TOP/mx2/milter.sock" submit alice@client.example \
    mx2@single.example 1 "after" >"$TOP/after.out" 2>&1
check "lease: mx2 took a message for relay after the kill" took "$TOP/after.out"
# mx2's message, and the record of its connection (written when it ends, IDLE s after)
mx2_done() {
    pyrec single "$HOSTOF"'
assert any(m["rcpt"][0]["addr"] == "mx2@single.example" for m in msgs)
assert any(host[c["conn"]] == "mx2" and c["messages"] for c in conns)' >/dev/null
}
wait_for 20 mx2_done || fail "lease: mx2's message, or its connection, never reached the provider"
after=$(pyrec single '
t = [m["time"] - '"$killed"' for m in msgs if m["rcpt"][0]["addr"] == "mx2@single.example"]
print("%.3f" % t[0] if len(t) == 1 else "none") or True')
awk -v a="$after" -v l="$LEASE_TTL" 'BEGIN { exit !(a != "none" && a >= 2 && a <= l + 1) }' &&
    ok "lease: mx2's message reached the provider $after s after the kill (2 to lease_ttl + 1 = $((LEASE_TTL + 1)))" ||
    fail "lease: mx2's message reached the provider $after s after the kill, not 2 to lease_ttl + 1 = $((LEASE_TTL + 1))"
check "lease: no host opened a connection in the first 2 s after the kill (the slot was still held)" \
    pyrec single "$HOSTOF"'
early = [(c["start"] - '"$killed"', host[c["conn"]]) for c in conns
         if host[c["conn"]] != "mx1" and c["start"] < '"$killed"' + 2]
assert not early, early'
# 4. a restarted delivery process removes the leases its host left: mx3 holds the lease (the
# third message at the provider stalls), is killed with SIGKILL and started again at once
"$PY" "$TESTLIB/milterclient.py" "unix:$TOP/mx3/milter.sock" submit alice@client.example \
    mx3@single.example 1 "restarted" >"$TOP/restarted.out" 2>&1
check "restart: mx3 took its message for relay" took "$TOP/restarted.out"
# stalled2: the provider stalls its second message (the third end of data of its run)
stalled2() { [ "$(grep -c 'stalling' "$TOP/single.log")" -ge 2 ]; }
wait_for 15 stalled2 || fail "restart: mx3's message did not reach the end of data at the provider"
held_by mx3 "restart: mx3's delivery process holds the lease"
kill_host mx3
start_byosmtpd || die "mx3 did not start again: $(tail -5 "$LOG")"
on top
# gone DPID: no lease of mx3's delivery process DPID is left
gone() { ! redis ZRANGE byosmtp:conns:single 0 -1 | grep -q "^mx3:$1:"; }
case $member in
"mx3:$dpid:"*) ;;
*) fail "restart: mx3 held no lease, so none could be removed" ;;
esac
wait_for 5 gone "$dpid" && ok "restart: the lease of mx3's killed delivery process is removed at its start" ||
    fail "restart: $(redis ZRANGE byosmtp:conns:single 0 -1 | tr '\n' ' ') left after the restart"
"$PY" -c 'import sys, time; sys.exit(time.time() - float(sys.argv[1]) >= 40)' "$killed" ||
    fail "restart: too slow to tell a removal from an expiry (the lease lives 60 s)"
redis_clean relay@paced.test relay@capped.test relay@single.test paced.example capped.example single.example
stop_hosts
finish
