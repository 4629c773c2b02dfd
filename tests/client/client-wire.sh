#!/bin/sh
# client-wire.sh - how the client writes, seen with strace(1) (no timing): Nagle is off on the
# provider connection (TCP_NODELAY), MAIL/RCPT/DATA go in one write when the server offers
# PIPELINING, and the end of every message goes in one write with its CRLF.CRLF (the terminator
# never a segment or a TLS record of its own, which a server's delayed ACK would hold ~40 ms),
# in plain SMTP and under STARTTLS, for a small message and for one longer than the client's
# 64 KiB writes. Exit 0 pass, 1 fail, 77 skip (no strace, or ptrace is not allowed here).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/client/lib.sh"

need strace
strace -qq -o /dev/null true >/dev/null 2>&1 || skip "strace cannot trace here (ptrace refused)"
# LeakSanitizer cannot run under ptrace; a sanitizers build keeps its other checks.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS

"$PY" - "$T/long.eml" <<'EOF'
import random, sys
rnd = random.Random(7)
m = bytearray(b"Subject: long\r\n\r\n")
while len(m) < 200 * 1024:
    m += bytes(rnd.choice(b"abc. ") for _ in range(rnd.choice([0, 3, 70, 1200]))) + rnd.choice([b"\r\n", b"\n"])
open(sys.argv[1], "wb").write(m)
EOF

# traced NAME ARGS... - smtp_probe under strace: its writes (to the socket, and its trace lines
# to stdout, which mark where it is) in $T/NAME.strace
traced() {
    tr_name=$1
    shift
    strace -qq -e trace=write,sendto,setsockopt -e signal=none -s 1000000 -o "$T/$tr_name.strace" \
        "$PROBE" --user "$USER_NAME" --password-file "$T/password" --ca-file "$certs/ca.pem" \
        --timeout 10 --connect-timeout 5 "$@" >"$T/$tr_name.out" 2>"$T/$tr_name.err"
    tr_status=$?
}

# wire NAME COUNT PLAIN SMALL - check the writes in $T/NAME.strace for COUNT messages (PLAIN 1:
# the bytes are readable, so check them too; SMALL 1: each message must go in one write); says
# what is wrong, exit 0 when all holds. Under TLS a record holding only the 3 octets ".\r\n" is
# at most 32 octets long, so a last write of more than 64 holds message bytes too.
wire() {
    "$PY" - "$T/$1.strace" "$2" "$3" "$4" <<'EOF'
import re, sys
path, count = sys.argv[1], int(sys.argv[2])
plain, small = sys.argv[3] == "1", sys.argv[4] == "1"
call = re.compile(r'^(write|sendto)\((\d+), "((?:[^"\\]|\\.)*)"(\.\.\.)?, (\d+)')
events, nodelay, bad = [], False, []
for line in open(path, encoding="latin-1"):
    if line.startswith("setsockopt(") and "TCP_NODELAY, [1]" in line and line.rstrip().endswith("= 0"):
        nodelay = True
    m = call.match(line)
    if not m:
        continue
    fd, data = int(m.group(2)), m.group(3)
    if fd == 1:
        events.append(("out", data))
    elif fd > 2:
        events.append(("sock", data, int(m.group(5))))
if not nodelay:
    bad.append("no setsockopt TCP_NODELAY on the connection")

def writes_between(start, first, last):
    """the socket writes after the stdout line holding FIRST (from START) up to the next one
    holding LAST, and the index of that one"""
    i = next(k for k in range(start, len(events)) if events[k][0] == "out" and first in events[k][1])
    j = next(k for k in range(i + 1, len(events)) if events[k][0] == "out" and last in events[k][1])
    return [e for e in events[i + 1:j] if e[0] == "sock"], j

pos = 0
for n in range(count):
    try:
        group, pos = writes_between(pos, "-> DATA", "<- ")
        body, pos = writes_between(pos, "<- 354", "-> [message:")
    except StopIteration:
        bad.append("message %d: the trace lines are not there" % (n + 1))
        break
    if len(group) != 1:
        bad.append("message %d: MAIL/RCPT/DATA in %d writes, not 1" % (n + 1, len(group)))
    elif plain and not (group[0][1].startswith("MAIL FROM:") and group[0][1].endswith("DATA\\r\\n")):
        bad.append("message %d: the pipelined write is not MAIL ... DATA" % (n + 1))
    if not body:
        bad.append("message %d: no write of the message" % (n + 1))
        continue
    if small and len(body) != 1:
        bad.append("message %d: a small message in %d writes, not 1" % (n + 1, len(body)))
    last = body[-1]
    if last[2] <= (5 if plain else 64):
        bad.append("message %d: the terminator went in a write of its own (%d octets)" % (n + 1, last[2]))
    if plain and not last[1].endswith("\\r\\n.\\r\\n"):
        bad.append("message %d: the last write does not end with CRLF.CRLF" % (n + 1))
    if plain and any(e[1].endswith("\\r\\n.\\r\\n") for e in body[:-1]):
        bad.append("message %d: CRLF.CRLF before the last write" % (n + 1))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

for mode in plain starttls; do
    start_provider "$mode" $(tls_args "$mode") $(auth_args PLAIN)
    sec=$mode
    [ "$mode" = plain ] && sec=none
    for msg in small long; do
        if [ "$msg" = small ]; then m=; else m="--message $T/long.eml"; fi
        # shellcheck disable=SC2086 # $m is empty or two words
        traced "$mode-$msg" --host localhost --port "$port" --security "$sec" --count 3 $m --body 7bit
        if [ "$tr_status" -eq 0 ] && result_is "$mode-$msg" send3 ok done; then
            ok "$mode, $msg message: three messages sent under strace"
        else
            fail "$mode, $msg message: not sent ($(tail -3 "$T/$mode-$msg.err"))"
            continue
        fi
        plain=0 small=0
        [ "$mode" = plain ] && plain=1
        [ "$msg" = small ] && small=1
        if wire "$mode-$msg" 3 "$plain" "$small" >"$T/$mode-$msg.wire"; then
            ok "$mode, $msg message: TCP_NODELAY, one pipelined write, the end and CRLF.CRLF in one write"
        else
            fail "$mode, $msg message: $(tr '\n' ';' <"$T/$mode-$msg.wire")"
        fi
    done
    stop_provider "$mode"
done
if pyrec plain "len(msgs) == 6 and all(not m['bare_lf'] for m in msgs)" &&
    pyrec starttls "len(msgs) == 6 and all(m['tls'] for m in msgs)"; then
    ok "the provider has every message"
else
    fail "the provider's record"
fi

finish
