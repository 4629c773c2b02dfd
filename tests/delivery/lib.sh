# lib.sh - shared set-up for the delivery end-to-end tests (sourced, POSIX sh): a private
# directory with byosmtp.conf (seconds-scale retries), master key, store and spool; the test
# provider (tests/provider/byo-provider.py) on loopback with the test CA; the real byosmtpd
# (milter and delivery processes) on a private unix socket; messages handed to it with
# tests/lib/milterclient.py (the MTA side of the milter protocol). Bounces go to a script that
# appends each DSN to $T/bounces.mbox unless a test points delivery.bounce.command elsewhere.
# tests/lib/common.sh has the tally, the provider, byosmtpd's start and stop, and the rest.
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness. KEEP=1 keeps $T.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
need_byosmtpd
work_dir byosmtp-delivery
chmod 755 "$T"
CONF="$T/byosmtp.conf"
SOCK="unix:$T/milter.sock"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
MBOX="$T/bounces.mbox"

make_certs "$T/certs"

# The default bounce command: append the DSN, with the arguments it was called with, to $MBOX.
cat >"$T/fake-sendmail" <<EOF
#!/bin/sh
{ echo "From MAILER-DAEMON args: \$*"; cat; echo; } >>"$MBOX"
EOF
chmod 755 "$T/fake-sendmail"
BOUNCE_COMMAND="$T/fake-sendmail -i -f <> --"

# at_cleanup: byosmtpd stopped (the providers are stopped after it)
at_cleanup() { stop_byosmtpd; }

# show_logs: the end of byosmtpd's log
show_logs() { show_tail "byosmtpd log" 80 "$LOG"; }

# provider NAME MODE [OPTIONS...]: start the test provider with the account user-NAME/pw-NAME;
# sets ${NAME}_PORT, records in $T/NAME.jsonl
provider() {
    pv_name=$1 pv_mode=$2
    shift 2
    start_provider "$pv_name" --mode "$pv_mode" --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
        --auth PLAIN,LOGIN --user "user-$pv_name" --password "pw-$pv_name" "$@"
    eval "${pv_name}_PORT=\$port"
}

# target NAME SECURITY PORT [OPTIONS...]: a target at 127.0.0.1:PORT (the host is $TARGET_HOST
# when set) for provider NAME, and the route @NAME.example -> NAME
target() {
    name=$1 sec=$2 port=$3
    shift 3
    printf 'pw-%s\n' "$name" | ctl target add "$name" --host "${TARGET_HOST:-127.0.0.1}" \
        --port "$port" --security "$sec" --username "user-$name" --password-stdin \
        --from "relay@$name.test" "$@" >/dev/null || die "target add $name"
    ctl route add "@$name.example" "$name" >/dev/null || die "route add $name"
}

# setup [EXTRA conf lines...]: conf (conn_idle_timeout $IDLE, default 5), key (the store is made by
# the first target add)
setup() {
    : "${IDLE:=5}"
    delivery_conf "$BOUNCE_COMMAND" "$@"
    ctl key generate >/dev/null || die "key generate"
}

# delivery_set SETTING...: more settings in the delivery group of $CONF, after setup (before
# start, or followed by a reload), e.g. delivery_set "data_done_timeout = 2;"
delivery_set() {
    sed -i "s|^delivery = { |delivery = { $* |" "$CONF"
    grep -qF "delivery = { $*" "$CONF" || die "delivery_set: no delivery group in $CONF"
}

# start: byosmtpd -f in the background, waiting for its socket and its delivery process
start() {
    start_byosmtpd || die "byosmtpd did not start"
}

# stop: SIGTERM and wait (a graceful stop of both processes)
stop() { stop_byosmtpd; }

# submit SENDER RCPTS COUNT [SUBJECT]: hand COUNT messages to byosmtpd; output in $T/submit.out
submit() {
    "$PY" "$TESTLIB/milterclient.py" "$SOCK" submit "$@" >"$T/submit.out" 2>&1 || {
        echo "FAIL: milterclient.py submit"
        cat "$T/submit.out"
        return 1
    }
}

# messages NAME: how many messages provider NAME has recorded
messages() {
    grep -c '"event": "message"' "$T/$1.jsonl" 2>/dev/null || true
}

# has_messages NAME N: provider NAME has recorded N messages or more
has_messages() { [ "$(messages "$1")" -ge "$2" ]; }

# at_finish: byosmtpd stopped; a sanitizer build reports in its log (stderr): any report fails
at_finish() {
    stop
    check "no sanitizer report in byosmtpd's log" no_sanitizer_report
}
