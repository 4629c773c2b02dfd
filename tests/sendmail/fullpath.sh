#!/bin/sh
# fullpath.sh - the full path through a real Sendmail (tests/sendmail/lib.sh): the Debian
# sendmail binary, unpacked into a temporary directory (its packages conflict with Postfix's, so
# it is never installed), listens on 127.0.0.1 with contrib/sendmail/byosmtp.mc's
# INPUT_MAIL_FILTER (F=T) pointing at the real byosmtpd, which relays routed recipients through the
# test provider (STARTTLS + AUTH). What Sendmail delivers itself goes to a plain test sink (its
# smart host), which records it.
#   1. A message to one routed and one unrouted recipient, submitted with swaks to Sendmail: the
#      provider receives it once, for the routed recipient only, over TLS and authenticated,
#      rewritten (From = from_name <from_address>, Original-From and Reply-To = the original
#      From); Sendmail delivers the unrouted recipient to the sink, unrewritten, and not the routed
#      one; byosmtpd logs status=sent with the provider's 250 and Sendmail's queue id ({i}, the id
#      in Sendmail's "250 2.0.0 ID Message accepted" reply); Sendmail's queue is empty afterwards.
#   2. Every recipient routed: the provider gets it for both, byosmtpd discards Sendmail's copy
#      and the sink gets nothing.
#   3. F=T: with byosmtpd stopped, Sendmail answers 4xx (try again later) and neither delivers
#      the message unrelayed nor queues it.
# Exit 0 pass, 1 fail, 77 skip (not root; swaks, python3, m4, dpkg-deb missing; the Debian
# packages sendmail-bin, sendmail-cf, libwrap0 neither cached in $BYO_DEB_CACHE, default
# /var/cache/byosmtp-test-debs, nor downloadable with apt-get). KEEP=1 keeps the temporary directory.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
set -u
: "${BYOSMTPCTL:?run through make check (BYOSMTPCTL is not set)}"
. "$top_srcdir/tests/lib/common.sh"
need_byosmtpd
need swaks swaks
# Sendmail's daemon binds, changes user for delivery and owns its queue: it runs as root.
[ "$(id -u)" -eq 0 ] || skip "the private Sendmail daemon needs root"
. "$top_srcdir/tests/sendmail/lib.sh"

work_dir byo-sendmail
CONF="$T/byosmtp.conf"
LOG="$T/byosmtpd.log"
SPOOL="$T/spool"
PROV_USER=apikey
PROV_PW='Sendmail-E2e-Secret-41'
lsan_suppressions

# at_cleanup: Sendmail and byosmtpd stopped (the common clean-up stops the provider and the sink)
at_cleanup() {
    sm_stop
    stop_byosmtpd
}

# show_logs: the ends of byosmtpd's log, Sendmail's transcript and output, the servers' logs
show_logs() {
    show_tail "byosmtpd log" 40 "$LOG"
    show_tail "Sendmail's SMTP transcript (-X)" 60 "$T/sm/trace"
    show_tail "Sendmail's output" 20 "$T/sm/daemon.out"
    show_tail "provider log" 20 "$T/provider.log"
    show_tail "sink log" 20 "$T/sink.log"
}

# at_finish: byosmtpd's log has no sanitizer report and no password
at_finish() {
    check "no sanitizer report in byosmtpd's log" no_sanitizer_report
    check "no password in byosmtpd's log" lacks "$LOG" "$PROV_PW"
}

# accepted_id FILE: Sendmail's queue id from swaks' transcript ("250 2.0.0 ID Message accepted")
accepted_id() {
    sed -n 's/.*<- *250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted.*/\1/p' "$1" | tail -1
}

# not_listening PORT: nothing listens on 127.0.0.1:PORT
not_listening() { ! port_listens "$1"; }

# --- set-up: the Sendmail packages, provider, sink, byosmtpd with a target and a route, Sendmail ---
sm_fetch
sm_unpack "$T/root" || die "cannot unpack the sendmail packages from $SM_CACHE"
make_certs "$T/certs"
start_provider provider --mode starttls --cert "$T/certs/good.pem" --key "$T/certs/good.key" \
    --require-tls --require-auth --auth PLAIN,LOGIN --user "$PROV_USER" --password "$PROV_PW" \
    --hostname provider.test
