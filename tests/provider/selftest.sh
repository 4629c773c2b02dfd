#!/bin/sh
# selftest.sh - automake test of the test provider itself (byo-provider.py and mkcerts.sh):
# starts the provider on loopback in each mode, drives it with swaks, openssl s_client and small
# Python clients, and checks what it answered and what it recorded. Exit 0 pass, 1 fail,
# 77 skip (only when python3, swaks or openssl is missing). BYO_PROVIDER_KEEP=1 (or KEEP=1) keeps
# the work directory.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/common.sh"
here=$top_srcdir/tests/provider
[ -x "$PY" ] || skip "$PY not found"
need swaks swaks
need openssl
[ "${BYO_PROVIDER_KEEP:-0}" = 1 ] && KEEP=1
work_dir byo-provider-test

# stop_checked NAME - stop the provider (tests/lib/common.sh), which must exit with status 0
stop_checked() {
    stop_provider "$1"
    sc_status=$?
    if [ "$sc_status" -eq 0 ]; then
        ok "$1: provider exits 0 on SIGTERM"
    else
        fail "$1: provider exited $sc_status on SIGTERM"
        cat "$T/$1.log"
    fi
}

# expect NAME WHAT EXPR - assert a Python expression over NAME's records (pyrec); retried for up
# to 3 s, since a connection a client dropped is recorded when the provider notices
expect() {
    if wait_for 3 pyrec "$1" "$3"; then
        ok "$2"
    else
        fail "$2"
        pyrec "$1" "$3" | sed 's/^/  /'
    fi
}

# run_ok WHAT COMMAND... / run_fails WHAT COMMAND... - a command's exit status must be 0 / not 0
run_ok() {
    ro_what=$1
    shift
    if "$@" >"$T/out" 2>&1; then
        ok "$ro_what"
    else
        fail "$ro_what (exit $?)"
        sed 's/^/  /' "$T/out"
    fi
}

run_fails() {
    rf_what=$1
    shift
    if "$@" >"$T/out" 2>&1; then
        fail "$rf_what (it succeeded)"
        sed 's/^/  /' "$T/out"
    else
        ok "$rf_what"
    fi
}

# A small SMTP client for the Python snippets below: python3 - PORT CA <<EOF ... EOF
cat >"$T/smtpc.py" <<'EOF'
import base64, json, socket, ssl, sys, time

PORT = int(sys.argv[1])
CA = sys.argv[2]


def b64(data):
    return base64.b64encode(data).decode()


def check(cond, what):
    if not cond:
        print("client check failed:", what)
        sys.exit(1)


class Client:
    def __init__(self, host="127.0.0.1", port=PORT, tls=False):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        if tls:
            self.wrap()

    def wrap(self, name="localhost"):
        ctx = ssl.create_default_context(cafile=CA)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=name)

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("connection closed by the provider")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return int(lines[0][:3]), "\n".join(lines)

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def ok(self, line, code=250):
        got, text = self.cmd(line)
        check(got == code, "%s: expected %d, got %s" % (line, code, text))
        return text
EOF
pyclient() {
    PYTHONPATH=$T "$PY" - "$port" "$certs/ca.pem"
}

# --- certificates ---
certs=$T/certs
if sh "$here/mkcerts.sh" "$certs" && sh "$here/mkcerts.sh" "$certs"; then
    ok "mkcerts.sh makes the set and is idempotent"
else
    die "mkcerts.sh"
fi
for c in ca good wrongname expired selfsigned; do
    if [ ! -s "$certs/$c.pem" ] || [ ! -s "$certs/$c.key" ]; then
        fail "mkcerts.sh: $c.pem/$c.key missing"
    fi
done
if openssl x509 -in "$certs/expired.pem" -noout -checkend 0 >/dev/null; then
    fail "expired.pem is not expired"
else
    ok "expired.pem is expired"
fi

user=alice@example.com
pw='s3cret-Pa55!'
token=ya29.test-token
plain_b64=$(printf '\0%s\0%s' "$user" "$pw" | base64 -w0)
swaks_common="--server 127.0.0.1 --from sender@example.com --to rcpt@example.com --timeout 10"

# --- STARTTLS with every AUTH mechanism ---
start_provider st --mode starttls --cert "$certs/good.pem" --key "$certs/good.key" \
    --auth PLAIN,LOGIN,CRAM-MD5,XOAUTH2 --auth-legacy --user "$user" --password "$pw" --require-auth
