#!/usr/bin/env bash
# The whole comparison in one run: kairos against tokio, hyper, axum, FastAPI/uvicorn and a
# bare-socket floor, on this machine, interleaved, as ratios.
#
#   bench/run.sh            the full run (about 15 minutes): writes BENCHMARKS.md's figures
#   bench/run.sh --quick    one short round of everything (under 5 minutes after the builds):
#                           writes bench/out/report.md only
#   options: --only "kairos,hyper"   HTTP servers by name prefix;  --no-rt, --no-process
#            --kairos-before BIN       another kairos build measured beside this one (before/after)
#            --duration S              seconds per throughput round (default 2; 1 with --quick)
#            --rounds N                interleaved rounds of the throughput scenarios (default 3)
#            --kairos-workers N        kairos serve's --workers, all on the server's core (default 1)
#            --throughput-only         skip the chapter's scenarios (the HTTP part's second half)
#            --scenario "contract"     throughput scenarios by name: plaintext, json, pipelined,
#                                      contract (issue 12's validated POST through two
#                                      dependencies: kairos serve, axum and FastAPI only),
#                                      items (items-sqlite, items-postgres) and cache (issue
#                                      13's GET /items/{id} on a seeded SQLite file and a real
#                                      PostgreSQL, GET /cached on a hit: the same three only)
#   issue 12's benchmark alone:
#     bash bench/run.sh --only "kairos serve,axum,FastAPI" --no-rt --no-process \
#       --throughput-only --scenario contract --duration 5 --rounds 3
#   issue 13's (needs PostgreSQL's server binaries, /usr/lib/postgresql/*/bin, run as the
#   postgres user; bench/databases.py starts and seeds a throwaway one):
#     bash bench/run.sh --only "kairos serve,axum,FastAPI" --no-rt --no-process \
#       --throughput-only --scenario items,cache --duration 5 --rounds 3
#
# On a bare machine it installs what it needs: wrk (Debian package), a Python venv with
# FastAPI and uvicorn[standard] (bench/peers/fastapi/requirements.txt), and builds kairos and
# the peers (bench/peers, a cargo project outside the workspace) in release mode.
# Needs 2 cores: every server runs on core 0 and the load generator on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The command as given, for the report (an argument with a space quoted).
given=""
for arg in "$@"; do
  case "$arg" in *[[:space:]]*) given+=" \"$arg\"" ;; *) given+=" $arg" ;; esac
done
quick=""
only=""
before=""
duration=""
rounds=""
kworkers=""
tponly=""
scenario=""
run_rt=1
run_process=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick"; shift ;;
    --only) only="$2"; shift 2 ;;
    --kairos-before) before="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --kairos-workers) kworkers="$2"; shift 2 ;;
    --throughput-only) tponly="--throughput-only"; shift ;;
    --scenario) scenario="$2"; shift 2 ;;
    --no-rt) run_rt=0; shift ;;
    --no-process) run_process=0; shift ;;
    *) sed -n '2,32p' "$0" >&2; exit 2 ;;
  esac
done

if [ "$(nproc)" -lt 2 ]; then
  echo "bench/run.sh needs 2 cores (server on one, load generator on the other); this machine has $(nproc)" >&2
  exit 1
fi
started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started )) s)" >&2; }
out=bench/out
mkdir -p "$out"

# 1. What the run needs from outside the repository.
step "installing what is missing"
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi
bash bench/peers/fastapi/run.sh --install-only

# 2. Builds, in release mode. The workspace's target and the peers' own (so that `cargo test
#    --workspace` never compiles axum).
step "building kairos and the peers"
cargo build --release -q -p kairos-cli
kairos_bin=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kairos
export CARGO_TARGET_DIR_PEERS="$PWD/bench/peers/target"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR_PEERS" cargo build --release -q --manifest-path bench/peers/Cargo.toml
peers_bin="$CARGO_TARGET_DIR_PEERS/release"

# 1,000 streams and 1,000 sleeping connections, on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# 3. HTTP, side by side.
step "HTTP servers side by side"
python3 bench/suite.py --bin-dir "$peers_bin" --kairos "$kairos_bin" $quick \
  ${only:+--only "$only"} ${before:+--kairos-before "$before"} ${duration:+--duration "$duration"} \
  ${rounds:+--rounds "$rounds"} ${kworkers:+--kairos-workers "$kworkers"} $tponly \
  ${scenario:+--scenario "$scenario"} \
  --out "$out/http.json"

# 4. The runtime against tokio, and the process pool against Python's.
if [ "$run_rt" = 1 ]; then
  step "kairos-rt against tokio"
  bash bench/rt_bench.sh ${quick:---rounds 2} > "$out/rt.md"
fi
if [ "$run_process" = 1 ]; then
  step "process pool against Python"
  bash bench/process_bench.sh ${quick:---rounds 3} > "$out/process.md"
fi

# 5. The report.
step "writing the report"
elapsed=$(( $(date +%s) - started ))
parts=(--http "$out/http.json")
[ "$run_rt" = 1 ] && parts+=(--rt "$out/rt.md")
[ "$run_process" = 1 ] && parts+=(--process "$out/process.md")
python3 bench/assemble.py "${parts[@]}" \
  --command "bash bench/run.sh$given" --elapsed "$elapsed" \
  --kairos "$kairos_bin" > "$out/report.md"
if [ -z "$quick" ] && [ -z "$only" ] && [ -z "$scenario" ] && [ "$run_rt" = 1 ] \
  && [ "$run_process" = 1 ]; then
  python3 bench/assemble.py --splice BENCHMARKS.md "$out/report.md"
  step "done: BENCHMARKS.md updated (and $out/report.md)"
else
  step "done: $out/report.md"
fi
