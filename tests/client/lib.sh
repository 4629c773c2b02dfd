# lib.sh - shared by the client integration tests (sourced): start the test provider
# (tests/provider/byo-provider.py) on loopback, run tests/client/smtp_probe against it, and check
# the probe's result lines and the provider's JSON record.
#
# Every provider started here is stopped by PID when the test exits. BYO_CLIENT_KEEP=1 keeps the
# work directory. Skips (77) only when python3 or openssl is absent.

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
PY=/usr/bin/python3
PROVIDER=$top_srcdir/tests/provider/byo-provider.py
PROBE=$top_builddir/tests/client/smtp_probe

for tool in "$PY" openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done
if [ ! -f "$PROVIDER" ]; then
    echo "SKIP: the test provider $PROVIDER is not there"
    exit 77
fi
if [ ! -x "$PROBE" ]; then
    echo "FAIL: $PROBE is not built (make check builds it)"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/byo-client-test.XXXXXX") || exit 1
pids=""
failures=0
certs=$tmp/certs
sh "$top_srcdir/tests/provider/mkcerts.sh" "$certs" || { echo "FAIL: mkcerts.sh"; exit 1; }
PASSWORD=correct-horse-battery-9
printf '%s\n' "$PASSWORD" >"$tmp/password"
printf '%s\n' 'wrong-password' >"$tmp/wrongpassword"
USER_NAME=alice@example.com

# cleanup - stop every provider this test started (by PID) and remove the work directory
# stop_pid PID - SIGTERM, then SIGKILL after 10 s: a provider that hangs must not hang the test
stop_pid() {
    kill "$1" 2>/dev/null || return 0
    sp_n=0
    while kill -0 "$1" 2>/dev/null && [ $sp_n -lt 100 ]; do
        sleep 0.1
        sp_n=$((sp_n + 1))
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

cleanup() {
    for p in $pids; do
        stop_pid "$p"
    done
    if [ "${BYO_CLIENT_KEEP:-0}" = 1 ]; then
        echo "work directory kept: $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass() {
    echo "ok: $*"
}

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# start_provider NAME ARGS... - a provider whose port file, record and log are named NAME;
# sets $port. Account: $USER_NAME with the password in $tmp/password.
start_provider() {
    sp_name=$1
    shift
    rm -f "$tmp/$sp_name.port" "$tmp/$sp_name.jsonl"
    "$PY" "$PROVIDER" --port-file "$tmp/$sp_name.port" --record "$tmp/$sp_name.jsonl" "$@" \
        2>"$tmp/$sp_name.log" &
    sp_pid=$!
    pids="$pids $sp_pid"
    eval "pid_$sp_name=$sp_pid"
    sp_wait=0
    while [ ! -s "$tmp/$sp_name.port" ]; do
        if ! kill -0 "$sp_pid" 2>/dev/null || [ $sp_wait -ge 100 ]; then
            echo "FAIL: provider $sp_name did not start:"
            cat "$tmp/$sp_name.log"
            exit 1
        fi
        sleep 0.1
        sp_wait=$((sp_wait + 1))
    done
    port=$(cat "$tmp/$sp_name.port")
}

# stop_provider NAME - stop that provider and wait for it (its record is then complete)
stop_provider() {
    eval "st_pid=\$pid_$1"
    stop_pid "$st_pid"
    new=""
    for p in $pids; do
        [ "$p" = "$st_pid" ] || new="$new $p"
    done
    pids=$new
}

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

# probe NAME ARGS... - run smtp_probe (trust the test CA, short timeouts); output in $tmp/NAME.out,
# status in $probe_status
probe() {
    pr_name=$1
    shift
    "$PROBE" --user "$USER_NAME" --password-file "$tmp/password" --ca-file "$certs/ca.pem" \
        --timeout 10 --connect-timeout 5 "$@" >"$tmp/$pr_name.out" 2>"$tmp/$pr_name.err"
    probe_status=$?
}

# rcpts_are NAME CLASS ACTION - every recipient line of probe NAME (there is at least one) says
# CLASS/ACTION and failed: a message-level failure leaves no recipient reading as delivered
rcpts_are() {
    ra_lines=$(grep -c '^rcpt <' "$tmp/$1.out")
    ra_match=$(grep -c "^rcpt <[^>]*>: $2 action=$3 status=failed " "$tmp/$1.out")
    if [ "$ra_lines" -gt 0 ] && [ "$ra_lines" -eq "$ra_match" ]; then
        return 0
    fi
    echo "--- $1: expected every recipient $2/$3 status=failed; probe output:"
    cat "$tmp/$1.out"
    return 1
}

# result_is NAME WHAT CLASS [ACTION] - the probe printed "WHAT: CLASS action=ACTION"
result_is() {
    if grep -q "^$2: $3 action=${4:-}" "$tmp/$1.out"; then
        return 0
    fi
    echo "--- $1: expected $2: $3 ${4:-}; probe output:"
    cat "$tmp/$1.out" "$tmp/$1.err" 2>/dev/null
    return 1
}

# record_check NAME PYEXPR - evaluate PYEXPR over the provider NAME's record: msgs (message events),
# conns (connection events), events (every one); true → 0
record_check() {
    "$PY" - "$tmp/$1.jsonl" "$2" <<'EOF'
import base64, json, sys
events = []
try:
    with open(sys.argv[1]) as f:
        events = [json.loads(line) for line in f if line.strip()]
except FileNotFoundError:
    pass
msgs = [e for e in events if e.get("event") == "message"]
conns = [e for e in events if e.get("event") == "connection"]
def b64(s):
    return base64.b64decode(s)
ok = eval(sys.argv[2])
if not ok:
    print("--- record check failed: %s" % sys.argv[2])
    for e in events:
        print(json.dumps(e)[:1500])
sys.exit(0 if ok else 1)
EOF
}

# no_secret_in NAME - the password appears nowhere in the probe's output
no_secret_in() {
    ! grep -qF "$(cat "$tmp/password")" "$tmp/$1.out" "$tmp/$1.err"
}

# finish - the test's exit status
finish() {
    if [ $failures -gt 0 ]; then
        echo "$failures failure(s)"
        exit 1
    fi
    exit 0
}
