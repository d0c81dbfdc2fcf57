#!/usr/bin/env bash
# Where the gateway's time goes on one route, per request:
#
#   bench/profile.sh callgrind [dpop|open] [requests]   instructions (valgrind), repeatable
#   bench/profile.sh strace    [dpop|open] [requests]   syscalls by name (strace -c -f)
#   bench/profile.sh perf      [dpop|open] [seconds]    CPU samples (perf record -e cpu-clock)
#
# The gateway (release build) and an upstream (nginx) run on loopback as in
# bench/run.sh; bench/load drives HTTP/1.1 over TLS 1.3, 8 connections,
# closed loop, a fresh proof per DPoP request. callgrind: counters are zeroed
# after a warm-up, so the figures are the steady state (plus the 8 TLS
# handshakes of the measured batch). Output goes to bench/results/profile/.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=${1:-callgrind}
ROUTE=${2:-dpop}
N=${3:-}
OUTDIR=${OUTDIR:-bench/results/profile}
# shellcheck source=bench/lib.sh
. bench/lib.sh
case $TOOL in
  callgrind) need_packages nginx valgrind; N=${N:-2000}; GW_WRAP="valgrind --tool=callgrind --callgrind-out-file=${PWD}/target/callgrind.gw.%p" ;;
  strace) need_packages nginx strace; N=${N:-20000} ;;
  perf) need_packages nginx linux-perf; N=${N:-10} ;;
  *) echo "usage: bench/profile.sh callgrind|strace|perf [dpop|open] [n]" >&2; exit 2 ;;
esac
build
rm -f target/callgrind.gw.*
start_common
mkdir -p "$OUTDIR"
URL="https://127.0.0.1:$GW/$ROUTE/orders"
DPOP=()
[ "$ROUTE" = dpop ] && DPOP=(--dpop "$WORK")
batch() { # requests conns [secs]
  "$LOAD" run --ca "$WORK/ca.pem" --url "$URL" --label "gateway-$ROUTE" --concurrency "$2" \
    --requests "$1" --secs "${3:-100000}" --out "$WORK/profile.jsonl" "${DPOP[@]}"
}

case $TOOL in
  callgrind)
    batch 200 8
    callgrind_control -z "$GW_PID" >/dev/null
    batch "$N" 8
    callgrind_control -d "$GW_PID" >/dev/null
    sleep 1
    DUMP=target/callgrind.gw.$GW_PID.1
    REQS=$(python3 -c 'import json,sys; print(sum(json.loads(l)["requests"] for l in open(sys.argv[1]).readlines()[1:]))' "$WORK/profile.jsonl")
    TOTAL=$(callgrind_annotate --auto=no "$DUMP" | grep 'PROGRAM TOTALS' | awk '{print $1}' | tr -d ,)
    { echo "requests: $REQS; instructions: $TOTAL; per request: $((TOTAL / REQS))"
      echo "inclusive, top functions:"
      callgrind_annotate --inclusive=yes --auto=no --threshold=99 "$DUMP" | grep -E '^ *[0-9,]+ \(' | head -150 || true
    } > "$OUTDIR/callgrind-$ROUTE.txt"
    head -1 "$OUTDIR/callgrind-$ROUTE.txt"
    [ -n "${KEEP:-}" ] && cp "$DUMP" "$OUTDIR/callgrind-$ROUTE.out"; rm -f target/callgrind.gw.*
    ;;
  strace)
    strace -c -f -p "$GW_PID" -o "$WORK/strace.txt" &
    ST=$!
    sleep 1
    batch "$N" 32
    kill -INT "$ST"; wait "$ST" || true
    REQS=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["requests"])' "$WORK/profile.jsonl")
    { echo "requests: $REQS"; cat "$WORK/strace.txt"; } > "$OUTDIR/strace-$ROUTE.txt"
    awk -v n="$REQS" '/^[ 0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ {printf "%-16s %.2f per request\n", $NF, $4/n}' "$WORK/strace.txt" | tee -a "$OUTDIR/strace-$ROUTE.txt"
    ;;
  perf)
    batch $((N * 40000)) 32 "$N" 2>"$WORK/load.log" &
    LP=$!
    # Sample once the proofs are signed and the window is open.
    if [ "$ROUTE" = dpop ]; then
      for _ in $(seq 600); do grep -q signed "$WORK/load.log" && break; sleep 0.1; done
    fi
    sleep 1
    perf record -e cpu-clock -F 999 -g -p "$GW_PID" -o "$WORK/perf.data" -- sleep $((N - 2)) 2>/dev/null
    wait "$LP"
    { echo "samples by shared object:"
      perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -12
      echo "samples by symbol (>= 0.5%):"
      perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.5 2>/dev/null \
        | grep '%' | sed 's/  */ /g' | cut -c1-150
    } > "$OUTDIR/perf-$ROUTE.txt"
    cat "$OUTDIR/perf-$ROUTE.txt" | head -60
    ;;
esac
