#!/usr/bin/env bash
# Checks a trace from `kairos serve --trace FILE` (or /debug/trace) with a parser nobody here
# wrote: Chrome DevTools' trace engine, from npm, installed under target/ on first use.
#   bash scripts/trace_check.sh FILE
set -euo pipefail
cd "$(dirname "$0")/.."
file="$(realpath "$1")"
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
dir=target/trace-engine
if [ ! -d "$dir/node_modules/@paulirish/trace_engine" ]; then
  mkdir -p "$dir"
  npm install --silent --prefix "$dir" @paulirish/trace_engine@0.0.65 >/dev/null
fi
cp scripts/trace_check.mjs "$dir/check.mjs"
node "$dir/check.mjs" "$file"
