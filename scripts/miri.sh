#!/usr/bin/env bash
# Runs kairos-rt's unsafe code under Miri: the task cell (`task/cell.rs`: spawn, wake from
# other threads, cancel, panics, drop order) and the stall detector's published spawn site
# (`stall.rs`). The tests chosen are the ones that drive those paths; tests that need real
# sockets, 100k tasks or 1M timers are skipped (Miri is ~100x slower than a native run).
#
# Usage: bash scripts/miri.sh    (installs nightly's miri component when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add --toolchain nightly miri rust-src
fi

# Isolation off: the loop reads the monotonic clock and the environment (KAIROS_* settings).
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"

echo "== Miri: the task cell (integration tests that spawn, wake, cancel and drop tasks)"
cargo +nightly miri test -p kairos-rt \
    --test tasks --test scheduling --test structured --test time \
    -- --skip hundred_thousand --skip socket --skip million

echo "== Miri: the stall detector's unsafe read (its unit tests)"
cargo +nightly miri test -p kairos-rt --lib -- stall