PROV_PORT=$port
start_provider sink --mode plain --hostname sink.test
SINK_PORT=$port

MILTER_PORT=$(free_port)
SOCK="inet:$MILTER_PORT@127.0.0.1"
mkdir -p "$T/sm"
WORKERS=2 HELO_NAME=$SM_HOST
delivery_conf "$T/sm/sendmail -i -f <> --"
ctl key generate >/dev/null || die "byosmtpctl key generate"
printf '%s\n' "$PROV_PW" | ctl target add cust --host 127.0.0.1 --port "$PROV_PORT" \
    --security starttls --username "$PROV_USER" --password-stdin --from relay@cust.test \
    --from-name "Cust Relay" >"$T/target.out" 2>&1 || die "byosmtpctl target add: $(cat "$T/target.out")"
ctl route add @cust.example cust >/dev/null || die "byosmtpctl route add"
start_byosmtpd || die "byosmtpd did not start"

sm_config "$T/sm" "$(free_port)" "$MILTER_PORT" "$SINK_PORT" || die "cannot configure the private Sendmail"
check "sendmail.cf has contrib/sendmail/byosmtp.mc's filter with F=T" \
    grep -q "^Xbyosmtp, S=inet:$MILTER_PORT@127.0.0.1, F=T, T=" "$T/sm/sendmail.cf"
[ -n "$SM_UNSHARE" ] || echo "# unshare --uts is not permitted here: Sendmail waits 60 s for its host name"
sm_start || die "the private Sendmail did not start"
check "the banner is the real Sendmail's" sh -c "swaks --server 127.0.0.1 --port $SM_PORT --quit-after connect 2>&1 |
    grep -q '<-  220 $SM_HOST ESMTP Sendmail 8\.'"

# --- 1. one routed and one unrouted recipient ---
printf 'First line of the body.\n.a line that starts with a dot\n\nLast line: sm-body-5d1e\n' >"$T/body1"
swaks_send "$SM_PORT" "$T/swaks1.out" --from alice@sender.example --to bob@cust.example,carol@local.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: sendmail full path" \
    --header "Message-Id: <sm-mixed@sender.example>" --body "@$T/body1"
QID1=$(accepted_id "$T/swaks1.out")
check "Sendmail accepted the mixed message (250 with its queue id)" [ -n "$QID1" ]
check "the provider received the message" wait_for 20 pyrec provider 'parsed("sendmail full path")'
check "the sink (Sendmail's own delivery) received the message" wait_for 20 pyrec sink 'parsed("sendmail full path")'
check "the provider got it once, for the routed recipient only, over TLS, authenticated" pyrec provider '
m, msg = parsed("sendmail full path")
assert [r["addr"] for r in m["rcpt"]] == ["bob@cust.example"], m["rcpt"]
assert m["rcpt"][0]["accepted"]
assert m["tls"] and m["auth"] and m["auth_user"] == "apikey", (m["tls"], m["auth"], m["auth_user"])
assert m["mail_from"] == "relay@cust.test", m["mail_from"]'
check "the relayed copy is rewritten (From, Original-From, Reply-To)" pyrec provider '
m, msg = parsed("sendmail full path")
assert one(msg, "From") in ("\"Cust Relay\" <relay@cust.test>", "Cust Relay <relay@cust.test>"), one(msg, "From")
assert one(msg, "Original-From") == "Alice Author <alice@sender.example>", one(msg, "Original-From")
assert one(msg, "Reply-To") == "Alice Author <alice@sender.example>", one(msg, "Reply-To")
assert one(msg, "Subject") == "sendmail full path"
assert one(msg, "Message-Id") == "<sm-mixed@sender.example>"
# the Received: line of byosmtpd names the queue id of Sendmail. The Received: line of Sendmail
# is not in the relayed copy: Sendmail passes a milter only the headers it received, not its own.
rcv = [" ".join(r.split()) for r in msg.get_all("Received")]
assert any("(byosmtpd)" in r and "(MTA queue id '"$QID1"');" in r for r in rcv), rcv'
check "the relayed body is intact" pyrec provider '
m, msg = parsed("sendmail full path")
body = base64.b64decode(m["message_b64"]).split(b"\r\n\r\n", 1)[1]
sent = open("'"$T/body1"'", "rb").read().replace(b"\n", b"\r\n")
assert body.startswith(sent), (body, sent)'
check "Sendmail delivered only the unrouted recipient, unrewritten" pyrec sink '
m, msg = parsed("sendmail full path")
assert [r["addr"] for r in m["rcpt"]] == ["carol@local.example"], m["rcpt"]
assert m["mail_from"] == "alice@sender.example", m["mail_from"]
assert one(msg, "From") == "Alice Author <alice@sender.example>", one(msg, "From")
assert msg.get_all("Original-From") is None
assert "sm-body-5d1e" in m["message"]'
check "byosmtpd logged status=sent with the provider's 250 and Sendmail's queue id" \
    wait_for 10 log_has "_$QID1: to=<bob@cust.example>, relay=cust\[127.0.0.1\]:$PROV_PORT, .*status=sent (250 "
