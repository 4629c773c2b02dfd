#!/bin/sh
# Delivery events through the real byosmtpd: one message to three recipients of one target,
# one sent, one refused for good (550 to its RCPT: bounced), one refused for now (450: deferred,
# then expired after delivery.retry.max_lifetime). Per recipient and outcome, an event reaches
# both sinks: events.command (a long-running command that appends its standard input to a file)
# and events.webhook_url (a loopback HTTPS endpoint, tests/lib/webhook.py, with the test CA of
# delivery.tls_ca_file, that checks the HMAC-SHA256 signature and answers 500 to the first POST:
# the same event comes again and is taken). Every field of doc/delivery-process.md ("Events")
# is there; no password or message content is. Then the command is killed: it is started again
# and the next message's event reaches it.
. "$top_srcdir/tests/delivery/lib.sh"

LIFETIME=4
MIN_BACKOFF=1
MAX_BACKOFF=1
SECRET="$T/webhook.key"
printf 'k3y-0f-the-test-%s\n' "$$" >"$SECRET"
chmod 600 "$SECRET"

# the webhook endpoint
"$PY" "$TESTLIB/webhook.py" --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
    --secret-file "$SECRET" --record "$T/hook.jsonl" --port-file "$T/hook.port" \
    --fail-first 1 2>"$T/hook.log" &
PROVIDER_PIDS="$PROVIDER_PIDS $!"
wait_for 10 test -s "$T/hook.port" || die "the webhook endpoint did not start: $(cat "$T/hook.log")"
HOOK_PORT=$(cat "$T/hook.port")
: >>"$T/hook.jsonl"

# the command: appends every line to cmd.jsonl; the pid of the process that reads is in cmd.pid
cat >"$T/evcmd.sh" <<EOF
echo \$\$ >"$T/cmd.pid"
exec /bin/cat >>"$T/cmd.jsonl"
EOF

setup "events = { command = \"/bin/sh $T/evcmd.sh\"; webhook_url = \"https://127.0.0.1:$HOOK_PORT/hook\";" \
    "  webhook_secret_file = \"$SECRET\"; queue_limit = 100; };"
provider ev starttls \
    --rule '{"on": "RCPT", "rcpt": "bad@ev.example", "reply": "550 5.1.1 No such user here"}' \
    --rule '{"on": "RCPT", "rcpt": "later@ev.example", "reply": "450 4.2.1 Mailbox busy, try later"}'
target ev starttls "$ev_PORT"
start

submit "alice@client.example" "good@ev.example,bad@ev.example,later@ev.example" 1 "events" || exit 1

# pyhook CHECK: CHECK (Python) holds over the webhook's records, in order, as "recs"
pyhook() {
    "$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
exec(sys.argv[2])' "$T/hook.jsonl" "$1"
}

# events_in FILE EVENT RCPT: FILE (JSON lines, or the webhook's records) has EVENT for RCPT
events_in() {
    "$PY" - "$@" <<'EOF'
import json, sys
path, event, rcpt = sys.argv[1:4]
for line in open(path):
    o = json.loads(line)
    o = o["event"] if "signature_ok" in o else o
    if o and o["event"] == event and o["recipient"] == rcpt:
        sys.exit(0)
sys.exit(1)
EOF
}

check "command: sent event for good@" wait_for 20 events_in "$T/cmd.jsonl" sent good@ev.example
check "command: bounced event for bad@" wait_for 20 events_in "$T/cmd.jsonl" bounced bad@ev.example
check "command: deferred event for later@" wait_for 20 events_in "$T/cmd.jsonl" deferred later@ev.example
check "command: expired event for later@ after max_lifetime" wait_for 30 events_in "$T/cmd.jsonl" expired later@ev.example
check "webhook: sent event for good@" wait_for 30 events_in "$T/hook.jsonl" sent good@ev.example
check "webhook: bounced event for bad@" wait_for 30 events_in "$T/hook.jsonl" bounced bad@ev.example
check "webhook: expired event for later@" wait_for 40 events_in "$T/hook.jsonl" expired later@ev.example

