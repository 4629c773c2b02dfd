#!/bin/sh
# quota-race.sh - the monthly quota is exact under concurrency: 80 messages over 8 connections
# open at once (tests/lib/milterclient.py sessions, in lockstep: every round's RCPT checks come
# before its commits, so the check at end of message is what holds the limit) to a target with
# monthly_quota = 50, for each quota.action. Exactly 50 are relayed, spooled and counted; the
# others get quota.action's answer at RCPT or at end of message, and nothing is answered as
# relayed without its copy in the queue. Then reject with a second, unrouted recipient: the
# message goes back to the MTA's client as a whole (451), and its retry meets RCPT's 550.
. "$top_srcdir/tests/milter/lib.sh"
N=${RACE_MESSAGES:-80}
S=${RACE_SESSIONS:-8}
Q=50
RELAYED='^[0-9]+ eom (d|c <r@[a-z]+\.example>)$'
# the replies at end of message to ENQUEUE_DEFERRED and ENQUEUE_REJECTED (doc/design.md,
# "Quota")
EOM_DEFER='451 4\.7\.1'
EOM_REJECT='550 5\.7\.1'
ctl key generate >/dev/null || die "key generate"

# race ACTION TARGET RCPTS: a fresh target TARGET (quota $Q, route @TARGET.example), byosmtpd
# started with quota.action = ACTION, $N messages to RCPTS over $S sessions into $T/ACTION.out;
# the checks every action shares
race() {
    add_target "$2" "out@$2.test" --quota "$Q"
    ctl route add "@$2.example" "$2" >/dev/null || die "route add $2"
    write_conf "quota = { action = \"$1\"; };"
    start
    "$PY" "$TESTLIB/milterclient.py" "$SOCK" sessions "$S" "$N" alice@client.example "$3" \
        >"$T/$1.out" 2>"$T/$1.err" || fail "milterclient sessions ($1): $(cat "$T/$1.err")"
    stop
    expect_eq "$(grep -c ' error ' "$T/$1.out")" 0 "$1: every conversation completed"
    expect_eq "$(quota_used "$2")" "$Q" "$1: exactly $Q recipients counted"
    copies=$(grep -l "^target: $2\$" "$SPOOL"/queue/* 2>/dev/null | wc -l)
    expect_eq "$copies" "$Q" "$1: exactly $Q copies spooled"
    expect_eq "$(incoming_files)" "" "$1: nothing left in incoming/"
    # relayed (discarded from the MTA, or the recipient removed) exactly when its copy is queued
    grep -E "$RELAYED" "$T/$1.out" | cut -d' ' -f1 | sort -n >"$T/$1.relayed"
    grep -h '^queue-id: QS' $(grep -l "^target: $2\$" "$SPOOL"/queue/*) | sed 's/^queue-id: QS//' |
        sort -n >"$T/$1.spooled"
    cmp -s "$T/$1.relayed" "$T/$1.spooled" && ok "$1: relayed exactly the spooled messages" ||
        fail "$1: relayed and spooled differ: $(diff "$T/$1.relayed" "$T/$1.spooled" | head -5)"
    late=$(grep -c "to=<r@$2.example>: target $2 has used its monthly quota at end of message" "$LOG")
    [ "$late" -ge 1 ] && ok "$1: the commit refused $late" ||
        fail "$1: no refusal at end of message: the race was not exercised"
}

# others ACTION PATTERN WHAT: every message not relayed matches PATTERN (a grep -E)
others() {
    expect_eq "$(grep -vE "$RELAYED" "$T/$1.out" | grep -cvE "$2")" 0 "$1: $3"
    expect_eq "$(grep -cE "$2" "$T/$1.out")" $((N - Q)) "$1: $((N - Q)) answered so"
}

race tempfail tf r@tf.example
others tempfail "^[0-9]+ (rcpt y 451 4\\.7\\.1|eom y $EOM_DEFER) " "451 for the others"

race passthrough pt r@pt.example
# over quota at RCPT: nothing routed, DATA accepts it untouched; at the commit: kept, not removed
others passthrough '^[0-9]+ (data a|eom c)$' "the others left to the MTA"

race reject rj r@rj.example
others reject "^[0-9]+ (rcpt y 550 5\\.7\\.1|eom y $EOM_REJECT) " "550 for the others"
# what end of message refused: the client's retry gets 550 at RCPT
grep -E '^[0-9]+ eom y' "$T/reject.out" | cut -d' ' -f1 >"$T/retry"
write_conf 'quota = { action = "reject"; };'
start
"$PY" "$TESTLIB/milterclient.py" "$SOCK" sessions 1 "$(wc -l <"$T/retry")" alice@client.example \
    r@rj.example >"$T/retry.out" 2>&1
expect_eq "$(grep -cv ' rcpt y 550 5.7.1 ' "$T/retry.out")" 0 "reject: the retries get 550 at RCPT"

# reject, a message with a recipient the MTA keeps: refused as a whole with 451, never 550
add_target mx "out@mx.test" --quota "$Q"
ctl route add "@mx.example" mx >/dev/null || die "route add mx"
"$PY" "$TESTLIB/milterclient.py" "$SOCK" sessions "$S" "$N" alice@client.example \
    r@mx.example,zed@elsewhere.example >"$T/mixed.out" 2>&1
stop
expect_eq "$(quota_used mx)" "$Q" "mixed: exactly $Q counted"
expect_eq "$(grep -c ' eom c <r@mx.example>$' "$T/mixed.out")" "$Q" "mixed: $Q relayed"
others mixed "^[0-9]+ (rcpt y 550 5\\.7\\.1|eom y $EOM_DEFER) " "550 at RCPT, 451 at the end"
finish
