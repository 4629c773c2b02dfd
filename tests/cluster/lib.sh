# lib.sh - shared set-up for the cluster tests (sourced, POSIX sh; doc/cluster.md): a private
# redis-server on a unix socket with a password (started and stopped by its PID), three byosmtpd
# hosts mx1, mx2, mx3, each with its own configuration, store, spool, milter socket and log
# under $TOP/mxN (the same master key and targets on each, as configuration management would
# push them), and one test provider they all relay to. tests/lib/common.sh works on one host at
# a time: "on mxN" points $T, $CONF, $SOCK, $LOG and $SPOOL at that host. KEEP=1 keeps $TOP.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
need_byosmtpd
need redis-server redis-server
need redis-cli redis-tools
work_dir byosmtp-cluster
chmod 755 "$T"
TOP=$T
HOSTS="mx1 mx2 mx3"
REDIS_SOCK="$TOP/redis.sock"
REDIS_PW="cluster-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
REDIS_PID=
printf '%s\n' "$REDIS_PW" >"$TOP/redis.pw"
chmod 600 "$TOP/redis.pw"
make_certs "$TOP/certs"
pid_mx1= pid_mx2= pid_mx3=

# on HOST: $T, $CONF, $SOCK, $LOG, $SPOOL and $BYO_PID of HOST (mx1, mx2, mx3); "on top" is $TOP
on() {
    eval "pid_${CUR_HOST:-top}=\$BYO_PID"
    CUR_HOST=$1
    if [ "$1" = top ]; then
        T=$TOP
        BYO_PID=
        return
    fi
    T=$TOP/$1
    mkdir -p "$T"
    CONF=$T/byosmtp.conf
    SOCK=unix:$T/milter.sock
    LOG=$T/byosmtpd.log
    SPOOL=$T/spool
    eval "BYO_PID=\${pid_$1:-}"
}
CUR_HOST=top

# now: the time of day, with its fraction
now() { date +%s.%N; }

# redis ARGS...: redis-cli on the test's server
redis() { redis-cli -s "$REDIS_SOCK" --no-auth-warning -a "$REDIS_PW" "$@"; }

# start_redis: a fresh redis-server (nothing kept on disk) on $REDIS_SOCK; sets $REDIS_PID
start_redis() {
    rm -f "$REDIS_SOCK"
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --save '' \
        --appendonly no --dir "$TOP" --requirepass "$REDIS_PW" >>"$TOP/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_for 10 redis PING || die "redis-server did not start: $(tail -5 "$TOP/redis.log")"
}

# stop_redis: SIGCONT (it may be stopped) and SIGTERM by its PID, and wait
stop_redis() {
    [ -n "$REDIS_PID" ] || return 0
    kill -CONT "$REDIS_PID" 2>/dev/null
    stop_pid "$REDIS_PID"
    REDIS_PID=
}

# at_cleanup: every host stopped, then Redis; $T back to $TOP so that it is removed
at_cleanup() {
    for h in $HOSTS; do
        on "$h"
        stop_byosmtpd
    done
    on top
    stop_redis
}

# show_logs: the end of each host's log
show_logs() {
    for h in $HOSTS; do show_tail "$h log" 40 "$TOP/$h/byosmtpd.log"; done
}

# cluster_conf HOST [LINE...]: HOST's configuration: delivery to the test provider, with the
# EHLO name HOST.cluster.test (so that the provider's record tells the hosts apart), and the
# cluster group (sync_interval $SYNC, default 2; degraded_quota $DEGRADED, default share;
# lease_ttl $LEASE_TTL when set), and the line $EXTRA_CONF when set
cluster_conf() {
    on "$1"
    shift
    ln -sfn "$TOP/certs" "$T/certs"
    cc_helo=${HELO_NAME:-}
    HELO_NAME=$CUR_HOST.cluster.test
    delivery_conf /bin/true \
        "cluster = { enabled = true; redis = \"unix:$REDIS_SOCK\"; password_file = \"$TOP/redis.pw\";" \
        "  host = \"$CUR_HOST\"; hosts = [ \"mx1\", \"mx2\", \"mx3\" ]; timeout_ms = ${TIMEOUT_MS:-200};" \
        "  sync_interval = ${SYNC:-2};${LEASE_TTL:+ lease_ttl = $LEASE_TTL;} degraded_quota = \"${DEGRADED:-share}\"; };" \
        ${EXTRA_CONF:+"$EXTRA_CONF"} "$@"
    HELO_NAME=$cc_helo
    # the same configuration without the cluster group: byosmtpctl's view of the host's own store
    sed '/^cluster = /,/degraded_quota/d' "$CONF" >"$T/local.conf"
}

