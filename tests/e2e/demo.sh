#!/bin/sh
# demo.sh - contrib/demo.sh (the README's first command's main job) still works: run it on the
# build directory and check its exit status and output: verify succeeded; the provider's record
# shows the relayed message over TLS with AUTH and rewritten (From = the target's from_name and
# from_address, Original-From and Reply-To = the original From); Postfix delivered the unrouted
# recipient itself with the original From; byosmtpd's Postfix-shaped status=sent line with the
# provider's 250 and Postfix's queue id; byosmtpctl quota (1 used, 1 delivered) and queue (empty).
# Afterwards its temporary directory is gone and none of its processes is left.
# Exit 0 pass, 1 fail, 77 skip (not root, or Postfix, swaks or python3 missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/common.sh"
[ "$(id -u)" -eq 0 ] || skip "the demo needs root (its private Postfix's master starts as root)"
for tool in /usr/sbin/postfix swaks openssl "$PY"; do
    need "$tool"
done
[ -x "$BYOSMTPD" ] || skip "byosmtpd is not built"

work_dir byosmtp-demo-test
OUT=$T/demo.out

# show_logs: the demo's output
show_logs() {
    echo "--- the demo's output"
    cat "$OUT"
}

# expect TEXT WHAT: a line of the demo's output matches the basic regular expression TEXT
expect() {
    if grep -q -- "$1" "$OUT"; then ok "$2"; else fail "$2: no line matches '$1'"; fi
}

sh "$top_srcdir/contrib/demo.sh" "$top_builddir" >"$OUT" 2>&1
RC=$?
if [ "$RC" -eq 0 ]; then ok "contrib/demo.sh exits 0"; else fail "contrib/demo.sh exited $RC"; fi
expect '^byosmtp demo: ok$' "the demo says it worked"
expect '^ *result: ok: test message accepted' "byosmtpctl verify succeeded"
expect '^ *over TLSv1\.[23], AUTH PLAIN as apikey$' "the provider got the message over TLS with AUTH"
expect '^ *RCPT TO:<bob@customer.example>  -> 250 ' "the provider got it for the routed recipient"
# the relayed copy, as the provider's record shows it
expect '^ *From: Acme Support <noreply@acme.test>' "the relayed message's From is the target's"
expect '^ *Original-From: Alice Example <alice@example.org>' "the relayed message has Original-From"
expect '^ *Reply-To: Alice Example <alice@example.org>' "the relayed message has Reply-To"
expect '^ *Received: by .* (byosmtpd) id ' "the relayed message has byosmtpd's Received"
# Postfix's own delivery
expect '^ *Delivered-To: carol@local.example' "Postfix delivered the unrouted recipient"
expect '^ *From: Alice Example <alice@example.org>' "its copy keeps the original From"
QID=$(sed -n 's/.*<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$OUT" | tail -1)
if [ -n "$QID" ]; then ok "swaks got Postfix's queue id"; else fail "no queue id in swaks' output"; QID=NONE; fi
expect "byosmtpd: [0-9A-F]*_$QID: to=<bob@customer.example>, relay=acme\[127.0.0.1\]:[0-9]*, .*status=sent (250 2.0.0 " \
    "byosmtpd's Postfix-shaped log line: sent, the provider's 250, Postfix's queue id"
expect "virtual\[[0-9]*\]: $QID: to=<carol@local.example>, relay=virtual, .*status=sent" "Postfix's log line for carol"
expect '^ *acme  *[0-9]\{4\}-[0-9][0-9]  *1  *1000  *1  *0$' "byosmtpctl quota: 1 used of 1000, 1 delivered"
expect '^ *0 messages in the queue$' "byosmtpctl queue is empty"

# nothing left behind
DIR=$(sed -n 's/^byosmtp demo: everything runs in \(.*\), on 127.0.0.1 only.*/\1/p' "$OUT")
if [ -n "$DIR" ] && [ ! -e "$DIR" ]; then ok "the temporary directory is removed"; else fail "temporary directory '$DIR' left"; fi
if [ -n "$DIR" ] && ps -eo args= | grep -F -- "$DIR" | grep -qv grep; then
    fail "processes of the demo are still running:"
    ps -eo pid=,args= | grep -F -- "$DIR" | grep -v grep
else
    ok "no process of the demo is left"
fi
finish
