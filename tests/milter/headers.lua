-- headers.lua - header handling: several From fields, address lists, malformed and non-ASCII
-- From, folded fields with and without SMFIP_HDR_LEADSPC, a header count bomb, and a message
-- that already carries byosmtpd's Received field (loop). The size bomb is in load.sh:
-- miltertest overflows its own buffer on a field over ~1000 bytes, below the smallest
-- milter.max_header_size. Globals from lib.sh: sock, helpers, host (this host's name).
dofile(helpers)

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

run("too many header fields: 552", function()
    local conn = open("localhost", "127.0.0.1")
    envelope(conn, "QBOMBCOUNT", "<alice@client.example>", {"<bob@acme.example>"})
    ok_call("data", mt.data(conn))
    local r
    for i = 1, 60 do
        ok_call("header", mt.header(conn, "X-Bomb", "field " .. i))
        r = mt.getreply(conn)
        if r ~= SMFIR_CONTINUE then break end
    end
    check(r == SMFIR_REPLYCODE, "reply to the 51st field: " .. reply_name(r))
    mt.disconnect(conn)
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