# shellcheck disable=SC2086
run_ok "starttls: swaks --tls --tls-verify AUTH PLAIN" swaks $swaks_common --port "$port" --tls --tls-verify \
    --tls-ca-path "$certs/ca.pem" --tls-sni localhost --auth PLAIN --auth-user "$user" --auth-password "$pw" \
    --header "Subject: plain over starttls"
expect st "starttls: message recorded with TLS, AUTH PLAIN and the username" \
    'msgs[0]["tls"] and msgs[0]["tls_version"] in ("TLSv1.2", "TLSv1.3") and msgs[0]["auth_mechanism"] == "PLAIN"
     and msgs[0]["auth_user"] == "alice@example.com" and msgs[0]["mail_from"] == "sender@example.com"
     and [r["addr"] for r in msgs[0]["rcpt"]] == ["rcpt@example.com"] and msgs[0]["rcpt"][0]["reply"].startswith("250")
     and b"Subject: plain over starttls\r\n" in d(msgs[0]["data_b64"]) and "Subject: plain over starttls" in msgs[0]["message"]'
expect st "starttls: connection record: STARTTLS before AUTH, SNI, no plaintext AUTH" \
    'conns[0]["starttls"] and conns[0]["sni"] == "localhost" and not conns[0]["plaintext_auth_attempted"]
     and conns[0]["commands"][1] == "STARTTLS" and conns[0]["commands"][3] == "AUTH PLAIN <redacted>"
     and conns[0]["end"] == "quit" and conns[0]["messages"] == 1 and len(conns[0]["replies"]) == len(conns[0]["commands"])
     and "STARTTLS" in conns[0]["replies"][0] and "AUTH" not in conns[0]["replies"][0]
     and "250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2" in conns[0]["replies"][2] and "AUTH=PLAIN LOGIN" in conns[0]["replies"][2]'
# shellcheck disable=SC2086
run_ok "starttls: swaks AUTH LOGIN" swaks $swaks_common --port "$port" --tls --tls-ca-path "$certs/ca.pem" \
    --auth LOGIN --auth-user "$user" --auth-password "$pw"
# shellcheck disable=SC2086
run_ok "starttls: swaks AUTH CRAM-MD5" swaks $swaks_common --port "$port" --tls --tls-ca-path "$certs/ca.pem" \
    --auth CRAM-MD5 --auth-user "$user" --auth-password "$pw"
expect st "starttls: LOGIN and CRAM-MD5 recorded" \
    '[m["auth_mechanism"] for m in msgs] == ["PLAIN", "LOGIN", "CRAM-MD5"] and all(m["tls"] for m in msgs)'
# shellcheck disable=SC2086
run_fails "starttls: wrong password fails" swaks $swaks_common --port "$port" --tls --tls-ca-path "$certs/ca.pem" \
    --auth PLAIN --auth-user "$user" --auth-password wrong-password
expect st "starttls: wrong password answered 535 and recorded as failed" \
    'len(msgs) == 3 and conns[-1]["auth_attempts"] == [{"mechanism": "PLAIN", "user": "alice@example.com", "ok": False}]
     and conns[-1]["replies"][3].startswith("535 5.7.8") and not conns[-1]["auth"]'
if pyclient <<EOF; then ok "starttls: XOAUTH2 token accepted, bad token gets the JSON challenge then 535"; else fail "starttls: XOAUTH2"; fi
from smtpc import *
c = Client()
c.reply()
ehlo = c.ok("EHLO client.test")
check("STARTTLS" in ehlo and "AUTH" not in ehlo, "no AUTH before TLS")
code, text = c.cmd("MAIL FROM:<a@example.com>")
check(text.startswith("530 5.7.0 Authentication required"), "MAIL before AUTH: " + text)
c.ok("STARTTLS", 220)
c.wrap()
c.ok("EHLO client.test")
bad = b64(b"user=$user\x01auth=Bearer wrong-token\x01\x01")
code, text = c.cmd("AUTH XOAUTH2 " + bad)
check(code == 334, "bad token: expected 334, got " + text)
check(json.loads(base64.b64decode(text[4:]))["status"] == "401", "JSON error challenge")
c.ok("", 535)
c.ok("QUIT", 221)
EOF
expect st "starttls: bad XOAUTH2 recorded with its empty line, then the failure" \
    'conns[-1]["auth_attempts"][0] == {"mechanism": "XOAUTH2", "user": "alice@example.com", "ok": False}
     and "<sasl-empty>" in conns[-1]["commands"]'
