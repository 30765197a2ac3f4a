// The dashboard's script: the chapter's experiments, each run from a button, with its answers,
// the times measured, what the chapter predicts and the timeline of exactly that run; then
// the live panels — /stream's events as a list, /ws/ticks and an echo box on /ws/echo — and
// the upload form, sent with fetch so that its JSON answer shows under it (without script,
// the form posts and the browser shows the JSON).
//
// A run's timeline: the trace clock's "now" (`end_us` of /debug/trace) is read just before the
// run starts, and once it ends `/debug/trace?since_us=<that>` returns what every loop did
// meanwhile, which KairosTimeline (/assets/timeline.js) draws.
//
// A browser opens at most six HTTP/1.1 connections to one host, and /stream holds one: an
// experiment here never has more than four requests in flight. Where the chapter needs a
// hundred at once (the sync pool's waves) the server sends them to itself (/fanout).
(function () {
  'use strict';

  // Every path of the app ('/sequential', '/debug/trace') is resolved against the page's
  // <base>, which carries the root path behind a proxy that serves the app under a prefix.
  const here = (path) => new URL(path.replace(/^\//, ''), document.baseURI).href;

  const scaleSelect = document.getElementById('scale');
  const list = document.getElementById('experiment-list');

  // ---------------------------------------------------------------- measuring a request
  // One request: its status, its JSON (or text), how long it took as the browser saw it.
  async function timed(path) {
    const started = performance.now();
    const response = await fetch(here(path), { cache: 'no-store' });
    const text = await response.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch (_) {
      // Not JSON: shown as text.
    }
    return { path, status: response.status, body, ms: performance.now() - started, startedAt: started };
  }

  // Fires `path` again and again, one at a time, until `done()`: the latency of a request
  // that wants almost nothing from the loop shows whether the loop is free.
  async function ticker(path, done) {
    const samples = [];
    while (!done()) {
      const r = await timed(path);
      samples.push(r.ms);
    }
    return { path, n: samples.length, worstMs: samples.length ? Math.max(...samples) : 0 };
  }

  // `work()`, with a ticker of `tickerPath` running alongside until it ends.
  async function during(work, tickerPath) {
    let finished = false;
    const tick = ticker(tickerPath, () => finished);
    try {
      const result = await work();
      finished = true;
      return { result, tick: await tick };
    } finally {
      finished = true;
    }
  }

  function secs(ms) {
    return (ms / 1000).toFixed(2) + ' s';
  }

  // ---------------------------------------------------------------- the trace of a run
  // The trace clock now: `{ now }`, or `{ why }` when the server records nothing (it says
  // why: started without --record-events, or built without the recorder) — the experiment
  // still runs, without its timeline.
  async function traceNow() {
    let response;
    try {
      response = await fetch(here('/debug/trace?seconds=0.1'), { cache: 'no-store' });
    } catch (error) {
      return { why: 'cannot reach /debug/trace: ' + error.message };
    }
    if (!response.ok) return { why: await explain(response) };
    const trace = await response.json();
    const now = trace.otherData && trace.otherData.end_us;
    return now == null ? { why: '/debug/trace gave no otherData.end_us' } : { now };
  }

  // What an error answer says: FastAPI's `detail`, or its status.
  async function explain(response) {
    if (response.status === 404) return 'this server has no /debug/trace (it was built without the loop recorder)';
    const text = await response.text();
    try {
      const detail = JSON.parse(text).detail;
      if (typeof detail === 'string') return '/debug/trace: ' + detail;
    } catch (_) {
      // Not JSON: the status says enough.
    }
    return '/debug/trace answered ' + response.status;
  }

  async function traceSince(from) {
    const response = await fetch(here('/debug/trace?since_us=' + from), { cache: 'no-store' });
    if (!response.ok) throw new Error(await explain(response));
    return response.json();
  }

  // ---------------------------------------------------------------- the experiments
  // Each: an id, its title and section, what the chapter predicts, and `run(scale)`, which
  // returns { requests: [timed...], summary: "measured ...", extra: {...} }.
  const experiments = [
    {
      id: 'sequential',
      section: '2.1',
      title: 'Sequential vs concurrent',
      predicts: (s) =>
        `/sequential awaits A (1 s) then B (2 s): ≈ ${(3 * s).toFixed(1)} s. /concurrent starts both as tasks ` +
        `first, so it takes the longest, ≈ ${(2 * s).toFixed(1)} s. In the timeline the two request bars start ` +
        'together and /concurrent\'s ends a step sooner; its tasks A and B get lanes of their own.',
      async run(s) {
        const requests = await Promise.all([timed(`/sequential?scale=${s}`), timed(`/concurrent?scale=${s}`)]);
        return {
          requests,
          summary: `/sequential ${secs(requests[0].ms)}, /concurrent ${secs(requests[1].ms)}`,
        };
      },
    },
    {
      id: 'gather',
      section: '2.2, 2.3',
      title: 'gather, and what a failure cancels',
      predicts: (s) =>
        `gather(A 1 s, B 2 s, C 1.5 s) takes the longest step, ≈ ${(2 * s).toFixed(1)} s, not the sum. ` +
        'With A failing and return_exceptions=true, A\'s slot holds its error and the others finish. ' +
        `Without it the request fails with 500 at A's failure (≈ ${s.toFixed(1)} s) and B and C are ` +
        'cancelled: its bar ends first, with no polls for B and C after it.',
      async run(s) {
        const requests = await Promise.all([
          timed(`/gather?scale=${s}`),
          timed(`/gather?scale=${s}&fail=A&return_exceptions=true`),
          timed(`/gather?scale=${s}&fail=A&return_exceptions=false`),
        ]);
        return {
          requests,
          summary: requests.map((r) => `${r.status} in ${secs(r.ms)}`).join(', '),
        };
      },
    },
    {
      id: 'wait-for',
      section: '2.3',
      title: 'wait_for gives up and cancels',
      predicts: (s) =>
        `A task of ${Math.round(3000 * s)} ms under wait_for(timeout=${Math.round(1000 * s)} ms): the answer ` +
        'comes at the timeout, "cancelled": true — the task was dropped where it waited, its cleanup ran.',
      async run(s) {
        const r = await timed(`/wait_for?work_ms=${Math.round(3000 * s)}&timeout_ms=${Math.round(1000 * s)}`);
        return { requests: [r], summary: `${r.body.status}, cancelled ${r.body.cancelled}, after ${secs(r.ms)}` };
      },
    },
    {
      id: 'bad-good',
      section: '3.1, 5.2',
      title: '/bad blocks the loop, /good does not',
      predicts: (s) => {
        const ms = blockMs(s);
        return `Three /bad?ms=${ms} at once run one after another (≥ ${secs(3 * ms)}): time.sleep inside async ` +
          'def holds the whole loop, each is a red stall, and a ticker of /async?ms=20 waits each one out. ' +
          `Three /good?ms=${ms} (the same sleep through to_thread) overlap, ≈ ${secs(ms)}: the sleeps are ` +
          'jobs on pool threads, and the ticker keeps ticking.';
      },
      async run(s) {
        const ms = blockMs(s);
        const three = (route) => () => Promise.all([0, 1, 2].map(() => timed(`/${route}?ms=${ms}`)));
        const bad = await during(three('bad'), '/async?ms=20');
        const good = await during(three('good'), '/async?ms=20');
        const wall = (rs) => Math.max(...rs.map((r) => r.ms));
        return {
          requests: bad.result.concat(good.result),
          summary: `3 × /bad ${secs(wall(bad.result))} (ticker worst ${Math.round(bad.tick.worstMs)} ms); ` +
            `3 × /good ${secs(wall(good.result))} (ticker worst ${Math.round(good.tick.worstMs)} ms)`,
        };
      },
    },
    {
      id: 'sync-waves',
      section: '4.1',
      title: "The sync pool's waves",
      predicts: (s) => {
        const ms = waveMs(s);
        return `A def route runs on the sync pool, 40 tokens per worker (anyio's; --sync-pool): 100 /sync?ms=${ms} ` +
          `at once finish in waves of 40 — 40, 40, 20 — ≈ ${secs(3 * ms)}, and the timeline shows 40 pool ` +
          `threads working together, three times. 100 /async?ms=${ms} all wait on the loop at once: one wave, ≈ ${secs(ms)}. ` +
          '(The server sends the hundred requests to itself through /fanout: a browser opens six at a time.)';
      },
      async run(s) {
        const ms = waveMs(s);
        const sync = await timed(`/fanout?route=sync&n=100&ms=${ms}`);
        const async_ = await timed(`/fanout?route=async&n=100&ms=${ms}`);
        const waves = (r) => (r.body && r.body.each_s ? countWaves(r.body.each_s, ms / 1000) : '?');
        const threads = sync.body && sync.body.threads ? Object.keys(sync.body.threads).length : '?';
        return {
          requests: [sync, async_],
          summary: `100 × /sync: ${secs(sync.ms)}, ${waves(sync)} waves on ${threads} threads; ` +
            `100 × /async: ${secs(async_.ms)}, ${waves(async_)} wave(s)`,
        };
      },
    },
    {
      id: 'cpu',
      section: '6.2',
      title: 'CPU work: the process pool vs the loop',
      predicts: () =>
        'Two /cpu?pool=process jobs at once run in two worker processes, in parallel, and the loop stays ' +
        'free (a ticker of /plaintext keeps answering). The same job with pool=inline runs on the loop: ' +
        'one long red stall, and the ticker waits the whole job.',
      async run(s) {
        // n for a job of about 300 ms × scale on this machine, from a small one timed first.
        const probe = await timed('/cpu?n=2000000&pool=inline');
        const perTerm = Math.max(probe.body.elapsed_s, 1e-4) / 2e6;
        const n = Math.min(5e9, Math.max(1e5, Math.round((0.6 * s) / perTerm)));
        await timed('/cpu?n=1&pool=process'); // starts the worker processes, outside the timing
        const two = await during(() => Promise.all([0, 1].map(() => timed(`/cpu?n=${n}&pool=process`))), '/plaintext');
        const inline = await during(() => timed(`/cpu?n=${n}&pool=inline`), '/plaintext');
        return {
          requests: two.result.concat([inline.result]),
          summary: `2 × process: ${secs(Math.max(...two.result.map((r) => r.ms)))}, ticker worst ` +
            `${Math.round(two.tick.worstMs)} ms; inline: ${secs(inline.result.ms)}, ticker worst ${Math.round(inline.tick.worstMs)} ms`,
        };
      },
    },
  ];

  // /bad's and /good's sleep: long enough to be a stall at the default 100 ms threshold.
  function blockMs(s) {
    return Math.max(150, Math.round(600 * s));
  }

  function waveMs(s) {
    return Math.max(100, Math.round(600 * s));
  }

  // Requests that finished within a third of a sleep of each other belong to one wave.
  function countWaves(each, sleepS) {
    let waves = 0;
    let last = -Infinity;
    for (const t of each) {
      if (t - last > sleepS / 3) waves += 1;
      last = t;
    }
    return waves;
  }

  // ---------------------------------------------------------------- the cards
  function card(experiment) {
    const article = document.createElement('article');
    article.className = 'experiment';
    article.id = 'exp-' + experiment.id;
    article.innerHTML =
      `<div class="experiment-head"><h3><span class="section">${experiment.section}</span> ${experiment.title}</h3>` +
      '<button type="button" class="run">Run</button><span class="state"></span></div>' +
      '<p class="predicts"></p>' +
      '<div class="outcome" hidden><p class="measured"></p><table class="answers"></table>' +
      '<details><summary>the answers, as JSON</summary><pre class="json"></pre></details></div>' +
      '<div class="timeline"></div>';
    const predicts = article.querySelector('.predicts');
    const showPrediction = () => {
      predicts.innerHTML = '<b>The chapter predicts:</b> ' + escapeHtml(experiment.predicts(scale()));
    };
    showPrediction();
    scaleSelect.addEventListener('change', showPrediction);
    article.querySelector('.run').addEventListener('click', () => run(experiment, article));
    return article;
  }

  function scale() {
    return Number(scaleSelect.value);
  }

  async function run(experiment, article) {
    const button = article.querySelector('.run');
    const state = article.querySelector('.state');
    const outcome = article.querySelector('.outcome');
    const timeline = article.querySelector('.timeline');
    button.disabled = true;
    article.dataset.state = 'running';
    state.textContent = 'running…';
    timeline.textContent = '';
    try {
      const clock = await traceNow();
      const result = await experiment.run(scale());
      outcome.hidden = false;
      article.querySelector('.measured').innerHTML = '<b>Measured:</b> ' + escapeHtml(result.summary);
      article.querySelector('.answers').innerHTML =
        '<tr><th>request</th><th>status</th><th>took</th><th>answer</th></tr>' +
        result.requests.map((r) =>
          `<tr><td><a href="${escapeHtml(r.path)}">${escapeHtml(r.path)}</a></td><td>${r.status}</td>` +
          `<td>${secs(r.ms)}</td><td><code>${escapeHtml(brief(r.body))}</code></td></tr>`).join('');
      article.querySelector('.json').textContent = JSON.stringify(
        result.requests.map((r) => ({ request: r.path, status: r.status, ms: Math.round(r.ms), answer: r.body })),
        null, 2);
      state.textContent = 'done';
      if (clock.why) {
        timeline.innerHTML = '<p class="kt-empty">No timeline: ' + escapeHtml(clock.why) + '</p>';
      } else {
        state.textContent = 'done; reading the trace…';
        const trace = await traceSince(clock.now);
        article.view = KairosTimeline.render(timeline, trace, {
          from: clock.now, to: trace.otherData && trace.otherData.end_us,
        });
        state.textContent = 'done';
      }
      article.dataset.state = 'done';
    } catch (error) {
      state.textContent = 'failed: ' + error.message;
      article.dataset.state = 'failed';
    } finally {
      button.disabled = false;
    }
  }

  function brief(body) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return text.length > 140 ? text.slice(0, 140) + '…' : text;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  }

  for (const experiment of experiments) list.append(card(experiment));

  // ---------------------------------------------------------------- /stream, as a list
  const live = document.getElementById('live');
  let source = null;
  function stream() {
    if (source) source.close();
    live.innerHTML = '';
    source = new EventSource(here('/stream?n=100&interval_ms=100'));
    source.onmessage = (event) => {
      const item = document.createElement('li');
      item.textContent = 'data: ' + event.data + '  (' + new Date().toLocaleTimeString() + ')';
      live.append(item);
      // The newest in view; the list keeps the last 200.
      while (live.children.length > 200) live.firstChild.remove();
      live.scrollTop = live.scrollHeight;
    };
    // The stream ends after its 100th event; EventSource would reconnect: close instead.
    source.onerror = () => source.close();
  }
  document.getElementById('live-again').addEventListener('click', stream);
  stream();

  // ---------------------------------------------------------------- WebSockets
  // On this page's own host (wss: when the page came over https:).
  // On this page's own host and base (wss: when the page came over https:).
  const wsBase = new URL('.', document.baseURI).href.replace(/^http/, 'ws').replace(/\/$/, '');

  const wsTicks = document.getElementById('ws-ticks');
  const ticks = new WebSocket(wsBase + '/ws/ticks?n=100&interval_ms=100');
  let received = 0;
  wsTicks.textContent = 'connecting...';
  ticks.onmessage = (event) => {
    received += 1;
    wsTicks.textContent = 'tick ' + event.data + ' (' + received + ' received)';
  };
  ticks.onclose = (event) => {
    wsTicks.textContent += '\nclosed: ' + event.code + (event.reason ? ' ' + event.reason : '');
  };

  const echoForm = document.getElementById('echo');
  const echoText = document.getElementById('echo-text');
  const echoResult = document.getElementById('echo-result');
  const echo = new WebSocket(wsBase + '/ws/echo');
  const echoes = [];
  echoResult.textContent = 'connecting...';
  echo.onopen = () => {
    echoResult.textContent = 'connected: type and send';
  };
  echo.onmessage = (event) => {
    echoes.push('echo: ' + event.data);
    echoResult.textContent = echoes.slice(-4).join('\n');
  };
  echo.onclose = (event) => {
    echoResult.textContent += '\nclosed: ' + event.code;
  };
  echoForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (echo.readyState === WebSocket.OPEN) {
      echo.send(echoText.value);
    }
  });

  // ---------------------------------------------------------------- upload
  const form = document.getElementById('upload');
  const result = document.getElementById('upload-result');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.textContent = 'uploading...';
    try {
      const response = await fetch(form.action, { method: 'POST', body: new FormData(form) });
      const answer = await response.json();
      result.textContent = response.status + ' ' + JSON.stringify(answer, null, 2);
    } catch (error) {
      result.textContent = 'failed: ' + error;
    }
  });
})();
