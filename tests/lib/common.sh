# common.sh - what every shell test shares (sourced, POSIX sh), written once: the tally of checks
# (ok, fail, check, expect_*, finish, die, skip), polling (wait_for), the private directory $T and
# the clean-up on exit, the test provider (tests/provider/byo-provider.py) started and stopped by
# its PID with a bounded stop, checks over its JSON record (pyrec, tests/lib/records.py), the test
# OAuth2 token endpoint (start_oauth, grants), and the
# real byosmtpd on a private configuration (write_conf, delivery_conf, ctl, start_byosmtpd,
# stop_byosmtpd, log_has).
#
# Each area's lib.sh sources it and keeps only what is its own; an area may define the hooks
# at_finish (last checks, e.g. stopping its daemons), show_logs (what to print when a check
# failed), at_cleanup (what to stop on exit) and byosmtpd_ready (when a started byosmtpd is
# ready). A check prints "ok - WHAT" or "not ok - WHAT"; a test exits 0 when every check held,
# 1 when one did not or set-up failed, 77 when it cannot run here (the automake harness).
# top_srcdir, top_builddir and BYOSMTPCTL come from the harness (AM_TESTS_ENVIRONMENT).

: "${top_srcdir:?set top_srcdir before sourcing tests/lib/common.sh (make check does)}"
top_builddir=${top_builddir:-.}
PY=/usr/bin/python3
TESTLIB=$top_srcdir/tests/lib
PROVIDER=$top_srcdir/tests/provider/byo-provider.py
BYOSMTPD=$top_builddir/byosmtpd
CHECKS=0
FAILS=0
T=
PROVIDER_PIDS=
BYO_PID=
BYO_RC=

# --- the tally ---

