# lib.sh - the full path with real parts, for the end-to-end tests (sourced, POSIX sh):
#
#   swaks ──SMTP──▶ front Postfix (private instance, tests/postfix/lib.sh "front" profile)
#                     │ smtpd_milters / non_smtpd_milters = inet:127.0.0.1:PORT
#                     ▼
#                   byosmtpd (the real daemon: milter process + forked delivery process)
#                     │ STARTTLS + AUTH
#                     ▼
#                   the test provider (tests/provider/byo-provider.py), which records exactly
#                   what it received in $T/provider.jsonl
#
# Everything lives in one temporary directory $T (= $PF_TOP of tests/postfix/lib.sh): byosmtpd's
# private byosmtp.conf, master key, store, spool, pid file and log; the test CA; the provider's
# record; the front Postfix in $T/front. Only 127.0.0.1 is used. The trap stops byosmtpd (by the
# PID in its pid file), the provider (by PID) and Postfix (pf_stop), then removes $T (KEEP=1 or
# PF_KEEP=1 keeps it).
#
# byosmtpd listens on TCP (inet:PORT@127.0.0.1) rather than a unix socket: started as root
# without milter.user its unix socket is root's, mode 0660, and Postfix's smtpd (user postfix)
# could not connect to it.
#
# Needs root, Postfix, Cyrus SASL (pf_init exits 77 without them), swaks and /usr/bin/python3.
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
BYOSMTPD="$top_builddir/byosmtpd"
PY=/usr/bin/python3
PROVIDER="$top_srcdir/tests/provider/byo-provider.py"
[ -x "$BYOSMTPD" ] || { echo "SKIP: $BYOSMTPD is not built"; exit 77; }
[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 is missing"; exit 77; }
command -v swaks >/dev/null 2>&1 || { echo "SKIP: swaks is not installed (Debian package swaks)"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl is missing"; exit 77; }
. "$top_srcdir/tests/postfix/lib.sh"
pf_init notrap

T=$PF_TOP
BYO_PID=
PROV_PID=
FAILS=0
CHECKS=0
CONF="$T/byosmtp.conf"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
REC="$T/provider.jsonl"
FRONT="$T/front"
PROV_USER=apikey
PROV_PW='E2e-Provider-Secret-83'

e2e_cleanup() {
    e2e_stop_byosmtpd
    if [ -n "$PROV_PID" ]; then
        kill -TERM "$PROV_PID" 2>/dev/null
        wait "$PROV_PID" 2>/dev/null
        PROV_PID=
    fi
    # shellcheck disable=SC2034 # read by pf_cleanup
    [ -n "${KEEP:-}" ] && PF_KEEP=1
    pf_cleanup
}
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM HUP

# LeakSanitizer in a sanitizer build: libmilter's own allocations at exit
LSAN_OPTIONS="suppressions=$top_srcdir/tests/milter/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

ctl() { "$BYOSMTPCTL" -c "$CONF" "$@"; }

# check DESCRIPTION COMMAND...: one assertion
check() {
    ck_d=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then
        echo "ok - $ck_d"
    else
        echo "not ok - $ck_d"
        FAILS=$((FAILS + 1))
    fi
}

# die REASON: a set-up step failed; show the logs and stop
die() {
    echo "FAIL: $*"
    e2e_show_logs
    exit 1
}

e2e_show_logs() {
    echo "--- byosmtpd log"
    tail -n 60 "$LOG" 2>/dev/null
    echo "--- front Postfix log"
    tail -n 40 "$FRONT/log/maillog" 2>/dev/null
    echo "--- provider log"
    tail -n 40 "$T/provider.log" 2>/dev/null
}

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds; 1 on timeout
wait_for() {
    wf_limit=$1
    shift
    wf_i=0
    while [ "$wf_i" -lt $((wf_limit * 10)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        wf_i=$((wf_i + 1))
    done
    return 1
}

# e2e_provider [OPTIONS...]: start the test provider (STARTTLS required, then AUTH PLAIN/LOGIN
# required) with the test CA's good certificate; sets $PROV_PORT
e2e_provider() {
    sh "$top_srcdir/tests/provider/mkcerts.sh" "$T/certs" >/dev/null 2>&1 || die "mkcerts.sh"
    "$PY" "$PROVIDER" --port-file "$T/provider.port" --record "$REC" --mode starttls \
        --cert "$T/certs/good.pem" --key "$T/certs/good.key" --require-tls --require-auth \
        --auth PLAIN,LOGIN --user "$PROV_USER" --password "$PROV_PW" --hostname provider.test \
        "$@" 2>"$T/provider.log" &
    PROV_PID=$!
    wait_for 10 test -s "$T/provider.port" || die "the provider did not start"
    PROV_PORT=$(cat "$T/provider.port")
    : >>"$REC"
}

# e2e_conf [EXTRA...]: byosmtpd's private byosmtp.conf (seconds-scale retries); each EXTRA is a
# line appended; sets $MILTER_PORT. The bounce command is the front Postfix's own sendmail.
e2e_conf() {
    MILTER_PORT=$(pf_free_port)
    {
        echo "milter = { socket = \"inet:$MILTER_PORT@127.0.0.1\"; pid_file = \"$T/byosmtpd.pid\"; };"
        echo "store = { path = \"$T/store\"; map_size = \"64M\"; };"
        echo "spool = { path = \"$SPOOL\"; };"
        echo "secrets = { key_file = \"$T/master.key\"; };"
        echo "delivery = { workers = 2; helo_name = \"front.byosmtp.test\"; tls_ca_file = \"$T/certs/ca.pem\";"
        echo "  connect_timeout = 5; command_timeout = 10;"
        echo "  retry = { min_backoff = 1; max_backoff = 2; max_lifetime = 600; };"
        echo "  bounce = { command = \"$(pf_sendmail_cmd "$FRONT") -i -f <> --\"; }; };"
        echo "log = { level = \"info\"; };"
        for l in "$@"; do echo "$l"; done
    } >"$CONF"
}

# e2e_target NAME FROM FROM_NAME: the master key, a target for the provider, made with
# byosmtpctl (password on stdin)
e2e_target() {
    [ -f "$T/master.key" ] || ctl key generate >/dev/null || die "byosmtpctl key generate"
    printf '%s\n' "$PROV_PW" | ctl target add "$1" --host 127.0.0.1 --port "$PROV_PORT" \
        --security starttls --username "$PROV_USER" --password-stdin --from "$2" --from-name "$3" \
        >"$T/target.out" 2>&1 || die "byosmtpctl target add $1: $(cat "$T/target.out")"
}

# port_listens PORT: something listens on 127.0.0.1:PORT (always true without ss(8))
port_listens() {
    command -v ss >/dev/null 2>&1 || return 0
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# e2e_start_byosmtpd: byosmtpd -f in the background; ready once its pid file is written, the
# milter port accepts and the delivery process has started. A port taken meanwhile is retried.
e2e_start_byosmtpd() {
    for _ in 1 2 3; do
        rm -f "$T/byosmtpd.pid"
        "$BYOSMTPD" -c "$CONF" -f >>"$LOG" 2>&1 &
        BYO_PID=$!
        sb_i=0
        while [ $sb_i -lt 100 ]; do
            if [ -s "$T/byosmtpd.pid" ] && grep -q "delivery: started" "$LOG" &&
                port_listens "$MILTER_PORT"; then
                return 0
            fi
            kill -0 "$BYO_PID" 2>/dev/null || break
            sleep 0.1
            sb_i=$((sb_i + 1))
        done
        wait "$BYO_PID" 2>/dev/null
        BYO_PID=
        grep -q 'cannot listen' "$LOG" || break
        e2e_conf_port
    done
    die "byosmtpd did not start"
}

# e2e_conf_port: move the milter to another free port (byosmtp.conf and the front's main.cf)
e2e_conf_port() {
    ecp_old=$MILTER_PORT
    MILTER_PORT=$(pf_free_port)
    sed -i "s/inet:$ecp_old@/inet:$MILTER_PORT@/" "$CONF"
    [ -f "$FRONT/etc/main.cf" ] && sed -i "s/inet:127.0.0.1:$ecp_old\$/inet:127.0.0.1:$MILTER_PORT/" "$FRONT/etc/main.cf"
}

# e2e_stop_byosmtpd: SIGTERM to the PID in its pid file (a graceful stop of both processes)
e2e_stop_byosmtpd() {
    sp_pid=
    [ -s "$T/byosmtpd.pid" ] && sp_pid=$(tr -dc '0-9' <"$T/byosmtpd.pid")
    [ -n "$sp_pid" ] || sp_pid=$BYO_PID
    if [ -n "$sp_pid" ]; then
        kill -TERM "$sp_pid" 2>/dev/null
    fi
    if [ -n "$BYO_PID" ]; then
        wait "$BYO_PID" 2>/dev/null
        BYO_RC=$?
        BYO_PID=
    fi
}

# e2e_front: the front Postfix with its milters pointing at byosmtpd; sets $FRONT_PORT
e2e_front() {
    pf_front "$FRONT" "inet:127.0.0.1:$MILTER_PORT" || die "cannot write the front Postfix's configuration"
    # Postfix's macro defaults send {i} (the queue id) and {auth_authen}; a milter that does not
    # answer in time tempfails the message rather than letting it through.
    pf_set "$FRONT" "milter_connect_timeout = 10s" "milter_command_timeout = 30s"
    pf_start "$FRONT" || die "the front Postfix did not start"
    FRONT_PORT=$PF_PORT
}

# swaks_send OUTFILE SWAKS-ARGS...: submit one message to the front Postfix over SMTP
swaks_send() {
    ss_out=$1
    shift
    swaks --server 127.0.0.1 --port "$FRONT_PORT" --helo client.byosmtp.test "$@" >"$ss_out" 2>&1
}

# queued_as FILE: the front Postfix's queue id from swaks' transcript ("250 ... queued as ID")
queued_as() {
    sed -n 's/.*<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$1" | tail -1
}

# qid_of_msgid MESSAGE-ID: the front Postfix's queue id of the message with that Message-ID,
# from its cleanup log line "QID: message-id=<MESSAGE-ID>"
qid_of_msgid() {
    sed -n "s/.*\]: \([0-9A-Za-z]*\): message-id=<$1>.*/\1/p" "$FRONT/log/maillog" | head -1
}

# pyrec SCRIPT: run Python over the provider's records (msgs, conns in scope); 0 when it passes
pyrec() {
    "$PY" - "$REC" "$1" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
msgs = [r for r in recs if r["event"] == "message"]
conns = [r for r in recs if r["event"] == "connection"]
exec(sys.argv[2])
EOF
}

# header VALUE lookups on a delivered file: hdr FILE NAME prints the first NAME: field (unfolded)
hdr() {
    awk -v n="$2" 'BEGIN{n=tolower(n)} /^\r?$/{exit} {sub(/\r$/,"")}
        /^[ \t]/{ if (p) v = v " " $0; next } { if (p) { print v; exit } }
        tolower(substr($0,1,length(n)+1)) == n ":" { p=1; v=$0 }
        END{ if (p) print v }' "$1"
}

log_has() { grep -q -- "$1" "$LOG"; }
front_log_has() { grep -q -- "$1" "$FRONT/log/maillog"; }
queue_empty() { [ -z "$(ls "$SPOOL/queue" 2>/dev/null)" ]; }

# finish: stop byosmtpd, check it stopped cleanly with no sanitizer report, print the tally
finish() {
    e2e_stop_byosmtpd
    check "byosmtpd stopped with status 0 on SIGTERM" [ "${BYO_RC:-1}" -eq 0 ]
    check "no sanitizer report in byosmtpd's log" sh -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$LOG'"
    check "no password in byosmtpd's log" sh -c "! grep -qF -- '$PROV_PW' '$LOG'"
    echo "$(basename "$0"): $CHECKS checks, $FAILS failed"
    if [ "$FAILS" -ne 0 ]; then
        e2e_show_logs
        exit 1
    fi
    exit 0
}
