# lib.sh - shared set-up for the fault-injection tests (sourced, POSIX sh): the real byosmtpd
# (milter, supervisor and delivery processes) with delivery to the test provider, run under
# tests/faults/faultshim.so, whose control file $CONTROL the tests rewrite while it runs to make
# fsync, fdatasync, write, pwrite or writev fail on one file of one process (faultshim.c has the
# rule syntax); every failure the shim makes is a line in $FAULTLOG. Messages go in with
# tests/faults/faultclient.py, which stops where the milter's reply stops an MTA.
# tests/lib/common.sh has the tally, the provider, byosmtpd's start and stop, and the rest.
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness. KEEP=1 keeps $T.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
need_byosmtpd
need mdb_dump lmdb-utils
SHIM=$top_builddir/tests/faults/faultshim.so
[ -f "$SHIM" ] || skip "$SHIM is not built (make check builds it)"
lsan_suppressions
work_dir byosmtp-faults
chmod 755 "$T"
CONF="$T/byosmtp.conf"
SOCK="unix:$T/milter.sock"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
MBOX="$T/bounces.mbox"
CONTROL="$T/faults.ctl"
FAULTLOG="$T/faults.log"
: >"$CONTROL"
: >"$FAULTLOG"
make_certs "$T/certs"

# The bounce command: append the DSN, with the arguments it was called with, to $MBOX.
cat >"$T/fake-sendmail" <<EOF
#!/bin/sh
{ echo "From MAILER-DAEMON args: \$*"; cat; echo; } >>"$MBOX"
EOF
chmod 755 "$T/fake-sendmail"

# A copy's name in incoming/ or queue/, 20 characters, as a pattern of the shim (a reception
# file ends in .rcv, a state file being written in .state.tmp) and as a basic regular expression
# shellcheck disable=SC2034 # used by the tests that source this file
ID_GLOB='????????????????????'
# shellcheck disable=SC2034
ID_RE='[0-9A-F]\{20\}'

# at_cleanup: byosmtpd stopped (the providers are stopped after it)
at_cleanup() { stop_byosmtpd; }

# show_logs: the end of byosmtpd's log and the shim's
show_logs() {
    show_tail "byosmtpd log" 100 "$LOG"
    show_tail "faultshim log" 40 "$FAULTLOG"
}

# provider NAME [OPTIONS...]: the test provider (STARTTLS) with the account user-NAME/pw-NAME,
# and the target NAME at it with the route @NAME.example -> NAME
provider() {
    pv_name=$1
    shift
    start_provider "$pv_name" --mode starttls --cert "$T/certs/good.pem" \
        --key "$T/certs/good.key" --auth PLAIN,LOGIN --user "user-$pv_name" \
        --password "pw-$pv_name" "$@"
    printf 'pw-%s\n' "$pv_name" | ctl target add "$pv_name" --host 127.0.0.1 --port "$port" \
        --security starttls --username "user-$pv_name" --password-stdin \
        --from "relay@$pv_name.test" >/dev/null || die "target add $pv_name"
    ctl route add "@$pv_name.example" "$pv_name" >/dev/null || die "route add $pv_name"
}

# setup: the configuration (seconds-scale retries, bounces to $MBOX) and the master key
setup() {
    IDLE=${IDLE:-5}
    delivery_conf "$T/fake-sendmail -i -f <> --"
    ctl key generate >/dev/null || die "key generate"
}

# preload: LD_PRELOAD for byosmtpd: the shim, after the ASan runtime in a sanitizer build (ASan
# must come first in the list of libraries, and the shim then wraps ASan's interceptors)
preload() {
    pl_asan=$(ldd "$BYOSMTPD" 2>/dev/null | awk '/libasan/ {print $3; exit}')
    echo "${pl_asan:+$pl_asan }$SHIM"
}

