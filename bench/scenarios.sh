# scenarios.sh - bench/relay.sh's scenarios b and c (sourced by relay.sh; bash).
#
#   b  50 customers: 50 sender domains, each its own SASL user at the provider. Native: 50
#      sender_dependent_relayhost_maps + smtp_sasl_password_maps entries; byosmtp: 50 targets, each
#      with its user, one recipient-domain route each. Load: 50 smtp-source clients at once, client
#      i sending from sender@cust<i>.example to rcpt@dest<i>.example.
#   c  a slow provider: its reply to each final dot comes DELAY_MS (50) later (bench/slowreply.py
#      between the provider's proxy filter and smtp-sink), and at most 3 connections to it on both
#      sides (native: smtp_destination_concurrency_limit = 3; byosmtp: the target's
#      max_connections = 3), as Office 365 allows. Load: one smtp-source, CONCURRENCY sessions.
#
# The shared harness has no hook for 50 SASL users, extra main.cf lines per configuration or a
# slow sink, so for these scenarios it only builds and self-tests the instances
# (baseline.sh --setup-only, once per configuration and round, from scratch); relay.sh then adds
# the scenario's entries, starts its own sink (the harness's lib/sinkwatch.py around smtp-sink),
# drives the load and measures the same figures the harness does: accept and end-to-end msg/s,
# CPU ms per message for the whole machine and for byosmtpd, byosmtpd's system calls per message.
# Configurations alternate native, byosmtp, native, ... round by round.

SC_CUSTOMERS=${SC_CUSTOMERS:-50}
DELAY_MS=${DELAY_MS:-50}
SC_SINK_PORT=2526     # the harness's SINK_PORT: the provider's smtpd_proxy_filter points there
SC_UPSTREAM_PORT=2527 # scenario c: smtp-sink behind bench/slowreply.py

sc_stat() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }   # busy jiffies, whole machine
# sc_byo_jiffies: CPU jiffies of byosmtpd's processes (each counts all its threads)
sc_byo_jiffies() {
    local s=0 p
    for p in $(cat "$WORKDIR/byosmtpd/pids" 2>/dev/null); do
        [[ -r /proc/$p/stat ]] && s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat")))
    done
    echo "$s"
}
sc_queue() { find "$STATE/local/spool"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }

# sc_customers_provider: SASL users customer1..N at the provider
sc_customers_provider() {
    local d=$STATE/provider/etc/sasl i
    for ((i = 1; i <= SC_CUSTOMERS; i++)); do
        printf 'bench-secret-%d' "$i" | saslpasswd2 -f "$d/sasldb2" -p -c -u provider.bench.test "customer$i"
    done
    chown -R root:postfix "$d"
    chmod 640 "$d"/*
}

# sc_customers_native: the 50 sender-dependent relay and password entries in the local Postfix
sc_customers_native() {
    local e=$STATE/local/etc i
    : >"$e/sender_relayhost"
    : >"$e/sasl_passwd"
    for ((i = 1; i <= SC_CUSTOMERS; i++)); do
        echo "@cust$i.example [127.0.0.1]:2587" >>"$e/sender_relayhost"
        echo "@cust$i.example customer$i@provider.bench.test:bench-secret-$i" >>"$e/sasl_passwd"
    done
    postmap -c "$e" "hash:$e/sender_relayhost" "hash:$e/sasl_passwd"
}

# sc_targets CTL...: byosmtpd's side of scenario b (called by the --milter-cmd role)
sc_targets() {
    local i
    for ((i = 1; i <= SC_CUSTOMERS; i++)); do
        printf 'bench-secret-%d\n' "$i" | "$@" target add "cust$i" --host "$PROVIDER_HOST" \
            --port "$PROVIDER_PORT" --security starttls --username "customer$i@provider.bench.test" \
            --password-stdin --from "relay@cust$i.example" >/dev/null
        "$@" route add "@dest$i.example" "cust$i" >/dev/null
    done
    "$@" verify cust1 --no-send
}

# sc_setup CFG: fresh instances in CFG's mode (native|milter), plus the scenario's entries
sc_setup() {
    local cfg=$1 log=$SC_OUT/setup.log
    if [[ $cfg == milter ]]; then
        SETUP_MODE=milter bash "$BASELINE" --setup-only >>"$log" 2>&1 ||
            { tail -20 "$log" >&2; return 1; }
    else
        env -u MILTER_SOCKET -u MILTER_CMD SETUP_MODE=native bash "$BASELINE" --setup-only >>"$log" 2>&1 ||
            { tail -20 "$log" >&2; return 1; }
    fi
    SC_RES=$(ls -td "$RESULTS_ROOT"/2*/ | head -1)
    case $SCENARIO in
        b) sc_customers_provider
           postfix -c "$STATE/provider/etc" reload >/dev/null 2>&1
           if [[ $cfg == native ]]; then
               sc_customers_native
               postfix -c "$STATE/local/etc" reload >/dev/null 2>&1
           fi ;;
        c) if [[ $cfg == native ]]; then
               postconf -c "$STATE/local/etc" -e smtp_destination_concurrency_limit=3
               postfix -c "$STATE/local/etc" reload >/dev/null 2>&1
           fi ;;
    esac
    sleep 1
}

