#!/usr/bin/env bash
# Issue 15's benchmarks, side by side in one run: WebSocket echo (kairos serve, axum +
# tokio-tungstenite, FastAPI on uvicorn), h2load over h2c (kairos serve, hyper) and TLS
# handshakes (kairos serve, hyper + tokio-rustls). Installs what is missing (h2load from
# Debian's nghttp2-client, openssl, curl, taskset; the FastAPI venv when FastAPI is measured),
# builds kairos (unless `--only peers`) and the peers' binaries in release mode, then runs
# bench/protocols.py, which writes bench/out/protocols.json and prints the markdown tables.
#
#   bash bench/protocols.sh [--only peers|kairos|NAME,...] [--bench ws,h2c,tls]
#                           [--duration 5] [--rounds 3] [other options of bench/protocols.py]
#
# Needs 2 cores: every server runs on core 0 and its load generator on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The options this script itself looks at (all are passed on to protocols.py).
only=""
bench="ws,h2c,tls"
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --only=*) only="${1#--only=}"; shift ;;
    --bench) bench="$2"; shift 2 ;;
    --bench=*) bench="${1#--bench=}"; shift ;;
    -h | --help) sed -n '2,12p' "$0" >&2; exec python3 bench/protocols.py --help ;;
    *) shift ;;
  esac
done
if [ "$(nproc)" -lt 2 ]; then
  echo "bench/protocols.sh needs 2 cores (server on one, load generator on the other); this machine has $(nproc)" >&2
  exit 1
fi

missing=()
case ",$bench," in *,h2c,*) command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client) ;; esac
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi

# FastAPI is in the WebSocket benchmark only; its venv is made before anything is timed.
fastapi=1
case ",$bench," in *,ws,*) ;; *) fastapi=0 ;; esac
case "$only" in "" | peers | FastAPI* | *,FastAPI*) ;; *) fastapi=0 ;; esac
[ "$fastapi" = 1 ] && bash bench/peers/fastapi/run.sh --install-only

kairos_flag=()
case "$only" in
  peers) ;;  # the peers alone: kairos is neither built nor started
  *)
    cargo build --release -q -p kairos-cli
    kairos_bin=$(cargo metadata --format-version 1 --no-deps \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kairos
    kairos_flag=(--kairos "$kairos_bin")
    ;;
esac
export CARGO_TARGET_DIR="$PWD/bench/peers/target"
cargo build --release -q --manifest-path bench/peers/Cargo.toml \
  --bin peer_protocols --bin wsload --bin tlsload --bin peer_kairos_http
mkdir -p bench/out
python3 bench/protocols.py --bin-dir "$CARGO_TARGET_DIR/release" "${kairos_flag[@]}" "${args[@]}"
