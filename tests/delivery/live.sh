#!/bin/sh
# Routes and targets changed with byosmtpctl while byosmtpd runs take effect for the next
# message, without a restart or a reload:
#  - route @live.example -> target t1 (provider t1): bob's message goes to t1;
#  - the route re-pointed to target t2 (provider t2): carol's message goes to t2;
#  - target t2 changed to provider t3 (another port and account): dave's message goes to t3, on
#    a new session (the one kept to provider t2 is not reused).
# Per recipient: the provider that has the message, and its log line; byosmtpd and its delivery
# process are the same processes throughout.
. "$top_srcdir/tests/delivery/lib.sh"

IDLE=30
setup
provider t1 starttls
provider t2 starttls
provider t3 starttls
target t1 starttls "$t1_PORT"
target t2 starttls "$t2_PORT"
ctl route add @live.example t1 >/dev/null || die "route add @live.example"
start
delivery_pid=$(cat "$SPOOL/delivery/pid")

# rcpts_at NAME: the recipients of the messages provider NAME has, in order
rcpts_at() {
    "$PY" -c 'import json, sys
print(" ".join(r["addr"] for l in open(sys.argv[1]) for e in [json.loads(l)]
               if e["event"] == "message" for r in e["rcpt"]))' "$T/$1.jsonl"
}

submit "alice@client.example" "bob@live.example" 1 "before" || exit 1
check "bob: delivered by target t1" \
    wait_for 15 log_has "to=<bob@live.example>, relay=t1\[127.0.0.1\]:$t1_PORT, .*status=sent"
expect_eq "$(rcpts_at t1)" "bob@live.example" "bob: provider t1 has his message"

ctl route rm @live.example >/dev/null && ctl route add @live.example t2 >/dev/null ||
    die "re-pointing the route"
submit "alice@client.example" "carol@live.example" 1 "route changed" || exit 1
check "carol: the changed route sends her message to target t2" \
    wait_for 15 log_has "to=<carol@live.example>, relay=t2\[127.0.0.1\]:$t2_PORT, .*status=sent"
expect_eq "$(rcpts_at t2)" "carol@live.example" "carol: provider t2 has her message"

printf 'pw-t3\n' | ctl target set t2 --port "$t3_PORT" --username user-t3 --password-stdin \
    >/dev/null || die "target set t2"
submit "alice@client.example" "dave@live.example" 1 "target changed" || exit 1
check "dave: the changed target t2 sends his message to provider t3" \
    wait_for 15 log_has "to=<dave@live.example>, relay=t2\[127.0.0.1\]:$t3_PORT, .*status=sent"
expect_eq "$(rcpts_at t3)" "dave@live.example" "dave: provider t3 has his message"
check "dave: as the changed account (user-t3)" pyrec t3 '
assert [(m["auth_user"], m["conn"], m["msg"]) for m in msgs] == [("user-t3", 1, 1)], msgs'
expect_eq "$(rcpts_at t2)" "carol@live.example" "dave: not at provider t2, where t2 was before"
expect_eq "$(rcpts_at t1)" "bob@live.example" "carol, dave: not at provider t1"

check "byosmtpd was not restarted" kill -0 "$BYO_PID"
expect_eq "$(cat "$SPOOL/delivery/pid")" "$delivery_pid" "the delivery process was not restarted"
expect_eq "$(grep -c 'delivery: started' "$LOG")" 1 "one start of the delivery process in the log"
check "the queue is empty" wait_for 10 queue_empty
finish
