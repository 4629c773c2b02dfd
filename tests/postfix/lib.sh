# lib.sh - private Postfix instances for the end-to-end tests (sourced, POSIX sh).
#
# Every instance lives in its own directory under one temporary top directory ($PF_TOP):
#   DIR/etc/     config_directory: main.cf, master.cf, sasl/smtpd.conf + sasl/sasldb2
#   DIR/spool/   queue_directory       DIR/data/  data_directory       DIR/log/maillog  the log
#   DIR/mail/    virtual_mailbox_base: every message that Postfix delivers itself goes by virtual(8)
#                into the Maildir DIR/mail/inbox/ (new/: one file per message and recipient, with
#                Delivered-To: RECIPIENT and Return-Path: <SENDER> on top), so a test reads files.
#   DIR/port     the loopback port its smtpd listens on (also in $PF_PORT after pf_start)
# It is started with "postfix -c DIR/etc start" and stopped with "postfix -c DIR/etc stop"; it never
# reads or touches /etc/postfix or the system instance (which Debian's "No configuration" install
# leaves unconfigured and stopped). Only 127.0.0.1 is used, and the port is chosen free at start
# (a clash with a concurrent test is retried on another port), so several tests can run at once.
#
# Profiles:
#   pf_provider DIR CERTDIR   a "provider": STARTTLS required (smtpd_tls_security_level = encrypt,
#                             certificate CERTDIR/good.pem from tests/provider/mkcerts.sh), SASL AUTH
#                             (Cyrus, sasldb, PLAIN LOGIN CRAM-MD5) offered only after TLS, mail
#                             accepted only from authenticated clients; users made with pf_add_user.
#   pf_front DIR MILTER [RELAY]   the MTA in front of byosmtpd: smtpd_milters and non_smtpd_milters
#                             = MILTER ("unix:/path" or "inet:127.0.0.1:PORT"; "" for none),
#                             milter_default_action = tempfail, mail from 127.0.0.0/8 relayed; what
#                             the milter leaves in the message is delivered to DIR/mail/inbox/, or
#                             to RELAY ("[127.0.0.1]:PORT", plain SMTP) when given. A unix socket
#                             must be writable by the "postfix" user (smtpd connects as postfix).
# Before pf_start a test may change main.cf with pf_set DIR "name = value" (the last one wins) and
# add master.cf lines to DIR/master.extra (e.g. a second listener).
# Then: pf_start DIR (sets $PF_PORT; pf_port DIR prints it later), pf_stop DIR (pf_stop_all runs
# from the trap that pf_init installs), pf_wait_mail / pf_mailbox / pf_count / pf_log to look at
# what arrived, and pf_sendmail DIR ARGS... (or the command pf_sendmail_cmd DIR prints, e.g. for
# byosmtpd's bounce command) to submit locally through the instance's own sendmail(1)/postdrop.
#
# Needs root (Postfix's master starts as root and drops to the "postfix" user), the Debian
# packages postfix, sasl2-bin and libsasl2-modules (and procps for ps). pf_init exits 77 (skip)
# when Postfix or Cyrus SASL is missing or the caller is not root.
# PF_KEEP=1 keeps the directory for a post-mortem.

PF_SASL_MECHS='PLAIN LOGIN CRAM-MD5'
PF_STARTED=
PF_SBIN=/usr/sbin

