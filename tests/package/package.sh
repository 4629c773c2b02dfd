#!/bin/sh
# package.sh - the Debian package as an admin meets it, built, installed, used and purged on
# this machine. It installs into the system, so it runs as root from "./contrib/quickstart
# package" (CI runs that once), never from make check:
#   1. what an earlier run left is removed first: a byosmtp package in any state is purged with
#      its data, and the data an interrupted run of step 7 kept (it carries this test's mark);
#      byosmtp files that no package and no earlier run explain stop the test (a byosmtp
#      installed by hand is not ours to remove);
#   2. the state of the machine is noted: users, groups, every path of byosmtp, dpkg, debconf;
#   3. the files of the tree (those git knows, as they are now) are copied into a scratch
#      directory, which "dpkg-buildpackage -us -uc -b" turns into byosmtp_VERSION_ARCH.deb;
#      lintian reports no error;
#   4. "dpkg -i": the byosmtp user and group, the store and the spool (0700, theirs), the master
#      key (0600, root), the conffiles, the systemd unit enabled and byosmtpd not started, the
#      bash completion, README.Debian with the main.cf lines;
#   5. byosmtpctl on the installed paths: --version, config -n (what the packaged
#      byosmtp.conf sets), a target and a route, completion of the target's name;
#   6. byosmtpd -f with the packaged byosmtp.conf listens on 127.0.0.1:10025 as the byosmtp
#      user, and stops on SIGTERM;
#   7. purge answering no to byosmtp/purge_data: the store, spool, key and user are kept and
#      the purge says so; "dpkg -i" again uses them, and keeps the key as it was;
#   8. purge answering yes: the machine is as in step 2.
# On a failure the package is purged with its data all the same (KEEP=1 keeps it, and $T).
#
# usage: tests/package/package.sh        (root; dpkg-dev, debhelper, lintian, fakeroot)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
top_srcdir=$top
. "$top/tests/lib/common.sh"

PKG=byosmtp
CONF=/etc/byosmtp/byosmtp.conf
MARK=/var/lib/byosmtp/.byosmtp-package-test
PORT=10025
PATHS="/etc/byosmtp /var/lib/byosmtp /var/spool/byosmtp /run/byosmtp /usr/sbin/byosmtpd
 /usr/sbin/byosmtpctl /lib/systemd/system/byosmtpd.service /usr/lib/systemd/system/byosmtpd.service
 /etc/systemd/system/multi-user.target.wants/byosmtpd.service /usr/share/doc/byosmtp
 /usr/share/bash-completion/completions/byosmtpctl /usr/share/man/man8/byosmtpctl.8.gz"
export DEBIAN_FRONTEND=noninteractive
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

[ "$(id -u)" -eq 0 ] || { echo "package.sh: run as root: it installs the package"; exit 1; }
for tool in dpkg-buildpackage dh lintian fakeroot debconf-set-selections debconf-show bash; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "package.sh: $tool is missing: ./contrib/quickstart package installs it"; exit 1; }
done
work_dir byosmtp-package
BYO_PID=

