#!/bin/sh
# load.sh - 300 concurrent milter connections, all open mid-message at once, and a 50 MB
# message at the same time: every message is spooled, byosmtpd's peak RSS (VmHWM) stays within
# a bound above its idle RSS (memory is bounded per connection, the body is never held), and
# the log has no LMDB reader errors. Also the header size bomb (a field over
# milter.max_header_size gets a clean 552).
. "$top_srcdir/tests/milter/lib.sh"
N=${LOAD_CONNECTIONS:-300}
MB=${LOAD_BIG_MB:-50}
MILTER_EXTRA='max_header_size = "4K";'
write_conf
setup_store
ulimit -n 4096 2>/dev/null || true
start
idle=$(awk '/^VmRSS/ {print $2}' /proc/$BYO_PID/status)
"$PY" "$TESTLIB/milterclient.py" "$SOCK" load "$N" "$MB" >"$T/load.json" 2>"$T/load.err" ||
    fail "milterclient load: $(cat "$T/load.err")"
peak=$(awk '/^VmHWM/ {print $2}' /proc/$BYO_PID/status)
echo "byosmtpd RSS: idle ${idle} kB, peak ${peak} kB with $N connections and a $MB MB message"
"$PY" - "$T/load.json" "$N" <<'PY' >"$T/load.check" 2>&1 && ok || fail "load results: $(cat "$T/load.check")"
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
bad = {k: v for k, v in r.items() if v != "d"}
if bad or len(r) != n + 1:
    print("replies other than discard:", dict(list(bad.items())[:5]), "count", len(r))
    sys.exit(1)
PY
# 64 MB above idle; a sanitizer build keeps freed memory in quarantine and adds shadow memory
# and red zones to every thread stack, so there the bound is 256 MB (still far below 50 MB x
# anything that held a message whole, or 300 x a body buffer).
bound=65536
grep -aq __asan_init "$BYOSMTPD" && bound=262144
limit=$((idle + bound))
[ "$peak" -lt "$limit" ] && ok || fail "peak RSS $peak kB is not below idle $idle kB + $((bound / 1024)) MB"
expect_eq "$(count_queue)" $((N + 1)) "every message spooled"
big=$(grep -l '^queue-id: QBIG$' "$SPOOL"/queue/*)
[ -n "$big" ] && check_trailer "$big"
expect_in "$big" "body-size: $((MB * 1024 * 1024))" "the big body is complete"
expect_not_in "$LOG" "MDB_READERS_FULL" "no LMDB reader-table errors"
expect_not_in "$LOG" "too many concurrent readers" "no LMDB reader-table errors"
expect_not_in "$LOG" "error:" "no errors logged"
expect_eq "$(quota_used acme)" $((N + 1)) "quota counted once per message"
# the size bomb
"$PY" "$TESTLIB/milterclient.py" "$SOCK" bigheader 5000 >"$T/bomb" 2>&1
expect_in "$T/bomb" "y 552 5.3.4 message header field too long" "a 5000-byte field gets 552"
expect_log "over milter.max_header_size (4096): rejected with 552" "size bomb"
finish
