# oauth.sh - OAuth2 targets with byosmtpctl: the presets gmail-oauth and office365-oauth; the
# OAuth2 fields given as options (two secrets from files), shown "(set)"; each wrong combination
# refused with a line that says how to mend it; dump -> load -> dump unchanged, every new field
# included; targets.conf's OAuth2 secrets checked against their target; providers lists them; no
# secret in any output or in the store files.
. "$top_srcdir/tests/cli/lib.sh"
CS='GOCSPX-cli-secret-5f1'
RT='1//0g-cli-refresh-8e2'
printf '%s\n' "$CS" >"$T/cs"
printf '%s\n' "$RT" >"$T/rt"

ctl key generate >/dev/null || fail "key generate"

# --- the presets ---
run ctl target add gm --provider gmail-oauth --from me@example.com --oauth-client-id 123.apps.example \
    --oauth-client-secret-file "$T/cs" --oauth-refresh-token-file "$T/rt"
expect_rc 0 "gmail-oauth: added without a password"
run ctl target show gm
expect_out "host = smtp.gmail.com" "gmail-oauth host"
expect_out "username = me@example.com" "gmail-oauth: the from address is the user name"
expect_out "password = (not set)" "gmail-oauth: no password"
expect_out "auth = xoauth2" "gmail-oauth: auth xoauth2"
expect_out "oauth_token_url = https://oauth2.googleapis.com/token" "gmail-oauth token URL"
expect_out "oauth_client_id = 123.apps.example" "client id shown"
expect_out "oauth_client_secret = (set)" "client secret shown as (set)"
expect_out "oauth_refresh_token = (set)" "refresh token shown as (set)"
expect_out "oauth_scope = https://mail.google.com/" "gmail-oauth scope"
expect_out "oauth_token_command = " "no token command"

run ctl target add o365 --provider office365-oauth --from desk@contoso.example \
    --oauth-client-id 0e1a-app --oauth-refresh-token-file "$T/rt" \
    --oauth-token-url https://login.microsoftonline.com/72f9-tenant/oauth2/v2.0/token
expect_rc 0 "office365-oauth: a public client (no secret), a single tenant's URL"
run ctl target show o365
expect_out "host = smtp.office365.com" "office365-oauth host"
expect_out "oauth_token_url = https://login.microsoftonline.com/72f9-tenant/oauth2/v2.0/token" \
    "an explicit token URL wins over the preset's"
expect_out "oauth_scope = https://outlook.office.com/SMTP.Send offline_access" "office365-oauth scope"
expect_out "oauth_client_secret = (not set)" "no client secret"
expect_out "max_connections = 3" "office365-oauth keeps the provider's limits"

run ctl providers
expect_out "gmail-oauth (Gmail / Google Workspace, OAuth2)" "providers lists gmail-oauth"
expect_out "oauth_token_url = https://login.microsoftonline.com/common/oauth2/v2.0/token" \
    "providers shows the office365-oauth token URL"

# --- what is refused, and how to mend it ---
run ctl target add bad1 --provider gmail-oauth --from me@example.com --oauth-client-id c \
    --oauth-refresh-token-file "$T/rt" --oauth-token-url http://oauth2.googleapis.com/token
expect_rc 1 "plain http token URL"
expect_err "oauth_token_url: 'http://oauth2.googleapis.com/token' is not an https:// URL" "http refused"
run ctl target add bad2 --provider gmail-oauth --from me@example.com --oauth-client-id c
expect_rc 1 "no refresh token"
expect_err "oauth_refresh_token: is required with oauth_token_url (byosmtpctl: --oauth-refresh-token-file F" \
    "says which option gives the refresh token"
run ctl target add bad3 --provider gmail-oauth --from me@example.com --oauth-refresh-token-file "$T/rt"
expect_rc 1 "no client id"
expect_err "oauth_client_id: is required with oauth_token_url" "client id required"
run ctl target add bad4 --provider gmail-oauth --from me@example.com --oauth-client-id c \
    --oauth-refresh-token-file "$T/rt" --oauth-token-command "oama access me"
expect_rc 1 "token URL and command"
expect_err "set either oauth_token_url (a refresh token grant) or oauth_token_command, not both" \
    "one way to a token"
run ctl target add bad5 --host smtp.example.net --port 587 --username u --from me@example.com \
    --password-file "$T/cs" --oauth-token-command "oama access me"