# start: byosmtpd under the shim; $MPID is the milter process, $DPID the delivery process and
# $SPID its supervisor
start() {
    start_byosmtpd LD_PRELOAD="$(preload)" FAULTSHIM_CONTROL="$CONTROL" \
        FAULTSHIM_LOG="$FAULTLOG" || die "byosmtpd did not start"
    MPID=$BYO_PID
    DPID=$(cat "$SPOOL/delivery/pid")
    SPID=$(ps -o ppid= -p "$DPID" | tr -d ' ')
    [ -n "$SPID" ] || die "no supervisor for the delivery process $DPID"
}

# faults [RULE...]: the shim's rules from now on (none: every call passes); the file is
# replaced, so the shim counts calls from zero again
faults() {
    : >"$CONTROL.new"
    for fa_rule in "$@"; do echo "$fa_rule" >>"$CONTROL.new"; done
    mv "$CONTROL.new" "$CONTROL"
}

# injected TEXT: how many failures (or calls seen, for the errno "none") the shim logged whose
# line has TEXT
injected() { grep -cF -- "$1" "$FAULTLOG" || true; }

# send SUBJECT RCPTS [CHUNKS]: one message from alice@client.example; the milter's last reply
# (faultclient.py) in $REPLY
send() {
    REPLY=$("$PY" "$top_srcdir/tests/faults/faultclient.py" "$SOCK" alice@client.example "$2" \
        "$1" ${3:+"$3"} 2>&1)
    echo "# $1: $REPLY"
}

# processes_up WHAT: the milter process, the supervisor and the same delivery process run
processes_up() {
    check "$1: the milter process is up" kill -0 "$MPID"
    check "$1: the supervisor is up" kill -0 "$SPID"
    check "$1: the same delivery process is up" \
        sh -c "kill -0 $DPID && [ \"\$(cat '$SPOOL/delivery/pid')\" = $DPID ]"
}

# store_records: how many queue records the store holds
store_records() { mdb_dump -p -s queue "$T/store" | grep -c 'target=' || true; }

# accepted TARGET: the accepted count of this month for TARGET (byosmtpctl quota)
accepted() { ctl quota "$1" | awk -v t="$1" '$1 == t {print $3; exit}'; }

# delivered TARGET: the delivered count of this month for TARGET (byosmtpctl quota)
delivered() { ctl quota "$1" | awk -v t="$1" '$1 == t {print $5; exit}'; }

# spool_empty: nothing in incoming/ and nothing in queue/
spool_empty() { [ -z "$(ls -A "$SPOOL/incoming")" ] && [ -z "$(ls -A "$SPOOL/queue")" ]; }

# messages NAME: how many messages provider NAME has recorded
messages() { grep -c '"event": "message"' "$T/$1.jsonl" 2>/dev/null || true; }

# has_messages NAME N: provider NAME has recorded N messages or more
has_messages() { [ "$(messages "$1")" -ge "$2" ]; }

# copies_of NAME SUBJECT RCPT: how many times provider NAME accepted RCPT for SUBJECT
copies_of() {
    "$PY" - "$T/$1.jsonl" "$2" "$3" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "message" and "Subject: %s\r\n" % sys.argv[2] in r["message"]:
        n += sum(1 for x in r["rcpt"] if x["addr"] == sys.argv[3] and x["accepted"])
print(n)
EOF
}

# has_subject NAME SUBJECT: provider NAME has recorded a message with that exact Subject
has_subject() { grep -qF -- "Subject: $2\\r\\n" "$T/$1.jsonl"; }

# delivered_is TARGET N: the month's delivered count for TARGET is N
delivered_is() { [ "$(delivered "$1")" = "$2" ]; }

# log_mark: remember where byosmtpd's log ends now, for log_since
log_mark() { LOG_MARK=$(wc -l <"$LOG"); }

# log_since: byosmtpd's log after the last log_mark
log_since() { tail -n +$((LOG_MARK + 1)) "$LOG"; }

# at_finish: byosmtpd stopped; a sanitizer build reports in its log (stderr): any report fails
at_finish() {
    stop_byosmtpd
    check "no sanitizer report in byosmtpd's log" no_sanitizer_report
}
