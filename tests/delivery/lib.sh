# lib.sh - shared set-up for the delivery end-to-end tests (sourced, POSIX sh): a private
# directory with byosmtp.conf (seconds-scale retries), master key, store and spool; the test
# provider (tests/provider/byo-provider.py) on loopback with the test CA; the real byosmtpd
# (milter and delivery processes) on a private unix socket; messages handed to it with
# tests/lib/milterclient.py (the MTA side of the milter protocol). Bounces go to a script that
# appends each DSN to $T/bounces.mbox unless a test points delivery.bounce.command elsewhere (a
# real Postfix).
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness. KEEP=1 keeps $T.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
BYOSMTPD="$top_builddir/byosmtpd"
PY=/usr/bin/python3
PROVIDER="$top_srcdir/tests/provider/byo-provider.py"
[ -x "$BYOSMTPD" ] || { echo "SKIP: $BYOSMTPD is not built"; exit 77; }
[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 is missing"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl is missing"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/byosmtp-delivery.XXXXXX")
chmod 755 "$T"
PID=
PROV_PIDS=
EXTRA_CLEANUP=
cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    for p in $PROV_PIDS; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ -n "$EXTRA_CLEANUP" ]; then eval "$EXTRA_CLEANUP"; fi
    if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
CONF="$T/byosmtp.conf"
SOCK="unix:$T/milter.sock"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
MBOX="$T/bounces.mbox"
FAILS=0
CHECKS=0

sh "$top_srcdir/tests/provider/mkcerts.sh" "$T/certs" >/dev/null 2>&1 || { echo "FAIL: mkcerts.sh"; exit 1; }

# The default bounce command: append the DSN, with the arguments it was called with, to $MBOX.
cat >"$T/fake-sendmail" <<EOF
#!/bin/sh
{ echo "From MAILER-DAEMON args: \$*"; cat; echo; } >>"$MBOX"
EOF
chmod 755 "$T/fake-sendmail"
BOUNCE_COMMAND="$T/fake-sendmail -i -f <> --"

# write_conf [EXTRA...]: byosmtp.conf with the test paths; each EXTRA is one more line
write_conf() {
    {
        echo "milter = { socket = \"$SOCK\"; pid_file = \"$T/byosmtpd.pid\"; };"
        echo "store = { path = \"$T/store\"; map_size = \"64M\"; };"
        echo "spool = { path = \"$SPOOL\"; };"
        echo "secrets = { key_file = \"$T/master.key\"; };"
        echo "delivery = { workers = ${WORKERS:-4}; tls_ca_file = \"$T/certs/ca.pem\";"
        echo "  connect_timeout = 5; command_timeout = ${COMMAND_TIMEOUT:-10}; conn_idle_timeout = ${IDLE:-5};"
        echo "  retry = { min_backoff = ${MIN_BACKOFF:-1}; max_backoff = ${MAX_BACKOFF:-2}; max_lifetime = ${LIFETIME:-600}; };"
        echo "  bounce = { command = \"${BOUNCE_COMMAND}\"; }; };"
        echo "log = { level = \"${LOG_LEVEL:-info}\"; };"
        for l in "$@"; do echo "$l"; done
    } >"$CONF"
}

ctl() { "$BYOSMTPCTL" -c "$CONF" "$@"; }

# provider NAME MODE [OPTIONS...]: start byo-provider; sets ${NAME}_PORT, records in $T/NAME.jsonl
provider() {
    name=$1 mode=$2
    shift 2
    rm -f "$T/$name.port"
    "$PY" "$PROVIDER" --port-file "$T/$name.port" --record "$T/$name.jsonl" --mode "$mode" \
        --cert "$T/certs/good.pem" --key "$T/certs/good.key" --auth PLAIN,LOGIN \
        --user "user-$name" --password "pw-$name" "$@" 2>"$T/$name.log" &
    PROV_PIDS="$PROV_PIDS $!"
    for _ in $(seq 1 100); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
    [ -s "$T/$name.port" ] || { echo "FAIL: provider $name did not start"; cat "$T/$name.log"; exit 1; }
    eval "${name}_PORT=$(cat "$T/$name.port")"
    touch "$T/$name.jsonl"
}

# target NAME SECURITY PORT [OPTIONS...]: a target at 127.0.0.1:PORT for provider NAME, and the
# route @NAME.example -> NAME
target() {
    name=$1 sec=$2 port=$3
    shift 3
    printf 'pw-%s\n' "$name" | ctl target add "$name" --host 127.0.0.1 --port "$port" \
        --security "$sec" --username "user-$name" --password-stdin --from "relay@$name.test" "$@" \
        >/dev/null || { echo "FAIL: target add $name"; exit 1; }
    ctl route add "@$name.example" "$name" >/dev/null || { echo "FAIL: route add $name"; exit 1; }
}

# start: byosmtpd -f in the background, waiting for its socket and its delivery process
start() {
    rm -f "$T/milter.sock"
    "$BYOSMTPD" -c "$CONF" -f >>"$LOG" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        [ -S "$T/milter.sock" ] && [ -s "$SPOOL/delivery/pid" ] && grep -q "delivery: started" "$LOG" && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: byosmtpd did not start:"
    cat "$LOG"
    exit 1
}

# stop: SIGTERM and wait (a graceful stop of both processes)
stop() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
        PID=
    fi
}

# setup [EXTRA conf lines...]: conf, key (the store is made by the first target add)
setup() {
    write_conf "$@"
    ctl key generate >/dev/null || { echo "FAIL: key generate"; exit 1; }
}

# submit SENDER RCPTS COUNT [SUBJECT]: hand COUNT messages to byosmtpd; output in $T/submit.out
submit() {
    "$PY" "$top_srcdir/tests/lib/milterclient.py" "$SOCK" submit "$@" >"$T/submit.out" 2>&1 || {
        echo "FAIL: milterclient.py submit"; cat "$T/submit.out"; return 1; }
}

# messages NAME: how many messages provider NAME has recorded
messages() {
    grep -c '"event": "message"' "$T/$1.jsonl" 2>/dev/null || true
}

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds; 1 on timeout
wait_for() {
    limit=$1
    shift
    i=0
    while [ "$i" -lt $((limit * 10)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

has_messages() { [ "$(messages "$1")" -ge "$2" ]; }
log_has() { grep -q -- "$1" "$LOG"; }
queue_empty() { [ -z "$(ls "$SPOOL/queue" 2>/dev/null)" ]; }

# check DESCRIPTION COMMAND...: one assertion
check() {
    d=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then echo "ok - $d"; else echo "not ok - $d"; FAILS=$((FAILS + 1)); fi
}

# pyrec NAME SCRIPT: run a Python assertion over provider NAME's records (msgs, conns in scope)
pyrec() {
    "$PY" - "$T/$1.jsonl" "$2" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
msgs = [r for r in recs if r["event"] == "message"]
conns = [r for r in recs if r["event"] == "connection"]
exec(sys.argv[2])
EOF
}

finish() {
    stop
    # a sanitizer build reports in byosmtpd's log (stderr): any report fails the test
    check "no sanitizer report in byosmtpd's log" sh -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$LOG'"
    echo "$CHECKS checks, $FAILS failed"
    if [ "$FAILS" -ne 0 ]; then
        echo "--- byosmtpd log"
        tail -n 80 "$LOG"
        exit 1
    fi
    exit 0
}