# pf_init [notrap] - check the prerequisites (exit 77 when Postfix or Cyrus SASL is not installed
# or the caller is not root), make $PF_TOP and install the trap that stops every instance started
# here and removes $PF_TOP. With "notrap" the test installs its own trap, which calls pf_cleanup.
pf_init() {
    for pf_tool in postfix postconf saslpasswd2; do
        if [ ! -x "$PF_SBIN/$pf_tool" ]; then
            echo "SKIP: $PF_SBIN/$pf_tool not found (install the Debian packages postfix and sasl2-bin)"
            exit 77
        fi
    done
    if ! ls /usr/lib/*/sasl2/libsasldb.so* >/dev/null 2>&1 ||
        ! ls /usr/lib/*/sasl2/libcrammd5.so* >/dev/null 2>&1; then
        echo "SKIP: the Cyrus SASL plugins are missing (install libsasl2-modules and libsasl2-modules-db)"
        exit 77
    fi
    if [ "$(id -u)" -ne 0 ]; then
        # Postfix's master must start as root: without it no instance can run at all.
        echo "SKIP: a private Postfix instance needs root (Postfix's master starts as root)"
        exit 77
    fi
    if ! command -v ps >/dev/null 2>&1; then
        # pf_stop waits for every process of an instance with "ps -s" (procps).
        echo "FAIL: ps not found (install the Debian package procps)"
        exit 1
    fi
    if ! PF_USER_ID=$(id -u nobody) || ! PF_GROUP_ID=$(id -g nobody); then
        echo "FAIL: no user 'nobody' to own the delivered mail"
        exit 1
    fi
    PF_TOP=$(mktemp -d "${TMPDIR:-/tmp}/byo-postfix.XXXXXX") || exit 1
    # The Postfix daemons run as "postfix" and must reach their queue, data and SASL directories.
    chmod 755 "$PF_TOP"
    if [ "${1:-}" != notrap ]; then
        trap pf_cleanup EXIT
        trap 'exit 1' INT TERM HUP
    fi
}

# pf_cleanup - stop every instance started here and remove $PF_TOP (unless PF_KEEP=1)
pf_cleanup() {
    pf_stop_all
    if [ "${PF_KEEP:-0}" = 1 ]; then
        echo "postfix work directory kept: $PF_TOP"
    elif [ -n "${PF_TOP:-}" ]; then
        rm -rf "$PF_TOP"
    fi
}

# pf_main_common DIR NAME - the main.cf lines every profile shares
pf_main_common() {
    cat <<EOF
# generated by tests/postfix/lib.sh: private instance "$2", never the system one
compatibility_level = 3.6
queue_directory = $1/spool
data_directory = $1/data
mail_owner = postfix
setgid_group = postdrop
inet_protocols = ipv4
inet_interfaces = 127.0.0.1
myhostname = $2.byosmtp.test
mydomain = byosmtp.test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP Postfix
maillog_file = $1/log/maillog
maillog_file_prefixes = $1/log
syslog_name = byo-$2
# Quick turnaround in tests: deliver at once, retry soon, give up quickly.
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 30s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
# Everything that Postfix delivers itself goes to the one Maildir $1/mail/inbox/, a file per
# message and recipient (virtual(8) adds Delivered-To: and Return-Path:; files owned by
# "nobody", which the root-run test reads). virtual(8) refuses \$1 substitutions from regexp
# maps, so there is no Maildir per recipient: pf_mailbox selects by Delivered-To.
default_transport = virtual
virtual_mailbox_base = $1/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$PF_USER_ID
virtual_gid_maps = static:$PF_GROUP_ID
EOF
}

# pf_master_common - the master.cf services every profile needs; chroot is off everywhere, so
# absolute paths (sasldb, certificates, Maildirs) work as written.
pf_master_common() {
    cat <<'EOF'
# service  type  private unpriv  chroot  wakeup  maxproc command + args
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
virtual    unix  -       n       n       -       -       virtual
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_layout DIR NAME - the directories and files every profile has
pf_layout() {
    mkdir -p "$1/etc" "$1/spool" "$1/data" "$1/log" "$1/mail" || return 1
    chown "$PF_USER_ID:$PF_GROUP_ID" "$1/mail"
    chown postfix "$1/data"
    chmod 700 "$1/mail"
    printf '%s\n' "$2" >"$1/name"
    : >"$1/master.extra"
}

# pf_provider DIR CERTDIR - write the "provider" profile into DIR (see the header)
pf_provider() {
    pf_layout "$1" provider || return 1
    mkdir -p "$1/etc/sasl"
    # Cyrus SASL reads "<smtpd_sasl_path>.conf" = smtpd.conf. Debian's Postfix (patch
    # 07_sasl_config) looks only in $config_directory/sasl, upstream in cyrus_sasl_config_path:
    # the file is there and both point at it.
    cat >"$1/etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: $PF_SASL_MECHS
sasldb_path: $1/etc/sasl/sasldb2
EOF
    { pf_main_common "$1" provider
        cat <<EOF

# --- provider: STARTTLS required, then SASL AUTH required to send ---
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_chain_files = $2/good.key, $2/good.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $1/etc/sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = yes
mynetworks =
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
# Strict about line endings, as providers hardened against SMTP smuggling are: a bare LF in
# the DATA stream is refused (550 5.5.2) instead of being accepted.
smtpd_forbid_bare_newline = yes
smtpd_forbid_bare_newline_exclusions =
EOF
    } >"$1/etc/main.cf"
}

# pf_add_user DIR USER PASSWORD - a SASL account on the provider in DIR. A USER with "@" is
# stored as user "local" in realm "domain" (how Cyrus splits the name a client sends); a USER
# without one in the realm $myhostname (what Postfix uses when the client names no realm).
pf_add_user() {
    case $2 in
    *@*) pf_au_user=${2%@*} pf_au_realm=${2##*@} ;;
    *) pf_au_user=$2 pf_au_realm=provider.byosmtp.test ;;
    esac
    printf '%s' "$3" | "$PF_SBIN/saslpasswd2" -f "$1/etc/sasl/sasldb2" -p -c -u "$pf_au_realm" "$pf_au_user" ||
        return 1
    # smtpd checks passwords as the "postfix" user.
    chown -R root:postfix "$1/etc/sasl"
    chmod 750 "$1/etc/sasl"
    chmod 640 "$1/etc/sasl/smtpd.conf" "$1/etc/sasl/sasldb2"
}

