# lib.sh - a private, real Sendmail for the Sendmail end-to-end test (sourced, POSIX sh).
#
# Debian's sendmail packages conflict with Postfix's, and the test suite needs Postfix, so
# Sendmail is never installed here. Instead the real Debian binary is unpacked and run from a
# temporary directory:
#   1. sm_fetch: the .deb files of sendmail-bin, sendmail-cf and libwrap0 (the one library of
#      sendmail-bin that a Postfix machine lacks) are fetched with "apt-get download" into a cache
#      outside the source tree, $BYO_DEB_CACHE (default /var/cache/byosmtp-test-debs), once; later
#      runs use the cache and need no network. Nothing is installed: no dpkg database entry, no
#      file under /etc, /usr or /var/spool.
#   2. sm_unpack: "dpkg-deb -x" into $SM_ROOT. The binary loses its setgid bit (it is run as root
#      only, and a setgid binary would ignore LD_LIBRARY_PATH, which points at the unpacked
#      libwrap.so.0).
#   3. sm_config: $SM_DIR/sendmail.cf made with m4 from the unpacked cf/ macros and a minimal .mc in
#      which every path is private (queue, pid, status, service switch, hosts, help file, no
#      aliases), the daemon listens on 127.0.0.1:$SM_PORT only, every message Sendmail delivers
#      itself goes by the esmtp mailer to a smart host on 127.0.0.1:SINKPORT (a test sink that
#      records what arrives), and the byosmtp lines are contrib/sendmail/byosmtp.mc itself, with
#      only its socket's port changed to byosmtpd's test port.
#   4. sm_start: "sendmail -bD" (a foreground daemon) in the background, with -X for an SMTP
#      transcript in $SM_DIR/trace; sm_stop sends SIGTERM to its PID (the daemon signals its own
#      children) and waits.
#
# Sendmail asks for a fully qualified host name before it reads its configuration; on a machine
# whose name has no dot and no FQDN in /etc/hosts it sleeps 60 seconds ("My unqualified host name
# unknown; sleeping for retry"). The wrapper $SM_DIR/sendmail therefore runs it in a private UTS
# namespace ("unshare --uts") named sendmail.byosmtp.test; where unshare is not permitted it runs
# it as it is and the test waits out the minute.
#
# Needs root, apt-get and dpkg-deb (Debian), m4. sm_fetch exits 77 (skip) when the packages are
# neither cached nor downloadable, saying why. Sourced after tests/lib/common.sh (port_listens).

: "${top_srcdir:?set top_srcdir before sourcing tests/sendmail/lib.sh}"
SM_CACHE=${BYO_DEB_CACHE:-/var/cache/byosmtp-test-debs}
SM_PKGS="sendmail-bin sendmail-cf libwrap0"
SM_HOST=sendmail.byosmtp.test
SM_PID=