# sc_sink_start N DIR / sc_sink_stop: the counting sink (and, for c, the slow relay in front)
sc_sink_start() {
    local port=$SC_SINK_PORT t=0
    rm -f "$2/sink.done" "$2/sink.final"
    [[ $SCENARIO == c ]] && port=$SC_UPSTREAM_PORT
    "$PY" "$(dirname "$BASELINE")/lib/sinkwatch.py" --target "$1" --done "$2/sink.done" \
        --final "$2/sink.final" --stderr "$2/sink.err" -- smtp-sink -u nobody -c "127.0.0.1:$port" 1024 &
    SC_SINK=$!
    SC_SLOW=
    if [[ $SCENARIO == c ]]; then
        "$PY" "$HERE/slowreply.py" "$SC_SINK_PORT" "$SC_UPSTREAM_PORT" "$DELAY_MS" &
        SC_SLOW=$!
    fi
    until [[ -n $(ss -Hltn "sport = :$SC_SINK_PORT") && -n $(ss -Hltn "sport = :$port") ]]; do
        ((t++ < 100)) || { say "the sink did not start"; return 1; }
        sleep 0.1
    done
}
sc_sink_stop() {
    [[ -z ${SC_SLOW:-} ]] || { kill -TERM "$SC_SLOW" 2>/dev/null; wait "$SC_SLOW" 2>/dev/null || true; }
    [[ -z ${SC_SINK:-} ]] || { kill -TERM "$SC_SINK" 2>/dev/null; wait "$SC_SINK" 2>/dev/null || true; }
    SC_SINK= SC_SLOW=
}

# sc_load N: the scenario's clients, N messages in all; returns when every client is done
sc_load() {
    local n=$1 i pids=() rc=0
    if [[ $SCENARIO == b ]]; then
        for ((i = 1; i <= SC_CUSTOMERS; i++)); do
            smtp-source -l "$SIZE" -m $((n / SC_CUSTOMERS)) -s 1 -f "sender@cust$i.example" \
                -t "rcpt@dest$i.example" 127.0.0.1:2525 >/dev/null 2>>"$SC_OUT/source.err" &
            pids+=($!)
        done
        for i in "${pids[@]}"; do wait "$i" || rc=1; done
        return $rc
    fi
    smtp-source -l "$SIZE" -m "$n" -s "${CONCURRENCY:-20}" -f sender@customer.example \
        -t rcpt@dest.example 127.0.0.1:2525 >/dev/null 2>>"$SC_OUT/source.err"
}

