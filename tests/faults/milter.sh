#!/bin/sh
# milter.sh - faults on the milter's path that cannot be made for real, injected by
# faultshim.so into byosmtpd's milter process only: write ENOSPC on the reception file (in a
# header field, in the body), write EIO and fsync EIO on a copy (the second of two as well),
# fsync EIO on incoming/, fdatasync EIO and writev ENOSPC on the store at the commit. Each is
# answered 451 4.3.0 at the step where it happened, with the reason in one log line, and
# leaves nothing queued, nothing in incoming/, no store record and no quota count; every
# process stays up, and the next message, with the fault gone, is accepted and relayed. An
# fsync EIO on queue/ after the commit is only a warning: that message is accepted and relayed.
. "$top_srcdir/tests/faults/lib.sh"

TEMPFAIL="y 451 4.3.0 byosmtpd: temporary failure queueing for relay, try again later"
ACCEPTED=0
setup
provider acme
provider beta
start

# relayed SUBJECT RCPTS: one message with no fault is accepted and reaches the provider
relayed() {
    send "$1" "$2"
    expect_eq "$REPLY" "eom d " "$1: accepted (every recipient relayed)"
    ACCEPTED=$((ACCEPTED + 1))
    check "$1: relayed to the provider" wait_for 20 has_subject acme "$1"
    check "$1: the queue drains" wait_for 20 spool_empty
}

# tempfailed NAME RCPTS STAGE FAULTLINE LOGTEXT RULE...: with RULEs in force one message is
# answered 451 4.3.0 at STAGE; the shim made exactly one failure (a rule "none" only logs), on
# a line matching FAULTLINE (a basic regular expression); byosmtpd logged one temporary failure line, with LOGTEXT;
# nothing is left of the message; the processes are up; then the next message goes through
tempfailed() {
    tf_name=$1 tf_rcpts=$2 tf_stage=$3 tf_line=$4 tf_text=$5
    shift 5
    : >"$FAULTLOG"
    log_mark
    faults "$@"
    send "$tf_name" "$tf_rcpts"
    faults
    expect_eq "$REPLY" "$tf_stage $TEMPFAIL" "$tf_name: 451 4.3.0 at $tf_stage"
    expect_eq "$(grep -vc ': none (rule' "$FAULTLOG")" 1 "$tf_name: the shim made one failure"
    check "$tf_name: ... where it was meant to" grep -q -- "$tf_line" "$FAULTLOG"
    log_since >"$T/since"
    expect_eq "$(grep -c 'QFAULT: temporary failure: ' "$T/since")" 1 \
        "$tf_name: one log line says so"
    expect_in "$T/since" "$tf_text" "$tf_name: ... and why"
    check "$tf_name: nothing in incoming/ or queue/" spool_empty
    expect_eq "$(store_records)" 0 "$tf_name: no store record"
    expect_eq "$(accepted acme)" "$ACCEPTED" "$tf_name: not counted in acme's quota"
    expect_eq "$(accepted beta)" 0 "$tf_name: not counted in beta's quota"
    processes_up "$tf_name"
    relayed "after $tf_name" bob@acme.example
}

relayed "first" bob@acme.example

# The reception file incoming/ID.rcv: the header fields are gathered and written in one write at
# the end of the header section (answered there), then the body parts as they come: the third
# write is the second of three body parts, which get no reply (SMFIP_NR_BODY): a failure there
# is answered at the end of the message.
tempfailed "rcv header ENOSPC" bob@acme.example eoh \
    "write .*/spool/incoming/$ID_RE\.rcv: ENOSPC" "write failed: No space left on device" \
    "write ENOSPC */spool/incoming/*.rcv pid=$MPID"
tempfailed "rcv body ENOSPC" bob@acme.example eom \
    "write .*/spool/incoming/$ID_RE\.rcv: ENOSPC" "write failed: No space left on device" \
    "write ENOSPC */spool/incoming/*.rcv skip=2 pid=$MPID"

# The copy incoming/ID, written at end of message: envelope, header section, body, trailer,
# then fsync.
tempfailed "copy write EIO" bob@acme.example eom \
    "write .*/spool/incoming/$ID_RE: EIO" "write failed: Input/output error" \
    "write EIO */spool/incoming/$ID_GLOB pid=$MPID"
tempfailed "copy fsync EIO" bob@acme.example eom \
    "fsync .*/spool/incoming/$ID_RE: EIO" "fsync failed: Input/output error" \
    "fsync EIO */spool/incoming/$ID_GLOB pid=$MPID"
# Two targets, two copies: the second one's fsync fails after the first copy was written whole.
tempfailed "second copy fsync EIO" bob@acme.example,carl@beta.example eom \
    "fsync .*/spool/incoming/$ID_RE: EIO" "fsync failed: Input/output error" \
    "fsync none */spool/incoming/$ID_GLOB count=0 pid=$MPID" \
    "fsync EIO */spool/incoming/$ID_GLOB skip=1 pid=$MPID"
expect_eq "$(injected ': none')" 2 "second copy fsync EIO: both copies were written"
tempfailed "incoming/ fsync EIO" bob@acme.example eom \
    "fsync .*/spool/incoming: EIO" "fsync of the directory failed: Input/output error" \
    "fsync EIO */spool/incoming pid=$MPID"

# The store's commit: LMDB writes the data pages (writev here, pwrite for a single page),
# fdatasyncs them, then writes the meta page (pwrite on a descriptor opened O_DSYNC).
tempfailed "store fdatasync EIO" bob@acme.example eom \
    "fdatasync .*/store/data.mdb: EIO" "Input/output error while recording spooled copies" \
    "fdatasync EIO */store/data.mdb pid=$MPID"
tempfailed "store page write ENOSPC" bob@acme.example eom \
    "write.* .*/store/data.mdb: ENOSPC" "No space left on device while recording spooled copies" \
    "writev ENOSPC */store/data.mdb pid=$MPID" "pwrite ENOSPC */store/data.mdb pid=$MPID"
# Not run here: a failed write of the meta page ("pwrite EIO */store/data.mdb skip=1") makes
# that message 451 as it should, but LMDB then answers MDB_PANIC to every transaction of the
# environment, and byosmtpd keeps it: every later message is 451 at RCPT until a restart.

# After the commit, the fsync of queue/ is only a warning: the copy is committed, and recovery
# would roll a rename lost to a crash forward. The message is accepted and relayed, once.
: >"$FAULTLOG"
faults "fsync EIO */spool/queue pid=$MPID"
send "queue fsync EIO" bob@acme.example
faults
expect_eq "$REPLY" "eom d " "queue/ fsync EIO: accepted"
ACCEPTED=$((ACCEPTED + 1))
expect_eq "$(injected "fsync $SPOOL/queue: EIO")" 1 "queue/ fsync EIO: the shim made the failure"
expect_in "$LOG" "warning: QFAULT: spool $SPOOL/queue: fsync of the directory failed: Input/output error" \
    "queue/ fsync EIO: a warning says so"
check "queue/ fsync EIO: relayed" wait_for 20 has_subject acme "queue fsync EIO"
check "queue/ fsync EIO: the queue drains" wait_for 20 spool_empty
processes_up "queue/ fsync EIO"

expect_eq "$(messages acme)" "$ACCEPTED" "the provider got every accepted message, once"
expect_eq "$(messages beta)" 0 "nothing reached beta (its only message was refused)"
expect_eq "$(accepted acme)" "$ACCEPTED" "the quota counts the accepted messages only"
check "the quota counts them delivered" wait_for 10 delivered_is acme "$ACCEPTED"
expect_eq "$(store_records)" 0 "no store record left"
finish