stop_checked st
# XOAUTH2 success: a provider whose password is the bearer token.
start_provider oauth --mode starttls --cert "$certs/good.pem" --key "$certs/good.key" \
    --auth XOAUTH2 --user "$user" --password "$token"
if pyclient <<EOF; then ok "xoauth2: token accepted after STARTTLS"; else fail "xoauth2: token"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
code, text = c.cmd("AUTH XOAUTH2 " + b64(b"user=$user\x01auth=Bearer $token\x01\x01"))
check(code == 538, "AUTH before TLS refused with 538: " + text)
c.ok("STARTTLS", 220)
c.wrap()
c.ok("EHLO client.test")
c.ok("AUTH XOAUTH2 " + b64(b"user=$user\x01auth=Bearer $token\x01\x01"), 235)
c.ok("QUIT", 221)
EOF
expect oauth "xoauth2: recorded with mechanism and user; AUTH before TLS flagged" \
    'conns[0]["auth_mechanism"] == "XOAUTH2" and conns[0]["auth_user"] == "alice@example.com"
     and conns[0]["plaintext_auth_attempted"] and conns[0]["tls"]'
stop_checked oauth
if grep -F -e "$pw" -e "$plain_b64" -e "$token" "$T"/st.* "$T"/oauth.* >/dev/null; then
    fail "a password, token or AUTH payload appears in a record or log"
else
    ok "no password, token or AUTH payload in records or logs"
fi

# --- implicit TLS ---
start_provider tls --mode tls --cert "$certs/good.pem" --key "$certs/good.key" \
    --auth LOGIN,PLAIN --user "$user" --password "$pw"
# shellcheck disable=SC2086
run_ok "tls: swaks --tlsc --tls-verify AUTH LOGIN" swaks $swaks_common --port "$port" --tlsc --tls-verify \
    --tls-ca-path "$certs/ca.pem" --auth LOGIN --auth-user "$user" --auth-password "$pw"
expect tls "tls: TLS from the first byte, no STARTTLS, AUTH LOGIN" \
    'msgs[0]["tls"] and msgs[0]["auth_mechanism"] == "LOGIN" and conns[0]["tls"] and not conns[0]["starttls"]
     and "STARTTLS" not in conns[0]["commands"] and "STARTTLS" not in conns[0]["replies"][0]'
# shellcheck disable=SC2086
run_fails "tls: plaintext SMTP to the TLS port fails" swaks $swaks_common --port "$port" --timeout 2
expect tls "tls: the failed handshake is recorded" \
    'conns[-1]["end"] == "tls_error" and conns[-1]["tls_error"] and not conns[-1]["tls"]'
stop_checked tls

# --- STARTTLS stripped, and plaintext ---
start_provider strip --mode strip --auth PLAIN,LOGIN --user "$user" --password "$pw"
# shellcheck disable=SC2086
run_fails "strip: swaks --tls fails" swaks $swaks_common --port "$port" --tls --auth PLAIN \
    --auth-user "$user" --auth-password "$pw"
expect strip "strip: STARTTLS not advertised, no AUTH sent, no TLS" \
    'not conns[0]["tls"] and "STARTTLS" not in conns[0]["replies"][0] and "AUTH PLAIN LOGIN" in conns[0]["replies"][0]
     and not any(c.startswith("AUTH") for c in conns[0]["commands"]) and not conns[0]["plaintext_auth_attempted"] and not msgs'
if pyclient <<'EOF'; then ok "strip: STARTTLS refused if sent"; else fail "strip: STARTTLS refused"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
code, text = c.cmd("STARTTLS")
check(code == 454, "STARTTLS: " + text)
c.ok("QUIT", 221)
EOF
stop_checked strip
start_provider plain --mode plain --auth PLAIN --user "$user" --password "$pw" --size 0 --no-pipelining \
    --no-8bitmime --no-smtputf8 --no-enhancedstatuscodes
# shellcheck disable=SC2086
run_ok "plain: swaks AUTH PLAIN without TLS" swaks $swaks_common --port "$port" --auth PLAIN \
    --auth-user "$user" --auth-password "$pw"
