#!/usr/bin/env bash
# The rolling restart, measured: crates/cli/tests/deploy.rs run in release, longer than in
# the test suite — three instances of `kairos serve` behind nginx, then behind haproxy
# (deploy/'s configurations), each instance SIGTERMed and started again ROUNDS times under
# steady load from CLIENTS threads — printing one JSON line per proxy: requests, failed
# requests (the goal is 0), requests in flight at the SIGTERMs (all of which completed),
# and latency percentiles in steady state and during the restarts.
#
#   bash scripts/rolling_restart.sh            # 3 rounds (9 restarts) per proxy, ≈ 1 minute each
#   ROUNDS=5 CLIENTS=16 bash scripts/rolling_restart.sh
#   PROFILE=debug bash scripts/rolling_restart.sh   # the test build's binaries (no release build)
#
# Installs nginx and haproxy from Debian's packages when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
export KAIROS_ROLLING_ROUNDS="${ROUNDS:-3}"
export KAIROS_ROLLING_CLIENTS="${CLIENTS:-8}"
export KAIROS_ROLLING_STEADY_SECS="${STEADY_SECS:-5}"
export KAIROS_ROLLING_REPORT="$report"
profile=(--release)
[ "${PROFILE:-release}" = debug ] && profile=()
# One proxy at a time, so that the two runs do not share the machine's cores.
cargo test "${profile[@]}" -p kairos-cli --test deploy -- --test-threads 1
echo "== results (one line per proxy)"
cat "$report"
