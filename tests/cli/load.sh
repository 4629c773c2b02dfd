# load.sh - targets.conf into the store: all or nothing, FILE:LINE errors, dry run,
# dump -> load -> dump unchanged, password_file, and encrypted passwords bound to their target.
. "$top_srcdir/tests/cli/lib.sh"
PW='load-test-Secret-42'

ctl key generate >/dev/null || fail "key generate"
ENC_A=$(printf '%s\n' "$PW" | ctl encrypt alpha) || fail "encrypt alpha"
ENC_B=$(printf '%s\n' "$PW" | ctl encrypt beta) || fail "encrypt beta"
case $ENC_A in enc:v1:*) ok ;; *) fail "encrypt printed '$ENC_A'" ;; esac
[ "$ENC_A" != "$ENC_B" ] && ok || fail "two encryptions are identical"
printf '%s\n' "$PW" >"$T/beta.pw"
chmod 600 "$T/beta.pw"

cat >"$T/targets.conf" <<CONF
targets = (
  { name = "alpha"; host = "smtp.alpha.example"; port = 587; security = "starttls";
    username = "apikey"; password = "$ENC_A"; from_address = "noreply@alpha.example";
    from_name = "Alpha \"Billing\""; monthly_quota = 500; rate = "14/s"; },
  { name = "beta"; host = "127.0.0.1"; port = 465; security = "tls";
    username = "beta-user"; password_file = "$T/beta.pw"; from_address = "beta@beta.example";
    reply_to = "help@beta.example"; max_connections = 3; tls_verify = false; auth = "login"; }
);
routes = (
  { match = "@alpha.example"; target = "alpha"; },
  { match = "vip+news@beta.example"; target = "beta"; },
  { match = ".beta.example"; target = "beta"; },
  { match = "*"; target = "alpha"; }
);
CONF

run ctl load --dry-run "$T/targets.conf"
expect_rc 0 "dry run"
expect_out "2 targets, 4 routes: valid" "dry run"
[ ! -e "$T/store/data.mv" ] && [ ! -e "$T/store/data.mdb" ] && ok || fail "dry run created the store"

run ctl load "$T/targets.conf"
expect_rc 0 "load"
expect_out "loaded 2 targets, 4 routes" "load"
run ctl route test vip+news@beta.example
expect_out "-> beta (matched vip+news@beta.example)" "route from file"
run ctl route test x@mail.beta.example
expect_out "-> beta (matched .beta.example)" "subdomain route from file"
run ctl route test x@elsewhere.example
expect_out "-> alpha (matched *)" "catch-all route from file"

ctl dump >"$T/dump1" || fail "dump"
expect_not_in "$T/dump1" "$PW" "dump"
for f in "$T"/store/*; do expect_not_in "$f" "$PW" "store file after password_file"; done
run ctl load "$T/dump1"
expect_rc 0 "load the dump"
ctl dump >"$T/dump2"
cmp -s "$T/dump1" "$T/dump2" && ok || fail "dump -> load -> dump changed: $(diff "$T/dump1" "$T/dump2")"

# bad files: each rejected whole with FILE:LINE, the store keeps its contents
bad() { # bad NAME LINE EXPECTED-TEXT: write $T/NAME.conf from stdin, load it, check
    cat >"$T/$1.conf"
    run ctl load "$T/$1.conf"
    expect_rc 1 "bad file $1"
    expect_err "$T/$1.conf:$2: " "bad file $1 reports its line"
    expect_err "$3" "bad file $1"
    ctl dump >"$T/dump.now"
    cmp -s "$T/dump1" "$T/dump.now" && ok || fail "bad file $1 changed the store"
}
bad crlf 3 "from_name" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; from_name = "Evil\r\nBcc: x@example.com"; }
);
CONF
bad address 3 "from_address" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "not an address"; }
);
CONF
bad security 2 "security" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; security = "ssl"; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; }
);
CONF
bad port 2 "port" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 0; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; }
);
CONF
bad route 7 "missing" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; }
);
routes = (
  { match = "@alpha.example"; target = "alpha"; },
  { match = "@x.example"; target = "missing"; }
);
CONF
bad duplicate 4 "duplicate" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; },
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; }
);
CONF
bad unknown 3 "colour" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; colour = "blue"; }
);
CONF
# a ciphertext copied to another target does not decrypt
bad copied 2 "does not decrypt" <<CONF
targets = (
  { name = "beta"; host = "h.example"; port = 587; username = "u"; password = "$ENC_A";
    from_address = "a@alpha.example"; }
);
CONF
# a flipped character in the ciphertext
FLIP=$(printf '%s' "$ENC_A" | sed 's/\(enc:v1:.\{20\}\)\(.\)/\1#\2/; s/#A/B/; s/#[^B]/A/; s/#B/C/')
bad tampered 2 "does not decrypt" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$FLIP";
    from_address = "a@alpha.example"; }
);
CONF
bad cleartext 2 "byosmtpctl encrypt" <<CONF
targets = (
  { name = "alpha"; host = "h.example"; port = 587; username = "u"; password = "$PW";
    from_address = "a@alpha.example"; }
);
CONF
expect_not_in "$T/err" "$PW" "error about a clear-text password"
finish
