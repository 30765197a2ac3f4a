#!/usr/bin/env bash
# The robustness corpus against kairos serve and, for comparison, its peers: the hand cases
# (cases.py), defparam's smuggler (exhaustive), slowhttptest (slowloris, slow read) and the
# HTTP Garden's mutator (garden.py). Everything runs on 127.0.0.1, bounded in count and time.
#
#   bench/robustness/run.sh [--expect strict|lenient] [--kairos-args "ARGS"] [--no-peers]
#                           [--no-slow] [--smuggler DIR] [--garden DIR] [--report-only]
#
#   --expect          the hand cases' expectations for kairos (default strict); the peers are
#                     always run report-only against the strict expectations
#   --kairos-args     more flags for `kairos serve` (e.g. the lenient-mode flag)
#   --no-peers        kairos only (no uvicorn venv, no peer build)
#   --no-slow         skip slowhttptest (about 2 x 25 s per server)
#   --smuggler DIR    a copy of github.com/defparam/smuggler (or $SMUGGLER_DIR); skipped
#                     with a message when absent: it is not vendored, and CI cannot fetch it
#   --garden DIR      a copy of github.com/narfindustries/http-garden (or $HTTP_GARDEN_DIR);
#                     only its tools/mutations.py and tools/http1.py are used; skipped when absent
#   --report-only     exit 0 whatever the findings
#
# Installs what is missing: slowhttptest (Debian package), the FastAPI peer's venv (through
# bench/peers/fastapi/run.sh, as bench/run.sh does). Builds kairos (target/release/kairos) and
# the hyper peer (bench/peers/target). Writes bench/out/robustness/report.md and prints it.
# Exits 1 if kairos fails a hand case, shows a smuggling signal (hand cases, smuggler, garden),
# or stops answering after the slow-client attacks.
set -euo pipefail
cd "$(dirname "$0")/../.."

expect=strict
kairos_args=""
peers=1
slow=1
smuggler="${SMUGGLER_DIR:-}"
garden="${HTTP_GARDEN_DIR:-}"
report_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --expect) expect="$2"; shift 2 ;;
    --kairos-args) kairos_args="$2"; shift 2 ;;
    --no-peers) peers=0; shift ;;
    --no-slow) slow=0; shift ;;
    --smuggler) smuggler="$2"; shift 2 ;;
    --garden) garden="$2"; shift 2 ;;
    --report-only) report_only=1; shift ;;
    *) sed -n '2,25p' "$0" >&2; exit 2 ;;
  esac
done

started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started )) s)" >&2; }
out=bench/out/robustness
mkdir -p "$out"
report="$out/report.md"
: > "$report"
say() { printf '%s\n' "$*" | tee -a "$report"; }
status=0
fail() { echo "!! $*" >&2; status=1; }

# 1. What the run needs from outside the repository.
step "installing what is missing"
missing=()
[ "$slow" = 1 ] && ! command -v slowhttptest >/dev/null 2>&1 && missing+=(slowhttptest)
[ "$peers" = 1 ] && ! python3 -c 'import ensurepip' 2>/dev/null && missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
    >/dev/null || echo "could not install ${missing[*]}; the parts that need them are skipped" >&2
fi
if [ "$peers" = 1 ]; then
  bash bench/peers/fastapi/run.sh --install-only
fi

# 2. Builds.
step "building kairos${peers:+ and the hyper peer}"
cargo build --release -q -p kairos-cli
kairos_bin=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kairos
if [ "$peers" = 1 ]; then
  CARGO_TARGET_DIR="$PWD/bench/peers/target" cargo build --release -q \
    --manifest-path bench/peers/Cargo.toml --bin peer_hyper
fi

# 3. The servers, each on a free loopback port.
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {  # PORT PID: until the port answers a GET (uvicorn's first start is slow)
  for _ in $(seq 1 300); do
    if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.settimeout(2)
    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert s.recv(12).startswith(b"HTTP/1.1 200")
EOF
    kill -0 "$2" 2>/dev/null || { echo "server (pid $2) exited" >&2; return 1; }
    sleep 0.2
  done
  return 1
}

names=()
declare -A port_of
step "starting kairos serve"
# shellcheck disable=SC2086  # kairos_args is a list of flags
"$kairos_bin" serve --bind 127.0.0.1:0 --log-level error $kairos_args > "$out/kairos.stdout" 2>"$out/kairos.stderr" &
pids+=($!)
kpid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on' "$out/kairos.stdout" 2>/dev/null && break
  sleep 0.1
done
port_of[kairos]=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/kairos.stdout")
[ -n "${port_of[kairos]}" ] || { cat "$out/kairos.stderr" >&2; echo "kairos serve did not start" >&2; exit 1; }
wait_port "${port_of[kairos]}" "$kpid"
names+=(kairos)
if [ "$peers" = 1 ]; then
  step "starting the peers"
  p=$(free_port)
  bench/peers/target/release/peer_hyper "$p" > "$out/hyper.log" 2>&1 &
  pids+=($!)
  if wait_port "$p" "$!"; then port_of[hyper]=$p; names+=(hyper); fi
  p=$(free_port)
  bash bench/peers/fastapi/run.sh "$p" > "$out/uvicorn.log" 2>&1 &
  pids+=($!)
  if wait_port "$p" "$!"; then port_of[uvicorn]=$p; names+=(uvicorn); fi
fi
say "# Robustness corpus, $(date -u +%Y-%m-%d) on $(git rev-parse --short HEAD)"
say ""
say "Servers: $(for n in "${names[@]}"; do printf '%s on 127.0.0.1:%s; ' "$n" "${port_of[$n]}"; done)"
say "kairos serve flags: ${kairos_args:-(defaults)}"
say ""

