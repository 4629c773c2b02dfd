#!/bin/sh
# DSN options of the original envelope (NOTIFY, ORCPT, RET, ENVID), delivery.delay_warning and
# the hand-back to the MTA (fallback = mta), through the real byosmtpd, per recipient. DSNs go to
# the fake sendmail of tests/delivery/lib.sh ($MBOX), copies handed back to a fake
# fallback_command that records its arguments and input ($T/fallback.mbox).
#   1. One message, RET=FULL ENVID=env-A, four recipients: n1 (NOTIFY=NEVER) and f1 (no NOTIFY)
#      refused by the provider: one DSN, for f1 only; s1 (NOTIFY=SUCCESS, ORCPT) and ok1 (no
#      NOTIFY) sent: one success notice (Action relayed), for s1 only, with its
#      Original-Recipient, the Original-Envelope-Id, and the whole message (RET=FULL).
#   2. delay_warning: a copy deferred past it gives exactly one "delayed" notice, for d1 (no
#      NOTIFY) and not d2 (NOTIFY=FAILURE), however often it is retried afterwards.
#   3. fallback = mta: a copy still deferred after fallback_after is handed back: status=fallback,
#      the command gets -f SENDER -N -R -V -- RCPT and the copy with X-Byosmtp-Fallback first;
#      the copy leaves the queue, quota counts it neither delivered nor bounced, stats count it.
#   4. fallback = mta and a 553 to MAIL (the sender refused for good): handed back at once.
#   5. a hand-back the command refuses keeps the recipient queued (never lost).
. "$top_srcdir/tests/delivery/lib.sh"

FBOX="$T/fallback.mbox"
{
    echo '#!/bin/sh'
    echo 'case "$*" in *stuck@*) cat >/dev/null; exit 75 ;; esac'
    echo "{ echo \"From fallback args: \$*\"; cat; echo; } >>'$FBOX'"
} >"$T/fake-fallback"
chmod 755 "$T/fake-fallback"

setup
delivery_set "delay_warning = 2; fallback_command = \"$T/fake-fallback -i\";"
provider acme starttls --rule '{"on": "RCPT", "rcpt": "n1@acme.example", "reply": "550 5.1.1 no such user n1"}' \
    --rule '{"on": "RCPT", "rcpt": "f1@acme.example", "reply": "550 5.1.1 no such user f1"}'
provider slow starttls --rule '{"on": "RCPT", "reply": "451 4.3.0 try again later"}'
provider late starttls --rule '{"on": "RCPT", "reply": "451 4.3.0 try again later"}'
provider mailref starttls --rule '{"on": "MAIL", "reply": "553 5.7.1 Sender address rejected: not owned by user"}'
target acme starttls "$acme_PORT"
target slow starttls "$slow_PORT"
target late starttls "$late_PORT" --fallback mta --fallback-after 3
target mailref starttls "$mailref_PORT" --fallback mta
start

# dsn_count PATTERN: DSNs in $MBOX with a line that matches PATTERN (awk), one per "From " block
dsn_count() {
    awk -v pat="$1" '/^From MAILER-DAEMON/ { if (m) n++; m = 0 } $0 ~ pat { m = 1 } END { if (m) n++; print n + 0 }' "$MBOX" 2>/dev/null
}

# --- 1. NOTIFY=NEVER, no NOTIFY, NOTIFY=SUCCESS with ORCPT; RET=FULL, ENVID ---
submit "alice@client.example RET=FULL ENVID=env-A" "$(printf '%s\n' \
    'n1@acme.example NOTIFY=NEVER' 'f1@acme.example' \
    's1@acme.example NOTIFY=SUCCESS ORCPT=rfc822;orig-s1@client.example' 'ok1@acme.example')" 1 "options" || exit 1
