# senders.sh - byosmtpctl for routes by sender and the fields that go with them: route add, rm,
# list and test with --sender (both tables, the table and rule of a match, routing.order, a
# sender that allowed_senders refuses), --allowed-sender (repeatable, normalised, the list of
# one command replacing the stored one), --no-allowed-senders, --envelope-from, --auth none
# (no username or password; only over TLS; target set drops stored credentials), and a store
# whose target is still named by a sender route.
. "$top_srcdir/tests/cli/lib.sh"

run ctl key generate
expect_rc 0 "key generate"
run sh -c "printf 'pw\n' | \"\$0\" -c \"\$1\" target add acme --host smtp.example.net --port 587 --username apikey --password-stdin --from noreply@acme.example --allowed-sender @Acme.Example --allowed-sender '<>' --allowed-sender @acme.example --envelope-from bounces@mail.acme.example" "$BYOSMTPCTL" "$CONF"
expect_rc 0 "target add with --allowed-sender (repeated) and --envelope-from"
run ctl target show acme
expect_out "allowed_senders = @acme.example, <>" "allowed senders normalised, duplicates dropped"
expect_out "envelope_from = bounces@mail.acme.example" "envelope_from shown"
run ctl target set acme --allowed-sender boss@partner.example --allowed-sender .acme.example
expect_rc 0 "target set --allowed-sender"
run ctl target show acme
expect_out "allowed_senders = boss@partner.example, .acme.example" "the list given replaces the stored one"
run ctl target set acme --allowed-sender example.com
expect_rc 1 "a bad --allowed-sender"
expect_err "--allowed-sender 'example.com': 'example.com': route match must be user@domain, @domain, .domain or *" "its error names the option and the forms"
run ctl target show acme
expect_out "allowed_senders = boss@partner.example, .acme.example" "a refused change leaves the list"
run ctl target set acme --no-allowed-senders --envelope-from ''
expect_rc 0 "target set --no-allowed-senders --envelope-from ''"
run ctl target show acme
expect_out "allowed_senders = 
" "the list is empty" 
expect_out "envelope_from = 
" "envelope_from is empty"

# auth none: no username, no password, only over TLS
run ctl target add relay --host relay.example.net --port 25 --auth none --from app@relay.example
expect_rc 0 "target add --auth none without username or password"
run ctl target show relay
expect_out "auth = none" "auth none shown"
expect_out "password = (not set)" "no password"
run ctl target add plain --host relay.example.net --port 25 --security none --auth none --from app@relay.example
expect_rc 1 "auth none with security none"
expect_err "auth: none (a relay that authorises by IP address) needs security starttls or tls" "says TLS is needed"
run ctl target add named --host relay.example.net --port 25 --auth none --username u --from app@relay.example
expect_rc 1 "auth none with a username"
expect_err "username: auth none sends no credentials" "says why"
run ctl target add nopw --host relay.example.net --port 25 --username u --from app@relay.example
expect_rc 2 "target add without a password and without auth none"
expect_err "target add needs the password" "says what is missing"
run ctl target set acme --auth none
expect_rc 0 "target set --auth none"
expect_out "auth none: target acme has no username and no password (a relay that authorises by IP address gets none): removed" "says the credentials go"
run ctl target show acme
expect_out "username = 
" "username removed"
expect_out "password = (not set)" "password removed"
run ctl target set acme --security none
expect_rc 1 "security none under auth none"

# routes by sender
run ctl route add --sender @acme.example acme
expect_rc 0 "route add --sender"
expect_out "sender route @acme.example -> acme added" "route add --sender says so"
run ctl route add --sender '*' relay
expect_rc 0 "route add --sender *"
run ctl route add @dest.example relay
expect_rc 0 "route add (recipient)"
run ctl route add --sender @x.example missing
expect_rc 1 "route add --sender to a missing target"
run ctl route list
expect_out "@dest.example -> relay
--sender * -> relay
--sender @acme.example -> acme" "route list: recipient routes, then sender routes"
run ctl route test bob@dest.example --sender ann@acme.example
expect_rc 0 "route test: recipient-first"
expect_out "bob@dest.example -> relay (matched @dest.example) in routes, rule domain" "the recipient route wins"
run ctl route test bob@other.example --sender ann@acme.example
expect_out "bob@other.example -> acme (matched @acme.example) in sender_routes by the sender ann@acme.example, rule domain" "the sender route, its table and rule"
run ctl route test bob@other.example --sender zed@nowhere.example
expect_out "-> relay (matched *) in sender_routes by the sender zed@nowhere.example, rule catch-all" "the sender catch-all"
run ctl route test bob@other.example --sender '<>'
expect_rc 1 "the null sender matches no sender route, not even *"
expect_out "no route" "route test says no route"
run ctl route test bob@other.example
expect_rc 1 "without --sender only recipient routes"
printf 'routing = { order = "sender-first"; };\n' >>"$CONF"
run ctl route test bob@dest.example --sender ann@acme.example
expect_out "bob@dest.example -> acme (matched @acme.example) in sender_routes" "sender-first: the sender route wins"
run ctl target set acme --allowed-sender @partner.example
run ctl route test bob@dest.example --sender ann@acme.example
expect_rc 1 "a sender that allowed_senders refuses"
expect_out "but sender ann@acme.example is not in allowed_senders of target acme" "route test says so"
run ctl route test
expect_rc 2 "route test without an address"
run ctl route add --sender @a.example
expect_rc 2 "route add --sender without a target"
run ctl target rm acme
expect_rc 1 "target rm while a sender route names it"
expect_err "still used by routes --sender @acme.example" "names the sender route"
run ctl route rm --sender @acme.example
expect_rc 0 "route rm --sender"
run ctl route rm --sender @acme.example
expect_rc 1 "route rm --sender of a missing one"
expect_err "sender route '@acme.example' does not exist" "says which"
run ctl target rm acme
expect_rc 0 "target rm once no route names it"
finish
