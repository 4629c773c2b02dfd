#!/bin/sh
# What byosmtpd puts on the wire, as the provider records it:
#  - SNI: a target named by a host name (localhost, which the test certificate is valid for)
#    gets that name in the TLS handshake, after STARTTLS and with implicit TLS; a target given
#    as an IP address sends none;
#  - the ESMTP parameters of MAIL: SIZE (the octets sent, dots included) and BODY=8BITMIME where the provider
#    offers them, SMTPUTF8 only for a message with a non-ASCII address, none of them to a
#    provider that offers none; no parameter on RCPT.
# Per recipient: the message it arrived in and its MAIL parameters.
. "$top_srcdir/tests/delivery/lib.sh"

setup
provider named starttls
provider namedtls tls
provider full starttls
provider bare starttls --size 0 --no-8bitmime --no-smtputf8
TARGET_HOST=localhost target named starttls "$named_PORT"
TARGET_HOST=localhost target namedtls tls "$namedtls_PORT"
target full starttls "$full_PORT"
target bare starttls "$bare_PORT"
start

u=$(printf 'j\303\266rg')
e=$(printf 'caf\303\251')
submit "alice@client.example" "ann@named.example" 1 "by name" || exit 1
submit "alice@client.example" "ann@namedtls.example" 1 "by name, tls" || exit 1
submit "alice@client.example" "ann@full.example" 1 "ascii" || exit 1
submit "alice@client.example" "ben@full.example" 1 "$e eight-bit" || exit 1
submit "alice@client.example" "$u@full.example" 1 "utf8 address" || exit 1
submit "alice@client.example" "ann@bare.example" 1 "to bare" || exit 1
for name in named namedtls; do
    check "$name: ann@$name.example delivered" wait_for 15 has_messages "$name" 1
done
check "full: the three messages delivered" wait_for 15 has_messages full 3
check "bare: ann@bare.example delivered" wait_for 15 has_messages bare 1

for name in named namedtls; do
    check "ann@$name.example: sent to the host name (relay=${name}[localhost])" \
        log_has "to=<ann@$name.example>, relay=$name\[localhost\]:.*status=sent"
    check "ann@$name.example: one message, over TLS" pyrec "$name" "
assert [(m['rcpt'][0]['addr'], m['tls']) for m in msgs] == [('ann@$name.example', True)], msgs"
done
# the connections are recorded when they end: stop byosmtpd (it says QUIT) to have them all
stop
check "named (starttls): the handshake after STARTTLS sent SNI localhost" pyrec named '
assert conns and all(c["starttls"] and c["sni"] == "localhost" for c in conns), conns'
check "namedtls (implicit tls): the handshake sent SNI localhost" pyrec namedtls '
assert conns and all(c["tls"] and c["sni"] == "localhost" for c in conns), conns'
check "full (127.0.0.1): no SNI for an IP address" pyrec full '
assert conns and all(c["tls"] and c["sni"] is None for c in conns), conns'

# mail_params RCPT: the MAIL parameters of the message to RCPT at its provider, with SIZE=N
# checked against the octets the provider received (its "size": DATA before the terminator,
# dot-stuffing included, which is what RFC 1870 counts) and written SIZE=ok
mail_params() {
    "$PY" -c 'import json, sys
rcpt, recs = sys.argv[1], [json.loads(l) for f in sys.argv[2:] for l in open(f)]
[m] = [e for e in recs if e["event"] == "message" and e["rcpt"][0]["addr"] == rcpt]
assert all(r["params"] == [] for r in m["rcpt"]), m["rcpt"]
size = m["size"]
print(" ".join("SIZE=ok" if p == "SIZE=%d" % size else p for p in m["mail_params"]))' \
        "$1" "$T/full.jsonl" "$T/bare.jsonl"
}
expect_eq "$(mail_params ann@full.example)" "SIZE=ok BODY=8BITMIME" \
    "ann@full.example (ASCII): SIZE and BODY=8BITMIME, no SMTPUTF8"
expect_eq "$(mail_params ben@full.example)" "SIZE=ok BODY=8BITMIME" \
    "ben@full.example (8-bit content): SIZE and BODY=8BITMIME"
expect_eq "$(mail_params "$u@full.example")" "SIZE=ok BODY=8BITMIME SMTPUTF8" \
    "$u@full.example (UTF-8 address): SIZE, BODY=8BITMIME and SMTPUTF8"
expect_eq "$(mail_params ann@bare.example)" "" \
    "ann@bare.example (no SIZE, 8BITMIME, SMTPUTF8 offered): no parameter"
check "ben@full.example: the 8-bit content arrived as it was" pyrec full '
[m] = [m for m in msgs if m["rcpt"][0]["addr"] == "ben@full.example"]
assert m["eight_bit"] and "caf\u00e9 eight-bit" in m["message"], m["message"]'
finish