check "byosmtpd logged the spooling with Sendmail's queue id" log_has "$QID1: 1 of 2 recipients relayed"
check "Sendmail's queue is empty (the unrouted copy was delivered, not deferred)" wait_for 20 sm_queue_empty
check "byosmtpctl quota: 1 used, 1 delivered" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cust | grep -Eq '^cust +[0-9]{4}-[0-9]{2} +1 +unlimited +1 +0'"

# --- 2. every recipient routed: byosmtpd discards Sendmail's copy ---
swaks_send "$SM_PORT" "$T/swaks2.out" --from alice@sender.example --to dave@cust.example,erin@cust.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: sendmail all routed" \
    --header "Message-Id: <sm-all@sender.example>" --body "all routed sm-body-a07c"
QID2=$(accepted_id "$T/swaks2.out")
check "Sendmail accepted the all-routed message" [ -n "$QID2" ]
check "the provider received it for both recipients" wait_for 20 pyrec provider '
m, msg = parsed("sendmail all routed")
assert sorted(r["addr"] for r in m["rcpt"] if r["accepted"]) == ["dave@cust.example", "erin@cust.example"]'
check "byosmtpd logged that all recipients were relayed" log_has "$QID2: all 2 recipients relayed: discarded from the MTA"
check "byosmtpd logged status=sent for both" wait_for 10 sh -c "grep -q '_$QID2: to=<dave@cust.example>.*status=sent (250 ' '$LOG' &&
    grep -q '_$QID2: to=<erin@cust.example>.*status=sent (250 ' '$LOG'"
sleep 1
check "Sendmail delivered nothing of the all-routed message" sh -c "! grep -q 'sm-body-a07c' '$T/sink.jsonl'"
check "Sendmail's queue is empty after the discard" sm_queue_empty

# --- 3. F=T: byosmtpd down, Sendmail tempfails instead of delivering unrelayed ---
stop_byosmtpd
check "byosmtpd stopped with status 0 on SIGTERM" [ "${BYO_RC:-1}" -eq 0 ]
check "byosmtpd's milter port is closed" not_listening "$MILTER_PORT"
swaks_send "$SM_PORT" "$T/swaks3.out" --from alice@sender.example --to frank@cust.example,grace@local.example \
    --header "From: Alice Author <alice@sender.example>" --header "Subject: sendmail milter down" \
    --body "milter down sm-body-e4b9"
check "Sendmail answers 4xx with byosmtpd down (F=T)" grep -Eq '^<\*\* +4[0-9][0-9] ' "$T/swaks3.out"
check "Sendmail did not accept the message" sh -c "! grep -q 'Message accepted' '$T/swaks3.out'"
sleep 2
check "nothing of it was delivered unrelayed, nor relayed" sh -c "! grep -q 'sm-body-e4b9' '$T/sink.jsonl' '$T/provider.jsonl'"
check "Sendmail did not queue it" sm_queue_empty

finish
