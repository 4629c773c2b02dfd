#!/bin/sh
# bigheader.sh - a header field of 100 KB on the full path (tests/e2e/lib.sh): swaks submits it to
# the front Postfix. Postfix never hands a milter a header field over 60000 bytes: with milters
# configured it cuts each field there (cleanup's workaround for libmilter's default limit of
# 64K), so through Postfix the field byosmtpd sees is at most that, whatever
# milter.max_header_size says (byosmtp.conf(5)). tests/milter/bigheader.sh sends the whole
# 100 KB to byosmtpd, as an MTA without that cut would.
#   1. byosmtpd with milter.max_header_size at its default (64K): the message is accepted and
#      relayed, and the provider's copy has the field as Postfix cut it (a prefix of what was
#      sent, under 60000 bytes): no milter error, no 451.
#   2. Reloaded with max_header_size = "32K": the same message gets the documented 552 5.3.4 at
#      the end of DATA, byosmtpd logs the refusal, Postfix logs the milter's reject, and nothing
#      more reaches the provider.
# Exit 0 pass, 1 fail, 77 skip (not root, Postfix, Cyrus SASL or swaks missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/e2e/lib.sh"
SIZE=100000

e2e_provider
e2e_conf
e2e_target cust relay@cust.test "Cust Relay"
ctl route add @cust.example cust >/dev/null || die "byosmtpctl route add"
e2e_start_byosmtpd
e2e_front

# big_message N: a message (LF line ends) whose X-Big field has a value of $SIZE bytes, folded
# into lines of 990; the value without its folds is in $T/big.value
big_message() {
    "$PY" - "$SIZE" "$1" "$T/big.value" <<'PY'
import sys
size, n, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
chunks = []
while size > 0:
    c = ("%06d" % len(chunks) + "y" * 984)[:size]
    chunks.append(c)
    size -= len(c)
open(out, "w").write("".join(chunks))
sys.stdout.write("From: Alice Author <alice@sender.example>\nTo: bob@cust.example\n"
                 "Subject: e2e big header %s\nMessage-Id: <e2e-big-%s@sender.example>\n"
                 "X-Big: %s\n\nBody of e2e big header %s.\n" % (n, n, "\n\t".join(chunks), n))
PY
}

# x_big NAME: the X-Big value of the provider's copy with NAME in its text, its folds left out
x_big() {
    pyrec provider 'm, msg = parsed("'"$1"'"); print("".join(msg["X-Big"].split()))'
}

# --- 1. the default max_header_size: relayed with the field as Postfix cut it ---
big_message 1 >"$T/big1.eml"
swaks_send "$FRONT_PORT" "$T/swaks1.out" --from alice@sender.example --to bob@cust.example \
    --data "@$T/big1.eml"
check "swaks: the front Postfix accepted the message" grep -q 'queued as' "$T/swaks1.out"
check "not a tempfail for a milter that went away" sh -c "! grep -q '451 4.7.1' '$T/swaks1.out'"
check "byosmtpd relayed it" wait_for 20 log_has "to=<bob@cust.example>, relay=cust.*status=sent"
check "the provider received it" wait_for 20 pyrec provider 'parsed("e2e big header 1")'
x_big "e2e big header 1" >"$T/x-big1"
check "the provider's X-Big is what was sent, cut by Postfix under 60000 bytes" "$PY" -c '
import sys
got, sent = open(sys.argv[1]).read().strip(), open(sys.argv[2]).read()
assert 50000 < len(got) < 60000 and sent.startswith(got), len(got)' "$T/x-big1" "$T/big.value"

# --- 2. max_header_size = "32K" (a reload): 552 5.3.4 ---
sed -i 's/^milter = { /milter = { max_header_size = "32K"; /' "$CONF"
kill -HUP "$BYO_PID"
check "byosmtpd reloaded its configuration" wait_for 10 log_has "reloaded"
big_message 2 >"$T/big2.eml"
swaks_send "$FRONT_PORT" "$T/swaks2.out" --from alice@sender.example --to bob@cust.example \
    --data "@$T/big2.eml"
check "swaks got 552 5.3.4 for the field" grep -q '552 5.3.4 message header field too long' "$T/swaks2.out"
check "byosmtpd logged the refusal" \
    log_has "header field X-Big is [0-9]* bytes, over milter.max_header_size (32768): rejected with 552"
check "Postfix logged the milter's reject" wait_for 10 front_log_has "milter-reject: END-OF-MESSAGE .*5.3.4 message header field too long"
sleep 1
check "nothing more reached the provider" pyrec provider '
assert not any("e2e big header 2" in x["message"] for x in msgs)'
check "byosmtpd's queue is empty" queue_empty
finish