check "command: every field, per recipient, as the log line says" "$PY" - "$T/cmd.jsonl" "$LOG" <<'EOF'
import json, re, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
log = open(sys.argv[2]).read()
fields = ["time", "event", "id", "mta_queue_id", "target", "recipient", "sender", "dsn", "class",
          "reply", "attempt", "delay"]
for e in evs:
    assert list(e) == fields, e
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]), e
    assert e["target"] == "ev" and e["mta_queue_id"] == "QTEST1", e
    assert e["sender"] == "alice@client.example", e
    assert isinstance(e["attempt"], int) and e["attempt"] >= 1, e
    assert isinstance(e["delay"], (int, float)) and e["delay"] >= 0, e
    # the log line of the same outcome
    assert re.search(r"%s_QTEST1: to=<%s>.*dsn=%s, status=%s" % (e["id"], re.escape(e["recipient"]),
                     re.escape(e["dsn"]), e["event"]), log), e
by = {(e["event"], e["recipient"]): e for e in evs}
s = by[("sent", "good@ev.example")]
assert s["class"] == "" and s["dsn"].startswith("2.") and s["reply"].startswith("250"), s
b = by[("bounced", "bad@ev.example")]
assert b["class"] == "recipient_rejected" and b["dsn"] == "5.1.1", b
assert b["reply"] == "550 5.1.1 No such user here", b
d = by[("deferred", "later@ev.example")]
assert d["class"] == "temporary" and d["dsn"] == "4.2.1" and "Mailbox busy" in d["reply"], d
x = by[("expired", "later@ev.example")]
assert x["attempt"] > 1 and x["delay"] >= 3, x
assert sum(1 for e in evs if e["event"] == "sent") == 1, evs
assert sum(1 for e in evs if e["event"] == "bounced") == 1, evs
EOF

check "webhook: every POST signed (HMAC-SHA256 verified), JSON, to the URL's path" pyhook '
assert recs and all(r["signature_ok"] for r in recs), recs
assert all(r["content_type"] == "application/json" and r["path"] == "/hook" for r in recs), recs'
check "webhook: the first POST got 500 and the same event came again and was taken" pyhook '
assert recs[0]["status"] == 500, recs[0]
assert recs[1]["status"] == 200 and recs[1]["event"] == recs[0]["event"], recs[:2]'
check "webhook: each event taken once, the same events as the command's" "$PY" - "$T/hook.jsonl" "$T/cmd.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
taken = sorted(json.dumps(r["event"], sort_keys=True) for r in recs if r["status"] == 200)
cmd = sorted(json.dumps(json.loads(l), sort_keys=True) for l in open(sys.argv[2]))
assert taken == cmd, (taken, cmd)
assert len(set(taken)) == len(taken), taken
EOF
check "the webhook's retry is logged" log_has "events.webhook_url: HTTP status 500 (tried again)"
check "no password, key or message content in any event" sh -c \
    "! grep -q 'pw-ev\|k3y-0f\|Subject\|events 1' '$T/cmd.jsonl' '$T/hook.jsonl'"

# the command is killed: started again, and the next event reaches the new one
check "the command's start is logged" log_has "events.command: started (pid [0-9]*)"
cmd_pid=$(cat "$T/cmd.pid")
kill -TERM "$cmd_pid" 2>/dev/null
submit "alice@client.example" "again@ev.example" 1 "after" || exit 1
check "command: started again after it exited" wait_for 20 sh -c \
    "[ \$(grep -c 'events.command: started' '$LOG') -ge 2 ]"
check "command: the next event reaches the new command" wait_for 20 events_in "$T/cmd.jsonl" sent again@ev.example
check "delivery went on: again@ delivered" wait_for 20 pyrec ev '
assert any(r["addr"] == "again@ev.example" for m in msgs for r in m["rcpt"]), msgs'
finish
