#!/bin/sh
# kill -9 of byosmtpd (its milter process, the supervisor and the delivery process) in the
# middle of a stream of 500 messages, then a restart: every message that byosmtpd accepted is
# delivered (counted at the provider: none lost); duplicates are counted and must each have a
# "possible duplicate" line in the log; the quota's accepted count equals what was committed.
. "$top_srcdir/tests/delivery/lib.sh"

N=${CRASH_MESSAGES:-500}
WORKERS=4
setup
provider cr starttls
target cr starttls "$cr_PORT"
start

"$PY" "$TESTLIB/milterclient.py" "$SOCK" submit "alice@client.example" "bob@cr.example" "$N" "stream" >"$T/submit.out" 2>&1 &
SUB=$!
check "deliveries are under way" wait_for 60 has_messages cr $((N / 5))
DPID=$(cat "$SPOOL/delivery/pid")
SPID=$(ps -o ppid= -p "$DPID" | tr -d ' ')
kill -9 "$BYO_PID" "$SPID" "$DPID" 2>/dev/null
wait "$BYO_PID" 2>/dev/null
BYO_PID=
before=$(messages cr)
echo "# killed at $before messages delivered"
sleep 0.5
start
wait "$SUB"
accepted=$(grep -c '^[0-9]* d ' "$T/submit.out")
errors=$(grep -c ' error ' "$T/submit.out" || true)
echo "# accepted $accepted, refused or broken $errors (the MTA keeps those and retries)"
check "the submitter got an answer for every message" [ $((accepted + errors)) -eq "$N" ]
check "the queue drains" wait_for 120 queue_empty
sleep 1
check "none lost: every accepted message arrived" "$PY" - "$T/cr.jsonl" "$T/submit.out" <<'PYEOF'
import json, re, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if '"event": "message"' in l]
subjects = [re.search(r"Subject: (stream \d+)", m["message"]).group(1) for m in msgs]
accepted = {"stream %s" % l.split()[0] for l in open(sys.argv[2]) if re.match(r"^\d+ d ", l)}
missing = accepted - set(subjects)
assert not missing, sorted(missing)[:10]
dups = len(subjects) - len(set(subjects))
open(sys.argv[1] + ".dups", "w").write("%d\n" % dups)
open(sys.argv[1] + ".unique", "w").write("%d\n" % len(set(subjects)))
print("# delivered %d, unique %d, duplicates %d" % (len(subjects), len(set(subjects)), dups))
PYEOF
dups=$(cat "$T/cr.jsonl.dups" 2>/dev/null || echo 0)
possible=$(grep -c 'possible duplicate:' "$LOG" || true)
echo "# duplicates at the provider: $dups; logged as possible duplicates: $possible"
check "every duplicate was logged as possible" [ "$dups" -le "$possible" ]
# The quota counts what byosmtpd committed. That is every message the submitter saw accepted, plus
# any whose answer was lost to the kill after the commit; each committed copy is delivered (none
# lost) and nothing uncommitted is, so the count equals the distinct messages at the provider.
unique=$(cat "$T/cr.jsonl.unique" 2>/dev/null || echo -1)
echo "# committed (distinct at the provider) $unique, seen accepted by the submitter $accepted"
check "quota: accepted equals what byosmtpd committed" sh -c "\"\$BYOSMTPCTL\" -c '$CONF' quota cr | grep -Eq \"cr +[0-9-]+ +$unique +\""
check "quota: no fewer than the submitter saw accepted" [ "$unique" -ge "$accepted" ]
check "nothing moved to corrupt/" sh -c "[ -z \"\$(ls '$SPOOL/corrupt')\" ]"
finish