# sc_run CFG LABEL N: one measured run into $SC_OUT/records (one key=value line)
sc_run() {
    local cfg=$1 label=$2 n=$3 rd=$SC_OUT/$1_$2 t0 t1 t2 c0 c1 b0 b1 got t=0
    mkdir -p "$rd"
    sc_sink_start "$n" "$rd"
    c0=$(sc_stat) b0=$(sc_byo_jiffies)
    # the harness's monitor: CPU of each process tree (local Postfix, provider, sink, byosmtpd)
    "$PY" "$(dirname "$BASELINE")/lib/monitor.py" --out "$rd/monitor.kv" --interval 0.5 \
        "local=$(tr -dc '0-9' <"$STATE/local/spool/pid/master.pid")" \
        "provider=$(tr -dc '0-9' <"$STATE/provider/spool/pid/master.pid")" \
        "milter=$(cut -d' ' -f1 "$STATE/pids/milter.pid" 2>/dev/null)" &
    SC_MON=$!
    sleep 0.2
    t0=$EPOCHREALTIME
    sc_load "$n" || { sc_sink_stop; say "FAIL: smtp-source failed ($SC_OUT/source.err)"; return 1; }
    t1=$EPOCHREALTIME
    until [[ -s $rd/sink.done ]]; do
        ((t++ < 6000)) || { sc_sink_stop; say "FAIL: $cfg $label: the sink did not get $n messages in 600 s"; return 1; }
        sleep 0.1
    done
    read -r t2 _ <"$rd/sink.done"
    c1=$(sc_stat) b1=$(sc_byo_jiffies)
    kill -TERM "$SC_MON" 2>/dev/null
    wait "$SC_MON" 2>/dev/null || true
    t=0
    while (($(sc_queue) > 0)); do
        ((t++ < 600)) || { sc_sink_stop; say "FAIL: the local queue did not drain"; return 1; }
        sleep 0.1
    done
    sleep 1
    sc_sink_stop
    got=$(sed -n 's/^mesg=//p' "$rd/sink.final" | tail -1)
    [[ $got == "$n" ]] || { say "FAIL: $cfg $label: the sink counted $got messages, expected exactly $n"; return 1; }
    [[ $label == warmup* ]] && return 0
    "$PY" -c "
import sys
n, t0, t1, t2, c, b, hz = int(sys.argv[1]), *map(float, sys.argv[2:5]), *map(int, sys.argv[5:8])
mon = dict(l.strip().split('=', 1) for l in open(sys.argv[9]) if '=' in l)
print('config=%s n=%d accept_mps=%.1f e2e_mps=%.1f machine_ms=%.3f byo_ms=%.3f local_ms=%.3f provider_ms=%.3f' % (
    sys.argv[8], n, n / (t1 - t0), n / (t2 - t0), c * 1000 / hz / n, b * 1000 / hz / n,
    float(mon.get('local_cpu_s', 0)) * 1000 / n, float(mon.get('provider_cpu_s', 0)) * 1000 / n))
" "$n" "$t0" "$t1" "$t2" $((c1 - c0)) $((b1 - b0)) "$(getconf CLK_TCK)" "$cfg" "$rd/monitor.kv" >>"$SC_OUT/records"
    tail -1 "$SC_OUT/records" >&2
}

# sc_stop CFG N: stop everything; for byosmtp, check every message was relayed by it once and
# note its system calls per message (perf's count is written when byosmtpd has stopped)
sc_stop() {
    local cfg=$1 n=$2 sent calls users
    bash "$BASELINE" --stop >>"$SC_OUT/setup.log" 2>&1
    echo "conns_$cfg=$(grep -c 'smtpd\[[0-9]*\]: connect from' "$STATE/provider/log/maillog")" >>"$SC_OUT/records"
    if [[ $SCENARIO == b ]]; then # every customer's own account was used, by both
        users=$(grep -o 'sasl_username=customer[0-9]*' "$STATE/provider/log/maillog" | sort -u | wc -l)
        [[ $users == "$SC_CUSTOMERS" ]] ||
            { say "FAIL: $cfg logged in as $users customers at the provider, expected $SC_CUSTOMERS"; return 1; }
    fi
    [[ $cfg == milter ]] || return 0
    sent=$(grep -c 'status=sent (250 ' "$SC_RES/milter.log" || true)
    [[ $sent == "$n" ]] || { say "FAIL: byosmtpd logged $sent status=sent lines, expected $n"; return 1; }
    ! grep -Eq 'status=(deferred|bounced)' "$SC_RES/milter.log" ||
        { say "FAIL: byosmtpd deferred or bounced a message ($SC_RES/milter.log)"; return 1; }
    calls=$(awk -F, '/raw_syscalls/ && $1 ~ /^[0-9]+$/ {s += $1} END {print s + 0}' \
        "$WORKDIR/byosmtpd/syscalls.csv" 2>/dev/null || echo 0)
    echo "syscalls_per_msg=$((calls / n))" >>"$SC_OUT/records"
    # accept->provider latency of the measured run: the delay= of its status=sent lines (the last
    # MEASURED of the log; the warm-up came first)
    grep 'status=sent (250 ' "$SC_RES/milter.log" | tail -n "$MEASURED" |
        sed -n 's/.*, delay=\([0-9.]*\),.*/\1/p' | sort -n |
        awk '{ v[NR] = $1 }
             END { if (!NR) exit; i = int(NR * 0.5) + 1; j = int(NR * 0.99) + 1
                   if (i > NR) i = NR
                   if (j > NR) j = NR
                   printf "latency_p50=%s latency_p99=%s\n", v[i], v[j] }' >>"$SC_OUT/records"
    [[ ! -s $WORKDIR/byosmtpd/rss ]] ||
        echo "rss_kb=$(awk '{s += $2} END {print s + 0}' "$WORKDIR/byosmtpd/rss")" >>"$SC_OUT/records"
    cp "$SC_RES/milter.log" "$SC_OUT/milter-$(date +%s).log"
}

