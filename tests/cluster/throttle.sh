#!/bin/sh
# throttle.sh - a 421 from the provider to one host slows the others (doc/cluster.md, "Shared
# slow-down"): target free (no rate, no max_connections), delivery.retry.min_backoff = 6. mx2
# delivers one message to free first (so its delivery process has had the target in hand);
# mx3 has never had a message for it. The provider answers the second MAIL of its run (mx1's
# message) with 421 4.7.0 and hangs up: mx1 pauses the target for 6 s (to the whole second) and
# key byosmtp:throttle:free appears, "END mx1", with the pause left as its time to live. Then
# mx2 and mx3 each take one message: neither opens a connection to the provider before the
# pause ends (without the shared slow-down both would deliver at once), each logs one line
# naming mx1, and all the messages are delivered afterwards, exactly once, each by its own
# host. No Redis key holds a secret, address or message text.
. "$top_srcdir/tests/cluster/lib.sh"
MIN_BACKOFF=6
MAX_BACKOFF=12
KEY=byosmtp:throttle:free

# HOSTOF: Python (for pyrec) that sets host[CONN], the host that opened connection CONN (the
# first label of its EHLO name)
HOSTOF='
def ehlo(c):
    names = [x.split()[1] for x in c["commands"] if x.upper().startswith("EHLO ")]
    return names[0].split(".")[0] if names else None
host = {c["conn"]: ehlo(c) for c in conns}
'

# send HOST [WORD]: one message to HOST@free.example through HOST's milter, Subject "WORD HOST 1"
# (WORD: "from"); its line in $TOP/HOST.out
send() {
    "$PY" "$TESTLIB/milterclient.py" "unix:$TOP/$1/milter.sock" submit alice@client.example \
        "$1@free.example" 1 "${2:-from} $1" >"$TOP/$1.out" 2>&1
}

# took HOST: HOST took its message for relay
took() { grep -qE '^1 (d|c <[^>]*>) ?$' "$TOP/$1.out"; }

# slowdown_lines HOST: HOST's log lines that say it learned of mx1's throttling
slowdown_lines() {
    grep -c 'cluster: target free paused for [0-9]* s: mx1 was throttled (shared slow-down)' \
        "$TOP/$1/byosmtpd.log"
}

# learned HOST: HOST has logged that line
learned() { [ "$(slowdown_lines "$1")" -ge 1 ]; }

# delivered N: the provider has recorded N messages, and every connection that carried one has
# ended (its record, with its EHLO name, is written when it ends: IDLE s after its last message)
delivered() { pyrec prov "len(msgs) == $1 and sum(c['messages'] for c in conns) == $1" >/dev/null; }

start_redis
setup_hosts 100 --rule '{"on": "MAIL", "nth": 2, "reply": "421 4.7.0 Try again later", "close": true}'
start_hosts

# mx2 has delivered to free before
send mx2 before
check "mx2 took its first message for relay" took mx2
wait_for 15 delivered 1 || die "mx2's first message was not delivered"

# mx1 is throttled
send mx1
check "mx1 took its message for relay" took mx1
t0= pttl=
n=0
while [ "$n" -lt 100 ]; do
    tb=$(now)
    p=$(redis PTTL "$KEY")
    if [ "$p" -gt 0 ] 2>/dev/null; then
        t0=$tb
        pttl=$p
        break
    fi
    sleep 0.1
    n=$((n + 1))
done
[ -n "$t0" ] || die "no key $KEY within 10 s of mx1's message"
# its value is "END HOST": the pause's end in ms on Redis's clock (this machine's), and mx1
value=$(redis GET "$KEY")
expect_eq "${value#* }" mx1 "the throttle key names mx1"
endms=${value%% *}
case $endms in
'' | *[!0-9]*) die "the throttle key's value is '$value', not 'END HOST'" ;;
esac
# mx1's pause: min_backoff (6 s) for a first throttling reply, to the next whole second
[ "$pttl" -gt 5000 ] && [ "$pttl" -le 7000 ] && ok "its time to live is the pause left: $pttl ms of 6 to 7 s" ||
    fail "its time to live is $pttl ms, not the pause left of 6 to 7 s (4.7.0 with min_backoff 6)"
