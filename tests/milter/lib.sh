# lib.sh - shared set-up for the milter-protocol tests (sourced): a private directory with its own
# byosmtp.conf, master key, store (made with the real byosmtpctl) and spool; the real byosmtpd
# started on a private unix socket and stopped by its PID; miltertest runs with helpers.lua
# (tests/lib/common.sh has the tally, byosmtpd's start and stop, and the rest).
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
MT_DIR="$top_srcdir/tests/milter"
need miltertest miltertest
lsan_suppressions
work_dir byosmtp-milter
CONF="$T/byosmtp.conf"
SOCK="unix:$T/milter.sock"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
MAP_SIZE=16M
write_conf

# at_cleanup: the tmpfs of failure.sh unmounted, byosmtpd stopped
at_cleanup() {
    umount "$SPOOL" 2>/dev/null
    stop_byosmtpd
}

# byosmtpd_ready: the milter socket is there (no delivery is configured here)
byosmtpd_ready() { [ -S "${SOCK#unix:}" ]; }

# show_logs: byosmtpd's whole log
show_logs() {
    echo "--- byosmtpd log ---"
    cat "$LOG" 2>/dev/null
}

# add_target NAME FROM [OPTIONS...]: a target whose password comes on stdin
add_target() {
    n=$1 f=$2
    shift 2
    printf 'pw-%s\n' "$n" | ctl target add "$n" --host "smtp.$n.test" --port 587 --username "u-$n" \
        --password-stdin --from "$f" "$@" >/dev/null || die "target add $n failed"
}

# setup_store: key, two targets and routes used by most tests
setup_store() {
    ctl key generate >/dev/null || die "key generate"
    add_target acme relay@acme.test --from-name "Acme Relay"
    add_target beta out@beta.test --reply-to help@beta.test
    ctl route add @acme.example acme >/dev/null || die "route add acme"
    ctl route add @beta.example beta >/dev/null || die "route add beta"
}

# start [NAME=VALUE...]: byosmtpd -f in the background (NAME=VALUE in its environment), ready once
# its socket is there
start() {
    start_byosmtpd "$@" || die "byosmtpd did not start"
}

# stop: SIGTERM and wait (a graceful stop): exit status 0, and no sanitizer report in the log
stop() {
    if [ -n "$BYO_PID" ]; then
        stop_byosmtpd
        expect_eq "$BYO_RC" 0 "byosmtpd exit status after SIGTERM"
        check "no sanitizer report in byosmtpd's log" no_sanitizer_report
    fi
}

# at_finish: byosmtpd stopped and checked
at_finish() { stop; }

# mt SCRIPT [NAME=VALUE...]: run a miltertest script from tests/milter; fail when it does
mt() {
    s=$1
    shift
    set -- -D "sock=$SOCK" -D "helpers=$MT_DIR/helpers.lua" "$@"
    if miltertest "$@" -s "$MT_DIR/$s" >"$T/mt.out" 2>&1; then
        ok "miltertest $s"
    else
        fail "miltertest $s: $(cat "$T/mt.out")"
    fi
}

# queue_files: the copies in the queue, one per line
queue_files() { ls "$SPOOL/queue" 2>/dev/null | grep -E '^[0-9A-F]{20}$' || true; }
# count_queue: how many copies are in the queue
count_queue() { queue_files | wc -l | tr -d ' '; }
# incoming_files: what is in incoming/
incoming_files() { ls -A "$SPOOL/incoming" 2>/dev/null || true; }

# expect_log TEXT WHAT: byosmtpd's log contains TEXT
expect_log() { expect_in "$LOG" "$1" "$2 (log)"; }

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
    if [ "$want" = "$got" ]; then ok "trailer of $1"; else fail "trailer of $1: '$want' vs '$got'"; fi
}

# quota_used TARGET: the accepted count of this month
quota_used() { ctl quota "$1" | awk -v t="$1" '$1==t {print $3; exit}'; }
