#!/bin/sh
# verify.sh - byosmtpctl verify across the hosts (doc/cluster.md, "Verify"): a verify run on
# mx1 shows in "target show" and "target list" on mx2, marked with the host that ran it; the
# attempt limit (verify.attempts = 2 per hour) counts the attempts of every host together, on
# Redis's clock; with Redis gone a verify still runs, on this host's count alone, and says so.
# The shared result holds no password.
. "$top_srcdir/tests/cluster/lib.sh"
EXTRA_CONF='verify = { attempts = 2; window = 3600; };'
start_redis
setup_hosts 100

# vctl HOST ARGS...: byosmtpctl on HOST's configuration, output in $TOP/out; sets $rc
vctl() {
    vh=$1
    shift
    "$BYOSMTPCTL" -c "$TOP/$vh/byosmtp.conf" "$@" >"$TOP/out" 2>&1
    rc=$?
}

vctl mx1 verify acme --no-send
expect_eq "$rc" 0 "verify on mx1: ok ($(tail -2 "$TOP/out"))"
vctl mx2 target show acme
grep -q '^verified = .* ok, .*(on host mx1)$' "$TOP/out" && ok "mx2 shows mx1's verify" ||
    fail "mx2's target show: $(grep verified "$TOP/out")"
vctl mx2 target list
grep -qE '^acme .* ok$' "$TOP/out" && ok "mx2's target list: acme ok" || fail "list: $(cat "$TOP/out")"
grep -qE '^free .* never$' "$TOP/out" && ok "mx2's target list: free never verified" ||
    fail "list: $(cat "$TOP/out")"
vctl mx1 target show acme
grep '^verified = ' "$TOP/out" | grep -q 'on host' && fail "mx1 marks its own verify as another's" ||
    ok "mx1 shows its own verify unmarked"

vctl mx3 verify acme --no-send
expect_eq "$rc" 0 "verify on mx3: the second attempt of the hour"
vctl mx2 verify acme --no-send
expect_eq "$rc" 1 "verify on mx2: a third attempt in the cluster is refused"
expect_in "$TOP/out" "verify of target 'acme' refused: 2 attempts in the last 3600 seconds" \
    "the refusal says the limit"
expect_in "$TOP/out" "attempts of every host of cluster.hosts count together" "and that it is the cluster's"
vctl mx2 target show acme
grep -q '(on host mx3)$' "$TOP/out" && ok "mx2 now shows mx3's newer verify" ||
    fail "mx2: $(grep verified "$TOP/out")"

# what Redis holds of it: no secret
redis HGETALL byosmtp:verify:acme >"$TOP/verify.key"
expect_in "$TOP/verify.key" "mx3" "the shared result names its host"
for secret in pw-acme enc:v1:; do
    expect_not_in "$TOP/verify.key" "$secret" "no '$secret' in the shared result"
done

# Redis gone: mx2 verifies on its own count, and says so
stop_redis
vctl mx2 verify acme --no-send
expect_eq "$rc" 0 "Redis gone: mx2's verify runs ($(tail -2 "$TOP/out"))"
expect_in "$TOP/out" "only this host's verify attempts are counted" "and says whose attempts count"
finish
