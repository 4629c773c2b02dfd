#!/bin/sh
# crash.sh - kill -9 of byosmtpd in the middle of a body, and at each point of the commit
# sequence (BYOSMTPD_TEST_CRASH makes byosmtpd SIGKILL itself there: after the copies are
# written, after their fsync, after the store commit, after the rename to queue/); then
# "byosmtpd -R" recovers: nothing that was not committed is in the queue, nothing committed is
# lost, quota counts match the queue. Also: a torn copy and a torn state file in queue/ are
# moved to corrupt/ (never deleted), a store record without a file is dropped.
. "$top_srcdir/tests/milter/lib.sh"
setup_store

recover() { "$BYOSMTPD" -c "$CONF" -R >"$T/recover.out" 2>"$T/recover.err" || fail "byosmtpd -R: $(cat "$T/recover.err")"; }
records() { mdb_dump -p -s queue "$T/store" | grep -c 'target=' || true; }
# wait_dead: byosmtpd must have died by SIGKILL
wait_dead() {
    wait "$BYO_PID" 2>/dev/null
    rc=$?
    BYO_PID=
    expect_eq "$rc" 137 "$1: byosmtpd died by SIGKILL"
}

# 1. kill -9 while the body streams in
start
miltertest -D "sock=$SOCK" -D "helpers=$MT_DIR/helpers.lua" -D step=midbody -D qid=QMID \
    -s "$MT_DIR/crash.lua" >"$T/mt.mid" 2>&1 &
MTPID=$!
for _ in $(seq 1 100); do
    ls "$SPOOL/incoming" | grep -q '\.rcv$' && grep -q 'waiting to be killed' "$T/mt.mid" && break
    sleep 0.1
done
ls "$SPOOL/incoming" | grep -q '\.rcv$' && ok || fail "no reception file before the kill"
kill -9 "$BYO_PID"
wait_dead "mid-body"
kill "$MTPID" 2>/dev/null
wait "$MTPID" 2>/dev/null
recover
expect_in "$T/recover.out" "removed-unfinished 1" "mid-body: the reception file is removed"
expect_eq "$(count_queue)" 0 "mid-body: nothing queued"
expect_eq "$(incoming_files)" "" "mid-body: incoming/ empty"

# 2. each point of the commit sequence
total=0
for point in written fsync commit publish; do
    start BYOSMTPD_TEST_CRASH=$point
    miltertest -D "sock=$SOCK" -D "helpers=$MT_DIR/helpers.lua" -D step=eom -D "qid=Q$point" \
        -s "$MT_DIR/crash.lua" >"$T/mt.$point" 2>&1
    wait_dead "$point"
    expect_log "test hook: killing byosmtpd at '$point'" "$point"
    recover
    case $point in
    written | fsync)
        # not committed: the MTA got no answer and keeps the message; nothing may stay queued
        expect_in "$T/recover.out" "removed-unfinished 3" "$point: reception file and both copies removed"
        ;;
    commit)
        # committed, still in incoming/: moved forward
        expect_in "$T/recover.out" "moved-forward 2" "$point: both copies moved to queue/"
        total=$((total + 2))
        ;;
    publish)
        expect_in "$T/recover.out" "moved-forward 0" "$point: copies already in queue/"
        total=$((total + 2))
        ;;
    esac
    expect_eq "$(count_queue)" "$total" "$point: copies in the queue"
    expect_eq "$(incoming_files)" "" "$point: incoming/ empty"
    expect_eq "$(records)" "$total" "$point: one store record per queued copy"
    expect_eq "$(quota_used acme)" $((total / 2)) "$point: acme counted once per committed copy"
    for f in $(queue_files); do check_trailer "$SPOOL/queue/$f"; done
done
expect_in "$T/recover.out" "queued 4" "the committed copies are queued"

# 3. torn files in the queue are moved aside, never deleted; a record without its file is dropped
set -- $(queue_files)
torn=$1 withstate=$2 gone=$3
head -c 100 "$SPOOL/queue/$torn" >"$T/t" && cat "$T/t" >"$SPOOL/queue/$torn"
printf 'byosmtp-state: 1\nattempts: 1\n' >"$SPOOL/queue/$withstate.state"
rm "$SPOOL/queue/$gone"
recover
expect_in "$T/recover.out" "corrupt 2" "torn copy and torn state moved aside"
expect_in "$T/recover.out" "records-dropped 2" "records of the torn and the removed copy dropped"
[ -f "$SPOOL/corrupt/$torn" ] && ok || fail "torn copy not in corrupt/"
[ -f "$SPOOL/corrupt/$withstate.state" ] && ok || fail "torn state not in corrupt/"
[ -f "$SPOOL/queue/$withstate" ] && ok || fail "the copy of a torn state stays queued"
expect_in "$T/recover.err" "torn" "the reason is logged"
expect_eq "$(count_queue)" 2 "two valid copies remain"

# 4. and a normal message still goes through after all that
start
mt crash.lua -D step=ok -D qid=QAFTER
expect_eq "$(count_queue)" 4 "a new message is queued after recovery"
finish
