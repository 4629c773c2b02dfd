#!/bin/sh
# Metrics through the real byosmtpd: /metrics on metrics.listen scraped with curl and the
# textfile of metrics.textfile, both checked with promtool; per target the outcome counters
# (5 sent and 1 bounced of target mt, by class), the latency histogram, the queue (a copy of
# target slow deferred: 1 in the queue, its age), the open connection kept for reuse, the
# quota used and limit; a webhook that cannot be reached with events.queue_limit = 1: the
# events beyond the queue are dropped and counted, and delivery goes on. After a restart of
# byosmtpd the counters are still there, in /metrics and in byosmtpctl stats.
. "$top_srcdir/tests/delivery/lib.sh"

need promtool "the prometheus package"
need curl "curl"

IDLE=60
LIFETIME=3600
MPORT=$(free_port)
SECRET="$T/webhook.key"
echo "metrics-test-key" >"$SECRET"
chmod 600 "$SECRET"
setup "metrics = { listen = \"inet:$MPORT@127.0.0.1\"; textfile = \"$T/byosmtp.prom\"; };" \
    "events = { webhook_url = \"https://127.0.0.1:1/unreachable\"; webhook_secret_file = \"$SECRET\"; queue_limit = 1; };"
provider mt starttls --rule '{"on": "RCPT", "rcpt": "bad@mt.example", "reply": "550 5.1.1 No such user"}'
provider slow starttls --rule '{"on": "DOT", "reply": "451 4.3.0 Try again later"}'
target mt starttls "$mt_PORT" --quota 100
target slow starttls "$slow_PORT"
start

submit "alice@client.example" "a@mt.example,b@mt.example,c@mt.example,d@mt.example,e@mt.example,bad@mt.example" 1 "m" || exit 1
submit "alice@client.example" "x@slow.example" 1 "s" || exit 1
check "mt: 5 recipients delivered, bad@ bounced" wait_for 20 sh -c \
    "[ \$(grep -c 'mt.example>.*status=sent' '$LOG') = 5 ] && grep -q 'to=<bad@mt.example>.*status=bounced' '$LOG'"
check "slow: deferred" wait_for 20 log_has "to=<x@slow.example>.*status=deferred"

# scrape: /metrics into $T/scrape
scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics" -o "$T/scrape"; }
# metric LINE: the scrape has exactly LINE (name{labels} value)
metric() { scrape && grep -qxF -- "$1" "$T/scrape"; }

check "sent counter: 5 for mt" wait_for 20 metric 'byosmtp_recipients_total{target="mt",outcome="sent"} 5'
check "bounced counter: 1 for mt" metric 'byosmtp_recipients_total{target="mt",outcome="bounced"} 1'
check "by class: bounced recipient_rejected 1" \
    metric 'byosmtp_recipient_failures_total{target="mt",outcome="bounced",class="recipient_rejected"} 1'
check "accepted: 6 for mt" metric 'byosmtp_accepted_total{target="mt"} 6'
check "fallback and expired are there, at 0" sh -c \
    "grep -qxF 'byosmtp_recipients_total{target=\"mt\",outcome=\"fallback\"} 0' '$T/scrape' &&
     grep -qxF 'byosmtp_recipients_total{target=\"mt\",outcome=\"expired\"} 0' '$T/scrape'"
check "deferred by class for slow" sh -c "scrape() { curl -sf 'http://127.0.0.1:$MPORT/metrics'; }; scrape |
    grep -Eq '^byosmtp_recipient_failures_total\{target=\"slow\",outcome=\"deferred\",class=\"temporary\"\} [1-9]'"
check "latency histogram: 6 final outcomes of mt, +Inf bucket and count agree" sh -c \
    "grep -qxF 'byosmtp_delivery_latency_seconds_count{target=\"mt\"} 6' '$T/scrape' &&
     grep -qxF 'byosmtp_delivery_latency_seconds_bucket{target=\"mt\",le=\"+Inf\"} 6' '$T/scrape' &&
     grep -qxF 'byosmtp_delivery_latency_seconds_bucket{target=\"mt\",le=\"86400\"} 6' '$T/scrape'"
check "queue: 1 copy of slow, its age" sh -c \
    "grep -qxF 'byosmtp_queue_messages{target=\"slow\"} 1' '$T/scrape' &&
     grep -qxF 'byosmtp_queue_messages{target=\"mt\"} 0' '$T/scrape' &&
     grep -Eq '^byosmtp_queue_oldest_age_seconds\{target=\"slow\"\} [0-9.e+-]+$' '$T/scrape'"
check "connections: the kept session to mt is open" wait_for 10 metric 'byosmtp_connections_open{target="mt"} 1'
check "quota: used 6 of 100 for mt" sh -c \
    "grep -qxF 'byosmtp_quota_used{target=\"mt\"} 6' '$T/scrape' &&
     grep -qxF 'byosmtp_quota_limit{target=\"mt\"} 100' '$T/scrape'"
check "events: beyond queue_limit dropped and counted, delivery not held up" sh -c \
    "scrape() { curl -sf 'http://127.0.0.1:$MPORT/metrics'; }; scrape |
    grep -Eq '^byosmtp_events_dropped_total\{sink=\"webhook\"\} ([3-9]|[1-9][0-9]+)$'"
check "promtool check metrics: the scrape" sh -c "promtool check metrics <'$T/scrape'"
check "Content-Type of the exposition format" sh -c \
    "curl -sf -D - -o /dev/null 'http://127.0.0.1:$MPORT/metrics' | grep -qi '^Content-Type: text/plain; version=0.0.4'"
check "another path: 404" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$MPORT/other')\" = 404 ]"
check "POST: 405" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -d x 'http://127.0.0.1:$MPORT/metrics')\" = 405 ]"
check "textfile: written, with the sent count" wait_for 15 grep -qxF \
    'byosmtp_recipients_total{target="mt",outcome="sent"} 5' "$T/byosmtp.prom"
check "promtool check metrics: the textfile" sh -c "promtool check metrics <'$T/byosmtp.prom'"
check "stats: the same counters, expired and fallback columns" sh -c \
    "\"\$BYOSMTPCTL\" -c '$CONF' stats | grep -Eq '^mt +6 +5 +0 +1 +0 +0\$'"
check "stats: by class" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' stats | grep -qx 'mt bounced recipient_rejected: 1'"

# restart: the counters stay
stop
check "textfile at stop: the sent count" grep -qxF \
    'byosmtp_recipients_total{target="mt",outcome="sent"} 5' "$T/byosmtp.prom"
start
check "after a restart: the sent counter is still 5" wait_for 10 metric \
    'byosmtp_recipients_total{target="mt",outcome="sent"} 5'
check "after a restart: the histogram too" metric 'byosmtp_delivery_latency_seconds_count{target="mt"} 6'
check "after a restart: byosmtpctl stats too" sh -c \
    "\"\$BYOSMTPCTL\" -c '$CONF' stats | grep -Eq '^mt +6 +5 +0 +1 +0 +0\$'"
submit "alice@client.example" "f@mt.example" 1 "n" || exit 1
check "after a restart: counting goes on from there" wait_for 20 metric \
    'byosmtp_recipients_total{target="mt",outcome="sent"} 6'
finish
