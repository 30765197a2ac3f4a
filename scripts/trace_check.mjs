// Loads a Trace Event Format file with Chrome DevTools' own trace parser (the Performance
// panel's engine, published on npm as @paulirish/trace_engine) and prints what it found:
// processes, threads by name, slices. A trace it cannot parse throws.
//   node scripts/trace_check.mjs FILE   (scripts/trace_check.sh installs the engine)
import {analyzeTrace} from '@paulirish/trace_engine/analyze-trace.mjs';

const file = process.argv[2];
const {parsedTrace} = await analyzeTrace(file);
const renderer = (parsedTrace.data ?? parsedTrace).Renderer;
let slices = 0;
const threads = [];
for (const [pid, proc] of renderer.processes) {
  for (const [tid, thread] of proc.threads) {
    slices += thread.entries?.length ?? 0;
    threads.push(`${pid}/${tid} ${thread.name}`);
  }
}
if (slices === 0) throw new Error(`${file}: the engine found no slices`);
console.log(JSON.stringify({processes: renderer.processes.size, threads: threads.length, slices,
                            first_threads: threads.slice(0, 6)}, null, 1));
