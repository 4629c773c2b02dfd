# systemd.sh - the unit made from contrib/systemd/byosmtpd.service.in passes
# "systemd-analyze verify" (with ExecStart pointed at this build's byosmtpd, which must exist).
. "$top_srcdir/tests/cli/lib.sh"
need systemd-analyze systemd
UNIT=$top_builddir/contrib/systemd/byosmtpd.service
[ -f "$UNIT" ] && ok || fail "$UNIT was not made by make"
# the unit as built, with its byosmtpd replaced by the one in the build tree
sed "s|^ExecStart=[^ ]*|ExecStart=$top_builddir/byosmtpd|" "$UNIT" >"$T/byosmtpd.service"
grep -q "^ExecStart=$top_builddir/byosmtpd -c " "$T/byosmtpd.service" && ok || fail "no ExecStart line"
# --man=no: the man pages are not installed where man(1) looks during make check
run systemd-analyze verify --man=no "$T/byosmtpd.service"
# verify also lints units the host may lack (postfix.service): only lines about our unit count
own=$(printf '%s\n' "$ERR" | grep -F "byosmtpd.service" | grep -v "postfix.service\|sendmail.service")
[ -z "$own" ] && ok || fail "systemd-analyze verify: $own"
for key in Type=forking PIDFile= RuntimeDirectory=byosmtp ProtectSystem=strict KillMode=mixed \
    "ConditionPathExists=/.*/lib/byosmtp/data\.mdb$"; do
    grep -q "^$key" "$T/byosmtpd.service" && ok || fail "the unit lacks $key"
done
finish