check "n1 bounced" wait_for 20 log_has "to=<n1@acme.example>, .*status=bounced (550 5.1.1"
check "f1 bounced" wait_for 5 log_has "to=<f1@acme.example>, .*status=bounced (550 5.1.1"
check "s1 sent, its line with orig_to" log_has "to=<s1@acme.example>, orig_to=<orig-s1@client.example>, .*status=sent"
check "ok1 sent" log_has "to=<ok1@acme.example>, .*status=sent"
check "logged: a non-delivery notification for 1 recipient" wait_for 10 log_has "sender non-delivery notification to <alice@client.example> for 1 recipient\$"
check "logged: none for the recipient that said NOTIFY=NEVER" log_has "no non-delivery notification for 1 recipient: not asked for (NOTIFY)"
check "logged: a success notification for 1 recipient" wait_for 10 log_has "sender success notification to <alice@client.example> for 1 recipient\$"
check "exactly one failure DSN, for f1" [ "$(dsn_count '^Action: failed')" -eq 1 ]
check "the failure DSN names f1 and not n1" sh -c "grep -q 'Final-Recipient: rfc822; f1@acme.example' '$MBOX' && ! grep -q 'rfc822; n1@acme.example' '$MBOX'"
check "exactly one success notice (Action: relayed)" [ "$(dsn_count '^Action: relayed')" -eq 1 ]
awk '/^From MAILER-DAEMON/ { p = 0 } /^Subject: Successful Mail Delivery Report/ { p = 1 } p' "$MBOX" >"$T/relayed.txt"
check "the success notice is for s1, with its Original-Recipient and Status 2.0.0" sh -c "
    grep -q '^Final-Recipient: rfc822; s1@acme.example' '$T/relayed.txt' &&
    grep -q '^Original-Recipient: rfc822; orig-s1@client.example' '$T/relayed.txt' &&
    grep -q '^Status: 2.0.0' '$T/relayed.txt'"
check "the success notice does not name ok1" sh -c "! grep -q 'rfc822; ok1@acme.example' '$T/relayed.txt'"
check "the DSNs carry the Original-Envelope-Id" [ "$(grep -c '^Original-Envelope-Id: env-A' "$MBOX")" -eq 2 ]
check "RET=FULL: the whole message is returned (message/rfc822 with its body)" sh -c "
    grep -q '^Content-Type: message/rfc822' '$MBOX' && grep -q '^Hello, this is options 1' '$MBOX'"
check "the DSNs went to the sender with a null envelope sender" \
    [ "$(grep -c '^From MAILER-DAEMON args: -i -f <> -- alice@client.example$' "$MBOX")" -eq 2 ]
check "quota acme: 4 accepted, 2 delivered, 2 bounced" wait_for 10 sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota acme | grep -Eq '^acme +[0-9-]+ +4 +unlimited +2 +2\$'"

# --- 2. delay_warning: one "delayed" notice per copy ---
submit "bob@client.example" "$(printf '%s\n' 'd1@slow.example' 'd2@slow.example NOTIFY=FAILURE')" 1 "slow" || exit 1
check "d1 deferred" wait_for 20 log_has "to=<d1@slow.example>, .*status=deferred"
check "a delay notification for 1 recipient" wait_for 20 log_has "sender delay notification to <bob@client.example> for 1 recipient\$"
awk '/^From MAILER-DAEMON/ { p = 0 } /^Subject: Delayed Mail/ { p = 1 } p' "$MBOX" >"$T/delayed.txt"
check "the delayed notice names d1: Action delayed, Will-Retry-Until" sh -c "
    grep -q '^Final-Recipient: rfc822; d1@slow.example' '$T/delayed.txt' &&
    grep -q '^Action: delayed' '$T/delayed.txt' && grep -q '^Will-Retry-Until: ' '$T/delayed.txt'"
check "the delayed notice does not name d2 (NOTIFY=FAILURE)" sh -c "! grep -q 'rfc822; d2@slow.example' '$T/delayed.txt'"
n_before=$(grep -c "to=<d1@slow.example>, .*status=deferred" "$LOG")
check "the copy is retried at least three more times" \
    wait_for 30 sh -c "[ \$(grep -c 'to=<d1@slow.example>, .*status=deferred' '$LOG') -ge $((n_before + 3)) ]"
