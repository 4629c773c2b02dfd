# config.sh - the conventions an admin expects of both programs: --help and --version (stdout,
# exit 0), a usage error (stderr, exit 2); and "byosmtpctl config" like postconf: every setting in
# effect, -n those the file sets, -d the compiled-in defaults, NAME... and groups; an unknown name
# is an error (exit 1) that does not hide the others; the key file is printed as its path only.
. "$top_srcdir/tests/cli/lib.sh"
BYOSMTPD=$top_builddir/byosmtpd
VERSION=$(sed -n 's/^AC_INIT(\[byosmtp\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
[ -n "$VERSION" ] && ok || fail "no version in configure.ac"

for prog in "$BYOSMTPCTL" "$BYOSMTPD"; do
    name=$(basename "$prog")
    run "$prog" --version
    expect_rc 0 "$name --version"
    [ "$OUT" = "$name $VERSION" ] && ok || fail "$name --version printed '$OUT', expected '$name $VERSION'"
    [ -z "$ERR" ] && ok || fail "$name --version wrote to stderr: $ERR"
    run "$prog" --help
    expect_rc 0 "$name --help"
    expect_out "usage: $name" "$name --help"
    expect_out "--version" "$name --help names --version"
    [ -z "$ERR" ] && ok || fail "$name --help wrote to stderr: $ERR"
    run "$prog" --no-such-option
    expect_rc 2 "$name --no-such-option"
    expect_err "usage: $name" "$name --no-such-option"
    [ -z "$OUT" ] && ok || fail "$name --no-such-option wrote to stdout: $OUT"
done
# -h is --help
run "$BYOSMTPCTL" -h
help_h=$OUT
run "$BYOSMTPCTL" --help
[ "$OUT" = "$help_h" ] && ok || fail "byosmtpctl -h and --help differ"
# --version needs no configuration: a broken default file does not stop it
printf 'milter = { bogus = 1; };\n' >"$T/broken.conf"
run "$BYOSMTPCTL" -c "$T/broken.conf" --version
expect_rc 0 "--version after a broken -c"

# a file that sets a few settings, one of them to its default value
cat >"$T/set.conf" <<CONF
store = { path = "$T/store"; map_size = "16M"; };
secrets = { key_file = "$T/master.key"; };
milter = { timeout = 7210; user = "nobody"; };
delivery = { retry = { min_backoff = 60; }; workers = 3; };
CONF
run "$BYOSMTPCTL" -c "$T/set.conf" config -n
expect_rc 0 "config -n"
cat >"$T/want" <<WANT
milter.timeout = 7210
milter.user = "nobody"
store.path = "$T/store"
store.map_size = "16M"
secrets.key_file = "$T/master.key"
delivery.workers = 3
delivery.retry.min_backoff = 60
WANT
printf '%s\n' "$OUT" | diff "$T/want" - >"$T/diff" && ok || fail "config -n: $(cat "$T/diff")"

# every setting, one "NAME = VALUE" line each, in effect: the file over the defaults
run "$BYOSMTPCTL" -c "$T/set.conf" config
expect_rc 0 "config"
n_all=$(printf '%s\n' "$OUT" | wc -l)
bad=$(printf '%s\n' "$OUT" | grep -cv '^[a-z_][a-z_0-9.]* = ')
[ "$bad" -eq 0 ] && ok || fail "config: $bad lines are not NAME = VALUE"
expect_out 'milter.user = "nobody"' "config shows a set value"
expect_out 'delivery.retry.max_backoff = 4000' "config shows a default value"
expect_out 'milter.trusted_networks = [ "127.0.0.0/8", "::1/128" ]' "config shows a list"
# every setting documented in byosmtp.conf(5) is there (check_conf checks the page against the table)
for name in $(printf '%s\n' "$OUT" | cut -d' ' -f1); do
    leaf=${name##*.}
    grep -qw -- "$leaf" "$top_srcdir/doc/byosmtp.conf.5" && ok ||
        fail "config prints '$name', which byosmtp.conf(5) does not describe"
done

# -d: the compiled-in defaults, whatever the file says; as many settings as config
run "$BYOSMTPCTL" -c "$T/set.conf" config -d
expect_rc 0 "config -d"
expect_out 'milter.user = ""' "config -d shows the default user"
expect_out 'delivery.retry.min_backoff = 300' "config -d shows the default backoff"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq "$n_all" ] && ok || fail "config -d and config list different settings"
# -d with a name
run "$BYOSMTPCTL" -c "$T/set.conf" config -d milter.user
[ "$OUT" = 'milter.user = ""' ] && ok || fail "config -d milter.user: $OUT"

# NAME... and groups, in table order; -n with names: those of them the file sets
run "$BYOSMTPCTL" -c "$T/set.conf" config delivery.retry milter.user
expect_rc 0 "config NAME GROUP"
want=$(printf '%s\n' 'milter.user = "nobody"' 'delivery.retry.min_backoff = 60' \
    'delivery.retry.max_backoff = 4000' 'delivery.retry.max_lifetime = 432000')
[ "$OUT" = "$want" ] && ok || fail "config delivery.retry milter.user: $OUT"
run "$BYOSMTPCTL" -c "$T/set.conf" config -n delivery.retry milter.socket
[ "$OUT" = 'delivery.retry.min_backoff = 60' ] && ok || fail "config -n delivery.retry milter.socket: $OUT"
# a prefix of a name is not a group
run "$BYOSMTPCTL" -c "$T/set.conf" config milter.use milter.user
expect_rc 1 "config with an unknown name"
expect_err "'milter.use' is no setting of byosmtp.conf" "config with an unknown name"
[ "$OUT" = 'milter.user = "nobody"' ] && ok || fail "the known name is still printed: $OUT"
run "$BYOSMTPCTL" -c "$T/set.conf" config -n -d
expect_rc 2 "config -n -d"
expect_err "-n and -d exclude each other" "config -n -d"
run "$BYOSMTPCTL" -c "$T/set.conf" config -x
expect_rc 2 "config -x"

# the key file is printed as its path, never as what it holds
run ctl key generate
expect_rc 0 "key generate"
run "$BYOSMTPCTL" -c "$T/set.conf" config
od -An -tx1 "$T/master.key" | tr -d ' \n' >"$T/keyhex"
printf '%s\n' "$OUT" >"$T/config.out"
expect_not_in "$T/config.out" "$(cat "$T/keyhex")" "config output (the key in hex)"
expect_not_in "$T/config.out" "$(head -c 8 "$T/master.key" | tr -d '\0\n')" "config output (the key's bytes)"
finish
