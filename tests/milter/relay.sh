#!/bin/sh
# relay.sh - routed, unrouted and mixed recipients, two targets in one message, trust rules:
# the milter replies (relay.lua), then the spool files (rewritten headers, body bytes,
# envelope, trailer) and the store (queue records, quota counts).
. "$top_srcdir/tests/milter/lib.sh"
setup_store
start
mt relay.lua

# the two-target message: one copy per target, rewritten for each
expect_eq "$(count_queue)" 5 "copies in the queue (2 + 2 + 1)"
A=$(grep -l '^queue-id: Q2TARGETS$' "$SPOOL"/queue/* | while read -r f; do grep -l '^target: acme$' "$f"; done)
B=$(grep -l '^queue-id: Q2TARGETS$' "$SPOOL"/queue/* | while read -r f; do grep -l '^target: beta$' "$f"; done)
[ -n "$A" ] && [ -n "$B" ] && ok || fail "no copy for acme or beta of Q2TARGETS"
for f in $A $B; do check_trailer "$f"; done
expect_in "$A" "rcpt: bob@acme.example" "acme copy recipients"
expect_in "$A" "rcpt: dave@acme.example" "acme copy recipients"
expect_not_in "$A" "rcpt: carol@beta.example" "acme copy has only its recipients"
expect_in "$B" "rcpt: carol@beta.example" "beta copy recipients"
expect_in "$A" "sender: alice@client.example" "original sender"
expect_in "$A" "envelope-from: relay@acme.test" "envelope sender per rewrite.envelope_from"
header_of "$A" >"$T/ha"
header_of "$B" >"$T/hb"
expect_in "$T/ha" "From: Acme Relay <relay@acme.test>" "acme From"
expect_in "$T/ha" "Original-From: Alice Sender <alice@client.example>" "acme Original-From"
expect_in "$T/ha" "Reply-To: Alice Sender <alice@client.example>" "acme Reply-To is the original From"
expect_in "$T/ha" "(byosmtpd) id $(basename "$A")" "acme Received names the spool id"
expect_in "$T/hb" "From: Alice Sender <out@beta.test>" "beta From keeps the display name"
expect_in "$T/hb" "Reply-To: help@beta.test" "beta Reply-To is the target's"
expect_in "$T/hb" "(byosmtpd) id $(basename "$B")" "beta Received names the spool id"
expect_eq "$(grep -a -c '^From:' "$T/ha")" 1 "exactly one From field in the acme copy"
expect_eq "$(grep -a -c '^From:' "$T/hb")" 1 "exactly one From field in the beta copy"
# the body, byte for byte, right before the trailer
printf 'Hello two targets.\r\nSecond line.\r\n' >"$T/body"
bl=$(stat -c %s "$T/body")
for f in $A $B; do
    size=$(stat -c %s "$f")
    tail -c $((bl + 99)) "$f" | head -c "$bl" >"$T/got"
    cmp -s "$T/got" "$T/body" && ok || fail "body bytes of $f"
    expect_in "$f" "body-size: $bl" "body-size of $f"
done
# the mixed message: two copies, only the routed recipients
M=$(grep -l '^queue-id: QMIXED$' "$SPOOL"/queue/* | wc -l)
expect_eq "$M" 2 "copies of the mixed message"
expect_not_in "$(cat $(grep -l '^queue-id: QMIXED$' "$SPOOL"/queue/*) >"$T/m"; echo "$T/m")" "zed@elsewhere.example" "unrouted recipient not spooled"
# the store: quota counted once per relayed recipient, a record per copy
expect_eq "$(quota_used acme)" 4 "acme accepted count (bob, dave, bob, erin)"
expect_eq "$(quota_used beta)" 2 "beta accepted count (carol twice)"
mdb_dump -p -s queue "$T/store" >"$T/q" 2>&1
expect_eq "$(grep -c 'target=' "$T/q")" 5 "queue records"
# nothing left in incoming/
expect_eq "$(incoming_files)" "" "incoming/ is empty"
expect_log "Q2TARGETS: all 3 recipients relayed: discarded" "log names the MTA queue id"
expect_log "QMIXED: spooled id=" "spool id in the log"
finish
