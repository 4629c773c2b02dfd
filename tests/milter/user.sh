#!/bin/sh
# user.sh - byosmtpd started as root with milter.user: the milter process drops to that user, yet
# SIGHUP still reaches the delivery process (reload) and SIGTERM still stops every process of
# byosmtpd within seconds. The supervisor stays root to start the delivery process, so it takes
# milter.user as its real uid for the unprivileged milter process to be allowed to signal it.
. "$top_srcdir/tests/milter/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root: byosmtpd must start as root to become milter.user"
id nobody >/dev/null 2>&1 || skip "no user 'nobody' to run as"
setup_store
chmod 755 "$T"
MILTER_EXTRA='user = "nobody";' write_conf
start
DPID=
# delivery_pid: the delivery process's pid, from its pid file
delivery_pid() { DPID=$(cat "$SPOOL/delivery/pid" 2>/dev/null) && [ -n "$DPID" ]; }
check "the delivery process started" wait_for 15 log_has "delivery: started"
check "the delivery process wrote its pid" wait_for 10 delivery_pid
expect_eq "$(ps -o user= -p "$BYO_PID" | tr -d ' ')" nobody "the milter process runs as milter.user"
expect_eq "$(ps -o user= -p "$DPID" | tr -d ' ')" nobody "the delivery process runs as milter.user"

kill -HUP "$BYO_PID"
check "SIGHUP to byosmtpd reaches the delivery process" \
    wait_for 15 log_has "delivery: configuration reloaded"

SUP=$(ps -o pid= --ppid "$BYO_PID" | tr -d ' ' | head -1)
kill -TERM "$BYO_PID"
if wait_for 30 sh -c "! kill -0 $BYO_PID 2>/dev/null"; then
    ok
    wait "$BYO_PID" 2>/dev/null
    expect_eq "$?" 0 "byosmtpd's exit status after SIGTERM"
    check "the supervisor is gone" sh -c "[ -z '$SUP' ] || ! kill -0 '$SUP' 2>/dev/null"
    check "the delivery process is gone" sh -c "! kill -0 '$DPID' 2>/dev/null"
else
    fail "SIGTERM did not stop byosmtpd within 30 s (milter.user cannot signal its supervisor?)"
    for p in $BYO_PID $SUP $DPID; do kill -KILL "$p" 2>/dev/null; done
    wait "$BYO_PID" 2>/dev/null
fi
BYO_PID=
check "no sanitizer report in byosmtpd's log" no_sanitizer_report
finish
