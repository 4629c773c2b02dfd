# lib.sh - shared set-up for the byosmtpctl shell tests (sourced): a private directory with its
# own byosmtp.conf, master key and store, removed on exit (tests/lib/common.sh has the tally and
# the rest), and the helpers that look at one command's exit status and output.
# BYOSMTPCTL and top_srcdir come from the test harness (Makefile.am).

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
work_dir byosmtp-cli
CONF="$T/byosmtp.conf"
cat >"$CONF" <<CONF
store = { path = "$T/store"; map_size = "16M"; };
spool = { path = "$T/spool"; };
secrets = { key_file = "$T/master.key"; };
CONF

# run CMD...: run it, keeping stdout in $OUT, stderr in $ERR and the exit status in $RC
run() {
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

# expect_rc N WHAT: the last run exited N
expect_rc() {
    if [ "$RC" -eq "$1" ]; then ok "$2"; else fail "$2: exit $RC, expected $1 (stderr: $ERR)"; fi
}

# expect_out TEXT WHAT / expect_err TEXT WHAT: the last run's stdout / stderr contains TEXT
expect_out() {
    case $OUT in *"$1"*) ok "$2" ;; *) fail "$2: stdout lacks '$1': $OUT" ;; esac
}
expect_err() {
    case $ERR in *"$1"*) ok "$2" ;; *) fail "$2: stderr lacks '$1': $ERR" ;; esac
}
