#!/usr/bin/env bash
# The timeline renderer's cost in a browser: how long KairosTimeline takes to lay out (model)
# and to draw (render) traces of 5,000, 50,000 and 200,000 events, in headless Chromium
# pinned to one core. Rounds are interleaved by size; each line is one size's median of the
# rounds, in milliseconds.
#
#   bash bench/timeline.sh [ROUNDS]     (5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

{
  printf '<!doctype html><html><head><meta charset="utf-8"><style>'
  cat crates/cli/src/service/assets/timeline.css
  printf '</style></head><body><div id="t" style="width:1400px"></div><pre id="out"></pre><script>'
  cat crates/cli/src/service/assets/timeline.js
  cat <<EOF
</script><script>
// A loop of 40 tasks polled in turn over 5 s (one poll in 50 a stall), requests on each
// task, and a thread pool's jobs: the shape of a busy worker's window.
function trace(n) {
  const events = [
    {ph:'M', name:'process_name', pid:1, tid:0, args:{name:'kairos-worker-0'}},
    {ph:'M', name:'process_name', pid:2, tid:0, args:{name:"thread pool 'kairos-sync'"}}];
  const span = 5e6, polls = Math.round(n * 0.9), jobs = n - polls;
  for (let i = 0; i < polls; i++) {
    const tid = 1 + (i % 40), ts = (i / polls) * span;
    events.push({ph:'X', cat: i % 50 === 0 ? 'stall' : 'poll', name:'poll', pid:1, tid, ts,
                 dur: 2 + (i % 7), args:{task: tid, woken_by: ['io', 'timer', 'task'][i % 3]}});
    if (i % 400 === 0) {
      events.push({ph:'b', cat:'request', name:'GET /json', id:i, pid:1, tid, ts, args:{status:200}});
      events.push({ph:'e', cat:'request', name:'GET /json', id:i, pid:1, tid, ts: ts + 3000});
    }
  }
  for (let i = 0; i < jobs; i++) {
    events.push({ph:'X', cat:'job', name:'job', pid:2, tid: 100 + (i % 16), ts: (i / jobs) * span,
                 dur: 500, args:{queued_us: 5, label: 'GET /sync'}});
  }
  return {otherData:{start_us:0, end_us:span, dropped_events:0}, traceEvents: events};
}
const sizes = [5000, 50000, 200000], times = {};
for (const n of sizes) times[n] = {model: [], render: [], redraw: []};
const traces = Object.fromEntries(sizes.map((n) => [n, trace(n)]));
const box = document.getElementById('t');
for (let round = 0; round < ${rounds}; round++) {
  for (const n of sizes) {
    let t = performance.now();
    KairosTimeline.model(traces[n], {});
    times[n].model.push(performance.now() - t);
    t = performance.now();
    const view = KairosTimeline.render(box, traces[n], {});
    times[n].render.push(performance.now() - t);
    t = performance.now();
    view.redraw();
    times[n].redraw.push(performance.now() - t);
  }
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
document.getElementById('out').textContent = sizes.map((n) =>
  'events=' + traces[n].traceEvents.length + ' model_ms=' + median(times[n].model).toFixed(1) +
  ' render_ms=' + median(times[n].render).toFixed(1) +
  ' redraw_ms=' + median(times[n].redraw).toFixed(1)).join('\n');
</script></body></html>
EOF
} > "$work/bench.html"

taskset -c 1 chromium --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$work/profile" --virtual-time-budget=120000 --timeout=180000 \
  --dump-dom "file://$work/bench.html" 2>/dev/null |
  grep -o 'events=[0-9]* model_ms=[0-9.]* render_ms=[0-9.]* redraw_ms=[0-9.]*'
