//! The recording: what each loop did, poll by poll, kept in a bounded ring and exported as a
//! Chrome / Perfetto trace.
//!
//! A loop built with [`Builder::record`](crate::Builder::record) writes one 32-byte event per
//! poll of a task — when it started, which task, what woke it (a timer, I/O readiness, a wake
//! from another thread, its spawn, another task) — one per stretch of the loop's own work and
//! one per park; plus each spawn (where, by whom) and each request span a framework reports
//! ([`RequestSpan`]). Pool jobs report when they were queued, started and finished and on
//! which thread or process ([`JobSpan`]). A poll's duration is the time to the next event,
//! so the clock is read once per poll (the CPU's time-stamp counter: see `clock.rs`), and
//! the poll-duration histogram in [`LoopStats::poll_time`](crate::LoopStats::poll_time) is
//! kept on the way.
//!
//! Off (the default), a loop pays one never-taken branch per poll and per wake. On, the loop
//! appends to a chunk of its own and takes a lock once per 512 events, and before it parks;
//! each loop keeps its newest N events (N set when it is built: memory is fixed, 32 bytes an
//! event) and counts the ones it overwrote.
//!
//! [`chrome_trace`] exports a time window of every recording loop and every pool as the
//! JSON object form of the [Trace Event Format] that Perfetto's UI and `chrome://tracing`
//! open:
//!
//! - one *process* per loop (`pid` = the loop's id, named after its thread) with one *thread*
//!   per task (`tid` = the task's id; `tid` 0 is the loop's own work); one process per pool,
//!   one thread per pool thread or worker process (`tid` = its OS pid);
//! - a poll is a complete event (`ph: "X"`, category `poll`, or `stall` when it held the loop
//!   for the stall detector's threshold or longer, with an instant event `stall` beside it),
//!   with the task, its label (the request's route), what woke it and its spawn site;
//! - a wake is a flow arrow (`ph: "s"` inside the waking slice, `"f"` at the woken poll);
//! - a request is an async slice (`ph: "b"` / `"e"`, category `request`) named by its route,
//!   with its status; a pool job a complete event (category `job`) with the time it queued.
//!
//! [Trace Event Format]: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
//!
//! ```
//! use std::time::Duration;
//!
//! kairos_rt::Builder::new().record(10_000).run(async {
//!     let sleeper = kairos_rt::spawn(async { kairos_rt::sleep(Duration::from_millis(5)).await });
//!     sleeper.await.unwrap();
//!     let trace = kairos_rt::record::chrome_trace(kairos_rt::record::Window::all());
//!     let trace: serde_json::Value = serde_json::from_str(&trace).unwrap();
//!     let events = trace["traceEvents"].as_array().unwrap();
//!     // The sleeper was polled twice: at its spawn, and when its timer fired.
//!     let woken_by: Vec<&str> = events
//!         .iter()
//!         .filter(|e| e["cat"] == "poll" && e["args"]["task"] == 1)
//!         .map(|e| e["args"]["woken_by"].as_str().unwrap())
//!         .collect();
//!     assert_eq!(woken_by, ["spawn", "timer"]);
//! });
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | `clock.rs` | the time-stamp counter, scaled to microseconds at export |
//! | `ring.rs` | a loop's events: the chunk on its thread, the ring others read |
//! | `jobs.rs` | [`JobSpan`], [`JobLane`]: pool jobs |
//! | `chrome.rs` | [`chrome_trace`]: the Trace Event Format |

mod chrome;
mod clock;
mod jobs;
mod ring;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use chrome::chrome_trace;
pub(crate) use jobs::traced;
pub use jobs::{JobLane, JobSpan};
pub(crate) use ring::{cause, LoopRecorder, LoopRing};

use crate::context;
use crate::task::Label;

/// Whether some loop of this process records (then pools record their jobs too).
pub(crate) static RECORDING: AtomicBool = AtomicBool::new(false);

/// Whether any loop of this process has been built with recording on.
pub fn is_recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Publishes the events the loop running on this thread holds back (it publishes in chunks,
/// and before it parks), so an export made elsewhere — on a pool thread, say — sees
/// everything up to now. Does nothing off a recording loop.
pub fn publish() {
    context::with_core(|core| {
        if let Some(recorder) = &core.recorder {
            recorder.label_open_poll();
            recorder.flush();
        }
    });
}

/// The trace clock now, in microseconds: the `ts` an event happening now would get. Read it
/// before and after something to export exactly that stretch ([`Window::between`]).
pub fn now_micros() -> f64 {
    let clock = clock::TraceClock::get();
    clock.micros(clock.now())
}

/// Which stretch of time [`chrome_trace`] exports, on the trace clock (microseconds, as the
/// trace's `ts`; see [`now_micros`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    from_us: f64,
    to_us: Option<f64>,
}