expect plain "plain: no TLS, plaintext AUTH flagged, no optional extensions, replies without enhanced codes" \
    'not msgs[0]["tls"] and msgs[0]["auth_mechanism"] == "PLAIN" and conns[0]["plaintext_auth_attempted"]
     and conns[0]["replies"][0] == "250-provider.test\n250 AUTH PLAIN" and conns[0]["replies"][-1] == "221 Bye"'
stop_checked plain

# --- scripted replies ---
cat >"$T/script.json" <<'EOF'
{"rules": [
  {"on": "CONNECT", "nth": 2, "reply": "421 4.7.0 Throttled", "close": true},
  {"on": "RCPT", "rcpt": "bad@example.com", "reply": "451 4.7.1 try later"},
  {"on": "RCPT", "rcpt": "gone@example.com", "reply": "550 5.1.1 no such user"},
  {"on": "MAIL", "conn": 3, "nth": 2, "reply": "550 5.4.5 Daily user sending quota exceeded"},
  {"on": "DATA", "conn": 3, "reply": ["451-4.3.0 first line", "451 4.3.0 second line"]},
  {"on": "NOOP", "stall": 1},
  {"on": "DOT", "conn": 4, "reply": "454 Throttling failure", "close": true},
  {"on": "QUIT", "conn": 4, "reply": "never sent"}
]}
EOF
start_provider script --mode plain --script "$T/script.json" \
    --rule '{"on": "EHLO", "conn": 5, "raw": "HTTP/1.1 400 Bad Request\r\n\r\n", "close": true}'
# shellcheck disable=SC2086
swaks $swaks_common --port "$port" --to good@example.com,bad@example.com,gone@example.com >"$T/out" 2>&1
expect script "script: 451 and 550 to the chosen recipients, the others accepted" \
    '[(r["addr"], r["reply"], r["accepted"]) for r in msgs[0]["rcpt"]] == [("good@example.com", "250 2.1.5 Ok", True),
     ("bad@example.com", "451 4.7.1 try later", False), ("gone@example.com", "550 5.1.1 no such user", False)]'
if pyclient <<'EOF'; then ok "script: second connection gets 421 and is closed"; else fail "script: 421 and close"; fi
from smtpc import *
c = Client()
code, text = c.reply()
check(text == "421 4.7.0 Throttled", "banner: " + text)
check(c.sock.recv(100) == b"", "connection closed after the 421")
EOF
if pyclient <<'EOF'; then ok "script: 550 5.4.5 on the 2nd MAIL, multi-line 451 to DATA, 1 s stall on NOOP"; else fail "script: conn 3"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
c.ok("MAIL FROM:<a@example.com>")
c.ok("RCPT TO:<b@example.com>")
code, text = c.cmd("DATA")
check(text == "451-4.3.0 first line\n451 4.3.0 second line", "DATA: " + text)
c.ok("RSET")
code, text = c.cmd("MAIL FROM:<a@example.com>")
check(text == "550 5.4.5 Daily user sending quota exceeded", "second MAIL: " + text)
code, text = c.cmd("RCPT TO:<b@example.com>")
check(code == 503, "RCPT without an accepted MAIL: " + text)
start = time.time()
c.ok("NOOP")
check(time.time() - start >= 0.9, "NOOP stalled")
c.ok("QUIT", 221)
EOF
if pyclient <<'EOF'; then ok "script: 454 to end-of-data then close, message not recorded"; else fail "script: conn 4"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
c.ok("MAIL FROM:<a@example.com>")
c.ok("RCPT TO:<b@example.com>")
c.ok("DATA", 354)
c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
code, text = c.reply()
check(text == "454 Throttling failure", "end of data: " + text)
check(c.sock.recv(100) == b"", "closed after the 454")
EOF
if pyclient <<'EOF'; then ok "script: raw non-SMTP reply to EHLO"; else fail "script: raw reply"; fi
from smtpc import *
c = Client()
c.reply()
c.send(b"EHLO client.test\r\n")
data = b""
while True:
    chunk = c.sock.recv(100)
    if not chunk:
        break
    data += chunk
check(data == b"HTTP/1.1 400 Bad Request\r\n\r\n", "raw reply: %r" % data)
EOF
expect script "script: records of the scripted connections" \
    'len(msgs) == 1 and [c["end"] for c in conns] == ["quit", "scripted_close", "quit", "scripted_close", "scripted_close"]
     and conns[1]["banner"] == "421 4.7.0 Throttled" and conns[3]["messages"] == 0
     and conns[3]["replies"][-1] == "454 Throttling failure"'
