#!/usr/bin/env bash
# kairos-rt against tokio's current-thread runtime: each benchmark variant in a process of
# its own, in interleaved order over several rounds (A B C, C B A, ...), medians reported.
#
#   bench/rt_bench.sh [--rounds N] [--quick] [--variants "kairos kairos-record"]
#                     [--measure SECONDS] [--samples N]
#
# --variants runs a subset (the report leaves the others' columns empty): two variants over
# 5-s rounds compare in minutes where the whole table takes the better part of an hour.
#
# Why separate processes: the allocator's state (glibc's dynamic trim and mmap thresholds)
# carries over from one variant to the next inside one process and swung a variant by 50%
# here. For the same reason the thresholds are fixed for every variant (GLIBC_TUNABLES below).
# Prints a markdown table (bench/rt_report.py) and leaves the raw runs in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2
measure=3
samples=100
chosen=(kairos kairos-nodetect kairos-record tokio)
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --quick) rounds=1; measure=1; samples=10; shift ;;
    --variants) read -r -a chosen <<< "$2"; shift 2 ;;
    --measure) measure="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    *) echo "usage: bench/rt_bench.sh [--rounds N] [--quick] [--variants \"A B\"] [--measure S] [--samples N]" >&2; exit 2 ;;
  esac
done

export GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456
out=bench/out/rt
mkdir -p "$out"
: > "$out/runs.jsonl"
: > "$out/output.txt"

cargo bench -p kairos-rt --bench runtime --no-run 2>&1 | tail -n 1 >&2

groups=(spawn_1m_tasks yield_ping_pong_2x100k sleep_100k_concurrent_10ms
        semaphore_acquire_release_100k semaphore_contended_10_tasks_2_permits
        thread_pool_round_trip_10k)
variants=("${chosen[@]}")

for round in $(seq 1 "$rounds"); do
  order=("${variants[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done
  fi
  for group in "${groups[@]}"; do
    for variant in "${order[@]}"; do
      echo "round $round: $group/$variant" >&2
      cargo bench -q -p kairos-rt --bench runtime -- "^$group/$variant\$" \
        --warm-up-time 1 --measurement-time "$measure" --sample-size "$samples" \
        >> "$out/output.txt" 2>&1
      python3 - "$group" "$variant" "$round" >> "$out/runs.jsonl" <<'PY'
import json, sys
group, variant, rnd = sys.argv[1:]
est = json.load(open(f"target/criterion/{group}/{variant}/new/estimates.json"))
print(json.dumps({"group": group, "variant": variant, "round": int(rnd),
                  "median_ns": est["median"]["point_estimate"]}))
PY
    done
  done
done

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "rustc: $(rustc --version)"
echo
python3 bench/rt_report.py "$out/runs.jsonl" "$out/output.txt"
