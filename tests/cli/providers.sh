# providers.sh - "target add --provider": presets fill host, port, security, user name and limits;
# options given explicitly win whatever their order; "providers" lists every preset.
. "$top_srcdir/tests/cli/lib.sh"

ctl key generate >/dev/null || fail "key generate"
add() {
    name=$1
    shift
    printf 'pw\n' >"$T/pw"
    run ctl target add "$name" --password-file "$T/pw" "$@"
}
# add_show NAME OPTIONS...: add, expect success, then "target show NAME" into $OUT
add_show() {
    add "$@"
    expect_rc 0 "target add $*"
    run ctl target show "$1"
}

add_show sg --provider sendgrid --from a@acme.example
expect_out "host = smtp.sendgrid.net" "sendgrid host"
expect_out "port = 587" "sendgrid port"
expect_out "security = starttls" "sendgrid security"
expect_out "username = apikey" "sendgrid user name convention"

add_show sg2 --port 2525 --provider sendgrid --from a@acme.example
expect_out "port = 2525" "an explicit port wins even before --provider"
expect_out "host = smtp.sendgrid.net" "the preset still fills the rest"

add ses1 --provider ses --username AKIAEXAMPLE --from a@acme.example
expect_rc 1 "ses without --region"
expect_err "needs --region" "ses without --region"
add_show ses2 --provider ses --region eu-west-1 --username AKIAEXAMPLE --from a@acme.example
expect_out "host = email-smtp.eu-west-1.amazonaws.com" "ses host from the region"
expect_out "rate = 14/s" "ses send rate"

add_show o365 --provider office365 --from billing@acme.example
expect_out "host = smtp.office365.com" "office365 host"
expect_out "max_connections = 3" "office365 allows 3 connections"
expect_out "username = billing@acme.example" "office365 user name is the mailbox"
add_show o365b --provider office365 --from billing@acme.example --max-connections 2 --username u@acme.example
expect_out "max_connections = 2" "explicit max-connections wins"
expect_out "username = u@acme.example" "explicit user name wins"

add x --provider nosuch --from a@acme.example
expect_rc 1 "unknown provider"
expect_err "'byosmtpctl providers' lists the presets" "unknown provider says where to look"
add y --region eu-west-1 --host h.example --port 25 --username u --from a@acme.example
expect_rc 1 "--region without --provider"

run ctl providers
expect_rc 0 "providers"
for p in ses sendgrid postmark mailgun office365 gmail resend; do expect_out "$p (" "providers lists $p"; done
expect_out "not IAM access keys" "SES note"
expect_out "app password" "Gmail note"
expect_out "at most 3 concurrent connections" "Office 365 note"
finish
