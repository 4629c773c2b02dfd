#!/bin/sh
# headers.sh - byosmtpd negotiates no HELO and no reply to header fields and body chunks; From
# rewriting reaches the spool for several, malformed, folded (with and without
# SMFIP_HDR_LEADSPC) and non-ASCII From fields; a header count bomb gets a clean 552 and a
# malformed field name a 554 at the end of the header section, and neither leaves a file (the
# size bomb is in load.sh and bigheader.sh); a looping message is passed through untouched.
. "$top_srcdir/tests/milter/lib.sh"
MILTER_EXTRA='max_headers = 50; max_header_size = "1K";'
write_conf
setup_store
start
mt headers.lua -D "host=$(hostname)"

copy_of() { grep -l "^queue-id: $1\$" "$SPOOL"/queue/* 2>/dev/null | head -1; }
for q in QMULTI QMALFORMED QUTF8 QFOLDNOSPC QFOLDSPC QOTHERHOST; do
    f=$(copy_of "$q")
    if [ -z "$f" ]; then fail "no copy of $q"; continue; fi
    check_trailer "$f"
    header_of "$f" >"$T/h.$q"
    expect_eq "$(grep -a -c '^From:' "$T/h.$q")" 1 "$q: exactly one From"
    expect_in "$T/h.$q" "relay@acme.test>" "$q: From is the target's address"
done
# no attacker From survives anywhere but in Original-From (and Reply-To)
expect_eq "$(grep -a '^From:' "$T/h.QMULTI")" "$(printf 'From: Acme Relay <relay@acme.test>\r')" "QMULTI From"
expect_in "$T/h.QMULTI" "Original-From: Mallory <mallory@evil.example>, Alice <alice@client.example>," "QMULTI keeps the originals in Original-From"
expect_in "$T/h.QMULTI" "$(printf ',\r\n second@evil.example\r')" "QMULTI keeps the second From in Original-From"
expect_not_in "$T/h.QMALFORMED" "Reply-To:" "malformed From (no address) is not made Reply-To"
expect_in "$T/h.QMALFORMED" "Original-From: <<<not an address" "malformed From kept in Original-From"
expect_in "$T/h.QUTF8" "Original-From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@client.example>" "UTF-8 From kept"
# folded values come out with CRLF folds, whatever libmilter handed over
expect_in "$T/h.QFOLDNOSPC" "$(printf 'Subject: folded\r\n\tsubject line\r')" "fold without LEADSPC"
expect_in "$T/h.QFOLDSPC" "$(printf 'Subject: folded\r\n\tspace\r')" "fold with LEADSPC"
expect_in "$T/h.QFOLDSPC" "$(printf 'Original-From: Folded\r\n Space <spc@client.example>\r')" "folded From with LEADSPC"
# bombs and loops leave nothing behind
for q in QBOMBCOUNT QBOMBCOUNTV2 QBADNAME QLOOP; do
    expect_eq "$(copy_of "$q")" "" "$q spooled nothing"
done
expect_eq "$(incoming_files)" "" "incoming/ is empty"
expect_log "QBOMBCOUNT: more than 50 header fields (milter.max_headers): rejected with 552" "count bomb"
expect_log "QBOMBCOUNTV2: more than 50 header fields (milter.max_headers): rejected with 552" "count bomb, MTA without SMFIP_NR_HDR"
expect_log "QBADNAME: malformed header field: a header field name holds a space" "malformed field name"
expect_log "QLOOP: the message already carries byosmtpd's own Received: header" "loop"
expect_eq "$(quota_used acme)" 6 "quota counts only the spooled messages"
finish