# the key expires when the pause ends: END is t0 + PTTL, plus the time redis-cli took to ask
end=$("$PY" -c 'import sys; print("%.3f" % (int(sys.argv[1]) / 1000))' "$endms")
drift=$("$PY" -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2]) - int(sys.argv[3]) / 1000))' \
    "$end" "$t0" "$pttl")
"$PY" -c 'import sys; sys.exit(not -0.002 <= float(sys.argv[1]) <= 0.5)' "$drift" &&
    ok "the key expires when its pause ends (END - now - PTTL = $drift s)" ||
    fail "the key's END is $drift s off its time to live"
check "the provider answered mx1's MAIL with 421 4.7.0" pyrec prov "$HOSTOF"'
assert any(host[c["conn"]] == "mx1" and any(r.startswith("421 4.7.0") for r in c["replies"])
           for c in conns), conns'

# mx2 and mx3 take one message each while the pause lasts
sleep 1.5
send mx2 &
s2=$!
send mx3 &
s3=$!
wait "$s2"
wait "$s3"
for h in mx2 mx3; do
    check "$h took its message for relay" took "$h"
    wait_for 2 learned "$h" && ok "$h logged the shared slow-down within 3.5 s of the key" ||
        fail "$h: no line 'cluster: target free paused for N s: mx1 was throttled (shared slow-down)'"
done

wait_for 40 delivered 4 && ok "all four messages reached the provider" ||
    fail "$(pyrec prov 'print(len(msgs)) or True') of 4 messages reached the provider"
check "each message exactly once, delivered by the host that took it" pyrec prov "$HOSTOF"'
got = sorted((m["rcpt"][0]["addr"], m["message"].split("Subject: ")[1].split("\r\n")[0],
              host.get(m["conn"])) for m in msgs)
assert got == [("mx1@free.example", "from mx1 1", "mx1"), ("mx2@free.example", "before mx2 1", "mx2"),
               ("mx2@free.example", "from mx2 1", "mx2"), ("mx3@free.example", "from mx3 1", "mx3")], got'
for h in mx2 mx3; do
    what="mx2 (had delivered to free)"
    [ "$h" = mx3 ] && what="mx3 (its first message to free)"
    check "$what opened no connection to the provider while the pause lasted" pyrec prov "$HOSTOF"'
early = [c["start"] - '"$end"' for c in conns
         if host[c["conn"]] == "'"$h"'" and '"$t0"' <= c["start"] < '"$end"' - 0.05]
assert not early, ("seconds before the end of the pause", early)'
    check "$what: its message reached the provider after the pause" pyrec prov '
late = [m["time"] - '"$end"' for m in msgs if "Subject: from '"$h"' 1\r\n" in m["message"]]
assert len(late) == 1 and late[0] >= -0.05, ("seconds after the end of the pause", late)'
done
for h in mx2 mx3; do
    expect_eq "$(slowdown_lines "$h")" 1 "$h logged the shared slow-down once"
    secs=$(sed -n 's/.*cluster: target free paused for \([0-9]*\) s: mx1 was throttled.*/\1/p' \
        "$TOP/$h/byosmtpd.log" | head -1)
    [ -n "$secs" ] && [ "$secs" -ge 3 ] && [ "$secs" -le 7 ] && ok "$h: paused for $secs s of mx1's 6 to 7" ||
        fail "$h: paused for '${secs}' s (the pause left of mx1's 6 to 7 s, learned within about 1 s)"
done
redis_clean relay@free.test mx1@free.example mx2@free.example mx3@free.example
stop_hosts
finish
