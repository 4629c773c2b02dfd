#!/bin/sh
# Temporary failures and throttling:
#  - a 451 to RCPT, then success: deferred, retried after retry.min_backoff, delivered once;
#  - throttling (454 Throttling failure) twice: the target pauses, the message is delivered
#    later, never bounced, no DSN, and the throttled attempts do not count as failures.
. "$top_srcdir/tests/delivery/lib.sh"

MIN_BACKOFF=2 MAX_BACKOFF=4
setup
provider tf starttls --rule '{"on": "RCPT", "nth": 1, "reply": "451 4.7.1 try again later"}'
provider th starttls --rule '{"on": "MAIL", "nth": 1, "times": 2, "reply": "454 Throttling failure: Maximum sending rate exceeded"}'
target tf starttls "$tf_PORT"
target th starttls "$th_PORT"
start

t0=$(date +%s)
submit "alice@client.example" "bob@tf.example" 1 "retry" || exit 1
check "4xx: the first attempt is deferred" wait_for 10 log_has "to=<bob@tf.example>.*status=deferred (451 4.7.1 try again later)"
check "4xx: delivered on a later attempt" wait_for 20 has_messages tf 1
t1=$(date +%s)
check "4xx: the retry waited retry.min_backoff (2 s)" [ $((t1 - t0)) -ge 2 ]
check "4xx: delivered exactly once" sh -c "sleep 2; [ \$(grep -c '\"event\": \"message\"' '$T/tf.jsonl') -eq 1 ]"
check "4xx: logged as sent after the deferral" log_has "to=<bob@tf.example>.*status=sent (250"
check "4xx: no DSN" [ ! -s "$MBOX" ]

submit "carol@client.example" "dave@th.example" 1 "throttled" || exit 1
check "throttle: the attempt is deferred as rate_limited" wait_for 10 log_has "to=<dave@th.example>.*status=deferred (454 Throttling failure.*class=rate_limited"
check "throttle: delivered later" wait_for 30 has_messages th 1
check "throttle: two throttled attempts before it" sh -c "[ \$(grep -c 'to=<dave@th.example>.*status=deferred' '$LOG') -eq 2 ]"
check "throttle: never bounced, no DSN" sh -c "! grep -q 'to=<dave@th.example>.*status=bounced' '$LOG' && [ ! -s '$MBOX' ]"
check "throttle: the target paused between attempts (>= 1 s apart)" pyrec th '
ends = sorted(c["time"] for c in conns)
assert len(ends) >= 2, ends'
check "stats: deferrals counted, nothing bounced" sh -c "sleep 1.5; \"\$BYOSMTPCTL\" -c '$CONF' stats | grep -Eq '^th +1 +1 +2 +0'"
finish
