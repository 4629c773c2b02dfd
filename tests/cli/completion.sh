# completion.sh - the bash completion of byosmtpctl (contrib/bash-completion/byosmtpctl), run by
# bash as it runs it for an admin: COMP_WORDS and COMP_CWORD set, the function that "complete -p"
# names called, COMPREPLY read. Commands, subcommands, options (from byosmtpctl --help), option
# values, target names (from the store named by -c), provider presets and setting names.
. "$top_srcdir/tests/cli/lib.sh"
need bash bash
COMPLETION=$top_srcdir/contrib/bash-completion/byosmtpctl

run ctl key generate
expect_rc 0 "key generate"
for name in acme globex; do
    run sh -c "printf 'pw\n' | \"\$0\" -c \"\$1\" target add $name --host smtp.$name.example --port 587 --username u --password-stdin --from noreply@$name.example" "$BYOSMTPCTL" "$CONF"
    expect_rc 0 "target add $name"
done

# complete WORD...: the sorted completions bash offers for the line WORD... (the last word is
# the one being completed), one line, space-separated; stderr of the completion into $T/cerr
complete_line() {
    bash -c '
        . "$1" || exit 1
        shift
        spec=$(complete -p byosmtpctl) || exit 1
        fn=${spec#*-F }
        fn=${fn%% *}
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ *$//"
    ' completion "$COMPLETION" "$@" 2>"$T/cerr"
}

# expect_completion EXPECTED WORD...: the completions of WORD... are exactly EXPECTED
expect_completion() {
    want=$1
    shift
    got=$(complete_line "$@")
    [ "$got" = "$want" ] && ok || fail "completing '$*': got '$got', expected '$want'"
    [ ! -s "$T/cerr" ] && ok || fail "completing '$*' printed on stderr: $(cat "$T/cerr")"
}

# expect_completion_has WORD WORD...: the completions of WORD... include WORD
expect_completion_has() {
    want=$1
    shift
    got=" $(complete_line "$@") "
    case $got in *" $want "*) ok ;; *) fail "completing '$*': '$want' is not in '$got'" ;; esac
}

spec=$(bash -c '. "$1" && complete -p byosmtpctl' sh "$COMPLETION")
[ "$spec" = "complete -F _byosmtpctl byosmtpctl" ] && ok || fail "complete -p byosmtpctl: '$spec'"

B=$BYOSMTPCTL
# commands: every one that byosmtpctl --help lists
for c in key encrypt load dump target route verify quota providers queue stats config cluster; do
    expect_completion_has "$c" "$B" ""
done
expect_completion "config" "$B" "con"
expect_completion "--help --version -c -h" "$B" "-"
expect_completion "target" "$B" -c "$CONF" "ta"
# subcommands
expect_completion "add list rm set show" "$B" -c "$CONF" target ""
expect_completion "add list rm test" "$B" -c "$CONF" route ""
expect_completion "delete flush list show" "$B" -c "$CONF" queue ""
expect_completion "generate" "$B" -c "$CONF" key ""
expect_completion "status" "$B" -c "$CONF" cluster ""
# target names, from the store of the -c file
expect_completion "acme globex" "$B" -c "$CONF" target show ""
expect_completion "globex" "$B" -c "$CONF" target set g
expect_completion "acme globex" "$B" -c "$CONF" verify ""
expect_completion "acme" "$B" -c "$CONF" route add @acme.example a
expect_completion "" "$B" -c "$CONF" route add ""
expect_completion "acme globex" "$B" -c "$CONF" route add --sender @acme.example ""
expect_completion "acme globex" "$B" -c "$CONF" queue flush --target ""
expect_completion "" "$B" -c "$CONF" target show acme ""
# without a readable store: no names and nothing on the terminal
printf 'store = { path = "%s/none"; };\n' "$T" >"$T/empty.conf"
expect_completion "" "$B" -c "$T/empty.conf" target show ""
# options of each command, as byosmtpctl --help lists them
expect_completion "--security" "$B" -c "$CONF" target add new --sec
expect_completion "--password-file --password-stdin" "$B" -c "$CONF" target set acme --pass
expect_completion_has "--no-tls-verify" "$B" -c "$CONF" target add new --host h -
expect_completion "--no-send --to" "$B" -c "$CONF" verify acme --
expect_completion "--dry-run" "$B" -c "$CONF" load -
expect_completion "--month" "$B" -c "$CONF" quota acme -
# option values
expect_completion "none starttls tls" "$B" -c "$CONF" target add new --security ""
expect_completion "login" "$B" -c "$CONF" target set acme --auth l
expect_completion_has sendgrid "$B" -c "$CONF" target add new --provider s
expect_completion_has ses "$B" -c "$CONF" target add new --provider s
expect_completion "" "$B" -c "$CONF" target add new --provider x
expect_completion "" "$B" -c "$CONF" target add new --host ""
expect_completion "$T/byosmtp.conf" "$B" -c "$CONF" load "$T/byosmtp."
expect_completion "$T/master.key" "$B" -c "$CONF" target set acme --password-file "$T/mas"
expect_completion "$T/byosmtp.conf" "$B" -c "$T/byosmtp."
# config: its options and the names of the settings
expect_completion "-d -n" "$B" -c "$CONF" config -
expect_completion "delivery.retry.max_backoff delivery.retry.max_lifetime" "$B" -c "$CONF" config delivery.retry.max
expect_completion_has "milter.socket" "$B" -c "$CONF" config -n ""
finish