# ok [WHAT]: count a check that held (and name it when WHAT is given)
ok() {
    CHECKS=$((CHECKS + 1))
    [ $# -eq 0 ] || echo "ok - $*"
}

# fail WHAT: count a check that did not hold, and say which
fail() {
    CHECKS=$((CHECKS + 1))
    FAILS=$((FAILS + 1))
    echo "not ok - $*"
}

# check WHAT COMMAND...: one check, which holds when COMMAND succeeds
check() {
    ck_what=$1
    shift
    if "$@"; then ok "$ck_what"; else fail "$ck_what"; fi
}

# expect_eq GOT WANT WHAT: one check that GOT is WANT
expect_eq() {
    if [ "$1" = "$2" ]; then ok "$3"; else fail "$3: got '$1', expected '$2'"; fi
}

# has FILE TEXT: FILE (binary files too) contains the string TEXT
has() { grep -aqF -- "$2" "$1"; }

# lacks FILE TEXT: FILE does not contain the string TEXT
lacks() { ! has "$1" "$2"; }

# expect_in FILE TEXT WHAT / expect_not_in FILE TEXT WHAT: one check that FILE has / has not TEXT
expect_in() {
    if has "$1" "$2"; then ok "$3"; else fail "$3: '$2' not in $1"; fi
}
expect_not_in() {
    if has "$1" "$2"; then fail "$3: '$2' found in $1"; else ok "$3"; fi
}

# at_finish: an area's last checks before the tally (none by default)
at_finish() { :; }

# show_logs: what an area prints when a check failed or set-up broke (nothing by default)
show_logs() { :; }

# show_tail TITLE N FILE: "--- TITLE" and the last N lines of FILE (nothing more when it is absent)
show_tail() {
    echo "--- $1"
    tail -n "$2" "$3" 2>/dev/null
}

# finish: the area's last checks, then the tally; exits 0 when every check held, else shows the
# logs and exits 1
finish() {
    at_finish
    echo "$(basename "$0"): $CHECKS checks, $FAILS failed"
    if [ "$FAILS" -ne 0 ]; then
        show_logs
        exit 1
    fi
    exit 0
}

# die WHAT: a set-up step failed: say what, show the logs, exit 1
die() {
    echo "FAIL: $*"
    show_logs
    exit 1
}

# skip WHY: the test cannot run here (exit 77)
skip() {
    echo "SKIP: $*"
    exit 77
}

# need TOOL [PACKAGE]: skip unless TOOL is installed (from the Debian package PACKAGE)
need() {
    command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed${2:+ (Debian package $2)}"
}

# need_byosmtpd: skip unless byosmtpd is built and python3 and openssl (for the test provider)
# are there
need_byosmtpd() {
    [ -x "$BYOSMTPD" ] || skip "$BYOSMTPD is not built"
    [ -x "$PY" ] || skip "$PY is missing"
    need openssl
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds (0), for SECONDS at
# most (1)
wait_for() {
    wf_n=$(($1 * 10))
    shift
    while [ "$wf_n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        wf_n=$((wf_n - 1))
    done
    return 1
}

# --- the private directory, and what is stopped on exit ---

# work_dir NAME: make the private directory $T (${TMPDIR:-/tmp}/NAME.XXXXXX) and the traps that
# clean up when the test exits or is interrupted
work_dir() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM HUP
}

# at_cleanup: what an area stops on exit before the providers are stopped (nothing by default)
at_cleanup() { :; }

# cleanup: the area's clean-up, every provider still running stopped, $T removed (KEEP=1 keeps it)
cleanup() {
    at_cleanup
    for cu_pid in $PROVIDER_PIDS; do
        stop_pid "$cu_pid"
    done
    PROVIDER_PIDS=
    if [ -n "${KEEP:-}" ]; then
        echo "kept $T"
    elif [ -n "$T" ]; then
        rm -rf "$T"
    fi
}

# stop_pid PID: SIGTERM, SIGKILL if it is still there after 10 s, and reap it; returns its exit
# status (a process that hangs cannot hang the test)
stop_pid() {
    kill -TERM "$1" 2>/dev/null || {
        wait "$1" 2>/dev/null
        return
    }
    sp_n=0
    while kill -0 "$1" 2>/dev/null && [ "$sp_n" -lt 100 ]; do
        sleep 0.1
        sp_n=$((sp_n + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# --- the test provider ---

# make_certs DIR: the test CA and the certificates of tests/provider/mkcerts.sh in DIR
make_certs() {
    sh "$top_srcdir/tests/provider/mkcerts.sh" "$1" >"$T/mkcerts.log" 2>&1 ||
        die "tests/provider/mkcerts.sh: $(cat "$T/mkcerts.log")"
}

# start_provider NAME ARGS...: the test provider on 127.0.0.1 with ARGS, its port file, record and
# log $T/NAME.port, $T/NAME.jsonl (made afresh) and $T/NAME.log; waits until it listens and sets
# $port, and pid_NAME for stop_provider
start_provider() {
    sp_name=$1
    shift
    rm -f "$T/$sp_name.port" "$T/$sp_name.jsonl"
    "$PY" "$PROVIDER" --port-file "$T/$sp_name.port" --record "$T/$sp_name.jsonl" "$@" \
        2>"$T/$sp_name.log" &
    sp_pid=$!
    PROVIDER_PIDS="$PROVIDER_PIDS $sp_pid"
    eval "pid_$sp_name=\$sp_pid"
    sp_n=0
    while [ ! -s "$T/$sp_name.port" ]; do
        if ! kill -0 "$sp_pid" 2>/dev/null || [ "$sp_n" -ge 100 ]; then
            cat "$T/$sp_name.log"
            die "the provider $sp_name did not start"
        fi
        sleep 0.1
        sp_n=$((sp_n + 1))
    done
    # shellcheck disable=SC2034 # read by the caller
    port=$(cat "$T/$sp_name.port")
    : >>"$T/$sp_name.jsonl"
}

# stop_provider NAME: stop that provider (stop_pid) and wait for it, so that its record is
# complete; returns its exit status
stop_provider() {
    st_pid=
    eval "st_pid=\$pid_$1"
    st_left=
    for st_p in $PROVIDER_PIDS; do
        [ "$st_p" = "$st_pid" ] || st_left="$st_left $st_p"
    done
    PROVIDER_PIDS=$st_left
    stop_pid "$st_pid"
}

# start_oauth NAME ARGS...: the test OAuth2 token endpoint (tests/provider/byo-oauth.py) on
# 127.0.0.1 over HTTPS with the test CA's good certificate ($T/certs, make_certs first) and ARGS;
# its port file, request record (made afresh), issued-token file and log are $T/NAME.port, $T/NAME.jsonl,
# $T/NAME.tokens and $T/NAME.log; waits until it listens and sets $port, and pid_NAME for
# stop_provider NAME (signals: kill -USR1 revokes the refresh token, -USR2 the access tokens)
start_oauth() {
    so_name=$1
    shift
    rm -f "$T/$so_name.port" "$T/$so_name.jsonl"
    "$PY" "$top_srcdir/tests/provider/byo-oauth.py" --port-file "$T/$so_name.port" \
        --record "$T/$so_name.jsonl" --tokens "$T/$so_name.tokens" --cert "$T/certs/good.pem" \
        --key "$T/certs/good.key" "$@" 2>>"$T/$so_name.log" &
    so_pid=$!
    PROVIDER_PIDS="$PROVIDER_PIDS $so_pid"
    eval "pid_$so_name=\$so_pid"
    so_n=0
    while [ ! -s "$T/$so_name.port" ]; do
        if ! kill -0 "$so_pid" 2>/dev/null || [ "$so_n" -ge 100 ]; then
            cat "$T/$so_name.log"
            die "the token endpoint $so_name did not start"
        fi
        sleep 0.1
        so_n=$((so_n + 1))
    done
    port=$(cat "$T/$so_name.port")
    : >>"$T/$so_name.jsonl"
}

# grants NAME [STATUS]: how many requests token endpoint NAME answered (with HTTP STATUS)
grants() {
    "$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(len([r for r in recs if len(sys.argv) < 3 or r["status"] == int(sys.argv[2])]))' "$T/$1.jsonl" ${2:+"$2"}
}

# pyrec NAME CHECK: CHECK (a Python expression, or statements with assertions) holds over the
# record $T/NAME.jsonl of provider NAME (tests/lib/records.py says what is in scope)
pyrec() {
    "$PY" "$TESTLIB/records.py" "$T/$1.jsonl" "$2"
}

# --- loopback ports ---

# port_listens PORT: something listens on 127.0.0.1:PORT (ss(8), or else a connection attempt)
port_listens() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
            "$1" 2>/dev/null
    fi
}

# free_port: print a random loopback port in 20000..31999 on which nothing listens now
free_port() {
    while :; do
        fp_port=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        fp_port=$((20000 + fp_port % 12000))
        port_listens "$fp_port" || {
            echo "$fp_port"
            return 0
        }
    done
}

# --- byosmtpd and byosmtpctl on the test's own configuration ---
# $CONF is the configuration, $SOCK the milter socket (unix:PATH or inet:PORT@127.0.0.1), $LOG
# byosmtpd's output and $SPOOL the spool, all under $T.

# ctl ARGS...: byosmtpctl with $CONF
ctl() { "$BYOSMTPCTL" -c "$CONF" "$@"; }

# write_conf [LINE...]: $CONF with the milter on $SOCK (and $MILTER_EXTRA settings), its pid file,
# the store ($MAP_SIZE, default 64M), the spool and the master key under $T; then each LINE
write_conf() {
    {
        echo "milter = { socket = \"$SOCK\"; pid_file = \"$T/byosmtpd.pid\"; ${MILTER_EXTRA:+$MILTER_EXTRA }};"
        echo "store = { path = \"$T/store\"; map_size = \"${MAP_SIZE:-64M}\"; };"
        echo "spool = { path = \"$SPOOL\"; };"
        echo "secrets = { key_file = \"$T/master.key\"; };"
        for wc_line in "$@"; do echo "$wc_line"; done
    } >"$CONF"
}

# delivery_conf BOUNCE-COMMAND [LINE...]: write_conf with delivery to the test provider (the test
# CA in $T/certs, seconds-scale timeouts and retries) and bounces through BOUNCE-COMMAND. Set to
# change: WORKERS (4), HELO_NAME, COMMAND_TIMEOUT (10), IDLE (conn_idle_timeout), MIN_BACKOFF (1),
# MAX_BACKOFF (2), LIFETIME (600), LOG_LEVEL (info).
delivery_conf() {
    dc_bounce=$1
    shift
    write_conf \
        "delivery = { workers = ${WORKERS:-4};${HELO_NAME:+ helo_name = \"$HELO_NAME\";} tls_ca_file = \"$T/certs/ca.pem\";" \
        "  connect_timeout = 5; command_timeout = ${COMMAND_TIMEOUT:-10};${IDLE:+ conn_idle_timeout = $IDLE;}" \
        "  retry = { min_backoff = ${MIN_BACKOFF:-1}; max_backoff = ${MAX_BACKOFF:-2}; max_lifetime = ${LIFETIME:-600}; };" \
        "  bounce = { command = \"$dc_bounce\"; }; };" \
        "log = { level = \"${LOG_LEVEL:-info}\"; };" "$@"
}

# byosmtpd_ready: byosmtpd has written its pid file, its delivery process has started, and its
# milter socket accepts (an area may define its own)
byosmtpd_ready() {
    [ -s "$T/byosmtpd.pid" ] && [ -s "$SPOOL/delivery/pid" ] &&
        grep -q "delivery: started" "$LOG" &&
        case $SOCK in
        unix:*) [ -S "${SOCK#unix:}" ] ;;
        inet:*) br_port=${SOCK#inet:} && port_listens "${br_port%%@*}" ;;
        esac
}

# start_byosmtpd [NAME=VALUE...]: byosmtpd -f with $CONF in the background (with NAME=VALUE in its
# environment), its output appended to $LOG; sets $BYO_PID; 0 once byosmtpd_ready, 1 when it
# exited or was not ready within 15 s
start_byosmtpd() {
    rm -f "$T/byosmtpd.pid"
    case $SOCK in unix:*) rm -f "${SOCK#unix:}" ;; esac
    env "$@" "$BYOSMTPD" -c "$CONF" -f >>"$LOG" 2>&1 &
    BYO_PID=$!
    sb_n=0
    while [ "$sb_n" -lt 150 ]; do
        byosmtpd_ready && return 0
        kill -0 "$BYO_PID" 2>/dev/null || return 1
        sleep 0.1
        sb_n=$((sb_n + 1))
    done
    return 1
}

# stop_byosmtpd: SIGTERM to byosmtpd (a graceful stop of all its processes) and wait for it; its
# exit status in $BYO_RC
stop_byosmtpd() {
    [ -n "$BYO_PID" ] || return 0
    kill -TERM "$BYO_PID" 2>/dev/null
    wait "$BYO_PID" 2>/dev/null
    # shellcheck disable=SC2034 # read by the caller
    BYO_RC=$?
    BYO_PID=
}

# log_has PATTERN: byosmtpd's log has a line that matches PATTERN (a basic regular expression)
log_has() { grep -q -- "$1" "$LOG"; }

# no_sanitizer_report: byosmtpd's log has no report of a sanitizer (ASan, LSan, UBSan)
no_sanitizer_report() { ! grep -aEq 'Sanitizer|runtime error:' "$LOG"; }

# queue_empty: no copy waits in byosmtpd's queue
queue_empty() { [ -z "$(ls "$SPOOL/queue" 2>/dev/null)" ]; }

# lsan_suppressions: a sanitizer build's LeakSanitizer ignores libmilter's own allocations at
# exit (tests/milter/lsan.supp explains each entry)
lsan_suppressions() {
    LSAN_OPTIONS="suppressions=$top_srcdir/tests/milter/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export LSAN_OPTIONS
}

# swaks_send PORT OUTFILE SWAKS-ARGS...: one message over SMTP to 127.0.0.1:PORT with swaks, its
# transcript in OUTFILE
swaks_send() {
    ss_port=$1
    ss_out=$2
    shift 2
    swaks --server 127.0.0.1 --port "$ss_port" --helo client.byosmtp.test "$@" >"$ss_out" 2>&1
}
