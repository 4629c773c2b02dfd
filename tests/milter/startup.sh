#!/bin/sh
# startup.sh - the errors an admin meets when starting byosmtpd: each is one line on stderr that
# says what is wrong and what to do, and byosmtpd exits 1 without starting.
. "$top_srcdir/tests/milter/lib.sh"
setup_store

# refuse CASE TEXT...: byosmtpd -f must exit 1 at once, saying every TEXT in its error line
refuse() {
    what=$1
    shift
    timeout 20 "$BYOSMTPD" -c "$CONF" -f >"$T/start.out" 2>&1
    rc=$?
    expect_eq "$rc" 1 "$what: exit status"
    line=$(grep -a 'byosmtpd: error:' "$T/start.out" | head -1)
    [ -n "$line" ] && ok || fail "$what: no error line in: $(cat "$T/start.out")"
    for text in "$@"; do
        case $line in *"$text"*) ok ;; *) fail "$what: '$text' not in: $line" ;; esac
    done
}

chmod 644 "$T/master.key"
refuse "key readable by others" "master.key" "chmod 600"
chmod 600 "$T/master.key"

mv "$T/master.key" "$T/master.key.away"
refuse "no key" "byosmtpctl key generate"
mv "$T/master.key.away" "$T/master.key"

printf 'milter = { sokcet = "unix:/x"; };\n' >"$T/bad.conf"
cp "$CONF" "$T/good.conf"
cp "$T/bad.conf" "$CONF"
refuse "misspelt setting" "$CONF:1:" "unknown setting 'milter.sokcet'"
cp "$T/good.conf" "$CONF"

SOCK="unix:$T/no/such/dir/milter.sock" write_conf
refuse "socket directory missing" "milter.socket" "directory is missing or not writable"

SOCK="unix:$T/milter.sock" write_conf
mv "$T/store" "$T/store.away"
refuse "no store" "is not initialised" "byosmtpctl"
mv "$T/store.away" "$T/store"
finish
