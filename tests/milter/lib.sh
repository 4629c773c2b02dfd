# lib.sh - shared set-up for the milter-protocol tests: a private directory with its own
# byosmtp.conf, master key, store (made with the real byosmtpctl) and spool; the real byosmtpd
# started on a private unix socket and stopped by its PID; miltertest runs with helpers.lua.
# Sourced by each test; BYOSMTPCTL, top_srcdir and top_builddir come from the harness.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
BYOSMTPD="$top_builddir/byosmtpd"
MT_DIR="$top_srcdir/tests/milter"
command -v miltertest >/dev/null 2>&1 || { echo "SKIP: miltertest is not installed (Debian package miltertest)"; exit 77; }
# libmilter's own allocations at exit (tests/milter/lsan.supp explains each entry)
LSAN_OPTIONS="suppressions=$MT_DIR/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
T=$(mktemp -d "${TMPDIR:-/tmp}/byosmtp-milter.XXXXXX")
PID=
cleanup() {
    umount "$SPOOL" 2>/dev/null
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
CONF="$T/byosmtp.conf"
SOCK="unix:$T/milter.sock"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
FAILS=0
CHECKS=0

# write_conf [EXTRA...]: byosmtp.conf with the test paths; each EXTRA is one more line
write_conf() {
    {
        echo "milter = { socket = \"$SOCK\"; pid_file = \"$T/byosmtpd.pid\"; ${MILTER_EXTRA:-} };"
        echo "store = { path = \"$T/store\"; map_size = \"${MAP_SIZE:-16M}\"; };"
        echo "spool = { path = \"$SPOOL\"; };"
        echo "secrets = { key_file = \"$T/master.key\"; };"
        for l in "$@"; do echo "$l"; done
    } >"$CONF"
}
write_conf

ctl() { "$BYOSMTPCTL" -c "$CONF" "$@"; }

# add_target NAME FROM [OPTIONS...]: a target whose password comes on stdin
add_target() {
    n=$1 f=$2
    shift 2
    printf 'pw-%s\n' "$n" | ctl target add "$n" --host "smtp.$n.test" --port 587 --username "u-$n" \
        --password-stdin --from "$f" "$@" >/dev/null || { echo "target add $n failed" >&2; exit 1; }
}

# setup_store: key, two targets and routes used by most tests
setup_store() {
    ctl key generate >/dev/null || exit 1
    add_target acme relay@acme.test --from-name "Acme Relay"
    add_target beta out@beta.test --reply-to help@beta.test
    ctl route add @acme.example acme >/dev/null || exit 1
    ctl route add @beta.example beta >/dev/null || exit 1
}

# start [ENV=VALUE...]: run byosmtpd -f in the background; wait for its socket
start() {
    rm -f "$T/milter.sock"
    env "$@" "$BYOSMTPD" -c "$CONF" -f >>"$LOG" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        [ -S "$T/milter.sock" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "byosmtpd did not start:" >&2
    cat "$LOG" >&2
    exit 1
}

# stop: SIGTERM and wait (a graceful stop): exit status 0, and no sanitizer report in the log
stop() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
        rc=$?
        PID=
        expect_eq "$rc" 0 "byosmtpd exit status after SIGTERM"
        expect_nogrep "$LOG" "Sanitizer" "sanitizer reports"
        expect_nogrep "$LOG" "runtime error:" "sanitizer reports"
    fi
}

fail() { FAILS=$((FAILS + 1)); printf 'FAIL: %s\n' "$*" >&2; }
ok() { CHECKS=$((CHECKS + 1)); }

# mt SCRIPT [NAME=VALUE...]: run a miltertest script from tests/milter; fail when it does
mt() {
    s=$1
    shift
    set -- -D "sock=$SOCK" -D "helpers=$MT_DIR/helpers.lua" "$@"
    if miltertest "$@" -s "$MT_DIR/$s" >"$T/mt.out" 2>&1; then
        ok
    else
        fail "miltertest $s: $(cat "$T/mt.out")"
    fi
}

# queue_files: the copies in the queue, one per line
queue_files() { ls "$SPOOL/queue" 2>/dev/null | grep -E '^[0-9A-F]{20}$' || true; }
count_queue() { queue_files | wc -l | tr -d ' '; }
incoming_files() { ls -A "$SPOOL/incoming" 2>/dev/null || true; }

# expect_eq GOT WANT WHAT
expect_eq() { if [ "$1" = "$2" ]; then ok; else fail "$3: got '$1', expected '$2'"; fi; }
# expect_grep FILE TEXT WHAT / expect_nogrep FILE TEXT WHAT
expect_grep() { if grep -aqF -- "$2" "$1"; then ok; else fail "$3: '$2' not in $1"; fi; }
expect_nogrep() { if grep -aqF -- "$2" "$1"; then fail "$3: '$2' found in $1"; else ok; fi; }
# expect_log TEXT WHAT
expect_log() { expect_grep "$LOG" "$1" "$2 (log)"; }

# copy_for TARGET: the queue file of the copy for TARGET (the first one)
copy_for() {
    for f in $(queue_files); do
        if grep -aq "^target: $1\$" "$SPOOL/queue/$f"; then echo "$SPOOL/queue/$f"; return; fi
    done
}

# header_of FILE: the header section of a copy (between the envelope and the body)
header_of() { awk 'BEGIN{e=1} e&&/^$/{e=0;next} !e{print} !e&&/^\r$/{exit}' "$1"; }

# check_trailer FILE: the trailer's length and SHA-256 match the content
check_trailer() {
    size=$(stat -c %s "$1")
    n=$((size - 99))
    want=$(tail -c 99 "$1")
    got="byosmtp-end: $(printf '%020d' "$n") $(head -c "$n" "$1" | sha256sum | cut -d' ' -f1)"
    if [ "$want" = "$got" ]; then ok; else fail "trailer of $1: '$want' vs '$got'"; fi
}

# quota_used TARGET: the accepted count of this month
quota_used() { ctl quota "$1" | awk -v t="$1" '$1==t {print $3; exit}'; }

# finish: stop, print the tally and exit 0 only when every check held
finish() {
    stop
    if [ "$FAILS" -ne 0 ]; then echo "--- byosmtpd log ---"; cat "$LOG"; fi
    echo "$(basename "$0"): $CHECKS checks passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
