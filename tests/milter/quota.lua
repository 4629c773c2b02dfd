-- quota.lua - one step of quota.sh, chosen with -D step=...: "fill" spools one message for the
-- target "small" (monthly_quota 1); "tempfail", "reject" and "passthrough" send a recipient
-- of the exhausted target and expect quota.action's answer.
dofile(helpers)

run("quota step " .. step, function()
    local conn = open("localhost", "127.0.0.1")
    if step == "fill" then
        envelope(conn, "QFILL", "<alice@client.example>", {"<first@small.example>"})
        content(conn, {{"From", "alice@client.example"}}, "fill\r\n")
        ok_call("eom", mt.eom(conn))
        expect(conn, SMFIR_DISCARD, "EOM")
        return
    end
    ok_call("macro", mt.macro(conn, SMFIC_MAIL, "i", "QOVER" .. step))
    ok_call("mailfrom", mt.mailfrom(conn, "<alice@client.example>"))
    expect(conn, SMFIR_CONTINUE, "MAIL")
    ok_call("rcptto", mt.rcptto(conn, "<second@small.example>"))
    if step == "passthrough" then
        expect(conn, SMFIR_CONTINUE, "RCPT over quota, passthrough")
        ok_call("data", mt.data(conn))
        expect(conn, SMFIR_ACCEPT, "DATA: nothing left to relay, untouched")
    else
        -- tempfail and reject come with their own reply text (451 4.7.1 / 550 5.7.1)
        expect(conn, SMFIR_REPLYCODE, "RCPT over quota, " .. step)
    end
    mt.disconnect(conn)
end)