stop_checked script
start_provider banner --mode plain --banner "HTTP/1.1 400 Bad Request"
if pyclient <<'EOF'; then ok "banner: a banner that is not SMTP"; else fail "banner"; fi
from smtpc import *
c = Client()
check(c.line() == "HTTP/1.1 400 Bad Request", "banner")
EOF
stop_checked banner

# --- plaintext injection after STARTTLS (CVE-2011-0411), both directions ---
start_provider inject --mode starttls --cert "$certs/good.pem" --key "$certs/good.key" \
    --inject-after-starttls '250 fake\r\n'
if pyclient <<'EOF'; then ok "inject: 250 fake arrives with the 220, TLS still works"; else fail "inject"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
c.send(b"STARTTLS\r\n")
time.sleep(0.3)
data = c.sock.recv(4096)
check(data == b"220 2.0.0 Ready to start TLS\r\n250 fake\r\n", "after STARTTLS: %r" % data)
c.wrap()
c.ok("EHLO client.test")
c.ok("QUIT", 221)
EOF
if pyclient <<'EOF'; then ok "inject: a client's plaintext after STARTTLS is discarded"; else fail "inject: client side"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
c.send(b"STARTTLS\r\nEHLO injected.test\r\n")
time.sleep(0.3)
c.sock.recv(4096)
c.wrap()
c.ok("EHLO client.test")
c.ok("QUIT", 221)
EOF
expect inject "inject: records" \
    'conns[0]["tls"] and conns[0]["plaintext_after_starttls"] is None
     and d(conns[1]["plaintext_after_starttls"]) == b"EHLO injected.test\r\n"
     and "EHLO injected.test" not in conns[1]["commands"] and conns[1]["tls"]'
stop_checked inject

# --- certificates, checked by openssl s_client ---
for c in good expired wrongname selfsigned; do
    start_provider "cert_$c" --mode tls --cert "$certs/$c.pem" --key "$certs/$c.key" --quiet
    openssl s_client -connect "127.0.0.1:$port" -verify_return_error -CAfile "$certs/ca.pem" \
        -verify_hostname localhost -brief </dev/null >"$T/s_client.$c" 2>&1
    status=$?
    case $c in
    good) want=0 reason="" ;;
    expired) want=1 reason="certificate has expired" ;;
    wrongname) want=1 reason="hostname mismatch" ;;
    selfsigned) want=1 reason="self-signed certificate" ;;
    esac
    if [ "$want" -eq 0 ] && [ $status -eq 0 ] && grep -q "Verification: OK" "$T/s_client.$c"; then
        ok "certificate $c accepted by s_client"
    elif [ "$want" -ne 0 ] && [ $status -ne 0 ] && grep -q "$reason" "$T/s_client.$c"; then
        ok "certificate $c rejected by s_client ($reason)"
    else
        fail "certificate $c: s_client exit $status"
        sed 's/^/  /' "$T/s_client.$c"
    fi
    stop_checked "cert_$c"
done
start_provider s_starttls --mode starttls --cert "$certs/good.pem" --key "$certs/good.key" --tls-max 1.2
if openssl s_client -connect "127.0.0.1:$port" -starttls smtp -verify_return_error -CAfile "$certs/ca.pem" \
    -verify_ip 127.0.0.1 -brief </dev/null >"$T/s_client.st" 2>&1 && grep -q "TLSv1.2" "$T/s_client.st"; then
    ok "s_client -starttls smtp: good certificate, IP verified, TLS 1.2 maximum honoured"
else
    fail "s_client -starttls smtp"
    sed 's/^/  /' "$T/s_client.st"
fi
stop_checked s_starttls
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    start_provider v6 --listen ::1 --mode tls --cert "$certs/good.pem" --key "$certs/good.key"
    if openssl s_client -connect "[::1]:$port" -verify_return_error -CAfile "$certs/ca.pem" -verify_ip ::1 \
        -brief </dev/null >"$T/s_client.v6" 2>&1; then
        ok "IPv6: listens on ::1, certificate valid for IP ::1"
    else
        fail "IPv6 on ::1"
        sed 's/^/  /' "$T/s_client.v6"
    fi
    stop_checked v6
