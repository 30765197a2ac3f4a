#!/usr/bin/env bash
# Issue 17's benchmarks: what the loop's recording costs.
#   bash bench/record.sh [--duration 5] [--rounds 3]
# 1. the runtime benchmarks with the recording on and off (bench/rt_bench.sh runs the
#    kairos-record variant beside the others; its table has a "recording overhead" column);
# 2. kairos serve's GET /plaintext and /json, CPU per request, recording on and off
#    (bench/record.py). Installs wrk when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
mkdir -p bench/out
cargo build --release -q -p kairos-cli
python3 bench/record.py --kairos target/release/kairos "$@"
