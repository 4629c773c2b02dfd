#!/bin/sh
# delivery.sh - faults in the delivery process that cannot be made for real, injected by
# faultshim.so into that process only: the state file after a partial delivery (write EIO on
# every attempt to write it; fsync EIO once), the fsync of queue/ when a delivered copy is
# removed, the DSN's pipe to the bounce command, the state file after a DSN, and the store's
# fdatasync when the queue record of a delivered copy is removed. In each case every recipient
# is delivered or bounced in the end, none is lost, none is logged sent without the provider's
# 2xx, at worst one is sent (or its DSN) twice; one log line says what went wrong; the delivery
# process stays up (the same process throughout).
. "$top_srcdir/tests/faults/lib.sh"

MIN_BACKOFF=2 MAX_BACKOFF=3
setup
provider px --rule '{"on": "RCPT", "rcpt": "slow1@px.example", "nth": 1, "reply": "451 4.3.0 busy"}' \
    --rule '{"on": "RCPT", "rcpt": "slow2@px.example", "nth": 1, "reply": "451 4.3.0 busy"}' \
    --rule '{"on": "RCPT", "rcpt": "slow5@px.example", "nth": 1, "reply": "451 4.3.0 busy"}' \
    --rule '{"on": "RCPT", "rcpt": "gone@px.example", "reply": "550 5.1.1 no such user"}'
start
SENT=0

# begin NAME RCPTS RULE...: with RULEs in force, message NAME to RCPTS is accepted by the milter
begin() {
    bg_name=$1 bg_rcpts=$2
    shift 2
    : >"$FAULTLOG"
    log_mark
    faults "$@"
    send "$bg_name" "$bg_rcpts"
    expect_eq "$REPLY" "eom d " "$bg_name: accepted"
}

# lines TEXT: how many lines of byosmtpd's log since log_mark have TEXT
lines() { log_since | grep -cF -- "$1" || true; }

# logged N TEXT: byosmtpd's log since log_mark has N lines or more with TEXT
logged() { [ "$(lines "$2")" -ge "$1" ]; }

# between N LOW HIGH: LOW <= N <= HIGH
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# delivered_once NAME RCPT: the provider accepted RCPT for message NAME exactly once
delivered_once() { expect_eq "$(copies_of px "$1" "$2")" 1 "$1: $2 delivered once"; }

# end NAME FAILURES: the shim made FAILURES failures; the queue drains; no store record is left;
# the processes are up
end() {
    expect_eq "$(wc -l <"$FAULTLOG")" "$2" "$1: the shim made $2 failure(s)"
    check "$1: the queue drains" wait_for 20 spool_empty
    expect_eq "$(store_records)" 0 "$1: no store record left"
    processes_up "$1"
}

# 1. The state file after a partial delivery, write EIO each time: ok1@ is delivered, slow1@
#    deferred, and neither state write is recorded. The next attempt starts from no state:
#    ok1@ may get the message again (the log said so), slow1@ gets it once.
begin "state write EIO" ok1@px.example,slow1@px.example \
    "write EIO */spool/incoming/$ID_GLOB.state.tmp count=0 pid=$DPID"
check "state write EIO: the state after the deferral was not written" \
    wait_for 20 logged 1 "the delivery state was not recorded"
faults
check "state write EIO: ok1@ delivered" wait_for 20 has_subject px "state write EIO"
check "state write EIO: ... slow1@ too" wait_for 20 sh -c "[ \"\$(grep -c 'to=<slow1@px.example>.*status=sent (250' '$LOG')\" -eq 1 ]"
expect_eq "$(lines "the recipients just delivered were not recorded (they may receive the message again): $SPOOL/incoming/")" 1 \
    "state write EIO: one line says ok1@ may get it twice"
expect_eq "$(lines "the delivery state was not recorded: $SPOOL/incoming/")" 1 \
    "state write EIO: one line says the deferral was not recorded"
n=$(copies_of px "state write EIO" ok1@px.example)
echo "# state write EIO: ok1@ got it $n time(s)"
check "state write EIO: ok1@ got it once, or twice at worst" between "$n" 1 2
delivered_once "state write EIO" slow1@px.example
SENT=$((SENT + 2))
end "state write EIO" 2

# 2. The same, fsync EIO once: the first state write fails, the one after the deferral records
#    ok1@ as sent: nobody gets it twice.
begin "state fsync EIO" ok2@px.example,slow2@px.example \
    "fsync EIO */spool/incoming/$ID_GLOB.state.tmp pid=$DPID"
check "state fsync EIO: slow2@ delivered on the next attempt" \
    wait_for 20 sh -c "grep -q 'to=<slow2@px.example>.*status=sent (250' '$LOG'"
faults
expect_eq "$(lines "the recipients just delivered were not recorded (they may receive the message again): $SPOOL/incoming/")" 1 \
    "state fsync EIO: one line says so"
expect_eq "$(lines "cannot write: Input/output error")" 1 "state fsync EIO: ... and why"
expect_eq "$(lines "the delivery state was not recorded")" 0 "state fsync EIO: the deferral was recorded"
delivered_once "state fsync EIO" ok2@px.example
delivered_once "state fsync EIO" slow2@px.example
SENT=$((SENT + 2))
end "state fsync EIO" 1