# pf_front DIR MILTER [RELAY] - write the "front" profile into DIR: the local MTA that hands each
# message (from SMTP and from sendmail) to the milter MILTER ("" for none) and delivers what
# remains to DIR/mail/inbox/, or to RELAY (e.g. "[127.0.0.1]:2525", no TLS) when given. Mail from
# 127.0.0.0/8 may relay anywhere. A milter that is not reachable tempfails the message (4xx).
pf_front() {
    pf_layout "$1" front || return 1
    { pf_main_common "$1" front
        cat <<EOF

# --- front: the admin's MTA with byosmtpd as a milter ---
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_milters = $2
non_smtpd_milters = $2
milter_default_action = tempfail
milter_protocol = 6
EOF
        if [ -n "${3:-}" ]; then
            printf 'default_transport = smtp\nrelayhost = %s\nsmtp_tls_security_level = none\n' "$3"
        fi
    } >"$1/etc/main.cf"
}

# pf_set DIR "name = value"... - add main.cf settings to an instance before it starts (the last
# setting of a name wins in main.cf)
pf_set() {
    pf_set_dir=$1
    shift
    for pf_set_line in "$@"; do
        printf '%s\n' "$pf_set_line" >>"$pf_set_dir/etc/main.cf"
    done
}

# pf_free_port - print a random loopback port in 20000..31999 (below Linux's ephemeral range) on
# which nothing listens now; pf_start retries when another process takes it first.
pf_free_port() {
    while :; do
        pf_fp=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        pf_fp=$((20000 + pf_fp % 12000))
        if ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Hltn "sport = :$pf_fp" 2>/dev/null)" ]; then
            echo "$pf_fp"
            return 0
        fi
    done
}

# pf_master_pid DIR - print the master's PID when it is running
pf_master_pid() {
    [ -s "$1/spool/pid/master.pid" ] || return 1
    pf_mp=$(tr -dc '0-9' <"$1/spool/pid/master.pid")
    [ -n "$pf_mp" ] && kill -0 "$pf_mp" 2>/dev/null && echo "$pf_mp"
}

# pf_start DIR - start the instance in DIR on a free port of 127.0.0.1: sets $PF_PORT and writes
# DIR/port. "postfix start" runs master -w, which returns only once every listener is bound, so the
# port accepts connections when this returns 0. Returns 1 (with the log shown) if it cannot start.
pf_start() {
    pf_try=0
    while [ $pf_try -lt 5 ]; do
        pf_try=$((pf_try + 1))
        PF_PORT=$(pf_free_port)
        { pf_master_common
            echo "127.0.0.1:$PF_PORT inet n - n - - smtpd"
            cat "$1/master.extra"
        } >"$1/etc/master.cf"
        if ! "$PF_SBIN/postfix" -c "$1/etc" check >"$1/log/start.out" 2>&1; then
            echo "postfix check failed for $1:"
            cat "$1/log/start.out"
            return 1
        fi
        if "$PF_SBIN/postfix" -c "$1/etc" start >>"$1/log/start.out" 2>&1; then
            PF_STARTED="$PF_STARTED $1"
            echo "$PF_PORT" >"$1/port"
            return 0
        fi
        # The usual cause is a port taken since pf_free_port looked: try another one.
        if ! grep -q 'Address already in use' "$1/log/maillog" "$1/log/start.out" 2>/dev/null; then
            break
        fi
    done
    echo "postfix did not start in $1:"
    cat "$1/log/start.out" "$1/log/maillog" 2>/dev/null | tail -20
    return 1
}

