# manpage.sh - every command, subcommand and option that "byosmtpctl -h" lists is described in
# byosmtpctl(8). (Every byosmtp.conf key in byosmtp.conf(5) is checked by check_conf.)
. "$top_srcdir/tests/cli/lib.sh"
PAGE=$top_srcdir/doc/byosmtpctl.8
# the page as text, with roff's escaped hyphens made plain
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$PAGE" >"$T/page"

run "$BYOSMTPCTL" -h
expect_rc 0 "byosmtpctl -h"
printf '%s\n' "$OUT" >"$T/usage"
# commands: the first word of each indented usage line; subcommands: words joined by |
cmds=$(sed -n 's/^  \([a-z]\{2,\}\) .*/\1/p' "$T/usage" | sort -u)
[ -n "$cmds" ] && ok || fail "no commands found in the usage text"
for c in $cmds; do
    grep -q "^\.B[I]* \"*$c\b" "$T/page" && ok || fail "command '$c' is not described in byosmtpctl(8)"
done
for sub in "target add" "target set" "target show" "target list" "target rm" "route add" \
    "route rm" "route list" "route test" "key generate"; do
    grep -q "$sub" "$T/page" && ok || fail "'$sub' is not described in byosmtpctl(8)"
done
for opt in $(grep -o -- '--[a-z][a-z-]*' "$T/usage" | sort -u); do
    grep -q -- "$opt\b" "$T/page" && ok || fail "option '$opt' is not described in byosmtpctl(8)"
done
finish
