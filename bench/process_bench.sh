#!/usr/bin/env bash
# The process pool (issue 4) beside Python's ProcessPoolExecutor, on this machine, in one run:
# a trivial job's round trip (and the same through a thread pool), the chapter's CPU-bound
# task on 1 and 2 workers, and 1 MB of arguments (caution 4).
#
#   bench/process_bench.sh [--rounds N] [--quick]
#
# kairos runs crates/process/examples/process_bench.rs, Python runs bench/process_bench.py
# (standard library only); each round runs both, in alternating order, and the report keeps
# the median over the rounds. The default (3 rounds) takes about a minute after the build.
# Raw lines are left in bench/out/process/runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
quick=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --quick) rounds=1; quick="--quick"; shift ;;
    *) echo "usage: bench/process_bench.sh [--rounds N] [--quick]" >&2; exit 2 ;;
  esac
done

out=bench/out/process
mkdir -p "$out"
: > "$out/runs.jsonl"

cargo build --release -q -p kairos-process --example process_bench
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
kairos="$target_dir/release/examples/process_bench"

run_kairos() { "$kairos" $quick | sed "s/^{/{\"round\":$1,/" >> "$out/runs.jsonl"; }
run_python() { python3 bench/process_bench.py $quick | sed "s/^{/{\"round\": $1, /" >> "$out/runs.jsonl"; }

started=$(date +%s)
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds" >&2
  if [ $((round % 2)) -eq 1 ]; then run_kairos "$round"; run_python "$round"
  else run_python "$round"; run_kairos "$round"; fi
done

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "$(rustc --version); $(python3 --version); $rounds round(s) in $(( $(date +%s) - started )) s"
echo
python3 - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
def med(impl, bench, key):
    values = [r[key] for r in runs if r["impl"] == impl and r["bench"] == bench]
    return statistics.median(values) if values else None
def us(v):
    return "—" if v is None else (f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} µs")
print("| benchmark (median of rounds) | kairos | Python 3.11 | Python / kairos |")
print("|---|---|---|---|")
rows = [("trivial job round trip, process pool (1 worker)", "process_round_trip"),
        ("trivial job round trip, thread pool (1 thread)", "thread_round_trip"),
        ("job with 1 MB of bytes as argument (`serde_bytes` / `bytes`)", "args_1mb"),
        ("job with 1 MB as a plain `Vec<u8>` (serde: byte by byte)", "args_1mb_vec")]
for label, bench in rows:
    k, p = med("kairos", bench, "median_us"), med("python", bench, "median_us")
    ratio = f"**{p / k:.1f}x**" if k and p else "—"
    print(f"| {label} | {us(k)} | {us(p)} | {ratio} |")
for label, key in (("p90", "p90_us"),):
    k, p = med("kairos", "process_round_trip", key), med("python", "process_round_trip", key)
    print(f"| process pool round trip, {label} | {us(k)} | {us(p)} | {p / k:.1f}x |")
print()
print("| 4 × cpu_intensive_task(n) | kairos | Python 3.11 |")
print("|---|---|---|")
n = next((r["n"] for r in runs if r["bench"] == "cpu_1_worker"), "?")
one = {i: med(i, "cpu_1_worker", "seconds") for i in ("kairos", "python")}
two = {i: med(i, "cpu_2_workers", "seconds") for i in ("kairos", "python")}
print(f"| 1 worker (n = {n:,}) | {one['kairos'] * 1000:.1f} ms | {one['python'] * 1000:.0f} ms |")
print(f"| 2 workers | {two['kairos'] * 1000:.1f} ms | {two['python'] * 1000:.0f} ms |")
print(f"| speed-up, 1 → 2 workers | **{one['kairos'] / two['kairos']:.2f}x** | "
      f"**{one['python'] / two['python']:.2f}x** |")
big_n = next((r["n"] for r in runs if r["bench"] == "cpu_big_1_worker"), None)
if big_n:
    b1, b2 = med("kairos", "cpu_big_1_worker", "seconds"), med("kairos", "cpu_big_2_workers", "seconds")
    print(f"| kairos with n = {big_n:,} (jobs as long as Python's): 1 worker, 2 workers, "
          f"speed-up | {b1 * 1000:.0f} ms, {b2 * 1000:.0f} ms, **{b1 / b2:.2f}x** | — |")
goal = med("kairos", "process_round_trip", "median_us")
print()
print(f"Goal: a trivial job's round trip under 50 µs median — {us(goal)}: "
      f"{'met' if goal is not None and goal < 50 else 'NOT met'}.")
PY
