# lib.sh - shared by the client integration tests (sourced): the test provider
# (tests/provider/byo-provider.py) on loopback, tests/client/smtp_probe run against it, and checks
# of the probe's result lines; tests/lib/common.sh has the tally, the provider's start and stop
# (by PID, when the test exits too) and the checks of its JSON record (pyrec).
#
# BYO_CLIENT_KEEP=1 (or KEEP=1) keeps the work directory. Skips (77) only when python3 or openssl
# is absent.

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/common.sh"
PROBE=$top_builddir/tests/client/smtp_probe

[ -x "$PY" ] || skip "$PY not found"
need openssl
[ -f "$PROVIDER" ] || skip "the test provider $PROVIDER is not there"
[ -x "$PROBE" ] || die "$PROBE is not built (make check builds it)"

[ "${BYO_CLIENT_KEEP:-0}" = 1 ] && KEEP=1
work_dir byo-client-test
certs=$T/certs
make_certs "$certs"
PASSWORD=correct-horse-battery-9
printf '%s\n' "$PASSWORD" >"$T/password"
printf '%s\n' 'wrong-password' >"$T/wrongpassword"
USER_NAME=alice@example.com

# tls_args MODE [CERT] - the provider options for MODE with the certificate CERT (default good)
tls_args() {
    c=${2:-good}
    case $1 in
    plain) echo "--mode plain" ;;
    *) echo "--mode $1 --cert $certs/$c.pem --key $certs/$c.key" ;;
    esac
}

# auth_args MECHS - the provider's AUTH options for the test account (loopback only)
auth_args() {
    echo "--auth $1 --user $USER_NAME --password $PASSWORD"
}

# probe NAME ARGS... - run smtp_probe (trust the test CA, short timeouts); output in $T/NAME.out,
# status in $probe_status
probe() {
    pr_name=$1
    shift
    "$PROBE" --user "$USER_NAME" --password-file "$T/password" --ca-file "$certs/ca.pem" \
        --timeout 10 --connect-timeout 5 "$@" >"$T/$pr_name.out" 2>"$T/$pr_name.err"
    probe_status=$?
}

# rcpts_are NAME CLASS ACTION - every recipient line of probe NAME (there is at least one) says
# CLASS/ACTION and failed: a message-level failure leaves no recipient reading as delivered
rcpts_are() {
    ra_lines=$(grep -c '^rcpt <' "$T/$1.out")
    ra_match=$(grep -c "^rcpt <[^>]*>: $2 action=$3 status=failed " "$T/$1.out")
    if [ "$ra_lines" -gt 0 ] && [ "$ra_lines" -eq "$ra_match" ]; then
        return 0
    fi
    echo "--- $1: expected every recipient $2/$3 status=failed; probe output:"
    cat "$T/$1.out"
    return 1
}

# result_is NAME WHAT CLASS [ACTION] - the probe printed "WHAT: CLASS action=ACTION"
result_is() {
    if grep -q "^$2: $3 action=${4:-}" "$T/$1.out"; then
        return 0
    fi
    echo "--- $1: expected $2: $3 ${4:-}; probe output:"
    cat "$T/$1.out" "$T/$1.err" 2>/dev/null
    return 1
}

# no_secret_in NAME - the password appears nowhere in the probe's output
no_secret_in() {
    ! grep -qF "$(cat "$T/password")" "$T/$1.out" "$T/$1.err"
}
