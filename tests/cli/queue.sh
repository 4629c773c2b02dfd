# queue.sh - byosmtpctl queue and stats before byosmtpd has made the spool (a fresh install): like
# postqueue -p on an empty queue, each says in one line what is the case and what to do, list,
# flush and stats exit 0, an ID is "not in the queue" (exit 1), and none of them makes the spool.
. "$top_srcdir/tests/cli/lib.sh"
ID=06B0FCDA6AE3F0F3D68D

# nothing_made WHAT: the last command left spool.path as it found it
nothing_made() {
    if [ -e "$T/spool" ]; then fail "$1 made $T/spool"; else ok; fi
}

# not_yet WHAT: the last command's output says the spool does not exist yet and who makes it
not_yet() {
    case $OUT$ERR in
    *"spool $T/spool does not exist yet (byosmtpd creates it when it starts)"*) ok ;;
    *) fail "$1: no 'does not exist yet' line: stdout '$OUT', stderr '$ERR'" ;;
    esac
}

for cmd in "queue" "queue list"; do
    run ctl $cmd
    expect_rc 0 "$cmd without a spool"
    expect_out "0 messages in the queue" "$cmd without a spool"
    not_yet "$cmd"
    expect_eq "$ERR" "" "$cmd without a spool: nothing on stderr"
    expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1 "$cmd without a spool: one line"
    nothing_made "$cmd"
done

for cmd in "queue flush" "queue flush --target acme"; do
    run ctl $cmd
    expect_rc 0 "$cmd without a spool"
    expect_out "nothing to flush" "$cmd without a spool"
    not_yet "$cmd"
    nothing_made "$cmd"
done

for cmd in "queue show $ID" "queue flush $ID" "queue delete $ID"; do
    run ctl $cmd
    expect_rc 1 "$cmd without a spool"
    expect_err "$ID is not in the queue" "$cmd without a spool"
    not_yet "$cmd"
    expect_eq "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')" 1 "$cmd without a spool: one line"
    nothing_made "$cmd"
done

run ctl queue show nonsense
expect_rc 1 "a malformed id is still refused as such"
expect_err "'nonsense' is not a queue id" "a malformed id is still refused as such"

run ctl stats
expect_rc 0 "stats without a spool"
expect_out "no counters yet" "stats without a spool"
not_yet "stats"
nothing_made "stats"

# a spool directory that a package made but byosmtpd has not filled: the same
mkdir "$T/spool"
run ctl queue
expect_rc 0 "queue with an empty spool directory"
not_yet "queue with an empty spool directory"
expect_eq "$(ls -A "$T/spool")" "" "queue left the empty spool directory empty"

# the spool as byosmtpd makes it, nothing queued: the usual empty listing
mkdir "$T/spool/incoming" "$T/spool/queue" "$T/spool/corrupt"
run ctl queue
expect_rc 0 "queue on an empty spool"
expect_out "0 messages in the queue" "queue on an empty spool"
case $OUT in *"does not exist"*) fail "queue on an empty spool says it does not exist: $OUT" ;; *) ok ;; esac
run ctl stats
expect_rc 0 "stats on a spool where delivery has not run"
expect_out "has not run on spool $T/spool" "stats on a spool where delivery has not run"
finish
