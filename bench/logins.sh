#!/usr/bin/env bash
# Issue 16's benchmark: 20, 100 and 500 concurrent logins, kairos serve against FastAPI with
# passlib/argon2, each both ways (the hash off the loop and on it), with a /plaintext probe
# during each storm; see bench/logins.py for the method.
#
#   bash bench/logins.sh [--kairos BIN] [--rounds 3] [--counts 20,100,500]
#
# --kairos: the kairos binary to measure (default: builds this tree's, release). Installs what
# is missing (taskset, python3-venv; the FastAPI peer's venv, bench/out/venv-logins), builds
# bench/peers' loginload (release), runs bench/logins.py: bench/out/logins.json and a markdown
# table on stdout. Needs 2 cores (server on core 0, loginload on core 1). About 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

kairos=""
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kairos) kairos="$2"; shift 2 ;;
    --rounds | --counts) pass+=("$1" "$2"); shift 2 ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
  esac
done

missing=()
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi
bash bench/peers/fastapi/logins_run.sh --install-only

if [ -z "$kairos" ]; then
  cargo build --release -q -p kairos-cli
  kairos=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kairos
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/bench/peers/target}"
cargo build --release -q --manifest-path bench/peers/Cargo.toml --bin loginload

# 500 clients and the server's 500 connections: raise the open-files limit for both.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p bench/out
python3 bench/logins.py --kairos "$kairos" --loginload "$CARGO_TARGET_DIR/release/loginload" \
  ${pass[@]+"${pass[@]}"}
