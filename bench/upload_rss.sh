#!/usr/bin/env bash
# Issue 14: a 100 MB upload's peak memory in kairos serve. POST /upload reads the file as an
# UploadFile (in memory up to 1 MiB, spooled to a temporary file past it) and hashes it on a
# pool thread: the peak RSS (VmHWM) after the upload should stay near the idle one.
#   bash bench/upload_rss.sh [SIZE_MB]     (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb="${1:-100}"
cargo build --release -q -p kairos-cli
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
head -c "$((size_mb * 1000 * 1000))" /dev/urandom > "$work/upload.bin"
target/release/kairos serve --bind 127.0.0.1:0 --log-level warn --limit-body-size 0 \
  --database-url "sqlite://$work/db.sqlite?mode=rwc" > "$work/out" 2>&1 &
server=$!
until grep -q "listening on" "$work/out"; do sleep 0.1; done
addr="$(grep -o 'http://[0-9.:]*' "$work/out")"
curl -s "$addr/plaintext" > /dev/null
hwm() { awk '/VmHWM/ {print $2}' "/proc/$server/status"; }
idle="$(hwm)"
answer="$(curl -s -F "file=@$work/upload.bin" "$addr/upload")"
after="$(hwm)"
echo "upload of ${size_mb} MB: $answer"
echo "sha256 sent: $(sha256sum "$work/upload.bin" | cut -d' ' -f1)"
echo "peak RSS (VmHWM): idle ${idle} KiB, after the upload ${after} KiB (+$((after - idle)) KiB)"