# local_used HOST TARGET: HOST's own count of TARGET this month, from its store alone
local_used() {
    "$BYOSMTPCTL" -c "$TOP/$1/local.conf" quota "$2" | awk -v t="$2" '$1==t {print $3; exit}'
}

# cluster_used HOST TARGET: the USED column of byosmtpctl quota on HOST (the cluster total)
cluster_used() {
    "$BYOSMTPCTL" -c "$TOP/$1/byosmtp.conf" quota "$2" | awk -v t="$2" '$1==t {print $3; exit}'
}

# redis_total TARGET: the sum of the fields of TARGET's hash of this month in Redis
redis_total() {
    redis HVALS "byosmtp:quota:$1:$(date -u +%Y%m)" | awk '{s += $1} END {print s + 0}'
}

# cluster_provider NAME [ARG...]: a test provider NAME (STARTTLS, PLAIN and LOGIN for user-acme
# with password pw-acme) with ARGs, e.g. --rule JSON; its record is $TOP/NAME.jsonl; sets $port
cluster_provider() {
    on top
    cp_name=$1
    shift
    start_provider "$cp_name" --mode starttls --cert "$TOP/certs/good.pem" --key "$TOP/certs/good.key" \
        --auth PLAIN,LOGIN --user user-acme --password pw-acme "$@"
}

# add_target NAME PORT [OPTION...]: on every host, target NAME relaying to 127.0.0.1:PORT
# (STARTTLS, user-acme) with the byosmtpctl target add OPTIONs, and the route @NAME.example
add_target() {
    at_name=$1
    at_port=$2
    shift 2
    for h in $HOSTS; do
        on "$h"
        printf 'pw-acme\n' | ctl target add "$at_name" --host 127.0.0.1 --port "$at_port" \
            --security starttls --username user-acme --password-stdin \
            --from "relay@$at_name.test" "$@" >/dev/null || die "target add $at_name on $h"
        ctl route add "@$at_name.example" "$at_name" >/dev/null || die "route add $at_name on $h"
    done
    on top
}

# setup_hosts QUOTA [ARG...]: provider "prov" (PLAIN; with the provider ARGs, e.g. --rule JSON),
# the same configuration and key on each host, target "acme" (monthly quota QUOTA, route
# @acme.example) and a target "free" without quota, both relaying to prov
setup_hosts() {
    sh_quota=$1
    shift
    cluster_provider prov "$@"
    PROV_PORT=$port
    for h in $HOSTS; do
        cluster_conf "$h"
        if [ "$h" = mx1 ]; then
            ctl key generate >/dev/null || die "key generate"
        else
            cp "$TOP/mx1/master.key" "$T/master.key"
        fi
    done
    add_target acme "$PROV_PORT" --quota "$sh_quota"
    add_target free "$PROV_PORT"
}

# start_hosts: byosmtpd on every host; each has published its counts (its presence key)
start_hosts() {
    for h in $HOSTS; do
        on "$h"
        start_byosmtpd || die "byosmtpd on $h did not start: $(tail -5 "$LOG")"
    done
    on top
    for h in $HOSTS; do
        wait_for 10 sh -c "[ \"\$(redis-cli -s '$REDIS_SOCK' --no-auth-warning -a '$REDIS_PW' EXISTS byosmtp:host:$h)\" = 1 ]" ||
            die "$h did not publish its counts"
    done
}

# stop_hosts: SIGTERM to every host still running (one the test killed has no $BYO_PID), exit
# status 0 each
stop_hosts() {
    for h in $HOSTS; do
        on "$h"
        [ -n "$BYO_PID" ] || continue
        stop_byosmtpd
        expect_eq "$BYO_RC" 0 "$h: exit status after SIGTERM"
    done
    on top
}

