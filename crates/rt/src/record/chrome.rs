//! [`chrome_trace`]: the recording as Trace Event Format JSON (see the module docs above).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use super::clock::TraceClock;
use super::jobs::{self, JobLane};
use super::ring::{cause, kind, registry, Event};
use super::Window;
use crate::task::{Label, TaskId};

/// Process ids of pools start here, above any loop id.
const POOL_PIDS: u64 = 1_000_000;

/// The recording of every loop and pool in `window`, as the JSON object form of the Trace
/// Event Format (the module docs list what it holds). Loops that did not record contribute
/// nothing; with nothing recording, the trace has no events.
///
/// Each loop publishes its events in chunks, and always before it parks: a loop that is
/// busy right now may hold back its last few hundred events; the loop this is called on
/// publishes everything first.
pub fn chrome_trace(window: Window) -> String {
    let clock = TraceClock::get();
    super::publish();
    let now = clock.now();
    let from = clock.at_micros(window.from_us);
    let to = window.to_us.map_or(now, |to| clock.at_micros(to).min(now));
    let mut trace = Writer::new(clock, from, to);
    let rings: Vec<_> = registry().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut slow_callback_us = None;
    let mut dropped = 0;
    for ring in &rings {
        let snapshot = ring.snapshot(from);
        dropped += snapshot.dropped;
        let (events, first, flushed_at, names) =
            (snapshot.events, snapshot.first, snapshot.flushed_at, snapshot.names);
        if events.is_empty() {
            continue;
        }
        slow_callback_us = slow_callback_us.or(ring.slow_callback_us);
        trace.process(ring.loop_id, &ring.name, ring.loop_id as i64);
        trace.loop_events(ring.loop_id, first, &events, flushed_at, &names, ring.slow_callback_us);
    }
    trace.jobs();
    trace.finish(slow_callback_us, dropped)
}

struct Writer {
    clock: &'static TraceClock,
    from: u64,
    to: u64,
    out: String,
    /// Label texts, escaped once.
    labels: HashMap<u32, String>,
    next_flow: u64,
}