check "still exactly one delay notice" [ "$(dsn_count '^Action: delayed')" -eq 1 ]
check "and one delay log line" [ "$(grep -c 'sender delay notification' "$LOG")" -eq 1 ]

# --- 3. fallback = mta after fallback_after ---
submit "carol@client.example RET=HDRS ENVID=env-C" "$(printf '%s\n' 'l1@late.example NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;l1@late.example')" 1 "late" || exit 1
check "l1 deferred first" wait_for 20 log_has "to=<l1@late.example>, .*status=deferred (451 4.3.0"
check "l1 handed back after fallback_after: status=fallback with the provider's last reply" \
    wait_for 20 log_has "to=<l1@late.example>, relay=late\[127.0.0.1\]:$late_PORT, .*dsn=4.3.0, status=fallback (handed back to the local MTA after [0-9]* s (fallback = mta): 451 4.3.0 try again later)"
check "the fallback command got -f SENDER -N -R -V -- RCPT" \
    grep -qx "From fallback args: -i -f carol@client.example -N success,failure -R hdrs -V env-C -- l1@late.example" "$FBOX"
ID=$(sed -n 's/^X-Byosmtp-Fallback: \([0-9A-F]*\).*/\1/p' "$FBOX" | head -1)
check "the copy it got starts with X-Byosmtp-Fallback: SPOOLID" sh -c "
    [ -n '$ID' ] && sed -n '2p' '$FBOX' | grep -q '^X-Byosmtp-Fallback: $ID' && grep -q '^Subject: late 1' '$FBOX'"
check "the copy is gone from the queue" wait_for 10 sh -c "[ -n '$ID' ] && ! ls '$SPOOL/queue' | grep -q '$ID'"
check "no DSN for l1" sh -c "! grep -q 'l1@late.example' '$MBOX'"
check "quota late: 1 accepted, 0 delivered, 0 bounced" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota late | grep -Eq '^late +[0-9-]+ +1 +unlimited +0 +0\$'"

# --- 4. fallback = mta and the sender refused for good: at once ---
submit "dave@client.example" "m1@mailref.example" 1 "mailref" || exit 1
check "m1 handed back at once on the 553 to MAIL" \
    wait_for 20 log_has "to=<m1@mailref.example>, .*status=fallback (handed back to the local MTA after [0-9]* s (fallback = mta): 553 5.7.1"
check "m1 was never deferred or bounced" sh -c "! grep -q 'to=<m1@mailref.example>.*status=\(deferred\|bounced\)' '$LOG'"
check "the fallback command got it" grep -qx "From fallback args: -i -f dave@client.example -- m1@mailref.example" "$FBOX"
# stats: the FALLBACK column (the 7th) per target and in total
check "stats: handed back to the MTA, in total and per target" wait_for 10 sh -c \
    "\"\$BYOSMTPCTL\" -c '$CONF' stats | awk '\$1 == \"late\" && \$7 == 1 { a = 1 } \$1 == \"mailref\" && \$7 == 1 { b = 1 } \$1 == \"total\" && \$7 == 2 { c = 1 } END { exit !(a && b && c) }'"

# --- 5. a hand-back the MTA refuses: the recipient stays queued ---
submit "erin@client.example" "stuck@mailref.example" 1 "stuck" || exit 1
check "the refused hand-back is logged and the recipient kept" \
    wait_for 20 log_has ": not handed back to the local MTA, the recipients stay in the queue: fallback: .* failed (exit status 75)"
check "stuck@ is deferred" wait_for 10 log_has "to=<stuck@mailref.example>.*status=deferred"
check "stuck@ is never bounced, sent or marked fallback" sh -c "! grep -q 'to=<stuck@mailref.example>.*status=\(bounced\|fallback\|sent\)' '$LOG'"
check "its copy is still in the queue" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' queue | grep -Eq ' mailref .* sender_rejected '"
finish