# send_all N [RCPT]: N messages over 20 sessions at once to each host, all hosts at once, to
# RCPT (default r@acme.example; "%h" in it is the host's name, e.g. %h@acme.example), each
# host's sessions in lockstep (every round's RCPT checks before its commits); host H's lines in
# $TOP/H.out, its slowest reply in $TOP/H.err
send_all() {
    for h in $HOSTS; do
        sa_rcpt=$(printf '%s\n' "${2:-r@acme.example}" | sed "s/%h/$h/g")
        MILTERCLIENT_SLOWEST=1 "$PY" "$TESTLIB/milterclient.py" "unix:$TOP/$h/milter.sock" \
            sessions 20 "$1" alice@client.example "$sa_rcpt" lockstep \
            >"$TOP/$h.out" 2>"$TOP/$h.err" &
        eval "send_$h=\$!"
    done
    for h in $HOSTS; do
        eval "wait \$send_$h"
    done
}

# relayed HOST: how many of HOST's last messages were taken for relay (the recipient removed)
relayed() { grep -cE '^[0-9]+ eom (d|c <[a-z0-9]+@[a-z]+\.example>)$' "$TOP/$1.out"; }

# slowest HOST: the longest reply of HOST in the last send_all, in ms
slowest() { sed -n 's/^slowest reply: \([0-9]*\) ms$/\1/p' "$TOP/$1.err"; }

# redis_dump FILE: every key in Redis, a line "KEY NAME" and then its value(s), into FILE (the
# names in $TOP/keys)
redis_dump() {
    redis --scan >"$TOP/keys"
    : >"$1"
    while read -r k; do
        echo "KEY $k" >>"$1"
        case $(redis TYPE "$k") in
        hash) redis HGETALL "$k" >>"$1" ;;
        string) redis GET "$k" >>"$1" ;;
        zset) redis ZRANGE "$k" 0 -1 WITHSCORES >>"$1" ;;
        set) redis SMEMBERS "$k" >>"$1" ;;
        *) redis DUMP "$k" >>"$1" ;;
        esac
    done <"$TOP/keys"
}

# redis_clean [TEXT...]: every key in Redis read (redis_dump $TOP/dump), and one check each that
# no key holds the password, a ciphertext, the user name, the sender, a message's text, or TEXT
redis_clean() {
    redis_dump "$TOP/dump"
    [ -s "$TOP/keys" ] || fail "no key in Redis"
    for rc_secret in pw-acme enc:v1: user-acme alice@client.example "This is message" \
        "Hello, this is" Subject "$@"; do
        expect_not_in "$TOP/dump" "$rc_secret" "no '$rc_secret' in any Redis key"
    done
}

# HOSTOF: Python (for pyrec) that sets host[CONN], the host that opened connection CONN (the
# first label of its EHLO name), and subject(m), the Subject of message event m
HOSTOF='
def ehlo(c):
    names = [x.split()[1] for x in c["commands"] if x.upper().startswith("EHLO ")]
    return names[0].split(".")[0] if names else None
host = {c["conn"]: ehlo(c) for c in conns}
def subject(m):
    return m["message"].split("Subject: ")[1].split("\r\n")[0]
'

# delivered NAME N: provider NAME has recorded N messages, and every connection that carried
# one has ended (its record, with its EHLO name, is written when it ends)
delivered() {
    pyrec "$1" "len(msgs) == $2 and sum(c['messages'] for c in conns) == $2" >/dev/null
}

# once NAME N: each host's messages 1..N to HOST@NAME.example delivered exactly once, each over
# a connection of the host that took it
once() {
    pyrec "$1" "$HOSTOF"'
got = sorted((m["rcpt"][0]["addr"], subject(m)) for m in msgs)
want = sorted(("%s@'"$1"'.example" % h, "message %d" % n) for h in ("mx1", "mx2", "mx3")
              for n in range(1, '"$2"' + 1))
assert got == want, got
wrong = [(m["conn"], host.get(m["conn"]), m["rcpt"][0]["addr"]) for m in msgs
         if host.get(m["conn"]) != m["rcpt"][0]["addr"].split("@")[0]]
assert not wrong, wrong'
}

# leases TARGET: how many leases byosmtp:conns:TARGET holds
leases() { redis ZCARD "byosmtp:conns:$1"; }

# no_leases TARGET: none
no_leases() { [ "$(leases "$1")" = 0 ]; }
