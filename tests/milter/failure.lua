-- failure.lua - one step of failure.sh, chosen with -D step=...: what byosmtpd answers when the
-- store or the spool fails. "rcpt": the route lookup fails -> TEMPFAIL at RCPT; "data": the
-- reception file cannot be made -> TEMPFAIL at DATA; "eom": writing or committing the copies
-- fails -> TEMPFAIL at end of message (body of -D kb=N kilobytes); "body": the same when the
-- body cannot be written (no reply to body chunks: the TEMPFAIL comes at end of message too).
dofile(helpers)

run("failure step " .. step, function()
    local conn = open("localhost", "127.0.0.1")
    ok_call("macro", mt.macro(conn, SMFIC_MAIL, "i", "QFAIL" .. step))
    ok_call("mailfrom", mt.mailfrom(conn, "<alice@client.example>"))
    expect(conn, SMFIR_CONTINUE, "MAIL")
    ok_call("rcptto", mt.rcptto(conn, "<bob@acme.example>"))
    if step == "rcpt" then
        expect(conn, SMFIR_REPLYCODE, "RCPT with a broken store (451 4.3.0)")
        return
    end
    expect(conn, SMFIR_CONTINUE, "RCPT")
    ok_call("data", mt.data(conn))
    if step == "data" then
        expect(conn, SMFIR_REPLYCODE, "DATA with a broken spool (451 4.3.0)")
        return
    end
    expect(conn, SMFIR_CONTINUE, "DATA")
    ok_call("header", mt.header(conn, "From", "alice@client.example"))
    ok_call("eoh", mt.eoh(conn))
    local chunk = string.rep("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n", 1000)
    for _ = 1, math.ceil(tonumber(kb or "1") * 1024 / #chunk) do
        ok_call("body", mt.bodystring(conn, chunk))
        expect(conn, SMFIR_CONTINUE, "body")
    end
    ok_call("eom", mt.eom(conn))
    expect(conn, SMFIR_REPLYCODE, "EOM with a failing spool or store (451 4.3.0)")
    mt.disconnect(conn)
end)
