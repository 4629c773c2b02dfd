#!/usr/bin/env bash
# profile.sh - where byosmtpd's time and system calls go on the milter path, for bench/RESULTS-*.md:
# the same set-up as relay.sh scenario a (the shared harness's instances in milter mode, byosmtpd
# with its defaults relaying every message to the provider), then N messages of SIZE bytes twice:
# once under "strace -c -f" attached to byosmtpd's three processes (system calls per message, by
# call), once under "perf record -e cpu-clock -g" (CPU by function). Not part of "make check".
#
# Usage (root):  BUILDDIR=DIR bench/profile.sh OUTDIR
# Settings: N (2000), SIZE (2048), CONCURRENCY (20), WORKDIR (/tmp/byosmtp-bench), BASELINE.
# Output: OUTDIR/strace.txt (calls per message, by call and process), OUTDIR/perf.txt (perf
# report, by symbol), OUTDIR/strace-*.raw and perf.data (the raw data).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
OUT=${1:?usage: bench/profile.sh OUTDIR}
N=${N:-2000} SIZE=${SIZE:-2048} CONCURRENCY=${CONCURRENCY:-20}
WORKDIR=${WORKDIR:-/tmp/byosmtp-bench}
BASELINE=${BASELINE:-$TOP/../shared/bench/baseline.sh}
BUILDDIR=${BUILDDIR:-$TOP/build}
MILTER_PORT=${MILTER_PORT:-8891}
say() { printf 'profile.sh: %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { say "run as root"; exit 1; }
[[ -f $BASELINE ]] || { say "the shared harness is absent: $BASELINE"; exit 2; }
command -v strace >/dev/null && command -v perf >/dev/null || { say "needs strace and perf (linux-perf)"; exit 1; }
mkdir -p "$OUT" "$WORKDIR"
chmod 755 "$WORKDIR"
OUT=$(cd "$OUT" && pwd)
export STATE=$WORKDIR/state RESULTS_ROOT=$WORKDIR/results BUILDDIR MILTER_PORT SCENARIO=a IN_FLOW_DELAY=0
if [[ -z ${MAIL_CONFIG:-} && ! -f /etc/postfix/main.cf ]]; then
    mkdir -p "$WORKDIR/postconf"
    echo "compatibility_level = 3.6" >"$WORKDIR/postconf/main.cf"
    export MAIL_CONFIG=$WORKDIR/postconf
fi
# as relay.sh: in_flow_delay = 0 rides along in smtpd_milters (the harness has no other hook)
export MILTER_SOCKET="inet:127.0.0.1:$MILTER_PORT"$'\n'"in_flow_delay = 0"$'\n'"# (bench/profile.sh) milter port:$MILTER_PORT"
export MILTER_CMD="$HERE/relay.sh --milter-cmd $WORKDIR/byosmtpd"
SINK= TRACER=
cleanup() {
    [[ -z $TRACER ]] || kill -INT "$TRACER" 2>/dev/null || true
    [[ -z $SINK ]] || kill -TERM "$SINK" 2>/dev/null || true
    wait 2>/dev/null || true
    bash "$BASELINE" --stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

SETUP_MODE=milter bash "$BASELINE" --setup-only >"$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
t=0
until [[ -s $WORKDIR/byosmtpd/pids && $(wc -w <"$WORKDIR/byosmtpd/pids") -ge 3 ]]; do
    ((t++ < 100)) || { say "byosmtpd did not start"; exit 1; }
    sleep 0.1
done
read -r -a PIDS <"$WORKDIR/byosmtpd/pids"

# batch LABEL COUNT [TRACER-COMMAND...]: COUNT messages through the local Postfix; returns when
# the sink has counted them all (the tracer, when given, runs attached for exactly that time)
batch() {
    local label=$1 n=$2 d=$OUT/$1 t=0
    shift 2
    mkdir -p "$d"
    "$PY" "$(dirname "$BASELINE")/lib/sinkwatch.py" --target "$n" --done "$d/sink.done" \
        --final "$d/sink.final" -- smtp-sink -u nobody -c 127.0.0.1:2526 1024 &
    SINK=$!
    until [[ -n $(ss -Hltn "sport = :2526") ]]; do sleep 0.1; done
    if (($#)); then
        "$@" &
        TRACER=$!
        sleep 2 # attached to every thread before the load starts
    fi
    smtp-source -l "$SIZE" -m "$n" -s "$CONCURRENCY" -f sender@customer.example -t rcpt@dest.example \
        127.0.0.1:2525 >/dev/null
    until [[ -s $d/sink.done ]]; do
        ((t++ < 3000)) || { say "$label: the sink did not get $n messages"; exit 1; }
        sleep 0.1
    done
    sleep 1 # the last outcomes are written
    if [[ -n $TRACER ]]; then
        kill -TERM "$TRACER"
        wait "$TRACER" || true
        TRACER=
    fi
    kill -TERM "$SINK"
    wait "$SINK" || true
    SINK=
    until [[ -z $(ss -Hltn "sport = :2526") ]]; do sleep 0.1; done
    say "$label: $n messages relayed"
}

# straces - one "strace -c -f" per byosmtpd process (milter, supervisor, delivery), so the table
# says which process makes which calls
straces() {
    local names=(milter supervisor delivery) i tp=()
    for i in 0 1 2; do
        strace -c -f -o "$OUT/strace-${names[$i]}.raw" -p "${PIDS[$i]}" 2>/dev/null &
        tp+=($!)
    done
    trap 'kill -TERM "${tp[@]}" 2>/dev/null; wait "${tp[@]}"; exit 0' TERM
    wait "${tp[@]}"
}
batch warmup 200
batch strace "$N" straces
perf_pids=$(IFS=,; echo "${PIDS[*]}")
batch perf "$N" perf record -q -e cpu-clock -F 999 -g -p "$perf_pids" -o "$OUT/perf.data"

{
    echo "byosmtpd built in $BUILDDIR; $N messages of $SIZE bytes, $CONCURRENCY clients; system calls per message"
    echo "call              milter supervisor delivery    total"
    awk -v n="$N" 'FNR == 1 { f++ }
        FNR > 2 && $4 ~ /^[0-9]+$/ && $NF !~ /^-/ { c[$NF, f] += $4; c[$NF, 0] += $4; seen[$NF] = 1 }
        END { for (k in seen) printf "%-16s %7.1f %7.1f %10.1f %8.1f\n", k == "total" ? "TOTAL" : k,
              c[k, 1] / n, c[k, 2] / n, c[k, 3] / n, c[k, 0] / n }' \
        "$OUT/strace-milter.raw" "$OUT/strace-supervisor.raw" "$OUT/strace-delivery.raw" | sort -k5 -n -r
} >"$OUT/strace.txt"
perf report -i "$OUT/perf.data" --stdio --no-children --sort comm,dso,symbol --percent-limit 0.7 \
    2>/dev/null | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -60 >"$OUT/perf.txt" || true
head -22 "$OUT/strace.txt"
echo
head -30 "$OUT/perf.txt"