impl Writer {
    fn new(clock: &'static TraceClock, from: u64, to: u64) -> Writer {
        let mut out = String::with_capacity(1 << 16);
        out.push_str("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
        Writer { clock, from, to, out, labels: HashMap::new(), next_flow: 1 }
    }

    fn us(&self, ticks: u64) -> f64 {
        self.clock.micros(ticks)
    }

    fn event(&mut self, json: std::fmt::Arguments<'_>) {
        if !self.out.ends_with('[') {
            self.out.push(',');
        }
        let _ = self.out.write_fmt(json);
    }

    fn process(&mut self, pid: u64, name: &str, sort: i64) {
        let name = escape(name);
        self.event(format_args!(
            r#"{{"ph":"M","name":"process_name","pid":{pid},"tid":0,"args":{{"name":{name}}}}}"#
        ));
        self.event(format_args!(
            r#"{{"ph":"M","name":"process_sort_index","pid":{pid},"tid":0,"args":{{"sort_index":{sort}}}}}"#
        ));
    }

    fn thread(&mut self, pid: u64, tid: u64, name: &str) {
        let name = escape(name);
        self.event(format_args!(
            r#"{{"ph":"M","name":"thread_name","pid":{pid},"tid":{tid},"args":{{"name":{name}}}}}"#
        ));
        self.event(format_args!(
            r#"{{"ph":"M","name":"thread_sort_index","pid":{pid},"tid":{tid},"args":{{"sort_index":{tid}}}}}"#
        ));
    }

    fn label(&mut self, number: u32) -> Option<&str> {
        if number == 0 {
            return None;
        }
        let text = self.labels.entry(number).or_insert_with(|| {
            Label::text_of(number).map_or_else(|| "null".into(), |t| escape(&t))
        });
        Some(text.as_str())
    }

    /// One loop's events: `events[i]` is event number `first + i`.
    fn loop_events(
        &mut self,
        pid: u64,
        first: u64,
        events: &[Event],
        flushed_at: u64,
        names: &HashMap<u64, Arc<str>>,
        slow_callback_us: Option<f64>,
    ) {
        // Where each segment ran and its middle, for the flow arrows that start in it.
        let mut segments: HashMap<u64, (u64, f64)> = HashMap::new();
        let mut sites: HashMap<u64, u32> = HashMap::new();
        let mut tracks: HashSet<u64> = HashSet::new();
        let ends = segment_ends(events, flushed_at);
        for (index, event) in events.iter().enumerate() {
            let number = first + index as u64;
            match event.kind() {
                kind::SPAWN => {
                    sites.insert(event.task, event.site());
                }
                kind::POLL | kind::LOOP => {
                    let end = ends[index];
                    if end < self.from || event.at > self.to {
                        continue;
                    }
                    let tid = if event.kind() == kind::LOOP { 0 } else { event.task };
                    let (ts, end_us) =
                        (self.us(event.at.max(self.from)), self.us(end.min(self.to)));
                    let dur = (end_us - ts).max(0.0);
                    segments.insert(number, (tid, ts + dur / 2.0));
                    tracks.insert(tid);
                    if event.kind() == kind::LOOP {
                        self.event(format_args!(
                            r#"{{"ph":"X","cat":"loop","name":"loop","pid":{pid},"tid":0,"ts":{ts:.3},"dur":{dur:.3}}}"#
                        ));
                        continue;
                    }
                    self.poll(
                        pid,
                        event,
                        ts,
                        dur,
                        sites.get(&event.task).copied(),
                        slow_callback_us,
                    );
                    let source = event.cause >> 3;
                    if event.cause & 7 != cause::START {
                        if let Some(&(from_tid, from_ts)) = segments.get(&source) {
                            let id = self.next_flow;
                            self.next_flow += 1;
                            self.event(format_args!(
                                r#"{{"ph":"s","cat":"wake","name":"wake","id":{id},"pid":{pid},"tid":{from_tid},"ts":{from_ts:.3}}}"#
                            ));
                            self.event(format_args!(
                                r#"{{"ph":"f","bp":"e","cat":"wake","name":"wake","id":{id},"pid":{pid},"tid":{tid},"ts":{ts:.3}}}"#
                            ));
                        }
                    }
                }
                kind::REQUEST => {
                    let (started, ended) = (event.cause, event.at);
                    if ended < self.from || started > self.to {
                        continue;
                    }
                    tracks.insert(event.task);
                    self.request(pid, number, event, started, ended);
                }
                _ => {}
            }
        }
        let mut tracks: Vec<u64> = tracks.into_iter().collect();
        tracks.sort_unstable();
        for tid in tracks {
            let name = if tid == 0 {
                "the loop's own work (I/O, timers, callbacks)".to_owned()
            } else if tid == TaskId(0).as_u64() {
                "#0 main".to_owned()
            } else {
                let mut name = format!("#{tid}");
                if let Some(task_name) = names.get(&tid) {
                    let _ = write!(name, " {task_name}");
                }
                if let Some(site) = sites.get(&tid).and_then(|&s| super::site_of(s)) {
                    let _ = write!(name, " ({}:{})", short_path(site.file()), site.line());
                }
                name
            };
            self.thread(pid, tid, &name);
        }
    }

    fn poll(
        &mut self,
        pid: u64,
        event: &Event,
        ts: f64,
        dur: f64,
        site: Option<u32>,
        slow_callback_us: Option<f64>,
    ) {
        let task = event.task;
        let stall = slow_callback_us.is_some_and(|limit| dur >= limit);
        let cat = if stall { "stall" } else { "poll" };
        let woken_by = cause::name(event.cause);
        let mut args = format!(r#""task":{task},"woken_by":"{woken_by}""#);
        if let Some(label) = self.label(event.label()) {
            let _ = write!(args, r#","label":{label}"#);
        }
        if let Some(site) = site.and_then(super::site_of) {
            let _ = write!(args, r#","spawned_at":"{}:{}""#, short_path(site.file()), site.line());
        }
        self.event(format_args!(
            r#"{{"ph":"X","cat":"{cat}","name":"poll","pid":{pid},"tid":{task},"ts":{ts:.3},"dur":{dur:.3},"args":{{{args}}}}}"#
        ));
        if stall {
            let ms = dur / 1000.0;
            let mut args = format!(r#""duration_ms":{ms:.3}"#);
            if let Some(label) = self.label(event.label()) {
                let _ = write!(args, r#","label":{label}"#);
            }
            self.event(format_args!(
                r#"{{"ph":"i","s":"t","cat":"stall","name":"stall","pid":{pid},"tid":{task},"ts":{ts:.3},"args":{{{args}}}}}"#
            ));
        }
    }

    fn request(&mut self, pid: u64, number: u64, event: &Event, started: u64, ended: u64) {
        let id = pid << 40 | number;
        let tid = event.task;
        let status = event.status();
        let name =
            self.label(event.label()).map_or_else(|| "\"request\"".to_owned(), str::to_owned);
        // The begin goes with its end even when it precedes the window: a request is recorded
        // when it ends, so a view that follows the loop window by window sees it only here.
        let ts = self.us(started);
        self.event(format_args!(
            r#"{{"ph":"b","cat":"request","name":{name},"id":{id},"pid":{pid},"tid":{tid},"ts":{ts:.3},"args":{{"status":{status}}}}}"#
        ));
        if ended <= self.to {
            let ts = self.us(ended);
            self.event(format_args!(
                r#"{{"ph":"e","cat":"request","name":{name},"id":{id},"pid":{pid},"tid":{tid},"ts":{ts:.3},"args":{{"status":{status}}}}}"#
            ));
        }
    }

    fn jobs(&mut self) {
        let jobs = jobs::ring().lock().unwrap_or_else(|e| e.into_inner());
        let mut pools: Vec<(Arc<str>, bool)> = Vec::new();
        let mut lanes: Vec<JobLane> = Vec::new();
        let mut slices = Vec::new();
        for job in jobs.iter().rev() {
            if job.finished < self.from {
                break;
            }
            if job.queued > self.to {
                continue;
            }
            let (pool, process) = match &job.lane {
                JobLane::Thread { pool, .. } => (pool, false),
                JobLane::Process { pool, .. } => (pool, true),
            };
            let pool_index = match pools.iter().position(|(p, pr)| p == pool && *pr == process) {
                Some(index) => index,
                None => {
                    pools.push((Arc::clone(pool), process));
                    pools.len() - 1
                }
            };
            let tid = match &job.lane {
                JobLane::Process { pid, .. } => u64::from(*pid),
                JobLane::Thread { .. } => match lanes.iter().position(|l| *l == job.lane) {
                    Some(index) => index as u64 + 1,
                    None => {
                        lanes.push(job.lane.clone());
                        lanes.len() as u64
                    }
                },
            };
            slices.push((
                POOL_PIDS + pool_index as u64,
                tid,
                job.queued,
                job.started,
                job.finished,
                job.label,
                job.failed,
            ));
        }
        drop(jobs);
        for (index, (pool, process)) in pools.iter().enumerate() {
            let kind = if *process { "process pool" } else { "thread pool" };
            let pid = POOL_PIDS + index as u64;
            self.process(pid, &format!("{kind} '{pool}'"), pid as i64);
        }
        for (index, lane) in lanes.iter().enumerate() {
            if let JobLane::Thread { pool, thread } = lane {
                let pool_index = pools.iter().position(|(p, pr)| p == pool && !pr).unwrap_or(0);
                self.thread(POOL_PIDS + pool_index as u64, index as u64 + 1, thread);
            }
        }
        let mut processes = HashSet::new();
        for &(pid, tid, queued, started, finished, label, failed) in slices.iter().rev() {
            if pid >= POOL_PIDS
                && pools[(pid - POOL_PIDS) as usize].1
                && processes.insert((pid, tid))
            {
                self.thread(pid, tid, &format!("process {tid}"));
            }
            let ts = self.us(started.max(self.from));
            let dur = (self.us(finished.min(self.to)) - ts).max(0.0);
            let queued_us = self.us(queued);
            let waited_ms = (self.us(started) - queued_us) / 1000.0;
            let mut args = format!(
                r#""queued_us":{queued_us:.3},"waited_ms":{waited_ms:.3},"failed":{failed}"#
            );
            if let Some(label) = self.label(label) {
                let _ = write!(args, r#","label":{label}"#);
            }
            self.event(format_args!(
                r#"{{"ph":"X","cat":"job","name":"job","pid":{pid},"tid":{tid},"ts":{ts:.3},"dur":{dur:.3},"args":{{{args}}}}}"#
            ));
        }
    }

    fn finish(mut self, slow_callback_us: Option<f64>, dropped: u64) -> String {
        let (start_us, end_us) = (self.us(self.from), self.us(self.to));
        let slow = slow_callback_us.map_or_else(|| "null".to_owned(), |us| format!("{us:.0}"));
        let _ = write!(
            self.out,
            r#"],"otherData":{{"start_us":{start_us:.3},"end_us":{end_us:.3},"slow_callback_us":{slow},"dropped_events":{dropped}}}}}"#
        );
        self.out
    }
}

/// The end of each segment (the next segment's start; the last one's, the last flush);
/// 0 for point events.
fn segment_ends(events: &[Event], flushed_at: u64) -> Vec<u64> {
    let mut ends = vec![0; events.len()];
    let mut next_start = flushed_at;
    for (index, event) in events.iter().enumerate().rev() {
        if matches!(event.kind(), kind::POLL | kind::LOOP | kind::PARK) {
            ends[index] = next_start.max(event.at);
            next_start = event.at;
        }
    }
    ends
}

/// A source path from its crate down (`crates/web/src/app.rs`, not a cargo registry path).
fn short_path(file: &str) -> &str {
    file.rfind("/src/")
        .and_then(|at| file[..at].rfind('/').map(|start| &file[start + 1..]))
        .unwrap_or(file)
}

fn escape(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"?\"".to_owned())
}