# sm_fetch: make sure a .deb of every package in $SM_PKGS is in $SM_CACHE (exit 77 if impossible)
sm_fetch() {
    command -v dpkg-deb >/dev/null 2>&1 || { echo "SKIP: dpkg-deb not found (a Debian system is needed)"; exit 77; }
    command -v m4 >/dev/null 2>&1 || { echo "SKIP: m4 not found (install the Debian package m4)"; exit 77; }
    sf_missing=
    for sf_p in $SM_PKGS; do
        sm_deb "$sf_p" >/dev/null || sf_missing="$sf_missing $sf_p"
    done
    [ -z "$sf_missing" ] && return 0
    command -v apt-get >/dev/null 2>&1 || {
        echo "SKIP: apt-get not found and$sf_missing not in $SM_CACHE"
        exit 77
    }
    mkdir -p "$SM_CACHE" || { echo "SKIP: cannot create the package cache $SM_CACHE (set BYO_DEB_CACHE)"; exit 77; }
    # Download into a private directory, then rename into the cache: two runs at once never see a
    # half-written .deb.
    sf_tmp=$(mktemp -d "$SM_CACHE/.download.XXXXXX") || { echo "SKIP: $SM_CACHE is not writable"; exit 77; }
    # apt's download sandbox user (_apt) must be able to write there, or apt warns and downloads
    # as root anyway.
    chmod 755 "$sf_tmp"
    id _apt >/dev/null 2>&1 && chown _apt "$sf_tmp" 2>/dev/null
    # shellcheck disable=SC2086 # a word list
    if ! (cd "$sf_tmp" && apt-get -q download $sf_missing) >"$sf_tmp/apt.log" 2>&1; then
        echo "SKIP: cannot download the Debian packages$sf_missing with apt-get (no network access to"
        echo "      the Debian mirror, or no package lists: run apt-get update); apt said:"
        sed 's/^/      /' "$sf_tmp/apt.log" | tail -5
        rm -rf "$sf_tmp"
        exit 77
    fi
    for sf_f in "$sf_tmp"/*.deb; do
        mv -f "$sf_f" "$SM_CACHE/" || { rm -rf "$sf_tmp"; echo "SKIP: cannot write to $SM_CACHE"; exit 77; }
    done
    rm -rf "$sf_tmp"
    for sf_p in $sf_missing; do
        sm_deb "$sf_p" >/dev/null || { echo "SKIP: apt-get download gave no $sf_p package"; exit 77; }
    done
}

# sm_deb PACKAGE: print the newest cached .deb of PACKAGE; 1 when there is none
sm_deb() {
    sd_f=$(ls "$SM_CACHE/$1"_*.deb 2>/dev/null | sort -V | tail -1)
    [ -n "$sd_f" ] && echo "$sd_f"
}

# sm_unpack ROOT: unpack the cached packages into ROOT (sets $SM_ROOT, $SM_BIN, $SM_LIBPATH)
sm_unpack() {
    SM_ROOT=$1
    mkdir -p "$SM_ROOT" || return 1
    for su_p in $SM_PKGS; do
        dpkg-deb -x "$(sm_deb "$su_p")" "$SM_ROOT" || { echo "dpkg-deb -x $(sm_deb "$su_p") failed"; return 1; }
    done
    SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
    [ -f "$SM_BIN" ] || SM_BIN=$SM_ROOT/usr/lib/sm.bin/sendmail
    [ -f "$SM_BIN" ] || { echo "no sendmail binary in the unpacked sendmail-bin"; return 1; }
    chmod 0755 "$SM_BIN"
    [ -f "$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4" ] || { echo "no cf/m4/cf.m4 in the unpacked sendmail-cf"; return 1; }
    SM_LIBPATH=
    for su_d in "$SM_ROOT"/usr/lib/*-linux-gnu "$SM_ROOT"/lib/*-linux-gnu; do
        [ -d "$su_d" ] && SM_LIBPATH="${SM_LIBPATH:+$SM_LIBPATH:}$su_d"
    done
    su_missing=$(LD_LIBRARY_PATH=$SM_LIBPATH ldd "$SM_BIN" 2>&1 | grep 'not found')
    if [ -n "$su_missing" ]; then
        echo "the unpacked sendmail lacks shared libraries (install them): $su_missing"
        return 1
    fi
}

# sm_config DIR PORT MILTER_PORT SINK_PORT: the private configuration in DIR (sets $SM_DIR, $SM_PORT)
sm_config() {
    SM_DIR=$1
    SM_PORT=$2
    mkdir -p "$SM_DIR/queue" || return 1
    chmod 0700 "$SM_DIR/queue"
    : >"$SM_DIR/statistics"
    printf 'hosts files\naliases files\n' >"$SM_DIR/service.switch"
    printf '127.0.0.1 localhost %s\n' "$SM_HOST" >"$SM_DIR/hosts"
    printf 'smtp\tSendmail for the byosmtp test\n' >"$SM_DIR/helpfile"
    # The byosmtp lines exactly as an admin copies them, only the port changed
    sed "s/S=inet:[0-9]*@127\\.0\\.0\\.1/S=inet:$3@127.0.0.1/" \
        "$top_srcdir/contrib/sendmail/byosmtp.mc" >"$SM_DIR/byosmtp.mc" || return 1
    grep -q "S=inet:$3@127.0.0.1, F=T" "$SM_DIR/byosmtp.mc" || {
        echo "contrib/sendmail/byosmtp.mc has no INPUT_MAIL_FILTER with S=inet:PORT@127.0.0.1, F=T"
        return 1
    }
    # the .mc (q is m4's open quote; m4's close quote is ')
    q='`'
    cat >"$SM_DIR/sendmail.mc" <<EOF
divert(-1)
dnl The private Sendmail of the byosmtp test: every path under $SM_DIR, loopback only.
divert(0)dnl
include(${q}$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(${q}byosmtp test')dnl
OSTYPE(${q}linux')dnl
define(${q}confDOMAIN_NAME', ${q}$SM_HOST')dnl
define(${q}QUEUE_DIR', ${q}$SM_DIR/queue')dnl
define(${q}confPID_FILE', ${q}$SM_DIR/sendmail.pid')dnl
define(${q}STATUS_FILE', ${q}$SM_DIR/statistics')dnl
define(${q}HELP_FILE', ${q}$SM_DIR/helpfile')dnl
define(${q}ALIAS_FILE', ${q}')dnl
define(${q}confSERVICE_SWITCH_FILE', ${q}$SM_DIR/service.switch')dnl
define(${q}confHOSTS_FILE', ${q}$SM_DIR/hosts')dnl
define(${q}confDONT_BLAME_SENDMAIL', ${q}GroupWritableDirPathSafe')dnl
define(${q}confDELIVERY_MODE', ${q}background')dnl
define(${q}confTO_CONNECT', ${q}10s')dnl
define(${q}confTO_IDENT', ${q}0s')dnl
define(${q}confAUTH_MECHANISMS', ${q}')dnl
define(${q}SMART_HOST', ${q}esmtp:[127.0.0.1]')dnl
define(${q}ESMTP_MAILER_ARGS', ${q}TCP \$h $4')dnl
FEATURE(${q}nocanonify')dnl
FEATURE(${q}accept_unresolvable_domains')dnl
FEATURE(${q}accept_unqualified_senders')dnl
FEATURE(${q}no_default_msa')dnl
DAEMON_OPTIONS(${q}Port=$SM_PORT, Addr=127.0.0.1, Name=MTA')dnl
include(${q}$SM_DIR/byosmtp.mc')dnl
MAILER(${q}smtp')dnl
EOF
    m4 "$SM_DIR/sendmail.mc" >"$SM_DIR/sendmail.cf" 2>"$SM_DIR/m4.err" || { cat "$SM_DIR/m4.err"; return 1; }
    # The wrapper: the unpacked libraries, the private configuration, a qualified host name
    SM_UNSHARE=
    unshare --uts sh -c "hostname $SM_HOST" >/dev/null 2>&1 && SM_UNSHARE=1
    {
        echo '#!/bin/sh'
        echo "# the private Sendmail of the byosmtp test ($SM_DIR/sendmail.cf)"
        echo "LD_LIBRARY_PATH='$SM_LIBPATH'"
        echo 'export LD_LIBRARY_PATH'
        if [ -n "$SM_UNSHARE" ]; then
            echo "exec unshare --uts sh -c 'hostname $SM_HOST && exec \"\$0\" \"\$@\"' '$SM_BIN' -C '$SM_DIR/sendmail.cf' \"\$@\""
        else
            echo "exec '$SM_BIN' -C '$SM_DIR/sendmail.cf' \"\$@\""
        fi
    } >"$SM_DIR/sendmail"
    chmod 0755 "$SM_DIR/sendmail"
}

# sm_start: start the daemon (-bD, queue run every 10 s); 0 once it listens on $SM_PORT
sm_start() {
    "$SM_DIR/sendmail" -bD -q10s -X "$SM_DIR/trace" >"$SM_DIR/daemon.out" 2>&1 &
    SM_PID=$!
    ss_limit=150
    [ -n "$SM_UNSHARE" ] || ss_limit=900 # the 60-second host name wait, see above
    ss_i=0
    while [ "$ss_i" -lt "$ss_limit" ]; do
        if [ -s "$SM_DIR/sendmail.pid" ] && port_listens "$SM_PORT"; then
            return 0
        fi
        kill -0 "$SM_PID" 2>/dev/null || break
        sleep 0.1
        ss_i=$((ss_i + 1))
    done
    echo "sendmail did not start listening on 127.0.0.1:$SM_PORT:"
    cat "$SM_DIR/daemon.out"
    return 1
}

# sm_stop: SIGTERM to the daemon (it stops its own children) and wait for it
sm_stop() {
    [ -n "$SM_PID" ] || return 0
    kill -TERM "$SM_PID" 2>/dev/null
    wait "$SM_PID" 2>/dev/null
    SM_PID=
}

# sm_queue_empty: no message waits in Sendmail's queue
sm_queue_empty() {
    [ -z "$(ls "$SM_DIR/queue" 2>/dev/null)" ]
}
