#!/usr/bin/env bash
# What counting requests for /metrics costs: `kairos serve` with its metrics (the default)
# against `kairos serve --no-metrics`, both alive side by side, /plaintext under wrk in
# interleaved rounds, as the server's CPU time per request (utime + stime of its process, from
# /proc/PID/stat, divided by the requests wrk completed) and as requests per second.
#
#   bash bench/metrics.sh                 5 rounds of 5 s each, then the instruction counts
#   bash bench/metrics.sh --rounds 3 --duration 5
#   bash bench/metrics.sh --instructions-only
#
# Each server runs pinned to core 0, wrk to core 1; one worker each (`--workers 1`), 64
# connections. CPU time is at the mercy of whatever else the machine runs, so the script also
# counts the instructions a request costs, which nothing else running can change: each
# variant under valgrind (cachegrind, no cache simulation) serves 1,000 then, in a second
# run, 11,000 /plaintext requests on one keep-alive connection (curl), and the difference of
# the two runs' totals over 10,000 is the instructions per request (start-up and shutdown
# cancel out). Needs wrk, taskset, curl and valgrind (installed from Debian's packages when
# missing) and a release build of kairos (built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5
duration=5
timed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --instructions-only) timed=0; shift ;;
    *) sed -n '2,21p' "$0" >&2; exit 2 ;;
  esac
done

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y "${missing[@]}" >&2
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/kairos"
[ -x "$bin" ] || cargo build --release -p kairos-cli >&2

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# The port server $1 got, from the "listening on http://127.0.0.1:PORT" line it writes to
# stdout file $2 once it listens; waits up to $4 seconds, then shows its stderr file $3 and
# stops the script.
port_of() {
  local name="$1" out="$2" err="$3" seconds="$4" port=""
  for _ in $(seq 1 $((seconds * 10))); do
    [ -s "$out" ] && break
    sleep 0.1
  done
  port=$(head -1 "$out" | sed -n 's/^listening on http:\/\/127.0.0.1://p')
  [ -n "$port" ] || { echo "$name did not start:" >&2; cat "$err" >&2; exit 1; }
  echo "$port"
}

# Starts a server with extra flags $2.. under name $1; sets ${name}_pid and ${name}_port.
start() {
  local name="$1"; shift
  taskset -c 0 "$bin" serve --bind 127.0.0.1:0 --workers 1 --log-level warn \
    --database-url "sqlite://$tmp/$name.db?mode=rwc" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$!
  pids+=("$pid")
  local port
  port=$(port_of "$name" "$tmp/$name.out" "$tmp/$name.err" 10)
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_port" '%s' "$port"
}

# utime + stime of process $1, in clock ticks (every thread of it).
ticks() {
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# Instructions (valgrind's I refs) of a whole run of server variant $1 (extra flags $3..)
# that serves $2 /plaintext requests.
instructions() {
  local name="$1" requests="$2"; shift 2
  local dir="$tmp/cg-$name-$requests"
  mkdir -p "$dir"
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out" \
    "$bin" serve --bind 127.0.0.1:0 --workers 1 --log-level warn \
    --database-url "sqlite://$dir/db?mode=rwc" "$@" >"$dir/stdout" 2>"$dir/stderr" &
  local pid=$!
  local port
  port=$(port_of "$name under valgrind" "$dir/stdout" "$dir/stderr" 60)
  curl -s -o /dev/null "http://127.0.0.1:$port/plaintext?[1-$requests]"
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/I *refs:/ { gsub(",", "", $NF); print $NF }' "$dir/stderr"
}

counted() {
  echo "instructions per /plaintext request (valgrind, (I refs of 11,000 − of 1,000) / 10,000):"
  local name flags few many
  for name in with without; do
    flags=()
    [ "$name" = without ] && flags=(--no-metrics)
    few=$(instructions "$name" 1000 "${flags[@]}")
    many=$(instructions "$name" 11000 "${flags[@]}")
    awk -v name="$name" -v few="$few" -v many="$many" \
      'BEGIN { printf "  %-8s metrics: %.0f\n", name, (many - few) / 10000 }'
  done
}

if [ "$timed" -eq 0 ]; then
  counted
  exit 0
fi

start with
start without --no-metrics
hz=$(getconf CLK_TCK)

# One round on server $1: prints "requests cpu_us_per_request requests_per_second".
round() {
  local pid_var="${1}_pid" port_var="${1}_port"
  local pid=${!pid_var} port=${!port_var}
  local before after out requests rps
  before=$(ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" "http://127.0.0.1:$port/plaintext")
  after=$(ticks "$pid")
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" -v rps="$rps" \
    'BEGIN { printf "%d %.3f %.0f\n", n, t / hz / n * 1e6, rps }'
}

# Warm-up: a short run on each.
for name in with without; do
  port_var="${name}_port"
  taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:${!port_var}/plaintext" >/dev/null
done

echo "round  variant          requests  CPU µs/request  requests/s"
for r in $(seq 1 "$rounds"); do
  # Alternate which goes first, so neither always runs on a warmer machine.
  if [ $((r % 2)) -eq 1 ]; then order="with without"; else order="without with"; fi
  for name in $order; do
    read -r n cpu rps < <(round "$name")
    printf "%-6s %-16s %9s  %14s  %10s\n" "$r" "$name metrics" "$n" "$cpu" "$rps"
    echo "$name $cpu $rps" >>"$tmp/results"
  done
done

# Means, and medians (steadier on a machine others share).
for name in with without; do
  awk -v name="$name" '$1 == name { print $2, $3 }' "$tmp/results" | sort -n >"$tmp/$name.sorted"
done
awk -v with="$tmp/with.sorted" -v without="$tmp/without.sorted" '
  function load(file, cpu, rps,    n, line, f) {
    n = 0
    while ((getline line < file) > 0) { split(line, f, " "); cpu[++n] = f[1]; rps[n] = f[2] }
    return n
  }
  function mean(a, n,    i, s) { s = 0; for (i = 1; i <= n; i++) s += a[i]; return s / n }
  function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  BEGIN {
    n = load(with, wc, wr); m = load(without, oc, orr)
    printf "\nCPU per request, mean:   with %.3f µs, without %.3f µs: ratio %.3f\n", mean(wc, n), mean(oc, m), mean(wc, n) / mean(oc, m)
    printf "CPU per request, median: with %.3f µs, without %.3f µs: ratio %.3f\n", median(wc, n), median(oc, m), median(wc, n) / median(oc, m)
    printf "requests/s, mean:        with %.0f, without %.0f: ratio %.3f\n", mean(wr, n), mean(orr, m), mean(wr, n) / mean(orr, m)
  }'
# A scrape of the server with metrics, to show it counted what it served.
echo
curl -s "http://127.0.0.1:${with_port}/metrics" | grep -E '^http_requests_total\{.*/plaintext' || true
echo
counted
