#!/bin/sh
# bigheader.sh - a header field of 100 KB, over libmilter's default command limit (64K), through
# the real byosmtpd with tests/lib/milterclient.py: with milter.max_header_size at its default
# (64K) the message is refused with the documented 552 5.3.4, not a dropped connection; with
# max_header_size = "128K" it is taken and spooled with the whole field; a reload to "2M" warns
# that libmilter's read limit, set at start, needs a restart. The same through Postfix is
# tests/e2e/bigheader.sh.
. "$top_srcdir/tests/milter/lib.sh"
SIZE=100000

# x_big_len FILE: the length of the X-Big field's value in a spooled copy, folds and white space
# left out
x_big_len() {
    header_of "$1" | tr -d '\r' | awk '
        on && /^[^ \t]/ { on = 0 }
        /^X-Big:/ { on = 1; sub(/^X-Big:/, "") }
        on { gsub(/[ \t]/, ""); n += length($0) }
        END { print n + 0 }'
}

setup_store
start
"$PY" "$TESTLIB/milterclient.py" "$SOCK" bigheader "$SIZE" >"$T/default.out" 2>&1
expect_in "$T/default.out" "y 552 5.3.4 message header field too long" "a 100 KB field at the default max_header_size gets 552"
expect_log "QBOMBSIZE: header field X-Big is $((SIZE + 7)) bytes, over milter.max_header_size (65536): rejected with 552" "the refusal"
expect_eq "$(count_queue)" 0 "nothing spooled"
expect_eq "$(incoming_files)" "" "incoming/ is empty"
stop

MILTER_EXTRA='max_header_size = "128K";'
write_conf
start
"$PY" "$TESTLIB/milterclient.py" "$SOCK" bigheader "$SIZE" >"$T/128k.out" 2>&1
expect_eq "$(cat "$T/128k.out")" "d" "a 100 KB field under max_header_size = 128K: taken (the MTA's copy discarded)"
f=$(copy_for acme)
if [ -n "$f" ]; then
    check_trailer "$f"
    expect_eq "$(x_big_len "$f")" "$SIZE" "the copy has the whole field"
else
    fail "no copy for acme"
fi
expect_not_in "$LOG" "error:" "no errors logged"

# libmilter's read limit is set at start (128K + 1M here): a reload to 2M says a restart is needed
MILTER_EXTRA='max_header_size = "2M";'
write_conf
kill -HUP "$BYO_PID"
check "byosmtpd reloaded its configuration" wait_for 5 grep -q "reloaded" "$LOG"
expect_log "milter.max_header_size (2097152) is not below what libmilter reads since start (1179648 bytes a command)" "a reload beyond the read limit warns"
finish