# pf_stop DIR - stop the instance in DIR and wait until its master and every child are gone
# (master is a session leader, so its children share its session id); SIGKILL after 15 s.
pf_stop() {
    pf_sp_pid=$(pf_master_pid "$1") || return 0
    "$PF_SBIN/postfix" -c "$1/etc" stop >/dev/null 2>&1
    pf_sp_n=0
    while [ -n "$(ps -o pid= -s "$pf_sp_pid" 2>/dev/null)" ]; do
        if [ $pf_sp_n -ge 150 ]; then
            echo "postfix in $1 did not stop: SIGKILL to its processes (session $pf_sp_pid)"
            for pf_sp_p in $(ps -o pid= -s "$pf_sp_pid"); do
                kill -KILL "$pf_sp_p" 2>/dev/null
            done
            sleep 0.2
            break
        fi
        sleep 0.1
        pf_sp_n=$((pf_sp_n + 1))
    done
}

# pf_stop_all - stop every instance that pf_start started in this shell
pf_stop_all() {
    for pf_sa_dir in $PF_STARTED; do
        pf_stop "$pf_sa_dir"
    done
    PF_STARTED=
}

# pf_port DIR - print the port the instance in DIR listens on (after pf_start)
pf_port() {
    cat "$1/port"
}

# pf_running DIR - true while the instance's master runs
pf_running() {
    pf_master_pid "$1" >/dev/null
}

# pf_log DIR - print the instance's log
pf_log() {
    cat "$1/log/maillog" 2>/dev/null
}

# pf_mailbox DIR [ADDR] - print the paths of the messages delivered (to ADDR, by its Delivered-To:
# header, compared case-insensitively), oldest first
pf_mailbox() {
    pf_mb=$1/mail/inbox/new
    [ -d "$pf_mb" ] || return 0
    # Maildir file names never contain white space; ls -tr orders them by delivery time.
    # shellcheck disable=SC2045
    for pf_mb_f in $(ls -tr "$pf_mb"); do
        if [ -z "${2:-}" ] ||
            sed -n '/^\r\{0,1\}$/q;p' "$pf_mb/$pf_mb_f" | grep -qixF "Delivered-To: $2"; then
            echo "$pf_mb/$pf_mb_f"
        fi
    done
}

# pf_count DIR [ADDR] - print how many messages were delivered (to ADDR)
pf_count() {
    pf_mailbox "$1" "${2:-}" | wc -l | tr -d ' '
}

# pf_wait_mail DIR ADDR N [SECONDS] - wait until ADDR has at least N messages (ADDR "": in all),
# for at most SECONDS (default 20); false on timeout
pf_wait_mail() {
    pf_wm_n=0
    while [ "$(pf_count "$1" "$2")" -lt "$3" ]; do
        [ $pf_wm_n -ge $((${4:-20} * 10)) ] && return 1
        sleep 0.1
        pf_wm_n=$((pf_wm_n + 1))
    done
    return 0
}

# pf_sendmail_cmd DIR - print the sendmail(1) command that submits to the instance in DIR. It
# works for root only: Postfix honours "-C DIR" from another user only when DIR is listed in
# alternate_config_directories of the system's main.cf, which these tests never touch.
pf_sendmail_cmd() {
    echo "$PF_SBIN/sendmail -C $1/etc"
}

# pf_sendmail DIR ARGS... - submit a message on stdin through the instance in DIR (see above)
pf_sendmail() {
    pf_sm_dir=$1
    shift
    "$PF_SBIN/sendmail" -C "$pf_sm_dir/etc" "$@"
}
