#!/bin/sh
# run.sh - run every fuzz harness that 'make fuzz' built for a bounded time (fuzz/README).
#
#   sh fuzz/run.sh BUILDDIR [SECONDS [NAME...]]
#
# Each harness BUILDDIR/fuzz/fuzz_NAME fuzzes for SECONDS (default 30) from its seeds in the
# source tree (fuzz/corpus/NAME/, never written to) and the inputs it found before
# (BUILDDIR/fuzz/work/NAME/), with a memory limit and a time limit per input. One line per
# harness: executions, coverage, corpus size; on a crash, a leak, a sanitizer report, a violated
# property, a slow input or running out of memory, the end of its log and the input that did it
# (BUILDDIR/fuzz/crash/NAME-...): copy that file into fuzz/corpus/NAME/ with the fix.
# Scratch files go to a private directory under $TMPDIR. Exit 0 only when no harness failed.
set -u

[ $# -ge 1 ] || { echo "usage: sh fuzz/run.sh BUILDDIR [SECONDS [NAME...]]" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-30}
[ $# -ge 2 ] && shift 2 || shift $#
src=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -eq 0 ]; then
    for h in "$build"/fuzz/fuzz_*; do
        [ -x "$h" ] && set -- "$@" "${h##*/fuzz_}"
    done
fi
[ $# -gt 0 ] || { echo "run.sh: no harness in $build/fuzz: run 'make fuzz' there" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/byosmtp-fuzzrun.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM
mkdir -p "$build/fuzz/crash"
failed=
for name in "$@"; do
    bin=$build/fuzz/fuzz_$name
    seeds=$src/fuzz/corpus/$name
    work=$build/fuzz/work/$name
    log=$build/fuzz/$name.log
    [ -x "$bin" ] || { echo "$name: $bin is missing (make fuzz)"; failed="$failed $name"; continue; }
    [ -d "$seeds" ] || { echo "$name: no seed corpus $seeds"; failed="$failed $name"; continue; }
    mkdir -p "$work"
    start=$(date +%s)
    TMPDIR=$scratch "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/crash/$name-" "$work" "$seeds" \
        >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    corpus=$(find "$work" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        printf '%s: %s executions in %ss, coverage %s, corpus %s (+%s seeds), no crash\n' \
            "$name" "${execs:-?}" "$took" "${cov:-?}" "$corpus" "$(find "$seeds" -type f | wc -l)"
    else
        printf '%s: FAILED (exit %s) after %ss; log %s\n' "$name" "$rc" "$took" "$log"
        grep -E 'ERROR|SUMMARY|property violated|runtime error|Test unit written' "$log" | head -n 12
        tail -n 40 "$log" | sed 's/^/    /'
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "run.sh: failed:$failed (inputs in $build/fuzz/crash/)" >&2
    exit 1
fi
exit 0
