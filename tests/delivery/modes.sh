#!/bin/sh
# Delivery in each security mode: STARTTLS, implicit TLS and none, each with AUTH, through the
# real byosmtpd; the provider's 250 appears in byosmtpd's log; connections are reused.
. "$top_srcdir/tests/delivery/lib.sh"

setup
provider st starttls
provider im tls
provider pl plain
target st starttls "$st_PORT"
target im tls "$im_PORT"
target pl none "$pl_PORT"
start

submit "alice@client.example" "bob@st.example" 3 "starttls" || exit 1
submit "alice@client.example" "bob@im.example" 2 "implicit" || exit 1
submit "alice@client.example" "bob@pl.example" 2 "plain" || exit 1
check "starttls: 3 messages delivered" wait_for 20 has_messages st 3
check "implicit tls: 2 messages delivered" wait_for 20 has_messages im 2
check "none: 2 messages delivered" wait_for 20 has_messages pl 2
check "the queue is empty" wait_for 10 queue_empty

check "starttls: TLS and AUTH PLAIN, rewritten From" pyrec st '
assert all(m["tls"] and m["auth"] and m["auth_user"] == "user-st" for m in msgs), msgs
assert all(m["mail_from"] == "relay@st.test" for m in msgs), [m["mail_from"] for m in msgs]
assert all("relay@st.test" in m["message"] for m in msgs)
assert all(r["addr"] == "bob@st.example" for m in msgs for r in m["rcpt"])
assert any(c.get("starttls") for c in conns) or len(conns) == 0
'
check "implicit tls: TLS from the first byte" pyrec im '
assert all(m["tls"] and m["auth"] for m in msgs), msgs'
check "none: no TLS, still AUTH" pyrec pl '
assert all((not m["tls"]) and m["auth"] for m in msgs), msgs'
check "the 250 of each provider is in the log" sh -c "grep -q 'relay=st\[127.0.0.1\]:$st_PORT.*status=sent (250' '$LOG' && grep -q 'relay=im\[127.0.0.1\]' '$LOG' && grep -q 'status=sent' '$LOG'"
check "the MTA queue id is in the log line" log_has "_QTEST1: to=<bob@st.example>"
check "a connection is reused for the next message (conn_use)" log_has "relay=st\[127.0.0.1\]:$st_PORT, conn_use=2"
check "no password in the log" sh -c "! grep -q 'pw-st\|pw-im\|pw-pl' '$LOG'"
check "stats: 3 accepted and delivered for st" sh -c "ctl() { \"\$BYOSMTPCTL\" -c '$CONF' \"\$@\"; }; sleep 1.5; ctl stats | grep -Eq '^st +3 +3 +0 +0'"
check "quota: delivered counted for st" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota st | grep -q 'delivered.*3\|3.*delivered\|3'"
finish
