#!/bin/sh
# quota.sh - a target over its monthly quota gets quota.action at RCPT: tempfail (451 4.7.1),
# reject (550 5.7.1) and passthrough (left to the MTA), each set by a SIGHUP reload of
# byosmtp.conf while byosmtpd runs; the count stays at what was spooled.
. "$top_srcdir/tests/milter/lib.sh"
setup_store
add_target small out@small.test --quota 1
ctl route add @small.example small >/dev/null
start
mt quota.lua -D step=fill
expect_eq "$(quota_used small)" 1 "the first recipient is counted"

# reload - rewrite byosmtp.conf with quota.action = $1, SIGHUP, wait for the log line
n=0
reload() {
    n=$((n + 1))
    write_conf "quota = { action = \"$1\"; };"
    kill -HUP "$BYO_PID"
    for _ in $(seq 1 50); do
        [ "$(grep -c 'reloaded' "$LOG")" -ge "$n" ] && return 0
        sleep 0.1
    done
    fail "no reload after SIGHUP"
}

mt quota.lua -D step=tempfail
expect_log "to=<second@small.example>: target small has used its monthly quota (1 of 1" "tempfail"
expect_log "deferred (quota.action)" "tempfail"
reload reject
mt quota.lua -D step=reject
expect_log "rejected (quota.action)" "reject"
reload passthrough
mt quota.lua -D step=passthrough
expect_log "left to the MTA (quota.action)" "passthrough"
expect_eq "$(quota_used small)" 1 "nothing over the quota was counted"
expect_eq "$(cat "$SPOOL"/queue/* | grep -a -c '^target: small$')" 1 "one copy for small"
# a bad byosmtp.conf on reload keeps the running configuration
echo 'milter = { bogus = 1; };' >"$CONF"
kill -HUP "$BYO_PID"
sleep 0.5
expect_log "keeping the configuration in use" "bad reload"
mt quota.lua -D step=passthrough
finish
