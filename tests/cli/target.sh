# target.sh - an admin's session with byosmtpctl: key, target add/set/show/list/rm, routes,
# quota; the password given on stdin never shows up anywhere, in any output or in the store file.
. "$top_srcdir/tests/cli/lib.sh"
PW='S3cret-Pa55word!x'

run ctl target list
expect_rc 1 "list before the store exists"
expect_err "is not initialised" "list before the store exists"

run ctl key generate
expect_rc 0 "key generate"
[ "$(stat -c %a "$T/master.key")" = 600 ] && ok || fail "master key mode is $(stat -c %a "$T/master.key")"
[ "$(stat -c %s "$T/master.key")" = 32 ] && ok || fail "master key is not 32 bytes"
cp "$T/master.key" "$T/key.before"
run ctl key generate
expect_rc 1 "second key generate"
cmp -s "$T/master.key" "$T/key.before" && ok || fail "key generate overwrote the key"

run sh -c "printf '%s\n' '$PW' | \"\$0\" -c \"\$1\" target add acme --host smtp.sendgrid.net --port 587 --username apikey --password-stdin --from noreply@acme.example --from-name 'Acme Billing' --quota 1000" "$BYOSMTPCTL" "$CONF"
expect_rc 0 "target add"
expect_out "target acme added" "target add"

run ctl target show acme
expect_rc 0 "target show"
expect_out "password = (set)" "target show"
expect_out "host = smtp.sendgrid.net" "target show"
expect_out "from_name = Acme Billing" "target show"
expect_out "verified = never" "target show"
run ctl target list
expect_rc 0 "target list"
expect_out "acme" "target list"
expect_out "smtp.sendgrid.net:587" "target list"
run ctl dump
expect_rc 0 "dump"
expect_out 'password = "enc:v1:' "dump keeps the password encrypted"

# the clear password is nowhere: outputs, and the LMDB files themselves
for cmd in "target show acme" "target list" "dump" "route list" "quota"; do
    ctl $cmd >"$T/o" 2>&1
    expect_not_in "$T/o" "$PW" "output of '$cmd'"
done
for f in "$T"/store/*; do expect_not_in "$f" "$PW" "store file $(basename "$f")"; done

# set changes only what is given and needs no password
run ctl target set acme --port 2525 --security tls
expect_rc 0 "target set"
run ctl target show acme
expect_out "port = 2525" "set port"
expect_out "security = tls" "set security"
expect_out "username = apikey" "set keeps username"
expect_out "password = (set)" "set keeps password"

# failover hosts and the fallback to the MTA: --fallback-host repeats; a set replaces the list
run ctl target set acme --fallback-host smtp2.sendgrid.net:587 --fallback-host '[2001:db8::1]:465' --fallback mta --fallback-after 600
expect_rc 0 "target set fallback"
run ctl target show acme
expect_out "fallback_hosts = smtp2.sendgrid.net:587,[2001:db8::1]:465" "fallback hosts in order"
expect_out "fallback = mta" "fallback mta"
expect_out "fallback_after = 600" "fallback_after"
run ctl dump
expect_out 'fallback_hosts = [ "smtp2.sendgrid.net:587", "[2001:db8::1]:465" ];' "dump writes the hosts as an array"
run ctl target set acme --fallback-host smtp3.sendgrid.net:2525
expect_rc 0 "target set one fallback host"
run ctl target show acme
expect_out "fallback_hosts = smtp3.sendgrid.net:2525" "a set replaces the list"
expect_out "fallback = mta" "a set keeps what it does not name"
run ctl target set acme --fallback-host smtp3.sendgrid.net
expect_rc 1 "a host without its port"
expect_err "--fallback-host: 'smtp3.sendgrid.net' is not HOST:PORT" "a host without its port"
run ctl target set acme --fallback smtp
expect_rc 1 "an unknown fallback"
expect_err "--fallback 'smtp': expected none or mta" "an unknown fallback"
run ctl target set acme --fallback-host '' --fallback none
expect_rc 0 "target set: empty the list"
run ctl target show acme
expect_out "fallback_hosts = 
fallback = none" "the list emptied, fallback none again"

# routes
run ctl route add @acme.example acme
expect_rc 0 "route add"
run ctl route add @nowhere.example missing
expect_rc 1 "route to a missing target"
expect_err "target 'missing' does not exist" "route to a missing target"
run ctl route test someone@ACME.example
expect_rc 0 "route test hit"
expect_out "someone@ACME.example -> acme (matched @acme.example)" "route test hit"
run ctl route test someone@other.example
expect_rc 1 "route test miss"
expect_out "no route" "route test miss"
run ctl route list
expect_out "@acme.example -> acme" "route list"
run ctl target show acme
expect_out "routes = @acme.example" "show lists the routes"

# bad input: each refused, store unchanged
ctl dump >"$T/dump.before"
run ctl target set acme --from-name "$(printf 'Evil\r\nBcc: victim@example.com')"
expect_rc 1 "CR LF in from-name"
run ctl target set acme --from 'not an address'
expect_rc 1 "malformed from address"
run ctl target set acme --security ssl
expect_rc 1 "unknown security mode"
expect_err "--security 'ssl'" "unknown security names the option"
run ctl target set acme --port 70000
expect_rc 1 "port out of range"
expect_err "--port '70000'" "port error names the option"
run ctl target set acme --bogus
expect_rc 2 "unknown option is a usage error"
run sh -c "printf 'x\n' | \"\$0\" -c \"\$1\" target add acme --host h.example --port 25 --username u --password-stdin --from a@b.example" "$BYOSMTPCTL" "$CONF"
expect_rc 1 "duplicate target name"
expect_err "exists already" "duplicate target name"
run ctl target add 'Bad Name' --host h --port 25
expect_rc 1 "bad target name"
ctl dump >"$T/dump.after"
cmp -s "$T/dump.before" "$T/dump.after" && ok || fail "a refused change altered the store"

run ctl target rm acme
expect_rc 1 "rm of a target with routes"
expect_err "still used by routes @acme.example" "rm of a target with routes"

run ctl quota
expect_rc 0 "quota"
expect_out "acme" "quota lists the target"
expect_out "1000" "quota shows the limit"
run ctl quota --month 2026-13
expect_rc 2 "quota with a bad month"

run ctl route rm @acme.example
expect_rc 0 "route rm"
run ctl target rm acme
expect_rc 0 "target rm"
run ctl target show acme
expect_rc 1 "show after rm"

# a key file that others can read is refused
chmod 644 "$T/master.key"
run sh -c "printf 'pw\n' | \"\$0\" -c \"\$1\" encrypt acme" "$BYOSMTPCTL" "$CONF"
expect_rc 1 "key readable by others"
expect_err "chmod 600" "key mode error says how to fix it"
finish