# 4. The hand cases.
step "hand cases"
for n in "${names[@]}"; do
  if [ "$n" = kairos ]; then
    python3 bench/robustness/cases.py "127.0.0.1:${port_of[$n]}" --expect "$expect" \
      --title "kairos serve" > "$out/cases-$n.md" || fail "kairos: hand cases differ from $expect"
  else
    python3 bench/robustness/cases.py "127.0.0.1:${port_of[$n]}" --report-only \
      --title "$n (report only)" > "$out/cases-$n.md"
  fi
  grep -q 'smuggling signals: ' "$out/cases-$n.md" && [ "$n" = kairos ] \
    && fail "kairos: smuggling signal in the hand cases"
  cat "$out/cases-$n.md" >> "$report"
  echo >> "$report"
  echo "$n: $(grep -E '^[0-9]+ passed' "$out/cases-$n.md")" >&2
done

# 5. smuggler, exhaustive, 2 s socket timeout, at most 10 minutes per server.
say "## smuggler (exhaustive)"
say ""
if [ -n "$smuggler" ] && [ -f "$smuggler/smuggler.py" ]; then
  say "| server | mutations | OK | potential desync | timeouts on both lengths | disconnected | socket errors | time |"
  say "|---|---|---|---|---|---|---|---|"
  for n in "${names[@]}"; do
    step "smuggler against $n"
    log="$PWD/$out/smuggler-$n.log"
    rm -f "$log"
    t0=$(date +%s)
    (cd "$smuggler" && timeout 600 python3 smuggler.py -u "http://127.0.0.1:${port_of[$n]}/plaintext" \
      -c exhaustive.py -t 2 --no-color -l "$log" > /dev/null 2>&1) || true
    t=$(( $(date +%s) - t0 ))
    c() { grep -c "$1" "$log" 2>/dev/null || true; }
    total=$(grep -cE '^\[[^]]+\] *: (OK|Potential|CLTE|TECL|DISCONNECTED|SOCKET)' "$log" 2>/dev/null || true)
    critical=$(c 'Potential')
    say "| $n | $total | $(c ': OK') | $critical | $(c 'TIMEOUT ON BOTH') | $(c 'DISCONNECTED') | $(c 'SOCKET ERROR') | ${t} s |"
    [ "$n" = kairos ] && [ "$critical" != 0 ] && fail "kairos: smuggler found a potential desync"
  done
  say ""
  say "Logs: $out/smuggler-*.log (one line per mutation)."
else
  say "skipped: no smuggler copy (pass --smuggler DIR or set SMUGGLER_DIR)"
fi
say ""

# 6. slowhttptest: slowloris and slow read, 200 connections for 20 s each, then a plain GET.
say "## slowhttptest (200 connections, 20 s each)"
say ""
probe() {  # PORT: seconds a plain GET takes, or "no answer"
  python3 - "$1" <<'EOF'
import socket, sys, time
t = time.monotonic()
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
        s.settimeout(3)
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        ok = s.recv(12).startswith(b"HTTP/1.1 200")
    print(f"{time.monotonic() - t:.3f} s" if ok else "no answer")
except OSError:
    print("no answer")
EOF
}
if [ "$slow" = 1 ] && command -v slowhttptest >/dev/null 2>&1; then
  ulimit -n 4096 2>/dev/null || true
  say "| server | attack | how the test ended | service available throughout | plain GET after |"
  say "|---|---|---|---|---|"
  for n in "${names[@]}"; do
    for attack in slowloris slowread; do
      step "slowhttptest $attack against $n"
      url="http://127.0.0.1:${port_of[$n]}/plaintext"
      if [ "$attack" = slowloris ]; then
        flags=(-H -i 10 -t GET)
      else
        flags=(-X -w 512 -y 1024 -n 5 -z 32 -k 3)
      fi
      log="$out/slow-$attack-$n.log"
      timeout 60 slowhttptest -c 200 -r 100 -l 20 -p 2 "${flags[@]}" -u "$url" \
        2>&1 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' > "$log" || true
      # "No open connections left": the server closed them all (kairos' header timeout);
      # "Hit test time limit": it held them for the whole test.
      ended=$(grep -E '^(Test ended|Exit status)' "$log" | tr '\n' ' ' | sed 's/ *$//')
      if grep -q 'service available: *NO' "$log"; then avail=NO; else avail=yes; fi
      after=$(probe "${port_of[$n]}")
      say "| $n | $attack | ${ended:-?} | $avail | $after |"
      if [ "$n" = kairos ] && { [ "$avail" = NO ] || [ "$after" = "no answer" ]; }; then
        fail "kairos: unavailable during or after $attack"
      fi
    done
  done
else
  say "skipped (--no-slow, or slowhttptest could not be installed)"
fi
say ""

kill -0 "$kpid" 2>/dev/null || fail "kairos serve exited before the HTTP Garden part"

# 7. The HTTP Garden's mutator.
say "## HTTP Garden mutator"
say ""
if [ -n "$garden" ] && [ -f "$garden/tools/mutations.py" ]; then
  step "HTTP Garden mutator"
  targets=()
  for n in "${names[@]}"; do targets+=("$n=127.0.0.1:${port_of[$n]}"); done
  python3 bench/robustness/garden.py "$garden" "${targets[@]}" --count 500 \
    > "$out/garden.md" || fail "garden: a smuggling signal, or a server stopped answering"
  cat "$out/garden.md" >> "$report"
  cat "$out/garden.md"
  grep -q '^| kairos |.*| 0 | 0 | yes |$' "$out/garden.md" || fail "kairos: garden signal"
else
  say "skipped: no HTTP Garden copy (pass --garden DIR or set HTTP_GARDEN_DIR)"
fi

step "done: $report"
if [ "$report_only" = 1 ]; then exit 0; fi
exit "$status"
