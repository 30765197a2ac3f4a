#!/usr/bin/env bash
# Issue 14's benchmarks, kairos-web against axum with the same tower-http layers: builds the
# peers (bench/peers, release) and runs bench/middleware.py. Installs wrk when missing.
#   bash bench/middleware.sh [--duration 5] [--rounds 3]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
mkdir -p bench/out
export CARGO_TARGET_DIR="$PWD/bench/peers/target"
cargo build --release -q --manifest-path bench/peers/Cargo.toml --bin peer_middleware
python3 bench/middleware.py --bin-dir "$CARGO_TARGET_DIR/release" "$@"