expect_rc 1 "a token command without auth xoauth2"
expect_err 'oauth_token_command: is used only with auth = "xoauth2" (byosmtpctl: --auth xoauth2)' \
    "says to set --auth xoauth2"
run sh -c "printf 'a\nb\n' | \"\$0\" -c \"\$1\" target add bad6 --provider gmail-oauth --from me@example.com \
    --oauth-client-id c --oauth-client-secret-stdin --oauth-refresh-token-stdin" "$BYOSMTPCTL" "$CONF"
expect_rc 2 "two secrets from standard input"
expect_err "standard input can give only one secret: give the oauth_refresh_token with --oauth-refresh-token-file F" \
    "says to use a file"
run ctl target add cmd --host smtp.example.net --port 587 --username me@example.com \
    --from me@example.com --auth xoauth2 --oauth-token-command 'oama access "$BYOSMTP_USERNAME"'
expect_rc 0 "a token command target needs no password"
run ctl target set cmd --auth plain --oauth-token-command ""
expect_rc 1 "leaving OAuth2 needs a password again"
expect_err "password" "the password is asked for"
run ctl target list
expect_out "gm" "target list"
for b in bad1 bad2 bad3 bad4 bad5 bad6; do
    case $OUT in *"$b "*) fail "refused target $b was stored" ;; *) ok ;; esac
done

# --- dump -> load -> dump ---
ctl dump >"$T/dump1" || fail "dump"
expect_in "$T/dump1" 'oauth_token_url = "https://oauth2.googleapis.com/token";' "dump: token URL"
expect_in "$T/dump1" 'oauth_client_id = "123.apps.example";' "dump: client id"
expect_in "$T/dump1" 'oauth_client_secret = "enc:v1:' "dump: client secret encrypted"
expect_in "$T/dump1" 'oauth_refresh_token = "enc:v1:' "dump: refresh token encrypted"
expect_in "$T/dump1" 'oauth_scope = "https://mail.google.com/";' "dump: scope"
expect_in "$T/dump1" 'oauth_token_command = "oama access \"$BYOSMTP_USERNAME\"";' "dump: token command"
run ctl load "$T/dump1"
expect_rc 0 "load the dump"
ctl dump >"$T/dump2" || fail "dump again"
check "dump -> load -> dump is unchanged" cmp -s "$T/dump1" "$T/dump2"
run ctl target show gm
expect_out "oauth_refresh_token = (set)" "the refresh token survived the round trip"

# an OAuth2 secret encrypted for another target is refused by load, naming the field
ENC_OTHER=$(printf '%s\n' "$RT" | ctl encrypt other) || fail "encrypt other"
ENC_GM=$(printf '%s\n' "$RT" | ctl encrypt gm2) || fail "encrypt gm2"
cat >"$T/targets.conf" <<CONF
targets = (
  { name = "gm2"; host = "smtp.gmail.com"; port = 587; username = "me@example.com";
    from_address = "me@example.com"; auth = "xoauth2";
    oauth_token_url = "https://oauth2.googleapis.com/token"; oauth_client_id = "c";
    oauth_refresh_token = "$ENC_OTHER"; oauth_scope = "https://mail.google.com/"; }
);
CONF
run ctl load "$T/targets.conf"
expect_rc 1 "a refresh token encrypted for another target"
expect_err "oauth_refresh_token of target 'gm2':" "load names the field"
sed -i "s|$ENC_OTHER|$ENC_GM|" "$T/targets.conf"
run ctl load --dry-run "$T/targets.conf"
expect_rc 0 "the same file with the refresh token made by 'encrypt gm2'"
sed -i "s|$ENC_GM|$RT|" "$T/targets.conf"
run ctl load "$T/targets.conf"
expect_rc 1 "a clear-text refresh token in targets.conf"
expect_err "oauth_refresh_token must be encrypted: run 'byosmtpctl encrypt gm2'" "says how to encrypt it"

# --- no secret anywhere ---
for cmd in "target show gm" "target show o365" "target list" "dump" "providers"; do
    ctl $cmd >"$T/o" 2>&1
    expect_not_in "$T/o" "$CS" "no client secret in '$cmd'"
    expect_not_in "$T/o" "$RT" "no refresh token in '$cmd'"
done
for f in "$T"/store/*; do
    expect_not_in "$f" "$CS" "no client secret in the store file $(basename "$f")"
    expect_not_in "$f" "$RT" "no refresh token in the store file $(basename "$f")"
done
finish
