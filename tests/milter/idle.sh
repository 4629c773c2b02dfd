#!/bin/sh
# idle.sh - an MTA that never connects (smtpd_milters not naming the socket) is reported once in
# byosmtpd's log after milter.idle_warning seconds; an MTA that does connect is not; 0 turns it off.
. "$top_srcdir/tests/milter/lib.sh"
setup_store

MILTER_EXTRA="idle_warning = 1;" write_conf
start
sleep 3
expect_log "no MTA has connected to $SOCK in the 1 seconds since start" "idle warning"
expect_log "INPUT_MAIL_FILTER names this socket" "the warning says what to check"
[ "$(grep -c 'no MTA has connected' "$LOG")" -eq 1 ] && ok || fail "the idle warning is given once"
stop

: >"$LOG"
MILTER_EXTRA="idle_warning = 2;" write_conf
start
mt relay.lua
sleep 3
expect_not_in "$LOG" "no MTA has connected" "no warning once an MTA has connected"
stop

: >"$LOG"
MILTER_EXTRA="idle_warning = 0;" write_conf
start
sleep 2
expect_not_in "$LOG" "no MTA has connected" "no warning with idle_warning = 0"
stop
finish