# scenario_main: RUNS rounds of native then byosmtp, then the table and the ratio
scenario_main() {
    local i cfg n w
    SIZE=${SIZES%% *}
    case $SCENARIO in
        b) n=${MSGS_SMALL:-2000} ;;
        c) n=${MSGS_SLOW:-600} ;;
    esac
    w=$((n / 10 > 20 ? n / 10 : 20))
    if [[ $SCENARIO == b ]]; then # the same count per customer
        n=$((n / SC_CUSTOMERS * SC_CUSTOMERS))
        w=$((w / SC_CUSTOMERS * SC_CUSTOMERS))
        ((w > 0)) || w=$SC_CUSTOMERS
    fi
    SC_OUT=$RESULTS_ROOT/scenario-$SCENARIO-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$SC_OUT"
    say "scenario $SCENARIO: $n messages of $SIZE bytes per run, $RUNS rounds; output in $SC_OUT"
    trap 'sc_sink_stop; bash "$BASELINE" --stop >/dev/null 2>&1' EXIT
    for ((i = 1; i <= RUNS; i++)); do
        for cfg in native milter; do
            sc_setup "$cfg" || return 1
            sc_run "$cfg" "warmup$i" "$w" || return 1
            sc_run "$cfg" "run$i" "$n" || return 1
            MEASURED=$n sc_stop "$cfg" $((n + w)) || return 1
        done
    done
    trap - EXIT
    "$PY" - "$SC_OUT/records" "$SCENARIO" <<'EOF' | tee "$SC_OUT/relay.md"
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in rows if "config" in r]
calls = [int(r["syscalls_per_msg"]) for r in rows if "syscalls_per_msg" in r]
name = {"native": "native", "milter": "byosmtp"}
med = lambda cfg, k: statistics.median(float(r[k]) for r in runs if r["config"] == cfg)
rng = lambda cfg, k: [float(r[k]) for r in runs if r["config"] == cfg]
print("| scenario %s | messages | accept msg/s | end-to-end msg/s median (min-max) | CPU ms/msg machine | local MTA | provider | byosmtpd |" % sys.argv[2])
print("|---|---|---|---|---|---|---|---|")
for cfg in ("native", "milter"):
    v = rng(cfg, "e2e_mps")
    print("| %s | %s x %d | %.1f | %.1f (%.1f-%.1f) | %.2f | %.2f | %.2f | %s |" % (
        name[cfg], runs[0]["n"], len(v), med(cfg, "accept_mps"), statistics.median(v), min(v), max(v),
        med(cfg, "machine_ms"), med(cfg, "local_ms"), med(cfg, "provider_ms"),
        "%.2f" % med(cfg, "byo_ms") if cfg == "milter" else "-"))
print()
print("ratio scenario %s: end-to-end byosmtp/native = %.2f; machine CPU per message %.2f"
      % (sys.argv[2], med("milter", "e2e_mps") / med("native", "e2e_mps"),
         med("milter", "machine_ms") / med("native", "machine_ms")))
for cfg in ("native", "milter"):
    c = [int(r["conns_" + cfg]) for r in rows if "conns_" + cfg in r]
    if c:
        print("provider connections per round (warm-up included), %s: %s" % (name[cfg], ", ".join(map(str, c))))
lat = [r for r in rows if "latency_p50" in r]
if lat:
    print("byosmtpd accept->provider latency (scenario %s): p50 %.2f s, p99 %.2f s (median over the rounds)"
          % (sys.argv[2], statistics.median(float(r["latency_p50"]) for r in lat),
             statistics.median(float(r["latency_p99"]) for r in lat)))
rss = [int(r["rss_kb"]) for r in rows if "rss_kb" in r]
if rss:
    print("byosmtpd peak RSS, its three processes together (scenario %s): %.1f MB" % (sys.argv[2], max(rss) / 1024))
if calls:
    print("byosmtpd system calls per message (scenario %s): %d" % (sys.argv[2], statistics.median(calls)))
EOF
}