# show_logs: what the failed steps printed
show_logs() {
    for f in "$T"/*.log; do
        [ -f "$f" ] && show_tail "$(basename "$f")" 30 "$f"
    done
}

# installed: dpkg knows the package in any state but "not installed"
installed() {
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != un ] && [ "$st" != "pn " ]
}

# purge ANSWER LOG: dpkg --purge with byosmtp/purge_data preseeded to ANSWER (true/false)
purge() {
    echo "$PKG byosmtp/purge_data boolean $1" | debconf-set-selections
    dpkg --purge "$PKG" >"$2" 2>&1
}

# remove_kept: the store, spool, key and user an interrupted run of step 7 kept
remove_kept() {
    rm -rf /var/lib/byosmtp /var/spool/byosmtp /etc/byosmtp/master.key /run/byosmtp
    rmdir /etc/byosmtp 2>/dev/null
    getent passwd byosmtp >/dev/null && deluser --quiet --system byosmtp >/dev/null 2>&1
    getent group byosmtp >/dev/null && delgroup --quiet --system byosmtp >/dev/null 2>&1
    return 0
}

# at_cleanup: stop our byosmtpd; after a failure, purge the package with its data
at_cleanup() {
    [ -n "$BYO_PID" ] && stop_pid "$BYO_PID"
    BYO_PID=
    if [ -z "${KEEP:-}" ] && installed; then
        echo "package.sh: purging $PKG"
        purge true "$T/purge-cleanup.log" || cat "$T/purge-cleanup.log"
        [ -f "$MARK" ] && remove_kept
    elif [ -z "${KEEP:-}" ] && [ -f "$MARK" ]; then
        remove_kept
    fi
}

# machine_state: what a package could leave behind: users, groups, byosmtp's paths, dpkg's
# records and its audit, debconf's questions, systemd's enablement records
machine_state() {
    getent passwd | sort
    getent group | sort
    for p in $PATHS; do
        [ -e "$p" ] || [ -L "$p" ] && echo "exists: $p"
    done
    ls /var/lib/dpkg/info | grep "^$PKG[.:]" | sed 's/^/dpkg info: /'
    dpkg --audit 2>&1 | sed 's/^/dpkg audit: /'
    debconf-show "$PKG" 2>/dev/null | sed 's/^/debconf: /'
    find /etc/systemd /var/lib/systemd -name '*byosmtp*' 2>/dev/null | sed 's/^/systemd: /'
}

# byosmtpd_exe_running: some process runs /usr/sbin/byosmtpd (the package's, not a test build's)
byosmtpd_exe_running() {
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/byosmtpd ] && return 0
    done
    return 1
}

# ---- 1. what an earlier run left ----
if installed; then
    echo "package.sh: an earlier run left $PKG installed: purging it with its data"
    purge true "$T/purge-old.log" || { cat "$T/purge-old.log"; die "cannot purge the old $PKG"; }
fi
[ -f "$MARK" ] && { echo "package.sh: removing what an interrupted run kept"; remove_kept; }
for p in /etc/byosmtp /var/lib/byosmtp /var/spool/byosmtp; do
    [ -e "$p" ] && die "$p exists and no byosmtp package installed it: byosmtp was installed by" \
        "hand here (make install); move it away (and 'deluser --system byosmtp') before this test"
done
getent passwd byosmtp >/dev/null &&
    die "a user byosmtp exists and no byosmtp package made it: remove it ('deluser --system byosmtp') before this test"

# ---- 2. the machine before ----
machine_state >"$T/before"
VERSION=$(sed -n 's/^AC_INIT(\[byosmtp\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
[ -n "$VERSION" ] || die "no version in configure.ac"

# ---- 3. build from a scratch copy of the tree, and lintian ----
SRC=$T/build/byosmtp-$VERSION
mkdir -p "$SRC"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf -) |
        tar -xf - -C "$SRC" || die "cannot copy the tree into $SRC"
else
    tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$SRC" ||
        die "cannot copy the tree into $SRC"
fi
[ ! -e "$SRC/build" ] && ok "the scratch copy holds no build output" || fail "build/ was copied"
git -C "$top" status --porcelain >"$T/tree-before" 2>/dev/null
# the README's commands, as it gives them ("On Debian: build and install the package"); the first
# one simulated, as the Build-Depends are there (quickstart installed them with it)
for l in "apt-get build-dep -y ./" "dpkg-buildpackage -us -uc -b" "dpkg -i ../byosmtp_${VERSION}_"; do
    expect_in "$top/README" "    $l" "the README says: $l"
done
(cd "$SRC" && apt-get build-dep -s ./) >"$T/build-dep.log" 2>&1 &&
    ok "apt-get build-dep ./ resolves debian/control" || fail "apt-get build-dep -s ./: $(tail -3 "$T/build-dep.log")"
echo "building the package in $SRC (dpkg-buildpackage -us -uc -b)"
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 || die "dpkg-buildpackage failed"
ARCH=$(dpkg --print-architecture)
DEB=$SRC/../${PKG}_${VERSION}_$ARCH.deb
git -C "$top" status --porcelain >"$T/tree-after" 2>/dev/null
cmp -s "$T/tree-before" "$T/tree-after" && ok "the tree itself is untouched by the build" ||
    fail "the build changed the tree: $(diff "$T/tree-before" "$T/tree-after")"
[ -f "$DEB" ] && ok "dpkg-buildpackage made $(basename "$DEB")" ||
    die "no $(basename "$DEB"): $(ls "$T/build")"
expect_eq "$(dpkg-deb -f "$DEB" Version)" "$VERSION" "debian/changelog's version is configure.ac's"
lintian --fail-on error "$T/build/${PKG}_${VERSION}_$ARCH.changes" >"$T/lintian.log" 2>&1 &&
    ok "lintian: no error" || fail "lintian: $(grep '^E:' "$T/lintian.log")"
grep '^[EWI]:' "$T/lintian.log" | sed 's/^/lintian says: /'
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed -n 's|^\./\(.*[^/]\)$|/\1|p' >"$T/files"
for f in /usr/sbin/byosmtpd /usr/sbin/byosmtpctl /etc/byosmtp/byosmtp.conf /etc/byosmtp/targets.conf \
    /lib/systemd/system/byosmtpd.service /usr/share/bash-completion/completions/byosmtpctl \
    /usr/share/doc/byosmtp/README.Debian /usr/share/man/man8/byosmtpctl.8.gz \
    /usr/share/man/man5/byosmtp.conf.5.gz; do
    grep -qx "$f" "$T/files" && ok || fail "the package lacks $f"
done

# ---- 4. dpkg -i ----
(cd "$SRC" && dpkg -i "../$(basename "$DEB")") >"$T/install.log" 2>&1 && ok "dpkg -i" ||
    die "dpkg -i failed"
expect_eq "$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG")" "ii " "dpkg says installed"
expect_in "$T/install.log" "made the master key /etc/byosmtp/master.key" "postinst says it made the key"
pw=$(getent passwd byosmtp) && ok "user byosmtp" || fail "no user byosmtp"
uid=$(echo "$pw" | cut -d: -f3)
[ "${uid:-99999}" -lt 1000 ] && ok "byosmtp is a system user" || fail "byosmtp has uid $uid"
expect_eq "$(echo "$pw" | cut -d: -f6,7)" "/var/lib/byosmtp:/usr/sbin/nologin" "byosmtp's home and shell"
getent group byosmtp >/dev/null && ok "group byosmtp" || fail "no group byosmtp"
expect_eq "$(id -gn byosmtp)" byosmtp "byosmtp's primary group"
for d in /var/lib/byosmtp /var/spool/byosmtp; do
    expect_eq "$(stat -c '%F %a %U:%G' "$d")" "directory 700 byosmtp:byosmtp" "$d"
done
expect_eq "$(stat -c '%a %U:%G %s' /etc/byosmtp/master.key)" "600 root:root 32" "the master key"
conffiles=$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk '{ print $1 }' | sort | tr '\n' ' ')
expect_eq "$conffiles" "/etc/byosmtp/byosmtp.conf /etc/byosmtp/targets.conf " "the conffiles"
[ -L /etc/systemd/system/multi-user.target.wants/byosmtpd.service ] && ok "the unit is enabled" ||
    fail "the unit is not enabled (no multi-user.target.wants link)"
expect_eq "$(systemctl --root=/ is-enabled byosmtpd.service 2>&1)" enabled "systemctl is-enabled"
grep -qx 'ConditionPathExists=/var/lib/byosmtp/data.mdb' /lib/systemd/system/byosmtpd.service &&
    ok "the unit waits for the store" || fail "the unit has no ConditionPathExists on the store"
byosmtpd_exe_running && fail "byosmtpd runs after dpkg -i" || ok "byosmtpd is not started by dpkg -i"
if [ -d /run/systemd/system ]; then
    expect_eq "$(systemctl is-active byosmtpd.service)" inactive "systemd did not start byosmtpd"
fi
for l in "smtpd_milters = inet:127.0.0.1:10025" 'non_smtpd_milters = $smtpd_milters' \
    "milter_default_action = tempfail" "systemctl start byosmtpd" "byosmtp/purge_data"; do
    expect_in /usr/share/doc/byosmtp/README.Debian "$l" "README.Debian: $l"
done
man -w byosmtpctl >/dev/null 2>&1 && ok "man byosmtpctl" || fail "man -w byosmtpctl finds no page"

# ---- 5. byosmtpctl on the installed paths ----
expect_eq "$(byosmtpctl --version)" "byosmtpctl $VERSION" "byosmtpctl --version"
expect_eq "$(byosmtpd --version)" "byosmtpd $VERSION" "byosmtpd --version"
expect_eq "$(byosmtpctl config -n | tr '\n' '|')" \
    'milter.socket = "inet:10025@127.0.0.1"|milter.user = "byosmtp"|' \
    "config -n: what the packaged byosmtp.conf sets"
expect_eq "$(byosmtpctl config store.path spool.path secrets.key_file | tr '\n' '|')" \
    'store.path = "/var/lib/byosmtp"|spool.path = "/var/spool/byosmtp"|secrets.key_file = "/etc/byosmtp/master.key"|' \
    "config: the package's paths"
printf 'not-a-real-password\n' | byosmtpctl target add pkgtest --host 127.0.0.1 --port 2525 \
    --security none --username u --password-stdin --from noreply@pkgtest.example >"$T/ctl.log" 2>&1 &&
    ok "target add" || fail "target add: $(cat "$T/ctl.log")"
byosmtpctl route add @pkgtest.example pkgtest >>"$T/ctl.log" 2>&1 && ok "route add" ||
    fail "route add: $(cat "$T/ctl.log")"
byosmtpctl target list >"$T/list" 2>&1
expect_in "$T/list" "pkgtest" "target list"
expect_eq "$(byosmtpctl route test someone@pkgtest.example >/dev/null 2>&1; echo $?)" 0 "route test"
[ -f /var/lib/byosmtp/data.mdb ] && ok "the store exists (the unit's condition)" || fail "no store"
got=$(bash -c '. /usr/share/bash-completion/completions/byosmtpctl
    COMP_WORDS=(byosmtpctl target show pk); COMP_CWORD=3; _byosmtpctl; echo "${COMPREPLY[*]}"' 2>&1)
expect_eq "$got" pkgtest "the installed completion names the target"

# ---- 6. byosmtpd -f with the packaged configuration ----
port_listens "$PORT" && die "127.0.0.1:$PORT is taken: the packaged byosmtp.conf listens there"
/usr/sbin/byosmtpd -f -c "$CONF" >"$T/byosmtpd.log" 2>&1 &
BYO_PID=$!
if wait_for 30 port_listens "$PORT"; then ok "byosmtpd listens on 127.0.0.1:$PORT"; else
    fail "byosmtpd does not listen on $PORT"
fi
wait_for 10 grep -q "started: listening on inet:$PORT@127.0.0.1" "$T/byosmtpd.log" &&
    ok "byosmtpd says it started" || fail "byosmtpd did not log its start"
kill -0 "$BYO_PID" 2>/dev/null && ok "byosmtpd runs" || fail "byosmtpd exited"
ruid=$(awk '/^Uid:/ { print $2 }' "/proc/$BYO_PID/status" 2>/dev/null)
expect_eq "$ruid" "$uid" "byosmtpd runs as the byosmtp user"
stop_pid "$BYO_PID"
expect_eq "$?" 0 "byosmtpd stops cleanly on SIGTERM"
BYO_PID=
wait_for 10 sh -c "! ss -Hltn 'sport = :$PORT' | grep -q ." && ok "the port is free again" ||
    fail "something still listens on $PORT"

# ---- 7. purge, keeping the data; install again ----
touch "$MARK"
key_before=$(sha256sum /etc/byosmtp/master.key | cut -d' ' -f1)
purge false "$T/purge-keep.log" && ok "dpkg --purge (keep)" || fail "dpkg --purge (keep) failed"
expect_in "$T/purge-keep.log" "byosmtp: kept /var/lib/byosmtp" "the purge says what it kept"
installed && fail "dpkg still knows $PKG" || ok "the package is purged"
for p in /var/lib/byosmtp/data.mdb /var/spool/byosmtp /etc/byosmtp/master.key; do
    [ -e "$p" ] && ok "kept $p" || fail "the purge removed $p"
done
getent passwd byosmtp >/dev/null && ok "kept the user" || fail "the purge removed the user"
for p in /etc/byosmtp/byosmtp.conf /usr/sbin/byosmtpd /lib/systemd/system/byosmtpd.service; do
    [ -e "$p" ] && fail "$p is still there" || ok "removed $p"
done
dpkg -i "$DEB" >"$T/install2.log" 2>&1 && ok "dpkg -i over the kept data" || fail "dpkg -i again failed"
expect_eq "$(sha256sum /etc/byosmtp/master.key | cut -d' ' -f1)" "$key_before" "the key is kept"
expect_not_in "$T/install2.log" "made the master key" "no new key"
expect_eq "$(getent passwd byosmtp | cut -d: -f3)" "$uid" "the same user"
byosmtpctl target list >"$T/list2" 2>&1
expect_in "$T/list2" "pkgtest" "the kept store is used again"
rm -f "$MARK"

# ---- 8. purge with the data: the machine as before ----
purge true "$T/purge.log" && ok "dpkg --purge" || fail "dpkg --purge failed"
expect_in "$T/purge.log" "byosmtp: removed the store, the spool" "the purge says what it removed"
while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && fail "$f is left"
done <"$T/files"
machine_state >"$T/after"
diff "$T/before" "$T/after" >"$T/state.diff" && ok "the machine is as it was" ||
    fail "the machine changed: $(cat "$T/state.diff")"
finish
