#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds each (default 60) on the nightly
# toolchain, after seeding the corpora (scripts/fuzz-seeds.sh), and prints one
# line per target: executions, and whether it crashed. A crash leaves its
# input in fuzz/artifacts/<target>/; turn it into a regression test.
#
#   scripts/fuzz.sh [secs-per-target] [target...]
#
# FUZZ_SEED=N fixes libFuzzer's random seed (CI's smoke run does), so that a
# short run explores the same inputs every time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
./scripts/fuzz-seeds.sh >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
export CARGO_INCREMENTAL=0
(cd fuzz && cargo +nightly fuzz build -O)
failed=0
for t in "${targets[@]}"; do
  log="fuzz/target/fuzz-$t.log"
  mkdir -p fuzz/target
  seed=()
  [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  if (cd fuzz && cargo +nightly fuzz run -O "$t" -- -max_total_time="$secs" "${seed[@]}" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 >"../$log" 2>&1); then
    status=ok
  else
    status=CRASH
    failed=1
  fi
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
  [ -z "$execs" ] && execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  printf '%-14s %10s execs in %ss: %s\n' "$t" "${execs:-?}" "$secs" "$status"
  if [ "$status" = CRASH ]; then tail -30 "$log" >&2; fi
done
exit $failed
