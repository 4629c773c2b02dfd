#!/bin/sh
# status.sh - byosmtpctl cluster status (doc/cluster.md): every running host seen within a
# second or two, with its clock offset to Redis, its counts published and the digest of its
# targets; a host that is not running is "never" seen, one stopped is "NOT SEEN LATELY"; a host
# with other targets shows as a drift; a changed password alone changes no digest (secrets are
# not hashed); the status keys hold no secret; exit status 0 only when all agree and are seen.
. "$top_srcdir/tests/cluster/lib.sh"
SYNC=2
start_redis
setup_hosts 100

# status HOST: byosmtpctl cluster status on HOST into $TOP/status.out; sets $rc
status() {
    "$BYOSMTPCTL" -c "$TOP/$1/byosmtp.conf" cluster status >"$TOP/status.out" 2>&1
    rc=$?
}

# row HOST: HOST's line of the last status
row() { grep "^$1 " "$TOP/status.out"; }

# mx3 not started yet
for h in mx1 mx2; do
    on "$h"
    start_byosmtpd || die "byosmtpd on $h did not start"
done
on top
sleep 2
status mx1
expect_eq "$rc" 1 "a host never seen: exit status 1"
row mx3 | grep -q ' never .*NOT SEEN LATELY' && ok "mx3, not started: never seen" ||
    fail "mx3: $(row mx3)"

# all three, the same targets: exit 0, each up with its counts published and the same digest
on mx3
start_byosmtpd || die "byosmtpd on mx3 did not start"
on top
sleep 2
status mx2
expect_eq "$rc" 0 "all up and the same: exit status 0 ($(cat "$TOP/status.out"))"
expect_in "$TOP/status.out" "Redis unix:$REDIS_SOCK answers; prefix byosmtp; this host mx2" "the heading"
for h in $HOSTS; do
    line=$(row "$h")
    echo "$line" | grep -qE "^$h +[0-9]s ago +-?[0-9]+ +yes +2  [0-9a-f]{16}  up" &&
        ok "$h: seen, counts published, 2 targets, a digest, up" || fail "$h: '$line'"
    off=$(echo "$line" | awk '{print $4}')
    [ "${off#-}" -lt 1000 ] && ok "$h: clock offset $off ms" || fail "$h: clock offset $off ms"
done
row mx2 | grep -q 'up (this host)$' && ok "this host marked" || fail "this host: $(row mx2)"
expect_eq "$(awk '/^mx[123] / {print $7}' "$TOP/status.out" | sort -u | wc -l)" 1 "one digest for all"
expect_in "$TOP/status.out" "targets: the same on every host" "no drift"
digest=$(row mx1 | awk '{print $7}')

# a new password on mx1 only: not hashed, the digest stays
on mx1
printf 'another-password\n' | ctl target set acme --password-stdin >/dev/null || die "target set"
kill -HUP "$BYO_PID" 2>/dev/null
on top
sleep $((SYNC + 2))
status mx1
expect_eq "$(row mx1 | awk '{print $7}')" "$digest" "a changed password changes no digest"

# a route more on mx3: a drift
on mx3
ctl route add @more.example free >/dev/null || die "route add"
on top
sleep $((SYNC + 2))
status mx1
expect_eq "$rc" 1 "a drift: exit status 1"
expect_in "$TOP/status.out" "targets DIFFER between hosts" "the drift is shown"
[ "$(row mx3 | awk '{print $7}')" != "$digest" ] && ok "mx3's digest changed" || fail "mx3: $(row mx3)"

# mx2 stopped: not seen lately after 5 s
on mx2
stop_byosmtpd
on top
sleep 7
status mx1
row mx2 | grep -q 'NOT SEEN LATELY' && ok "mx2, stopped: not seen lately" || fail "mx2: $(row mx2)"

# the status keys: no secret
for k in $(redis --scan --pattern 'byosmtp:status:*'); do redis HGETALL "$k"; done >"$TOP/status.keys"
[ -s "$TOP/status.keys" ] || fail "no status key"
for secret in pw-acme another-password enc:v1: user-acme; do
    expect_not_in "$TOP/status.keys" "$secret" "no '$secret' in a status key"
done

# Redis gone: the status says so, exit 1
stop_redis
status mx1
expect_eq "$rc" 1 "Redis gone: exit status 1"
expect_in "$TOP/status.out" "unreachable" "Redis gone: said so"
"$BYOSMTPCTL" -c "$TOP/mx1/byosmtp.conf" quota acme >"$TOP/quota.out" 2>&1
expect_eq "$?" 1 "Redis gone: byosmtpctl quota exits 1"
expect_in "$TOP/quota.out" "USED is this host's count only" "Redis gone: quota says USED is local"
grep -qE '^acme +[0-9-]+ +0 +100 ' "$TOP/quota.out" && ok "Redis gone: quota shows the local count" ||
    fail "quota: $(cat "$TOP/quota.out")"
stop_hosts
finish