else
    echo "note: ::1 is not available here; the IPv6 check is left out"
fi

# --- DATA: strict CRLF.CRLF, raw bytes, unstuffing, several messages, pipelining, concurrency ---
start_provider data --mode plain --size 100
if pyclient <<'EOF'; then ok "data: client dialogue"; else fail "data: client dialogue"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
c.send(b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
for want in (250, 250, 354):
    code, text = c.reply()
    check(code == want, "pipelined: " + text)
c.send(b"Subject: s\r\n\r\nA\n.\nMAIL FROM:<evil@example.com>\r\n..dot\r\nB\r.\rC\r\n.\r\n")
code, text = c.reply()
check(code == 250, "end of data: " + text)
c.ok("RSET")
c.ok("MAIL FROM:<>")
c.ok("RCPT TO:<b@example.com>")
c.ok("DATA", 354)
c.send(b".\r\n")
c.reply()
c.ok("MAIL FROM:<a@example.com> SIZE=101", 552)
c.ok("MAIL FROM:<a@example.com>")
c.ok("RCPT TO:<b@example.com>")
c.ok("DATA", 354)
c.send(b"x" * 120 + b"\r\n.\r\n")
code, text = c.reply()
check(code == 552, "too big: " + text)
c.ok("QUIT", 221)
EOF
expect data "data: raw bytes kept, bare LF/CR inside the message, dot-unstuffed copy, empty message" \
    'd(msgs[0]["data_b64"]) == b"Subject: s\r\n\r\nA\n.\nMAIL FROM:<evil@example.com>\r\n..dot\r\nB\r.\rC\r\n"
     and d(msgs[0]["message_b64"]) == b"Subject: s\r\n\r\nA\n.\nMAIL FROM:<evil@example.com>\r\n.dot\r\nB\r.\rC\r\n"
     and msgs[0]["bare_lf"] and msgs[0]["bare_cr"] and msgs[0]["mail_params"] == ["BODY=8BITMIME"]
     and msgs[1]["size"] == 0 and msgs[1]["mail_from"] == "" and not msgs[1]["bare_lf"]
     and [(m["conn"], m["msg"]) for m in msgs] == [(1, 1), (1, 2)]
     and "MAIL FROM:<evil@example.com>" not in conns[0]["commands"] and conns[0]["messages"] == 2'
if pyclient <<'EOF'; then ok "data: four concurrent connections"; else fail "data: concurrency"; fi
from smtpc import *
import threading
barrier = threading.Barrier(4)
errors = []
def one(n):
    try:
        c = Client()
        c.reply()
        c.ok("EHLO client%d.test" % n)
        barrier.wait(timeout=10)
        c.ok("MAIL FROM:<a%d@example.com>" % n)
        c.ok("RCPT TO:<b@example.com>")
        c.ok("DATA", 354)
        c.send(b"n: %d\r\n.\r\n" % n)
        c.reply()
        c.ok("QUIT", 221)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(not errors, errors)
EOF
expect data "data: the concurrent messages recorded on four connections" \
    'len(msgs) == 6 and len({m["conn"] for m in msgs[2:]}) == 4
     and sorted(m["mail_from"] for m in msgs[2:]) == ["a0@example.com", "a1@example.com", "a2@example.com", "a3@example.com"]'
stop_checked data

# --- required STARTTLS ---
start_provider reqtls --mode starttls --require-tls --cert "$certs/good.pem" --key "$certs/good.key"
if pyclient <<'EOF'; then ok "require-tls: 530 5.7.0 before STARTTLS, mail accepted after"; else fail "require-tls"; fi
from smtpc import *
c = Client()
c.reply()
c.ok("EHLO client.test")
code, text = c.cmd("MAIL FROM:<a@example.com>")
check(text == "530 5.7.0 Must issue a STARTTLS command first", "MAIL before TLS: " + text)
c.ok("STARTTLS", 220)
c.wrap()
c.ok("EHLO client.test")
c.ok("MAIL FROM:<a@example.com>")
c.ok("QUIT", 221)
EOF
stop_checked reqtls

# --- option checks ---
if "$PY" "$here/byo-provider.py" --listen 192.0.2.1 --mode plain >"$T/out" 2>&1; then
    fail "a non-loopback --listen address is refused"
else
    ok "a non-loopback --listen address is refused"
fi

finish