impl Window {
    /// Everything still in the rings.
    pub fn all() -> Window {
        Window { from_us: 0.0, to_us: None }
    }

    /// The last `duration`, up to now.
    pub fn last(duration: Duration) -> Window {
        Window { from_us: (now_micros() - duration.as_secs_f64() * 1e6).max(0.0), to_us: None }
    }

    /// From `from_us` up to now (a live view asking for what it has not seen yet).
    pub fn since_micros(from_us: f64) -> Window {
        Window { from_us: from_us.max(0.0), to_us: None }
    }

    /// From `from_us` to `to_us`.
    pub fn between(from_us: f64, to_us: f64) -> Window {
        Window { from_us: from_us.max(0.0), to_us: Some(to_us.max(from_us)) }
    }
}

/// A request's span on the current loop: [`start`](Self::start) when it arrives,
/// [`finish`](Self::finish) with its route and status when it is answered. A framework calls
/// these; the trace shows the span on the task that served it.
#[derive(Debug)]
pub struct RequestSpan {
    started: u64,
}

impl RequestSpan {
    /// Starts a span now — `None` unless the loop running on this thread records (so a
    /// server pays one atomic load per request when nothing records).
    #[inline]
    pub fn start() -> Option<RequestSpan> {
        if !RECORDING.load(Ordering::Relaxed) {
            return None;
        }
        context::with_core(|core| core.recorder.is_some())
            .filter(|records| *records)
            .map(|_| RequestSpan { started: clock::TraceClock::get().now() })
    }

    /// Ends the span: the request was served by `label` (its route; `None` if no route
    /// matched) with `status`. Recorded on the loop running on this thread, by the task
    /// being polled.
    pub fn finish(self, label: Option<Label>, status: u16) {
        context::with_core(|core| {
            if let Some(recorder) = &core.recorder {
                let task = core.monitor.current_task_id();
                recorder.request(task, self.started, label.map_or(0, Label::number), status);
            }
        });
    }
}

/// Poll durations of one loop, from [`LoopStats::poll_time`](crate::LoopStats::poll_time):
/// a histogram in the shape Prometheus and OpenMetrics expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollHistogram {
    /// Upper bounds of the buckets, ascending (powers of two of the clock's ticks, about
    /// 250 ns to 8 s).
    pub bounds: Vec<Duration>,
    /// Polls per bucket, not cumulative: `counts[i]` lasted at most `bounds[i]` and more than
    /// `bounds[i - 1]`; one more entry than `bounds`, for the polls longer than the last.
    pub counts: Vec<u64>,
    /// The polls' total duration.
    pub sum: Duration,
}

impl PollHistogram {
    pub(crate) fn of(ring: &LoopRing) -> PollHistogram {
        let clock = clock::TraceClock::get();
        let counts: Vec<u64> = ring.histogram.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        // Bucket k holds polls of fewer than 2^k ticks; keep the bounds between 250 ns and 8 s.
        let lowest =
            (0..64).find(|&k| clock.duration(1 << k) >= Duration::from_nanos(250)).unwrap_or(0);
        let highest =
            (lowest..64).find(|&k| clock.duration(1 << k) >= Duration::from_secs(8)).unwrap_or(63);
        let bounds = (lowest..=highest).map(|k| clock.duration(1 << k)).collect();
        let mut grouped = vec![counts[..=lowest].iter().sum()];
        grouped.extend_from_slice(&counts[lowest + 1..=highest]);
        grouped.push(counts[highest + 1..].iter().sum());
        PollHistogram {
            bounds,
            counts: grouped,
            sum: clock.duration(ring.histogram_ticks.load(Ordering::Relaxed)),
        }
    }
}

/// Spawn sites, numbered: a spawn event carries a number, the export turns it back into the
/// site. Sites are call sites in the program's code, so the table is bounded by it.
fn sites() -> &'static Mutex<Vec<&'static Location<'static>>> {
    static SITES: OnceLock<Mutex<Vec<&'static Location<'static>>>> = OnceLock::new();
    SITES.get_or_init(Mutex::default)
}

/// The number of a spawn site (1-based), from the process-wide table (a lock; the recorder
/// keeps the sites it has seen in a small cache of its own, so a spawn from a known site
/// takes no lock).
pub(crate) fn site_number(site: &'static Location<'static>) -> u32 {
    let mut table = sites().lock().unwrap_or_else(|e| e.into_inner());
    match table.iter().position(|known| std::ptr::eq(*known, site)) {
        Some(index) => index as u32 + 1,
        None => {
            table.push(site);
            table.len() as u32
        }
    }
}

/// The site behind a number from [`site_number`].
pub(crate) fn site_of(number: u32) -> Option<&'static Location<'static>> {
    let table = sites().lock().unwrap_or_else(|e| e.into_inner());
    table.get((number as usize).checked_sub(1)?).copied()
}
