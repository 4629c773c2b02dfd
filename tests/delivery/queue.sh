#!/bin/sh
# byosmtpctl queue on deferred messages, with byosmtpd running and stopped: list (id, target,
# age, recipients, last error class), show, flush ID (retried at once, delivered), flush
# --target, delete ID (removed, never sent); then stats, which count across the restart.
. "$top_srcdir/tests/delivery/lib.sh"

MIN_BACKOFF=300 MAX_BACKOFF=600
setup
# the first two RCPTs are deferred; later ones succeed
provider qa starttls --rule '{"on": "RCPT", "nth": 1, "times": 2, "reply": "451 4.2.0 not now"}'
target qa starttls "$qa_PORT"
start

submit "alice@client.example" "one@qa.example" 1 "first" || exit 1
submit "alice@client.example" "two@qa.example" 1 "second" || exit 1
check "both deferred" wait_for 10 sh -c "[ \$(grep -c 'status=deferred (451 4.2.0' '$LOG') -eq 2 ]"
ctl queue list >"$T/list.out" 2>&1
check "list: two messages, target, recipients, last error class" sh -c "grep -q '2 messages in the queue' '$T/list.out' && [ \$(grep -c ' qa .* 1/1 *temporary' '$T/list.out') -eq 2 ]"
ID1=$(grep -o '06[0-9A-F]*_QTEST1: to=<one@' "$LOG" | head -1 | cut -d_ -f1)
ID2=$(grep -o '06[0-9A-F]*_QTEST1: to=<two@' "$LOG" | head -1 | cut -d_ -f1)
check "ids found in the log" sh -c "[ -n \"$ID1\" ] && [ -n \"$ID2\" ]"
ctl queue show "$ID1" >"$T/show.out" 2>&1
check "show: envelope, state and headers" sh -c "grep -q '^target: qa' '$T/show.out' && grep -q '^recipient: <one@qa.example> pending' '$T/show.out' && grep -q '^last_error: temporary: 451 4.2.0 not now' '$T/show.out' && grep -q '^attempts: 1' '$T/show.out' && grep -q '^Subject: first 1' '$T/show.out'"
check "show: an unknown id is an error" sh -c "! \"\$BYOSMTPCTL\" -c '$CONF' queue show 06000000000000000000 2>/dev/null"
check "flush ID: accepted by the running daemon" ctl queue flush "$ID1"
check "flush ID: delivered at once" wait_for 10 has_messages qa 1
check "flush ID: only that one" pyrec qa 'assert [r["addr"] for m in msgs for r in m["rcpt"]] == ["one@qa.example"]'
check "delete ID: accepted" ctl queue delete "$ID2"
check "delete ID: gone from the queue" wait_for 5 queue_empty
check "delete ID: logged" log_has "$ID2: deleted from the queue"
check "delete ID: never sent" sh -c "sleep 1; [ \$(grep -c '\"event\": \"message\"' '$T/qa.jsonl') -eq 1 ]"

# stopped daemon: flush edits the state file, and the next start delivers
stop
start
submit "alice@client.example" "three@qa.example" 1 "third" || exit 1
check "third delivered (the provider's deferrals are used up)" wait_for 10 has_messages qa 2
check "flush --target with nothing queued works" ctl queue flush --target qa
check "usage errors exit 2" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue frobnicate >/dev/null 2>&1; [ \$? -eq 2 ]"
check "stats lists qa, counted across the restart: 3 accepted, 2 delivered, 2 deferrals" sh -c "sleep 1.5; \"\$BYOSMTPCTL\" -c '$CONF' stats | grep -Eq '^qa +3 +2 +2 +0 +0 +0$'"
finish
