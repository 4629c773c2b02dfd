-- crash.lua - one step of crash.sh, chosen with -D step=...: "midbody" sends part of a body and
-- waits (byosmtpd is killed meanwhile); "eom" sends a whole message to a byosmtpd that kills
-- itself at a point of the commit (BYOSMTPD_TEST_CRASH); "ok" sends one that must be spooled.
-- Globals: sock, helpers, step, qid.
dofile(helpers)

run("crash step " .. step, function()
    local conn = open("localhost", "127.0.0.1")
    envelope(conn, qid, "<alice@client.example>", {"<bob@acme.example>", "<carol@beta.example>"})
    content(conn, {{"From", "alice@client.example"}, {"Subject", qid}}, "first part\r\n")
    if step == "midbody" then
        mt.echo("waiting to be killed")
        mt.sleep(30)
        return
    end
    -- with a crash, the reply never comes: only "ok" checks it
    local e = mt.eom(conn)
    if step == "ok" then
        ok_call("eom", e)
        expect(conn, SMFIR_DISCARD, "EOM")
    end
end)
