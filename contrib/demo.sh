#!/bin/sh
# demo.sh BUILD_DIR - byosmtp at work, end to end, on this machine's loopback only:
#
#   swaks ──▶ a private Postfix (smtpd_milters → byosmtpd) ──▶ Postfix's own Maildir   (unrouted)
#                       │
#                       └─▶ byosmtpd ──STARTTLS + AUTH──▶ a local test "provider"       (routed)
#
# Everything runs in one temporary directory, on 127.0.0.1: a private Postfix instance (its own
# main.cf, queue and Maildir; the system's Postfix configuration is never read or changed), the
# test provider tests/provider/byo-provider.py with certificates from tests/provider/mkcerts.sh,
# and byosmtpd with a private byosmtp.conf, master key, store and spool. A target and a route are
# made with byosmtpctl, "byosmtpctl verify" is run, one message goes to a routed and an unrouted
# recipient, and the output shows what each side received, byosmtpd's log line, the quota and
# the queue. Everything started here is stopped at the end (and on any failure or interrupt),
# and the directory is removed (BYOSMTP_DEMO_KEEP=1 keeps it).
#
# Run as root (Postfix's master starts as root) on Debian 12 with postfix, swaks, openssl,
# python3, sasl2-bin, libsasl2-modules and procps installed ("contrib/quickstart demo" does all that and
# passes its build directory). Exit status 0 when every step worked; otherwise 1, with one line
# saying which step failed.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ne 1 ]; then
    echo "usage: contrib/demo.sh BUILD_DIR   (the directory holding the built byosmtpd and byosmtpctl)" >&2
    exit 2
fi
bin=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no such build directory: $1" >&2; exit 1; }
BYOSMTPD=$bin/byosmtpd
BYOSMTPCTL=$bin/byosmtpctl
PY=/usr/bin/python3
WAIT=30

D=
BYO_PID=
PROV_PID=
step=starting

