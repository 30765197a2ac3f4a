// KairosTimeline: draws what the loops did, from the trace `/debug/trace` exports (Chrome's
// Trace Event Format, its JSON object form), on one canvas.
//
// One renderer for every page: the index's experiments, the live `/debug/timeline` and the
// tour's self-contained HTML file, which inlines this file as it is. So it is plain JS with no
// imports and no build step, and it defines one global, `KairosTimeline`:
//
//   KairosTimeline.model(trace, options)            -> what would be drawn (lanes, stalls...)
//   KairosTimeline.render(container, trace, options) -> a view: { model, update(trace), redraw(), summary() }
//
// The picture, top to bottom: per loop (a "worker N" process in the trace), a group with one
// lane per task that did something in the window — the requests it served as bars labelled
// with route and status, its polls as thin slices (red: a stall) — then the loop's own work
// (tid 0: I/O dispatch, timers, callbacks); below the loops, one lane per pool thread or pool
// process with its jobs. Wake arrows go from the slice that woke a task to the poll it woke.
//
// Why a canvas and coalescing: a few seconds of a busy server are tens of thousands of polls,
// most narrower than a pixel. Each lane's slices are sorted once; a redraw walks only the
// visible ones and merges every run that lands in the same pixels into one rectangle, so the
// cost is the events in view, not one DOM node or one fill per event.
(function (root) {
  'use strict';

  const TASK_LANE = 20; // a task's lane: request bars with their label, polls along the bottom
  const ROW = 16; // one more row of a lane whose requests overlap (HTTP/2 streams of one task)
  const LOOP_LANE = 14;
  const POOL_LANE = 16;
  const GROUP_HEAD = 20;
  const AXIS = 24;
  const GUTTER = 190;
  const COMPACT_LANE = 12; // a task's lane when a loop has many
  const PACK_ABOVE = 24; // tasks of a loop before those that never overlap share lanes
  const COMPACT_ABOVE = 30; // task lanes of a loop before they are drawn compact
  const MAX_TASK_LANES = 60; // per loop; the rest share one "other tasks" lane
  const MAX_ARROWS = 150; // above this, arrows are drawn only for the hovered slice

  // Polls coloured by what woke the task: the chapter's vocabulary of why a task runs again.
  const WOKEN_COLOURS = {
    timer: '#3b7dd8', // a sleep or timeout ended
    io: '#2e9e6a', // a socket became ready
    remote: '#8e5bd0', // another thread (a pool job finished, call_soon)
    spawn: '#1a9aa8', // first poll of a new task
    task: '#d08a2e', // another task on the loop (a lock, an event, a joined task)
    start: '#7a8396', // the loop started it
  };
  const COLOURS = {
    poll: '#5b6b85',
    stall: '#d62f2f',
    loop: '#9aa3b2',
    job: '#d9a21b',
    request: '#dce7fb',
    requestEdge: '#7ea2e6',
    requestError: '#fbdcdc',
    requestErrorEdge: '#e07b7b',
    text: '#1d2330',
    muted: '#5b6475',
    grid: '#eceef3',
    head: '#f3f5f9',
    arrow: 'rgba(36, 87, 197, 0.4)',
    arrowHot: '#2457c5',
  };

  function processKind(name) {
    if (/^thread pool/i.test(name)) return 'threads';
    if (/^process pool/i.test(name)) return 'processes';
    return 'loop';
  }

  function kindOrder(kind) {
    return kind === 'loop' ? 0 : kind === 'threads' ? 1 : 2;
  }

  // "worker 10" after "worker 9": names compared with their numbers as numbers.
  function naturalCompare(a, b) {
    return a.localeCompare(b, undefined, { numeric: true });
  }

  // The model: every event placed in a lane, lanes in groups, in drawing order. Pure (no DOM),
  // so a test can check what the renderer computed from a fixture.
  function model(trace, options) {
    options = options || {};
    const events = (trace && trace.traceEvents) || [];
    const other = (trace && trace.otherData) || {};
    const processNames = new Map();
    const threadNames = new Map();
    let minTs = Infinity;
    let maxTs = -Infinity;
    for (const e of events) {
      if (e.ph === 'M') {
        const name = e.args && e.args.name;
        if (e.name === 'process_name') processNames.set(e.pid, String(name));
        else if (e.name === 'thread_name') threadNames.set(e.pid + ':' + e.tid, String(name));
      } else if (typeof e.ts === 'number') {
        minTs = Math.min(minTs, e.ts);
        maxTs = Math.max(maxTs, e.ts + (e.dur || 0));
      }
    }
    let start = options.from != null ? options.from : other.start_us;
    let end = options.to != null ? options.to : other.end_us;
    if (start == null) start = minTs === Infinity ? 0 : minTs;
    if (end == null) end = maxTs === -Infinity ? start + 1 : maxTs;
    if (!(end > start)) end = start + 1;

    const groups = new Map(); // pid -> group
    function group(pid) {
      let g = groups.get(pid);
      if (!g) {
        const name = processNames.get(pid) || 'process ' + pid;
        g = { pid, name, kind: processKind(name), lanes: new Map() };
        groups.set(pid, g);
      }
      return g;
    }
    function lane(pid, tid) {
      const g = group(pid);
      let l = g.lanes.get(tid);
      if (!l) {
        const named = threadNames.get(pid + ':' + tid);
        let kind;
        if (g.kind === 'loop') kind = tid === 0 ? 'loop' : 'task';
        else kind = g.kind === 'threads' ? 'thread' : 'process';
        const fallback = kind === 'loop' ? "the loop's own work" : kind === 'task' ? '#' + tid : 'tid ' + tid;
        l = { group: g, pid, tid, kind, name: named || fallback, slices: [], requests: [], first: Infinity, rows: 1, stalls: 0 };
        g.lanes.set(tid, l);
      }
      return l;
    }

    const begins = new Map();
    const ends = new Map();
    const flowStarts = new Map();
    const flowEnds = new Map();
    const stallMarks = [];
    let polls = 0;
    let jobs = 0;
    let loopSlices = 0;
    for (const e of events) {
      switch (e.ph) {
        case 'X': {
          if (typeof e.ts !== 'number') break;
          const end_ = e.ts + (e.dur || 0);
          if (end_ < start || e.ts > end) break;
          const l = lane(e.pid, e.tid);
          const slice = { ts: e.ts, end: end_, dur: e.dur || 0, cat: e.cat || '', name: e.name || '', args: e.args || {} };
          l.slices.push(slice);
          l.first = Math.min(l.first, e.ts);
          if (e.cat === 'stall') l.stalls += 1;
          if (e.cat === 'job') jobs += 1;
          else if (e.cat === 'loop') loopSlices += 1;
          else polls += 1;
          break;
        }
        case 'b':
        case 'e': {
          const key = e.pid + '|' + (e.cat || '') + '|' + e.id;
          (e.ph === 'b' ? begins : ends).set(key, e);
          break;
        }
        case 's':
          flowStarts.set(e.id, e);
          break;
        case 'f':
          flowEnds.set(e.id, e);
          break;
        case 'i':
        case 'I':
          if (e.cat === 'stall' && e.ts >= start && e.ts <= end) stallMarks.push(e);
          break;
        default:
          break;
      }
    }

    // Requests: a begin and its end; an end past the window is open to the right edge, a
    // begin before the window's start is drawn from the left edge.
    let requests = 0;
    const keys = new Set([...begins.keys(), ...ends.keys()]);
    for (const key of keys) {
      const b = begins.get(key);
      const e = ends.get(key);
      const from = b ? b.ts : start;
      const to = e ? e.ts : end;
      if (to < start || from > end) continue;
      const at = b || e;
      const l = lane(at.pid, at.tid);
      const args = Object.assign({}, e && e.args, b && b.args);
      l.requests.push({
        ts: from, end: to, name: at.name || 'request', status: args.status, args, tid: at.tid,
        openLeft: !b || !!args.began_before, openRight: !e, row: 0,
      });
      l.first = Math.min(l.first, Math.max(from, start));
      requests += 1;
    }

    // Lanes in order: loops first (by name), then thread pools, then process pools; within a
    // loop its tasks by when they first did something, the loop's own lane last.
    const ordered = [...groups.values()].sort(
      (a, b) => kindOrder(a.kind) - kindOrder(b.kind) || naturalCompare(a.name, b.name));
    const outGroups = [];
    const lanes = [];
    for (const g of ordered) {
      let list = [...g.lanes.values()];
      for (const l of list) {
        l.slices.sort((a, b) => a.ts - b.ts);
        packRequests(l);
      }
      if (g.kind === 'loop') {
        let tasks = list.filter((l) => l.kind === 'task').sort((a, b) => a.first - b.first || a.tid - b.tid);
        const own = list.filter((l) => l.kind === 'loop');
        for (const l of tasks) nameByRequest(l);
        // Many tasks (a connection per request): those that never overlap share a lane, one
        // after another, so a hundred short-lived connections are a few lanes, not a hundred.
        if (tasks.length > PACK_ABOVE) tasks = pack(g, tasks, (end - start) / 800, (end - start) / 10);
        // A task that stalled the loop is what a reader looks for first: its lane leads.
        tasks = tasks.filter((l) => l.stalls > 0).concat(tasks.filter((l) => l.stalls === 0));
        if (tasks.length > MAX_TASK_LANES) {
          const rest = tasks.slice(MAX_TASK_LANES - 1);
          tasks = tasks.slice(0, MAX_TASK_LANES - 1);
          tasks.push(merge(g, rest, rest.reduce((n, l) => n + (l.merged || 1), 0) + ' other tasks'));
        }
        const compact = tasks.length > COMPACT_ABOVE;
        for (const l of tasks) l.compact = compact;
        list = tasks.concat(own);
      } else {
        list.sort((a, b) => naturalCompare(a.name, b.name) || a.tid - b.tid);
      }
      const out = { pid: g.pid, name: g.name, kind: g.kind, lanes: list };
      for (const l of list) {
        l.group = out;
        if (l.kind === 'task') l.height = (l.compact ? COMPACT_LANE : TASK_LANE) + (l.rows - 1) * ROW;
        else l.height = l.kind === 'loop' ? LOOP_LANE : POOL_LANE;
        lanes.push(l);
      }
      outGroups.push(out);
    }

    // Wake arrows, where both ends are in a lane that is drawn.
    const flows = [];
    for (const [id, s] of flowStarts) {
      const f = flowEnds.get(id);
      if (!f) continue;
      const from = laneOf(groups, s.pid, s.tid);
      const to = laneOf(groups, f.pid, f.tid);
      if (!from || !to) continue;
      if (Math.max(s.ts, f.ts) < start || Math.min(s.ts, f.ts) > end) continue;
      flows.push({ id, from, to, fromTs: s.ts, toTs: f.ts });
    }

    let stalls = 0;
    for (const l of lanes) stalls += l.stalls;
    return {
      start, end, groups: outGroups, lanes, flows, stallMarks,
      slowCallbackUs: other.slow_callback_us == null ? null : other.slow_callback_us,
      dropped: other.dropped_events || 0,
      counts: { events: events.length, polls, jobs, loop: loopSlices, requests, flows: flows.length, stalls },
    };
  }

  function laneOf(groups, pid, tid) {
    const g = groups.get(pid);
    const l = g && g.lanes.get(tid);
    return l ? l.mergedInto || l : null;
  }

  // Overlapping requests of one task (HTTP/2 streams) go on rows of their own, first fit.
  function packRequests(l) {
    l.requests.sort((a, b) => a.ts - b.ts);
    const rowEnds = [];
    for (const r of l.requests) {
      let row = rowEnds.findIndex((e) => e <= r.ts);
      if (row < 0) {
        row = rowEnds.length;
        rowEnds.push(0);
      }
      rowEnds[row] = r.end;
      r.row = row;
    }
    l.rows = Math.max(1, rowEnds.length);
  }

  // A request's route, without the handler the label names after it ("GET /a → mod::f").
  function route(name) {
    return String(name).split(' → ')[0];
  }

  // A task that served requests is named by them: "#12 GET /items/{id}" says more than the
  // place it was spawned (which the tooltip keeps).
  function nameByRequest(l) {
    l.spawnName = l.name;
    if (!l.requests.length) return;
    const routes = [...new Set(l.requests.map((r) => route(r.name)))];
    l.name = '#' + l.tid + ' ' + routes[0] + (routes.length > 1 ? ' +' + (routes.length - 1) : '');
  }

  // One lane standing for `members`: their slices and requests together.
  function merge(g, members, name) {
    const merged = {
      group: g, pid: g.pid, tid: members[0].tid, kind: 'task', name, slices: [], requests: [],
      first: members[0].first, last: 0, rows: 1, stalls: 0, merged: 0, members: [],
    };
    for (const l of members) {
      for (const s of l.slices) merged.slices.push(s);
      for (const r of l.requests) merged.requests.push(r);
      merged.stalls += l.stalls;
      merged.merged += l.merged || 1;
      merged.members.push(...(l.members || [l]));
      merged.last = Math.max(merged.last, l.last);
      l.mergedInto = merged;
    }
    for (const l of merged.members) l.mergedInto = merged;
    merged.slices.sort((a, b) => a.ts - b.ts);
    packRequests(merged);
    return merged;
  }

  // First fit: each task goes on the first lane whose last task ended `gap` before it began;
  // only tasks that lasted at most `shortest` share.
  function pack(g, tasks, gap, shortest) {
    for (const l of tasks) {
      l.last = l.first;
      for (const s of l.slices) l.last = Math.max(l.last, s.end);
      for (const r of l.requests) l.last = Math.max(l.last, r.end);
    }
    // Only short-lived tasks share: a long-lived one (a heartbeat, a WebSocket) keeps its
    // own lane and its own name.
    const short = (l) => l.last - l.first <= shortest;
    const shelves = [];
    for (const l of tasks) {
      const shelf = short(l) && shelves.find((sh) => sh.short && sh.end + gap <= l.first);
      if (shelf) {
        shelf.members.push(l);
        shelf.end = l.last;
      } else {
        shelves.push({ members: [l], end: l.last, short: short(l) });
      }
    }
    return shelves.map((sh) => {
      if (sh.members.length === 1) return sh.members[0];
      const routes = new Set();
      for (const l of sh.members) for (const r of l.requests) routes.add(route(r.name));
      const what = routes.size === 1 ? ' · ' + [...routes][0] : '';
      return merge(g, sh.members, sh.members.length + ' tasks in turn' + what);
    });
  }

  // A tick every 1, 2 or 5 × 10^k µs, about every 110 pixels.
  function tickStep(spanUs, width) {
    const raw = (spanUs / Math.max(1, width)) * 110;
    const pow = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-3))));
    for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
    return 10 * pow;
  }

  function formatUs(us, step) {
    const a = Math.abs(us);
    if (step >= 1e6 || a >= 1e7) return trim((us / 1e6).toFixed(step >= 1e6 ? 0 : step >= 1e5 ? 1 : 2)) + ' s';
    if (step >= 1e3 || a >= 1e4) return trim((us / 1e3).toFixed(step >= 1e3 ? 0 : step >= 100 ? 1 : 2)) + ' ms';
    return trim(us.toFixed(step >= 1 ? 0 : 1)) + ' µs';
  }

  function trim(s) {
    return s === '-0' ? '0' : s;
  }

  function formatDuration(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(2) + ' s';
    if (us >= 1e3) return (us / 1e3).toFixed(us >= 1e5 ? 0 : 1) + ' ms';
    return us.toFixed(us >= 10 ? 0 : 1) + ' µs';
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  }

  // First slice ending at or after `t` (slices sorted by start, which for the slices of one
  // lane — polls never overlap on one thread — also orders their ends).
  function firstEndingAfter(slices, t) {
    let lo = 0;
    let hi = slices.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (slices[mid].end < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function render(container, trace, options) {
    options = Object.assign({ arrows: true, axis: 'start', legend: true }, options || {});
    container.classList.add('kt');
    container.innerHTML = '';
    const bar = document.createElement('div');
    bar.className = 'kt-bar';
    const canvas = document.createElement('canvas');
    canvas.className = 'kt-canvas';
    const tip = document.createElement('div');
    tip.className = 'kt-tip';
    tip.hidden = true;
    // A tall picture scrolls inside its frame rather than pushing the page down.
    const scroller = document.createElement('div');
    scroller.className = 'kt-scroll';
    scroller.append(canvas);
    container.append(bar, scroller, tip);

    const view = { model: null, drawn: 0, t0: 0, t1: 1, zoomed: false, hover: null, arrows: options.arrows };
    const ctx = canvas.getContext('2d');

    function legend() {
      const m = view.model;
      const wakes = Object.entries(WOKEN_COLOURS)
        .map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`).join('');
      bar.innerHTML =
        `<span class="kt-counts">${m.counts.events} events · ${m.counts.polls} polls · ` +
        `<b class="${m.counts.stalls ? 'kt-bad' : ''}">${m.counts.stalls} stalls</b> · ` +
        `${m.counts.requests} requests · ${m.counts.jobs} pool jobs` +
        (m.dropped ? ` · <b class="kt-bad">${m.dropped} dropped</b>` : '') + '</span>' +
        (options.legend ? `<span class="kt-legend">woken by: ${wakes}<span><i style="background:${COLOURS.stall}"></i>stall</span>` +
          `<span><i style="background:${COLOURS.job}"></i>pool job</span></span>` : '') +
        `<label class="kt-toggle"><input type="checkbox" ${view.arrows ? 'checked' : ''}> wake arrows</label>` +
        `<span class="kt-hint">wheel: zoom · drag: pan · double-click: whole window</span>`;
      bar.querySelector('input').addEventListener('change', (ev) => {
        view.arrows = ev.target.checked;
        draw();
      });
    }

    function layout() {
      const m = view.model;
      let y = AXIS;
      for (const g of m.groups) {
        g.y = y;
        y += GROUP_HEAD;
        for (const l of g.lanes) {
          l.y = y;
          y += l.height;
        }
      }
      return Math.max(y + 4, AXIS + 40);
    }

    function size() {
      const height = layout();
      // Room for the scroller's scroll bar when the picture is taller than its frame.
      const frame = parseFloat(getComputedStyle(scroller).maxHeight) || Infinity;
      const scrollBar = height > frame ? 16 : 0;
      const width = Math.max(320, (container.clientWidth || options.width || 1000) - scrollBar);
      const dpr = root.devicePixelRatio || 1;
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = width + 'px';
      canvas.style.height = height + 'px';
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      view.width = width;
      view.height = height;
    }

    function x(t) {
      return GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * (view.width - GUTTER - 8);
    }
    function timeAt(px) {
      return view.t0 + ((px - GUTTER) / (view.width - GUTTER - 8)) * (view.t1 - view.t0);
    }

    function draw() {
      const m = view.model;
      const W = view.width;
      const H = view.height;
      ctx.clearRect(0, 0, W, H);
      ctx.font = '11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      let rects = 0;

      // Axis and grid.
      const span = view.t1 - view.t0;
      const step = tickStep(span, W - GUTTER);
      const origin = options.axis === 'end' ? m.end : m.start;
      const firstTick = Math.ceil((view.t0 - origin) / step) * step + origin;
      ctx.fillStyle = COLOURS.muted;
      ctx.strokeStyle = COLOURS.grid;
      ctx.lineWidth = 1;
      for (let t = firstTick; t <= view.t1; t += step) {
        const px = Math.round(x(t)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(px, AXIS - 6);
        ctx.lineTo(px, H);
        ctx.stroke();
        const tick = formatUs(t - origin, step);
        if (px + 3 + ctx.measureText(tick).width < W) ctx.fillText(tick, px + 3, AXIS - 12);
      }
      ctx.fillText(options.axis === 'end' ? 'time before now' : 'time from the window start', 6, AXIS - 12);

      ctx.save();
      for (const g of m.groups) {
        ctx.fillStyle = COLOURS.head;
        ctx.fillRect(0, g.y, W, GROUP_HEAD);
        ctx.fillStyle = COLOURS.text;
        ctx.font = '600 12px system-ui, sans-serif';
        const what = g.kind === 'loop' ? 'event loop' : g.kind === 'threads' ? 'threads' : 'processes';
        ctx.fillText(g.name + '  (' + what + ')', 6, g.y + GROUP_HEAD / 2);
        ctx.font = '11px system-ui, sans-serif';
        for (const l of g.lanes) rects += drawLane(l);
      }
      ctx.restore();

      // Stall instants: a red mark on top of the lane where the stall happened.
      ctx.fillStyle = COLOURS.stall;
      for (const s of m.stallMarks) {
        const l = laneOf2(s.pid, s.tid);
        if (!l || s.ts < view.t0 || s.ts > view.t1) continue;
        const px = x(s.ts);
        ctx.beginPath();
        ctx.moveTo(px - 4, l.y);
        ctx.lineTo(px + 4, l.y);
        ctx.lineTo(px, l.y + 6);
        ctx.fill();
      }

      drawArrows();
      view.drawn = rects;
      container.dataset.lanes = String(m.lanes.length);
      container.dataset.stalls = String(m.counts.stalls);
      container.dataset.drawn = String(rects);
    }

    function laneOf2(pid, tid) {
      for (const l of view.model.lanes) if (l.pid === pid && l.tid === tid) return l;
      return null;
    }

    function clipText(text, width) {
      if (width < 14) return '';
      if (ctx.measureText(text).width <= width) return text;
      let lo = 0;
      let hi = text.length;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (ctx.measureText(text.slice(0, mid) + '…').width <= width) lo = mid;
        else hi = mid - 1;
      }
      return lo > 0 ? text.slice(0, lo) + '…' : '';
    }

    function drawLane(l) {
      let rects = 0;
      const left = GUTTER;
      const right = view.width - 8;
      // The lane's name in the gutter.
      ctx.fillStyle = l.stalls ? COLOURS.stall : COLOURS.muted;
      const rowHeight = l.compact ? COMPACT_LANE : TASK_LANE;
      ctx.font = l.compact ? '10px system-ui, sans-serif' : '11px system-ui, sans-serif';
      ctx.fillText(clipText(l.name, GUTTER - 16), 12, l.y + Math.min(l.height, rowHeight) / 2);
      ctx.strokeStyle = COLOURS.grid;
      ctx.beginPath();
      ctx.moveTo(0, l.y + l.height - 0.5);
      ctx.lineTo(view.width, l.y + l.height - 0.5);
      ctx.stroke();

      ctx.save();
      ctx.beginPath();
      ctx.rect(left, l.y, right - left, l.height);
      ctx.clip();

      // Requests: a bar per request; their labels go on after the polls, so that a stall
      // covering its request still names it.
      const labels = [];
      for (const r of l.requests) {
        if (r.end < view.t0 || r.ts > view.t1) continue;
        const x0 = Math.max(left, x(r.ts));
        const x1 = Math.min(right, Math.max(x(r.end), x0 + 2));
        const y = l.y + 1 + r.row * ROW;
        const error = r.status >= 500 || r.status === 0;
        ctx.fillStyle = error ? COLOURS.requestError : COLOURS.request;
        ctx.fillRect(x0, y, x1 - x0, rowHeight - 2);
        ctx.strokeStyle = error ? COLOURS.requestErrorEdge : COLOURS.requestEdge;
        ctx.strokeRect(x0 + 0.5, y + 0.5, x1 - x0 - 1, rowHeight - 3);
        const label = route(r.name) + (r.status != null ? ' → ' + r.status : '') + (r.openRight ? ' …' : '');
        labels.push([clipText(label, x1 - x0 - 6), x0 + 4, y + (rowHeight - 2) / 2]);
        rects += 1;
      }

      // Slices: every run of slices that lands in the same pixels is one rectangle.
      const slices = l.slices;
      const thinH = l.kind !== 'task' ? l.height - 4 : l.compact ? 3 : 6;
      const thinY = l.kind === 'task' ? l.y + l.height - thinH - 1 : l.y + 2;
      let i = firstEndingAfter(slices, view.t0);
      let runX0 = 0;
      let runX1 = -1;
      let runColour = null;
      const flush = () => {
        if (runColour === null) return;
        ctx.fillStyle = runColour;
        if (runColour === COLOURS.stall && l.kind === 'task') ctx.fillRect(runX0, l.y + 1, runX1 - runX0, l.height - 2);
        else ctx.fillRect(runX0, thinY, runX1 - runX0, thinH);
        rects += 1;
        runColour = null;
      };
      for (; i < slices.length; i++) {
        const s = slices[i];
        if (s.ts > view.t1) break;
        const x0 = Math.max(left, x(s.ts));
        // Two pixels at least: a 20 µs poll in a 5 s window is still seen.
        const x1 = Math.max(x0 + 2, Math.min(right, x(s.end)));
        const colour = sliceColour(s);
        // A slice in the run's pixels joins it: of its colour, or too narrow to be seen on
        // its own. A stall never joins another colour's run, nor another its: stalls are
        // never hidden, nor made to look longer than they were.
        const stalls = colour === COLOURS.stall || runColour === COLOURS.stall;
        if (runColour !== null && x0 <= runX1 + 0.5 &&
            (colour === runColour || (!stalls && x(s.end) - x(s.ts) < 1.5))) {
          runX1 = Math.max(runX1, x1);
          continue;
        }
        flush();
        runX0 = x0;
        runX1 = x1;
        runColour = colour;
        if (s.cat === 'job' && x1 - x0 > 30) {
          flush();
          ctx.fillStyle = COLOURS.text;
          ctx.fillText(clipText(route(s.args.label || s.name), x1 - x0 - 6), x0 + 3, l.y + l.height / 2);
        }
      }
      flush();
      ctx.fillStyle = COLOURS.text;
      for (const [text, tx, ty] of labels) ctx.fillText(text, tx, ty);
      ctx.restore();
      return rects;
    }

    function sliceColour(s) {
      if (s.cat === 'stall') return COLOURS.stall;
      if (s.cat === 'job') return COLOURS.job;
      if (s.cat === 'loop') return COLOURS.loop;
      return WOKEN_COLOURS[s.args.woken_by] || COLOURS.poll;
    }

    function flowsFor(hit) {
      if (!hit || !hit.slice) return [];
      const s = hit.slice;
      return view.model.flows.filter(
        (f) =>
          (f.to === hit.lane && f.toTs >= s.ts - 0.5 && f.toTs <= s.end + 0.5) ||
          (f.from === hit.lane && f.fromTs >= s.ts - 0.5 && f.fromTs <= s.end + 0.5));
    }

    function drawArrows() {
      const m = view.model;
      let flows;
      if (!view.arrows) flows = view.hover ? flowsFor(view.hover) : [];
      else if (m.flows.length > MAX_ARROWS) flows = view.hover ? flowsFor(view.hover) : [];
      else flows = m.flows;
      const hot = new Set(view.hover ? flowsFor(view.hover) : []);
      ctx.save();
      ctx.beginPath();
      ctx.rect(GUTTER, AXIS, view.width - GUTTER, view.height - AXIS);
      ctx.clip();
      for (const f of flows) {
        if (Math.max(f.fromTs, f.toTs) < view.t0 || Math.min(f.fromTs, f.toTs) > view.t1) continue;
        const x0 = x(f.fromTs);
        const y0 = f.from.y + f.from.height - 4;
        const x1 = x(f.toTs);
        const y1 = f.to.y + f.to.height - 4;
        ctx.strokeStyle = ctx.fillStyle = hot.has(f) ? COLOURS.arrowHot : COLOURS.arrow;
        ctx.lineWidth = hot.has(f) ? 1.6 : 1;
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        const bend = Math.max(12, Math.abs(x1 - x0) / 2);
        ctx.bezierCurveTo(x0 + bend, y0, x1 - bend, y1, x1, y1);
        ctx.stroke();
        const dir = y1 >= y0 ? -1 : 1;
        ctx.beginPath();
        ctx.moveTo(x1, y1);
        ctx.lineTo(x1 - 5, y1 + dir * 3);
        ctx.lineTo(x1 - 3, y1 + dir * 6);
        ctx.fill();
      }
      ctx.restore();
    }

    // What is under the pointer: a slice (within 3 px), else a request bar, in the lane there.
    function hitTest(px, py) {
      const m = view.model;
      const lane = m.lanes.find((l) => py >= l.y && py < l.y + l.height);
      if (!lane || px < GUTTER) return lane ? { lane } : null;
      const t = timeAt(px);
      const slop = (3 / (view.width - GUTTER)) * (view.t1 - view.t0);
      const slices = lane.slices;
      let best = null;
      let bestGap = Infinity;
      for (let i = firstEndingAfter(slices, t - slop); i < slices.length; i++) {
        const s = slices[i];
        if (s.ts > t + slop) break;
        const gap = t < s.ts ? s.ts - t : t > s.end ? t - s.end : 0;
        // The widest of the slices under the pointer: a stall before a neighbouring poll.
        if (gap < bestGap || (gap === bestGap && best && s.dur > best.dur)) {
          best = s;
          bestGap = gap;
        }
      }
      if (best) return { lane, slice: best };
      const row = Math.floor((py - lane.y - 1) / ROW);
      const request = lane.requests.find((r) => r.ts <= t && r.end >= t && (lane.rows === 1 || r.row === row));
      return request ? { lane, request } : { lane };
    }

    function describe(hit) {
      const l = hit.lane;
      const rows = [];
      const line = (k, v) => rows.push(`<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`);
      let title = l.group.name + ' · ' + l.name;
      if (hit.slice) {
        const s = hit.slice;
        const a = s.args;
        title = s.cat === 'stall' ? 'stall: a poll that blocked the loop' : s.cat === 'job' ? 'pool job' : s.cat === 'loop' ? "the loop's own work" : 'poll';
        line('where', l.group.name + ' · ' + l.name);
        if (a.task != null) line('task', '#' + a.task);
        if (a.label) line('label', a.label);
        line('duration', formatDuration(s.dur));
        if (a.queued_us != null) line('queued', formatDuration(a.queued_us));
        if (a.woken_by) line('woken by', a.woken_by);
        if (a.spawned_at) line('spawned at', a.spawned_at);
        line('at', formatUs(s.ts - view.model.start, 1) + ' from the window start');
        for (const [k, v] of Object.entries(a)) {
          if (!['task', 'label', 'queued_us', 'woken_by', 'spawned_at'].includes(k)) line(k, typeof v === 'object' ? JSON.stringify(v) : v);
        }
        const wakes = flowsFor(hit);
        if (wakes.length) line('wake arrows', String(wakes.length));
      } else if (hit.request) {
        const r = hit.request;
        title = 'request ' + r.name;
        line('task', '#' + r.tid);
        if (r.status != null) line('status', r.status);
        line('duration', formatDuration(r.end - r.ts) + (r.openLeft || r.openRight ? ' in the window (it runs past it)' : ''));
        if (r.openLeft) line('began', r.args.began_before ? 'before ' + formatUs(r.ts - view.model.start, 1) + ' (its start is not in this recording)' : 'before the window');
        if (r.openRight) line('ends', 'after the window (still running)');
      } else {
        line('lane', l.kind === 'task' ? 'a task: its requests and polls' : l.kind === 'loop' ? 'I/O dispatch, timers and callbacks between polls' : 'jobs run on this ' + (l.kind === 'thread' ? 'thread' : 'process'));
        if (l.spawnName && l.spawnName !== l.name) line('task', l.spawnName);
        if (l.members) {
          const ids = l.members.map((m) => '#' + m.tid);
          line('tasks', ids.length > 12 ? ids.slice(0, 12).join(' ') + ' … (' + ids.length + ')' : ids.join(' '));
        }
        line(l.kind === 'task' || l.kind === 'loop' ? 'polls' : 'jobs', String(l.slices.length));
        if (l.stalls) line('stalls', String(l.stalls));
      }
      return `<b>${escapeHtml(title)}</b><table>${rows.join('')}</table>`;
    }

    canvas.addEventListener('mousemove', (ev) => {
      const r = canvas.getBoundingClientRect();
      const px = ev.clientX - r.left;
      const py = ev.clientY - r.top;
      if (drag) {
        const dt = ((drag.px - px) / (view.width - GUTTER)) * (drag.t1 - drag.t0);
        view.t0 = drag.t0 + dt;
        view.t1 = drag.t1 + dt;
        view.zoomed = true;
        draw();
        return;
      }
      const hit = hitTest(px, py);
      const changed = !view.hover || !hit || hit.slice !== view.hover.slice || hit.request !== view.hover.request || hit.lane !== view.hover.lane;
      view.hover = hit;
      if (!hit) {
        tip.hidden = true;
      } else {
        tip.innerHTML = describe(hit);
        tip.hidden = false;
        const cr = container.getBoundingClientRect();
        const left = Math.min(ev.clientX - cr.left + 14, cr.width - tip.offsetWidth - 4);
        tip.style.left = Math.max(0, left) + 'px';
        tip.style.top = ev.clientY - cr.top + 16 + 'px';
      }
      if (changed) draw();
    });
    canvas.addEventListener('mouseleave', () => {
      tip.hidden = true;
      view.hover = null;
      drag = null;
      draw();
    });
    let drag = null;
    canvas.addEventListener('mousedown', (ev) => {
      const r = canvas.getBoundingClientRect();
      drag = { px: ev.clientX - r.left, t0: view.t0, t1: view.t1 };
    });
    root.addEventListener('mouseup', () => {
      drag = null;
    });
    canvas.addEventListener('wheel', (ev) => {
      const r = canvas.getBoundingClientRect();
      const px = ev.clientX - r.left;
      if (px < GUTTER) return;
      ev.preventDefault();
      const t = timeAt(px);
      const factor = Math.exp(ev.deltaY * 0.002);
      const span = Math.max(5, (view.t1 - view.t0) * factor);
      const at = (t - view.t0) / (view.t1 - view.t0);
      view.t0 = t - at * span;
      view.t1 = view.t0 + span;
      view.zoomed = true;
      draw();
    }, { passive: false });
    canvas.addEventListener('dblclick', () => {
      view.zoomed = false;
      view.t0 = view.model.start;
      view.t1 = view.model.end;
      draw();
    });
    root.addEventListener('resize', () => {
      if (!container.isConnected) return;
      size();
      draw();
    });

    view.update = function (nextTrace, nextOptions) {
      if (nextOptions) Object.assign(options, nextOptions);
      view.model = model(nextTrace, options);
      if (!view.zoomed) {
        view.t0 = view.model.start;
        view.t1 = view.model.end;
      }
      view.hover = null;
      tip.hidden = true;
      legend();
      size();
      draw();
      return view;
    };
    view.redraw = function () {
      size();
      draw();
    };
    // What was drawn, for a test or a curious console: lanes, stalls, rectangles painted.
    view.summary = function () {
      return summary(view.model, view.drawn);
    };
    return view.update(trace);
  }

  function summary(m, drawn) {
    return {
      start: m.start, end: m.end, counts: m.counts, dropped: m.dropped, drawn: drawn || 0,
      groups: m.groups.map((g) => ({ name: g.name, kind: g.kind, lanes: g.lanes.length })),
      lanes: m.lanes.map((l) => ({
        group: l.group.name, name: l.name, kind: l.kind, tid: l.tid, slices: l.slices.length,
        stalls: l.stalls, requests: l.requests.map((r) => ({
          name: r.name, status: r.status == null ? null : r.status, openLeft: r.openLeft, openRight: r.openRight,
          row: r.row, ms: Math.round((r.end - r.ts) / 10) / 100,
        })),
      })),
    };
  }

  root.KairosTimeline = { model, render, summary: (trace, options) => summary(model(trace, options)), formatUs, tickStep };
})(typeof window !== 'undefined' ? window : globalThis);
