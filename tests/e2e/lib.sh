# lib.sh - the full path with real parts, for the end-to-end tests (sourced, POSIX sh):
#
#   swaks ──SMTP──▶ front Postfix (private instance, tests/postfix/lib.sh "front" profile)
#                     │ smtpd_milters / non_smtpd_milters = inet:127.0.0.1:PORT
#                     ▼
#                   byosmtpd (the real daemon: milter process + forked delivery process)
#                     │ STARTTLS + AUTH
#                     ▼
#                   the test provider (tests/provider/byo-provider.py), which records exactly
#                   what it received in $T/provider.jsonl (pyrec provider CHECK)
#
# Everything lives in one temporary directory $T (= $PF_TOP of tests/postfix/lib.sh): byosmtpd's
# private byosmtp.conf, master key, store, spool, pid file and log; the test CA; the provider's
# record; the front Postfix in $T/front. Only 127.0.0.1 is used. The trap stops byosmtpd and the
# provider (by PID) and Postfix (pf_stop), then removes $T (KEEP=1 or PF_KEEP=1 keeps it).
# tests/lib/common.sh has the tally, the provider, byosmtpd's start and stop, and the rest.
#
# byosmtpd listens on TCP (inet:PORT@127.0.0.1) rather than a unix socket: started as root
# without milter.user its unix socket is root's, mode 0660, and Postfix's smtpd (user postfix)
# could not connect to it.
#
# Needs root, Postfix, Cyrus SASL (pf_init exits 77 without them), swaks and /usr/bin/python3.
# BYOSMTPCTL, top_srcdir and top_builddir come from the harness.

set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
need_byosmtpd
need swaks swaks
. "$top_srcdir/tests/postfix/lib.sh"
pf_init notrap

T=$PF_TOP
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
[ "${PF_KEEP:-0}" = 1 ] && KEEP=1
CONF="$T/byosmtp.conf"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
FRONT="$T/front"
PROV_USER=apikey
PROV_PW='E2e-Provider-Secret-83'
WORKERS=2
HELO_NAME=front.byosmtp.test
lsan_suppressions

# at_cleanup: byosmtpd stopped, then the front Postfix (the common clean-up stops the provider and
# removes $T)
at_cleanup() {
    stop_byosmtpd
    pf_stop_all
}

# show_logs: the ends of byosmtpd's, the front Postfix's and the provider's logs
show_logs() {
    show_tail "byosmtpd log" 60 "$LOG"
    show_tail "front Postfix log" 40 "$FRONT/log/maillog"
    show_tail "provider log" 40 "$T/provider.log"
}

# e2e_provider [OPTIONS...]: start the test provider (STARTTLS required, then AUTH PLAIN/LOGIN
# required) with the test CA's good certificate; sets $PROV_PORT
e2e_provider() {
    make_certs "$T/certs"
    start_provider provider --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
        --require-tls --require-auth --auth PLAIN,LOGIN --user "$PROV_USER" --password "$PROV_PW" \
        --hostname provider.test "$@"
    PROV_PORT=$port
}

# e2e_conf [EXTRA...]: byosmtpd's private byosmtp.conf (seconds-scale retries); each EXTRA is a
# line appended; sets $MILTER_PORT and $SOCK. The bounce command is the front Postfix's sendmail.
e2e_conf() {
    MILTER_PORT=$(free_port)
    SOCK="inet:$MILTER_PORT@127.0.0.1"
    delivery_conf "$(pf_sendmail_cmd "$FRONT") -i -f <> --" "$@"
}

# e2e_target NAME FROM FROM_NAME: the master key, a target for the provider, made with
# byosmtpctl (password on stdin)
e2e_target() {
    [ -f "$T/master.key" ] || ctl key generate >/dev/null || die "byosmtpctl key generate"
    printf '%s\n' "$PROV_PW" | ctl target add "$1" --host 127.0.0.1 --port "$PROV_PORT" \
        --security starttls --username "$PROV_USER" --password-stdin --from "$2" --from-name "$3" \
        >"$T/target.out" 2>&1 || die "byosmtpctl target add $1: $(cat "$T/target.out")"
}

# e2e_start_byosmtpd: byosmtpd in the background (start_byosmtpd); a milter port taken meanwhile
# by another process is retried on another one
e2e_start_byosmtpd() {
    for _ in 1 2 3; do
        start_byosmtpd && return 0
        stop_pid "$BYO_PID"
        BYO_PID=
        grep -q 'cannot listen' "$LOG" || break
        e2e_conf_port
    done
    die "byosmtpd did not start"
}

# e2e_conf_port: move the milter to another free port (byosmtp.conf and the front's main.cf)
e2e_conf_port() {
    ecp_old=$MILTER_PORT
    MILTER_PORT=$(free_port)
    SOCK="inet:$MILTER_PORT@127.0.0.1"
    sed -i "s/inet:$ecp_old@/inet:$MILTER_PORT@/" "$CONF"
    [ -f "$FRONT/etc/main.cf" ] && sed -i "s/inet:127.0.0.1:$ecp_old\$/inet:127.0.0.1:$MILTER_PORT/" "$FRONT/etc/main.cf"
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

# queued_as FILE: the front Postfix's queue id from swaks' transcript ("250 ... queued as ID")
queued_as() {
    sed -n 's/.*<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$1" | tail -1
}

# qid_of_msgid MESSAGE-ID: the front Postfix's queue id of the message with that Message-ID,
# from its cleanup log line "QID: message-id=<MESSAGE-ID>"
qid_of_msgid() {
    sed -n "s/.*\]: \([0-9A-Za-z]*\): message-id=<$1>.*/\1/p" "$FRONT/log/maillog" | head -1
}

# front_log_has PATTERN: the front Postfix's log has a line that matches PATTERN
front_log_has() { grep -q -- "$1" "$FRONT/log/maillog"; }

# at_finish: stop byosmtpd; it stopped cleanly, with no sanitizer report and no password in its log
at_finish() {
    stop_byosmtpd
    check "byosmtpd stopped with status 0 on SIGTERM" [ "${BYO_RC:-1}" -eq 0 ]
    check "no sanitizer report in byosmtpd's log" no_sanitizer_report
    check "no password in byosmtpd's log" lacks "$LOG" "$PROV_PW"
}