# 3. The fsync of queue/ when a delivered copy is removed: the copy is gone all the same, so the
#    store record goes and the outcome is counted; one warning says the removal is not durable.
begin "removal fsync EIO" ok3@px.example "fsync EIO */spool/queue pid=$DPID"
check "removal fsync EIO: a warning says the removal is not durable" \
    wait_for 20 logged 1 "removed, but not yet durably: spool $SPOOL/queue: fsync of the directory failed: Input/output error"
faults
expect_eq "$(lines "warning: ")" 1 "removal fsync EIO: one warning line"
expect_eq "$(lines "error: ")" 0 "removal fsync EIO: no error line"
check "removal fsync EIO: the shim failed the fsync of queue/" grep -q "fsync $SPOOL/queue: EIO" "$FAULTLOG"
delivered_once "removal fsync EIO" ok3@px.example
SENT=$((SENT + 1))
end "removal fsync EIO" 1

# 4. The DSN's pipe to the bounce command, write EIO: the DSN counts as not sent, gone@ stays
#    in the queue, and the next attempt sends the DSN. (The bounce command was run all the same
#    and saw its input end early: faultshim's failure leaves it an empty DSN, which this test's
#    command files as it would any other. That it is not killed is reported, not checked here.)
begin "dsn pipe EIO" gone@px.example "write EIO pipe:* pid=$DPID"
check "dsn pipe EIO: the DSN goes on a later attempt" \
    wait_for 20 logged 1 "sender non-delivery notification to <alice@client.example>"
faults
expect_eq "$(lines "sender non-delivery notification not sent, the recipients stay in the queue: bounce: ")" 1 \
    "dsn pipe EIO: one line says the DSN was not sent"
expect_eq "$(lines "status=bounced")" 1 "dsn pipe EIO: bounced once"
expect_eq "$(lines "sender non-delivery notification to <alice@client.example>")" 1 \
    "dsn pipe EIO: the DSN went on the next attempt"
expect_eq "$(grep -c 'Subject: dsn pipe EIO' "$MBOX")" 1 "dsn pipe EIO: one complete DSN"
check "dsn pipe EIO: it names gone@" grep -q 'Final-Recipient: rfc822; *gone@px.example' "$MBOX"
end "dsn pipe EIO" 1

# 5. A DSN, then the state file after it, write EIO: gone@ bounced (the DSN sent) and slow5@
#    deferred are not recorded; the next attempt bounces gone@ again: a second DSN at worst.
begin "dsn state EIO" gone@px.example,slow5@px.example \
    "write EIO */spool/incoming/$ID_GLOB.state.tmp pid=$DPID"
check "dsn state EIO: slow5@ delivered on the next attempt" \
    wait_for 20 sh -c "grep -q 'to=<slow5@px.example>.*status=sent (250' '$LOG'"
faults
expect_eq "$(lines "the delivery state was not recorded: $SPOOL/incoming/")" 1 \
    "dsn state EIO: one line says the state was not recorded"
n=$(grep -c 'Subject: dsn state EIO' "$MBOX")
echo "# dsn state EIO: $n DSN(s)"
check "dsn state EIO: one DSN, or two at worst" between "$n" 1 2
delivered_once "dsn state EIO" slow5@px.example
SENT=$((SENT + 1))
end "dsn state EIO" 1

# Every recipient logged as sent was accepted by the provider (250 to RCPT and to the dot) as
# often as the log says, and the quota counts each recipient once.
check "no recipient is logged sent without the provider's 2xx" "$PY" - "$T/px.jsonl" "$LOG" <<'EOF'
import json, re, sys
acc = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "message":
        for x in r["rcpt"]:
            if x["accepted"]:
                acc[x["addr"]] = acc.get(x["addr"], 0) + 1
sent = {}
for line in open(sys.argv[2]):
    m = re.search(r"to=<([^>]*)>.*status=sent \((\d)", line)
    if m:
        assert m.group(2) == "2", line
        sent[m.group(1)] = sent.get(m.group(1), 0) + 1
assert sent == acc, (sent, acc)
EOF
check "the quota counts each delivered recipient once" wait_for 10 delivered_is px "$SENT"

# 6. The store's fdatasync when the queue record of a delivered copy is removed: the message
#    is delivered once and the copy removed; one warning says the outcome was not counted.
#    (The record then stays until the next start, whose recovery drops it, and the month's
#    delivered count never includes this message: reported, so the quota is not checked here.)
begin "record fdatasync EIO" ok6@px.example "fdatasync EIO */store/data.mdb pid=$DPID"
check "record fdatasync EIO: a warning says so" \
    wait_for 20 logged 1 "the outcome was not added to the quota record: store $T/store: Input/output error while removing a queue record"
faults
expect_eq "$(lines "warning: ")" 1 "record fdatasync EIO: one warning line"
delivered_once "record fdatasync EIO" ok6@px.example
check "record fdatasync EIO: the queue drains" wait_for 20 spool_empty
expect_eq "$(wc -l <"$FAULTLOG")" 1 "record fdatasync EIO: the shim made 1 failure(s)"
processes_up "record fdatasync EIO"
stop_byosmtpd
log_mark
start
check "record fdatasync EIO: recovery drops the record at the next start" \
    logged 1 "recovery: dropped the store record of"
expect_eq "$(store_records)" 0 "record fdatasync EIO: no store record after the restart"
finish
