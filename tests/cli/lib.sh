# lib.sh - shared set-up for the byosmtpctl shell tests: a private directory with its own
# byosmtp.conf, master key and store, removed on exit; and small assertion helpers.
# Sourced by each test; BYOSMTPCTL and top_srcdir come from the test harness (Makefile.am).

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
T=$(mktemp -d "${TMPDIR:-/tmp}/byosmtp-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
CONF="$T/byosmtp.conf"
cat >"$CONF" <<CONF
store = { path = "$T/store"; map_size = "16M"; };
spool = { path = "$T/spool"; };
secrets = { key_file = "$T/master.key"; };
CONF
FAILS=0
CHECKS=0

ctl() { "$BYOSMTPCTL" -c "$CONF" "$@"; }

# run CMD...: run it, keeping stdout in $OUT, stderr in $ERR and the exit status in $RC
run() {
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

fail() { FAILS=$((FAILS + 1)); printf 'FAIL: %s\n' "$*" >&2; }
ok() { CHECKS=$((CHECKS + 1)); }

# expect_rc N WHAT: the last run exited N
expect_rc() {
    if [ "$RC" -eq "$1" ]; then ok; else fail "$2: exit $RC, expected $1 (stderr: $ERR)"; fi
}
# expect_out TEXT WHAT / expect_err TEXT WHAT: the last run's stdout / stderr contains TEXT
expect_out() {
    case $OUT in *"$1"*) ok ;; *) fail "$2: stdout lacks '$1': $OUT" ;; esac
}
expect_err() {
    case $ERR in *"$1"*) ok ;; *) fail "$2: stderr lacks '$1': $ERR" ;; esac
}
# expect_not_in FILE TEXT WHAT: TEXT occurs nowhere in FILE (binary files too)
expect_not_in() {
    if grep -aqF -- "$2" "$1"; then fail "$3: '$2' found in $1"; else ok; fi
}

# finish: print the tally and exit 0 only when every check held
finish() {
    echo "$(basename "$0"): $CHECKS checks passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