say() { printf '\n== %s\n' "$*"; }
# fail REASON: one line on stderr (and where to look), then the trap stops everything
fail() {
    printf 'demo: FAILED at "%s": %s\n' "$step" "$*" >&2
    if [ -n "$D" ]; then
        for f in "$D/byosmtpd.log" "$D/front/log/maillog" "$D/provider.log"; do
            [ -s "$f" ] && { printf '\n--- last lines of %s\n' "$f"; tail -n 15 "$f"; } >&2
        done
    fi
    exit 1
}
# show TEXT ARGS...: print "$ TEXT" (the command as an admin types it), run byosmtpctl ARGS and
# print its output indented; fail when it fails, unless SHOW_MAY_FAIL=1
show() {
    sh_text=$1
    printf '$ %s\n' "$sh_text"
    shift
    ctl "$@" >"$D/out" 2>&1
    sh_rc=$?
    indent <"$D/out"
    [ "$sh_rc" -eq 0 ] || [ "${SHOW_MAY_FAIL:-0}" = 1 ] || fail "$sh_text exited $sh_rc: $(head -1 "$D/out")"
}
ctl() { "$BYOSMTPCTL" -c "$D/byosmtp.conf" "$@"; }
# indent: the output of a step, indented under its heading
indent() { sed 's/^/    /'; }
# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds; 1 on timeout
wait_for() {
    wf_n=0
    wf_limit=$(($1 * 10))
    shift
    while [ "$wf_n" -lt "$wf_limit" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        wf_n=$((wf_n + 1))
    done
    return 1
}

# stop_all: stop byosmtpd (PID from its pid file), the provider (PID), Postfix (postfix stop)
stop_all() {
    trap - EXIT INT TERM HUP
    if [ -n "$D" ] && [ -s "$D/byosmtpd.pid" ]; then
        kill -TERM "$(tr -dc '0-9' <"$D/byosmtpd.pid")" 2>/dev/null
    elif [ -n "$BYO_PID" ]; then
        kill -TERM "$BYO_PID" 2>/dev/null
    fi
    [ -n "$BYO_PID" ] && wait "$BYO_PID" 2>/dev/null
    if [ -n "$PROV_PID" ]; then
        kill -TERM "$PROV_PID" 2>/dev/null
        wait "$PROV_PID" 2>/dev/null
    fi
    if [ -n "$D" ]; then
        # shellcheck disable=SC2034 # read by pf_cleanup
        [ "${BYOSMTP_DEMO_KEEP:-0}" = 1 ] && PF_KEEP=1
        pf_cleanup >/dev/null
        [ "${BYOSMTP_DEMO_KEEP:-0}" = 1 ] && echo "demo: kept $D"
    fi
}

# --- prerequisites, each with what to do about it ---
[ "$(id -u)" -eq 0 ] || fail "run as root: the private Postfix instance's master starts as root"
[ -x "$BYOSMTPD" ] && [ -x "$BYOSMTPCTL" ] || fail "byosmtpd or byosmtpctl is not built in $bin: run make there"
for tool in /usr/sbin/postfix swaks openssl "$PY"; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "$tool is missing: apt-get install postfix swaks openssl python3 sasl2-bin libsasl2-modules procps"
done
. "$top/tests/postfix/lib.sh"
pf_init notrap
D=$PF_TOP
trap stop_all EXIT
trap 'exit 1' INT TERM HUP
echo "byosmtp demo: everything runs in $D, on 127.0.0.1 only, and is stopped at the end."
echo "(byosmtpctl runs with -c $D/byosmtp.conf throughout; the system's /etc is not used.)"

# --- 1. the provider ---
step="the local provider"
say "1. A local SMTP provider: STARTTLS required, then AUTH (user apikey)"
sh "$top/tests/provider/mkcerts.sh" "$D/certs" >/dev/null 2>&1 || fail "tests/provider/mkcerts.sh could not make the test certificates"
PROV_PW=$(openssl rand -hex 16) || fail "openssl rand"
"$PY" "$top/tests/provider/byo-provider.py" --port-file "$D/provider.port" --record "$D/provider.jsonl" \
    --mode starttls --cert "$D/certs/good.pem" --key "$D/certs/good.key" --require-tls --require-auth \
    --auth PLAIN,LOGIN --user apikey --password "$PROV_PW" --hostname smtp.provider.test 2>"$D/provider.log" &
PROV_PID=$!
n=0
while [ ! -s "$D/provider.port" ]; do
    kill -0 "$PROV_PID" 2>/dev/null && [ $n -lt 100 ] || fail "the provider did not start (python3 tests/provider/byo-provider.py)"
    sleep 0.1
    n=$((n + 1))
done
PROV_PORT=$(cat "$D/provider.port")
echo "    listening on 127.0.0.1:$PROV_PORT, certificate from a test CA ($D/certs/ca.pem)"

# --- 2. byosmtpd's configuration and master key ---
step="byosmtpd's configuration"
say "2. byosmtpd's configuration ($D/byosmtp.conf) and master key"
MILTER_PORT=$(pf_free_port)
cat >"$D/byosmtp.conf" <<EOF
# The demo's private configuration; the defaults are in byosmtp.conf(5).
milter   = { socket = "inet:$MILTER_PORT@127.0.0.1"; pid_file = "$D/byosmtpd.pid"; };
store    = { path = "$D/store"; };
spool    = { path = "$D/spool"; };
secrets  = { key_file = "$D/master.key"; };
delivery = { tls_ca_file = "$D/certs/ca.pem";       # trust the demo provider's test CA
             retry = { min_backoff = 5; max_backoff = 10; };
             bounce = { command = "$(pf_sendmail_cmd "$D/front") -i -f <> --"; }; };
EOF
indent <"$D/byosmtp.conf"
show "byosmtpctl key generate" key generate

# --- 3. target and route ---
step="the target and the route"
say "3. A target (the customer's provider account) and a route, with byosmtpctl"
printf '$ echo "(the password)" | byosmtpctl target add acme --host 127.0.0.1 --port %s --security starttls \\\n      --username apikey --password-stdin --from noreply@acme.test --from-name "Acme Support" --quota 1000\n' "$PROV_PORT"
printf '%s\n' "$PROV_PW" | ctl target add acme --host 127.0.0.1 --port "$PROV_PORT" --security starttls \
    --username apikey --password-stdin --from noreply@acme.test --from-name "Acme Support" --quota 1000 \
    >"$D/out" 2>&1 || fail "byosmtpctl target add: $(head -1 "$D/out")"
indent <"$D/out"
show "byosmtpctl route add @customer.example acme" route add @customer.example acme
show "byosmtpctl route test bob@customer.example" route test bob@customer.example
SHOW_MAY_FAIL=1
show "byosmtpctl route test carol@local.example" route test carol@local.example
SHOW_MAY_FAIL=0

# --- 4. verify ---
step="byosmtpctl verify"
say "4. byosmtpctl verify acme: connect, STARTTLS, AUTH, and a test message"
printf '$ byosmtpctl verify acme\n'
ctl verify acme >"$D/out" 2>&1
rc=$?
indent <"$D/out"
[ $rc -eq 0 ] || fail "byosmtpctl verify acme exited $rc: $(grep 'result:' "$D/out" | head -1)"

# --- 5. byosmtpd and Postfix ---
step="starting byosmtpd"
say "5. byosmtpd, and a private Postfix with smtpd_milters pointing at it"
"$BYOSMTPD" -c "$D/byosmtp.conf" -f >"$D/byosmtpd.log" 2>&1 &
BYO_PID=$!
n=0
until [ -s "$D/byosmtpd.pid" ] && grep -q 'delivery: started' "$D/byosmtpd.log"; do
    kill -0 "$BYO_PID" 2>/dev/null && [ $n -lt 100 ] ||
        fail "byosmtpd did not start: $(grep -v '^$' "$D/byosmtpd.log" | tail -1)"
    sleep 0.1
    n=$((n + 1))
done
echo "    byosmtpd (pid $(cat "$D/byosmtpd.pid")) listens on inet:$MILTER_PORT@127.0.0.1"
step="starting the private Postfix"
pf_front "$D/front" "inet:127.0.0.1:$MILTER_PORT" >/dev/null || fail "cannot write the private Postfix configuration"
pf_start "$D/front" >"$D/out" 2>&1 || fail "the private Postfix did not start: $(tail -1 "$D/out")"
FRONT_PORT=$PF_PORT
echo "    Postfix (config $D/front/etc, log $D/front/log/maillog) listens on 127.0.0.1:$FRONT_PORT; its main.cf has:"
grep -E '^(smtpd_milters|non_smtpd_milters|milter_default_action|milter_protocol) ' "$D/front/etc/main.cf" | indent

# --- 6. one message, two recipients ---
step="submitting with swaks"
say "6. swaks sends one message to bob@customer.example (routed) and carol@local.example (not routed)"
echo "$ swaks --server 127.0.0.1:$FRONT_PORT --from alice@example.org --to bob@customer.example,carol@local.example ..."
swaks --server 127.0.0.1 --port "$FRONT_PORT" --helo app.example.org --from alice@example.org \
    --to bob@customer.example,carol@local.example --header "From: Alice Example <alice@example.org>" \
    --header "Subject: Your invoice" --header "Message-Id: <byosmtp-demo@example.org>" \
    --body "Hello Bob, this is the byosmtp demo message." >"$D/swaks.out" 2>&1 ||
    fail "swaks could not submit the message: $(grep -E '^ *<\*\*|\*\*\*' "$D/swaks.out" | head -1)"
grep -E '^ *(~>|->|<-) *(MAIL|RCPT|250 .*queued)' "$D/swaks.out" | indent
QID=$(sed -n 's/.*<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$D/swaks.out" | tail -1)
[ -n "$QID" ] || fail "Postfix did not queue the message: $(grep -E '<\*\*' "$D/swaks.out" | head -1)"

# --- 7. at the provider ---
step="delivery to the provider"
say "7. What the provider received, for the routed recipient (its own record of the session)"
provider_has() { grep -q 'byosmtp-demo@example.org' "$D/provider.jsonl"; }
wait_for "$WAIT" provider_has || fail "the message did not reach the provider within $WAIT s"
"$PY" - "$D/provider.jsonl" <<'EOF' || fail "cannot read the provider's record"
import base64, json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = [r for r in recs if r["event"] == "message" and "byosmtp-demo@example.org" in r["message"]][-1]
print("    over %s, AUTH %s as %s" % (m["tls_version"] if m["tls"] else "plain text (no TLS!)",
      m["auth_mechanism"], m["auth_user"]))
print("    MAIL FROM:<%s>" % m["mail_from"])
for r in m["rcpt"]:
    print("    RCPT TO:<%s>  -> %s" % (r["addr"], r["reply"]))
print("    --- header ---")
head = base64.b64decode(m["message_b64"]).split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
for line in head.split("\r\n"):
    print("    " + line)
EOF

# --- 8. at Postfix ---
step="Postfix's own delivery"
say "8. What Postfix delivered itself, for the unrouted recipient"
carol_has() { [ -n "$(pf_mailbox "$D/front" carol@local.example)" ]; }
wait_for "$WAIT" carol_has || fail "Postfix did not deliver carol@local.example's copy within $WAIT s"
CAROL=$(pf_mailbox "$D/front" carol@local.example | tail -1)
echo "    $CAROL"
echo "    --- header (From is untouched: this copy never went through a target) ---"
sed -n '/^\r\{0,1\}$/q;p' "$CAROL" | indent
[ "$(pf_count "$D/front" bob@customer.example)" -eq 0 ] ||
    fail "Postfix also delivered the routed recipient bob@customer.example"

# --- 9. the log ---
step="byosmtpd's log line"
say "9. byosmtpd's log line for it (Postfix-shaped; our spool id _ Postfix's queue id $QID)"
sent_logged() { grep -q "_$QID: to=<bob@customer.example>.*status=sent" "$D/byosmtpd.log"; }
wait_for 10 sent_logged || fail "byosmtpd logged no status=sent line for Postfix queue id $QID"
grep -E "(^|: )$QID: |_$QID: " "$D/byosmtpd.log" | indent
echo "    and Postfix's own lines for $QID:"
grep -E ": $QID: " "$D/front/log/maillog" | sed 's/^.*byo-front\//    /'

# --- 10. quota and queue ---
step="byosmtpctl quota and queue"
say "10. byosmtpctl quota and byosmtpctl queue"
queue_empty() { ctl queue 2>/dev/null | grep -q '^0 messages in the queue'; }
wait_for 10 queue_empty
show "byosmtpctl quota" quota
show "byosmtpctl queue" queue
grep -q '^0 messages in the queue' "$D/out" || fail "the queue is not empty"

step="stopping"
say "Done: stopping byosmtpd, the provider and the private Postfix"
stop_all
echo "byosmtp demo: ok"
exit 0
