-- headers.lua - header handling: the protocol byosmtpd negotiates, several From fields, address
-- lists, malformed and non-ASCII From, folded fields with and without SMFIP_HDR_LEADSPC, a
-- header count bomb and a malformed field name (refused at the end of the header section, with
-- and without SMFIP_NR_HDR), and a message that already carries byosmtpd's Received field
-- (loop). The size bomb is in load.sh and bigheader.sh: miltertest overflows its own buffer on a
-- field over ~1000 bytes, below the smallest milter.max_header_size. Globals from lib.sh: sock,
-- helpers, host (this host's name).
dofile(helpers)

run("negotiation: no HELO, no unknown command, no reply to header fields and body chunks", function()
    local conn = open("localhost", "127.0.0.1")
    for name, bit in pairs({SMFIP_NOHELO = SMFIP_NOHELO, SMFIP_NOUNKNOWN = SMFIP_NOUNKNOWN,
                            SMFIP_NR_HDR = SMFIP_NR_HDR, SMFIP_NR_BODY = SMFIP_NR_BODY,
                            SMFIP_HDR_LEADSPC = SMFIP_HDR_LEADSPC}) do
        check(mt.test_option(conn, bit), "byosmtpd did not ask for " .. name)
    end
    -- every other step is sent, and answered: each can refuse or pass the message through
    for name, bit in pairs({SMFIP_NOCONNECT = SMFIP_NOCONNECT, SMFIP_NOMAIL = SMFIP_NOMAIL,
                            SMFIP_NORCPT = SMFIP_NORCPT, SMFIP_NODATA = SMFIP_NODATA,
                            SMFIP_NOHDRS = SMFIP_NOHDRS, SMFIP_NOEOH = SMFIP_NOEOH,
                            SMFIP_NOBODY = SMFIP_NOBODY, SMFIP_NR_CONN = SMFIP_NR_CONN,
                            SMFIP_NR_MAIL = SMFIP_NR_MAIL, SMFIP_NR_RCPT = SMFIP_NR_RCPT,
                            SMFIP_NR_DATA = SMFIP_NR_DATA, SMFIP_NR_EOH = SMFIP_NR_EOH}) do
        check(not mt.test_option(conn, bit), "byosmtpd asked for " .. name)
    end
    mt.disconnect(conn)
end)

-- one_message QID HEADERS [STEPS]: a routed message with these header fields; DISCARD expected
local function one_message(qid, headers, steps)
    local conn = open("localhost", "127.0.0.1", steps)
    envelope(conn, qid, "<alice@client.example>", {"<bob@acme.example>"})
    content(conn, headers, "Body of " .. qid .. ".\r\n")
    ok_call("eom", mt.eom(conn))
    expect(conn, SMFIR_DISCARD, "EOM of " .. qid)
    mt.disconnect(conn)
end

run("several From fields and an address list", function()
    one_message("QMULTI", {
        {"From", "Mallory <mallory@evil.example>, Alice <alice@client.example>"},
        {"Subject", "multi"},
        {"From", "second@evil.example"},
    })
end)

run("malformed From", function()
    one_message("QMALFORMED", {{"From", "<<<not an address"}, {"Subject", "malformed"}})
end)

run("non-ASCII From display name", function()
    one_message("QUTF8", {{"From", "=?UTF-8?Q?J=C3=BCrgen?= <juergen@client.example>"},
                          {"Subject", "utf8"}})
end)

run("folded header, libmilter default (no leading space)", function()
    one_message("QFOLDNOSPC", {{"From", "Folded\n Name <folded@client.example>"},
                               {"Subject", "folded\n\tsubject line"}}, 0)
end)

run("folded header with SMFIP_HDR_LEADSPC", function()
    local conn = open("localhost", "127.0.0.1", SMFIP_HDR_LEADSPC)
    check(mt.test_option(conn, SMFIP_HDR_LEADSPC), "byosmtpd did not ask for SMFIP_HDR_LEADSPC")
    envelope(conn, "QFOLDSPC", "<alice@client.example>", {"<bob@acme.example>"})
    content(conn, {{"From", "Folded\r\n Space <spc@client.example>"},
                   {"Subject", "folded\r\n\tspace"}}, "Body.\r\n")
    ok_call("eom", mt.eom(conn))
    expect(conn, SMFIR_DISCARD, "EOM")
    mt.disconnect(conn)
end)

-- refused_at_eoh QID HEADERS [STEPS]: a routed message whose header fields byosmtpd refuses;
-- each field is answered "continue" (by no reply, or by libmilter for an MTA without
-- SMFIP_NR_HDR), and the refusal (a reply code) comes at the end of the header section
local function refused_at_eoh(qid, headers, steps)
    local conn = open("localhost", "127.0.0.1", steps)
    envelope(conn, qid, "<alice@client.example>", {"<bob@acme.example>"})
    ok_call("data", mt.data(conn))
    expect(conn, SMFIR_CONTINUE, "DATA")
    for i, h in ipairs(headers) do
        ok_call("header", mt.header(conn, h[1], h[2]))
        expect(conn, SMFIR_CONTINUE, "field " .. i)
    end
    ok_call("eoh", mt.eoh(conn))
    expect(conn, SMFIR_REPLYCODE, "EOH of " .. qid)
    mt.disconnect(conn)
end

local bomb = {}
for i = 1, 60 do bomb[i] = {"X-Bomb", "field " .. i} end

run("too many header fields: 552 at the end of the header section", function()
    refused_at_eoh("QBOMBCOUNT", bomb)
end)

run("too many header fields, MTA without SMFIP_NR_HDR: 552 at the end of the header section", function()
    refused_at_eoh("QBOMBCOUNTV2", bomb, SMFIP_HDR_LEADSPC)
end)

run("malformed field name: 554 at the end of the header section", function()
    refused_at_eoh("QBADNAME", {{"From", "alice@client.example"}, {"Bad Name", "value"},
                                {"Subject", "after the bad one"}})
end)

run("loop: our own Received field passes untouched", function()
    local conn = open("localhost", "127.0.0.1")
    envelope(conn, "QLOOP", "<alice@client.example>", {"<bob@acme.example>"})
    ok_call("data", mt.data(conn))
    ok_call("header", mt.header(conn, "Received", "by " .. host ..
        " (byosmtpd) id 06B0000000000000ABCD;\n\tSun, 22 Nov 2026 18:16:09 +0000"))
    expect(conn, SMFIR_CONTINUE, "Received")
    ok_call("header", mt.header(conn, "From", "alice@client.example"))
    expect(conn, SMFIR_CONTINUE, "From")
    ok_call("eoh", mt.eoh(conn))
    expect(conn, SMFIR_ACCEPT, "EOH of a looping message")
    mt.disconnect(conn)
end)

run("another host's byosmtpd is not a loop", function()
    one_message("QOTHERHOST", {
        {"Received", "by other-host.example (byosmtpd) id 06B0000000000000ABCD;\n\tSun, 22 Nov 2026 18:16:09 +0000"},
        {"From", "alice@client.example"}})
end)
