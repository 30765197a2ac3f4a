#!/usr/bin/env bash
# What a fleet-wide permit costs beside an in-process one, in two parts, each in interleaved
# rounds of 5 s:
#
#   1. crates/cache/benches/fleet.rs: kairos-sync's Semaphore against kairos-cache's
#      FleetSemaphore and FleetRateLimit (acquire + release, uncontended and 16 tasks on 4
#      permits), against a redis-server of its own;
#   2. `kairos serve` answering /external?n=1&limit=5&ms=0 with scope=process and with
#      scope=fleet (and with rate=1000: one rate decision per request, a 429 past 1000 per second), under wrk.
#
#   bash bench/fleet.sh [--rounds 3] [--seconds 5] [--semaphores-only]
#
# --semaphores-only: part 1 alone (no release build of the kairos binary).
# Pinned: the bench process, or kairos serve, on core 0; redis-server and wrk on core 1.
# Installs what is missing (redis-server, wrk, taskset). Prints markdown tables; the raw
# runs are left in bench/out/fleet/.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
seconds=5
external=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --semaphores-only) external=no; shift ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done

missing=()
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi

out=bench/out/fleet
mkdir -p "$out"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
taskset -c 1 /usr/bin/redis-server --bind 127.0.0.1 --port "$redis_port" --save "" \
  --appendonly no --protected-mode no >"$out/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis="redis://127.0.0.1:$redis_port"

echo "## 1. the semaphores (crates/cache/benches/fleet.rs)" >&2
cargo bench -p kairos-cache --bench fleet --no-run 2>&1 | tail -n 1 >&2
FLEET_BENCH_REDIS="$redis" taskset -c 0 cargo bench -q -p kairos-cache --bench fleet -- \
  --rounds "$rounds" --seconds "$seconds" | tee "$out/semaphores.txt"

[ "$external" = yes ] || exit 0

echo >&2
echo "## 2. /external under wrk (kairos serve on core 0, wrk and Redis on core 1)" >&2
cargo build -q --release -p kairos-cli
kairos=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kairos
db=$(mktemp -d)
taskset -c 0 "$kairos" serve --bind 127.0.0.1:0 --log-level error \
  --cache-url "$redis" --database-url "sqlite://$db/bench.db?mode=rwc" >"$out/serve.out" 2>"$out/serve.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q listening "$out/serve.out" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$out/serve.out")
variants=("scope=process" "scope=fleet" "scope=process&rate=1000")
: > "$out/external.txt"
for round in $(seq 1 "$rounds"); do
  order=("${variants[@]}")
  if [ $((round % 2)) -eq 0 ]; then order=("${variants[2]}" "${variants[1]}" "${variants[0]}"); fi
  for v in "${order[@]}"; do
    url="$base/external?n=1&limit=5&ms=0&$v"
    result=$(taskset -c 1 wrk -t1 -c16 -d"${seconds}s" --latency "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$result")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$result")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$result")
    echo "round $round $v rps=$rps p50=$p50 non2xx=${non2xx:-0}" | tee -a "$out/external.txt"
  done
done
python3 - "$out/external.txt" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\S+) rps=([\d.]+) p50=(\S+) non2xx=(\d+)", line)
    if m:
        runs.setdefault(m[1], []).append((float(m[2]), m[3], int(m[4])))
base = statistics.median(r for r, _, _ in runs["scope=process"])
print("\n| /external?n=1&limit=5&ms=0& | requests/s (median) | × scope=process | p50 latencies | non-2xx |")
print("|---|---|---|---|---|")
for variant, rs in runs.items():
    rps = statistics.median(r for r, _, _ in rs)
    print(f"| {variant} | {rps:.0f} | {rps / base:.2f} | {', '.join(p for _, p, _ in rs)} | {sum(n for _, _, n in rs)} |")
PY
rm -rf "$db"
