#!/usr/bin/env bash
# HTTP servers side by side: kairos-web, kairos-http, hyper on tokio (current thread), axum.
#
#   bench/http_bench.sh [--quick] [--rounds N] [--duration SECONDS]
#
# Installs wrk (Debian package) if missing, builds the peers (bench/peers) in release mode,
# then runs every server pinned to core 0 with wrk pinned to core 1, interleaved (A B C,
# C B A, ...), and prints a markdown table of medians: req/s, p50/p99 latency and the
# server's CPU time per request (from /proc: one wrk thread on one core is often the
# bottleneck, and CPU per request separates servers where req/s cannot).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "needs 2 cores (server on one, load generator on the other)" >&2
  exit 1
fi

export CARGO_TARGET_DIR="$PWD/bench/peers/target"
cargo build --release -q --manifest-path bench/peers/Cargo.toml
exec python3 bench/http_bench.py --bin-dir "$CARGO_TARGET_DIR/release" "$@"
