-- helpers.lua - shared functions of the byosmtpd miltertest scripts. Globals set by lib.sh
-- through "miltertest -D": sock (the milter socket). Every test body runs inside run(), which
-- catches errors (miltertest would exit 1 without a word) and prints them.

-- run NAME F: call F in pcall; print and exit 1 when it fails
function run(name, f)
    local ok, err = pcall(f)
    if not ok then
        mt.echo("FAIL " .. name .. ": " .. tostring(err))
        os.exit(1)
    end
    mt.echo("ok " .. name)
end

function check(cond, what)
    if not cond then error(what, 2) end
end

-- reply_name - a readable milter reply
function reply_name(r)
    local names = {
        [SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept", [SMFIR_REJECT] = "reject",
        [SMFIR_TEMPFAIL] = "tempfail", [SMFIR_DISCARD] = "discard", [SMFIR_REPLYCODE] = "replycode",
    }
    return names[r] or tostring(r)
end

-- expect CONN WANT WHAT: the last reply is WANT
function expect(conn, want, what)
    local r = mt.getreply(conn)
    if r ~= want then
        error(string.format("%s: reply %s, expected %s", what, reply_name(r), reply_name(want)), 2)
    end
end

-- ok_call WHAT ERR: a miltertest call returned nil (success)
function ok_call(what, e)
    if e ~= nil then error(what .. ": " .. tostring(e), 2) end
end

-- open HOST IP [STEPS]: connect, optionally negotiate with the given protocol steps (without,
-- miltertest offers every step and option, as Postfix with milter_protocol = 6), conninfo
function open(host, ip, steps)
    local conn = mt.connect(sock, 50, 0.1)
    check(conn ~= nil, "cannot connect to " .. sock)
    if steps ~= nil then
        -- protocol version 6, every action an MTA offers (SMFIF_ADDHDRS .. SMFIF_SETSYMLIST = 511);
        -- miltertest takes the steps before the actions, whatever its manual says
        ok_call("negotiate", mt.negotiate(conn, 6, steps, 511))
    end
    ok_call("conninfo", mt.conninfo(conn, host, ip))
    -- byosmtpd asks for no HELO (SMFIP_NOHELO) when the MTA offers that, and mt.helo() then
    -- fails. Otherwise HELO now: miltertest sends one by itself before MAIL, and libmilter clears
    -- the MAIL macros when HELO arrives after them.
    if not mt.test_option(conn, SMFIP_NOHELO) then
        ok_call("helo", mt.helo(conn, "client.example"))
    end
    return conn
end

-- envelope CONN QID FROM RCPTS [AUTH]: MAIL (with {i} and {auth_authen}) and each RCPT, all
-- expected to continue
function envelope(conn, qid, from, rcpts, auth)
    if auth ~= nil then
        ok_call("macro", mt.macro(conn, SMFIC_MAIL, "i", qid, "{auth_authen}", auth))
    else
        ok_call("macro", mt.macro(conn, SMFIC_MAIL, "i", qid))
    end
    ok_call("mailfrom", mt.mailfrom(conn, from))
    expect(conn, SMFIR_CONTINUE, "MAIL " .. from)
    for _, r in ipairs(rcpts) do
        ok_call("rcptto", mt.rcptto(conn, r))
        expect(conn, SMFIR_CONTINUE, "RCPT " .. r)
    end
end

-- content CONN HEADERS BODY: DATA, the header fields ({name, value} pairs), EOH, body chunks.
-- byosmtpd sends no reply to a header field or a body chunk when the MTA offers SMFIP_NR_HDR and
-- SMFIP_NR_BODY (miltertest then reports "continue"), and libmilter answers "continue" for it
-- to an MTA without them: either way each is expected to continue.
function content(conn, headers, body)
    ok_call("data", mt.data(conn))
    expect(conn, SMFIR_CONTINUE, "DATA")
    for _, h in ipairs(headers) do
        ok_call("header", mt.header(conn, h[1], h[2]))
        expect(conn, SMFIR_CONTINUE, "header " .. h[1])
    end
    ok_call("eoh", mt.eoh(conn))
    expect(conn, SMFIR_CONTINUE, "EOH")
    if type(body) == "string" then body = {body} end
    for _, b in ipairs(body) do
        ok_call("body", mt.bodystring(conn, b))
        expect(conn, SMFIR_CONTINUE, "body")
    end
end

-- std_headers FROM SUBJECT: a plain header block
function std_headers(from, subject)
    return {
        {"Received", "from client.example (client.example [127.0.0.1]) by mx.example"},
        {"From", from},
        {"To", "someone@acme.example"},
        {"Subject", subject},
        {"Message-ID", "<" .. subject:gsub("%W", "") .. "@client.example>"},
    }
end
