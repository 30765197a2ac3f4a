//! Pool jobs in the recording: when each was queued, started and finished, and where it ran.
//!
//! Jobs run on threads (and in processes) that are not loops, so their spans go into one
//! process-wide ring behind a lock, taken once per finished job — a job costs microseconds at
//! least, the lock a few tens of nanoseconds, and only while something records.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use super::clock::TraceClock;
use crate::context;

/// Finished jobs kept (the oldest are dropped first).
const JOB_CAPACITY: usize = 65_536;

/// Where a job ran: a thread of a thread pool, or a worker process of a process pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobLane {
    /// A thread of a [`ThreadPool`](crate::ThreadPool): the pool's thread-name prefix and the
    /// thread's name.
    Thread {
        /// The pool's name (its thread-name prefix).
        pool: Arc<str>,
        /// The thread's name.
        thread: Arc<str>,
    },
    /// A worker process of a process pool (`kairos-process`).
    Process {
        /// The pool's name.
        pool: Arc<str>,
        /// The worker process's OS id.
        pid: u32,
    },
}

/// A job's span, taken when it is queued and recorded when it finishes; see
/// [`JobSpan::queued`].
#[derive(Debug)]
pub struct JobSpan {
    queued: u64,
    started: u64,
    /// The label of the poll that queued it (the request that sent work to the pool).
    label: u32,
}

pub(crate) struct JobEvent {
    pub(crate) lane: JobLane,
    pub(crate) queued: u64,
    pub(crate) started: u64,
    pub(crate) finished: u64,
    pub(crate) label: u32,
    pub(crate) failed: bool,
}

pub(crate) fn ring() -> &'static Mutex<VecDeque<JobEvent>> {
    static JOBS: OnceLock<Mutex<VecDeque<JobEvent>>> = OnceLock::new();
    JOBS.get_or_init(Mutex::default)
}

impl JobSpan {
    /// A job is being queued: its span starts now — `None` (and no cost beyond one atomic
    /// load) when no loop of this process records. Call on the thread that submits the job;
    /// on a loop, the running poll's label (the request) is kept with it.
    #[inline]
    pub fn queued() -> Option<JobSpan> {
        if !super::RECORDING.load(Ordering::Relaxed) {
            return None;
        }
        let label = context::with_core(|core| core.monitor.current_label()).unwrap_or(0);
        let now = TraceClock::get().now();
        Some(JobSpan { queued: now, started: now, label })
    }

    /// The job starts running (on whatever thread or process runs it).
    pub fn started(&mut self) {
        self.started = TraceClock::get().now();
    }

    /// The job is over (`failed`: it panicked, crashed or was cancelled while running):
    /// records its span on `lane`.
    pub fn finish(self, lane: JobLane, failed: bool) {
        let finished = TraceClock::get().now();
        let event = JobEvent {
            lane,
            queued: self.queued,
            started: self.started,
            finished,
            label: self.label,
            failed,
        };
        let mut jobs = ring().lock().unwrap_or_else(|e| e.into_inner());
        if jobs.len() >= JOB_CAPACITY {
            jobs.pop_front();
        }
        jobs.push_back(event);
    }
}

/// `f`, recording its span on the pool thread that runs it when something records (a
/// [`ThreadPool`](crate::ThreadPool) wraps every job in this).
pub(crate) fn traced<F, T>(pool: &str, f: F) -> impl FnOnce() -> T + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
{
    let span = JobSpan::queued().map(|span| (span, Arc::<str>::from(pool)));
    move || {
        let _finish = span.map(|(mut span, pool)| {
            span.started();
            FinishOnDrop(Some((span, pool)))
        });
        f()
    }
}

/// Records a thread-pool job's end, also when it panics.
struct FinishOnDrop(Option<(JobSpan, Arc<str>)>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some((span, pool)) = self.0.take() {
            let thread: Arc<str> = Arc::from(std::thread::current().name().unwrap_or("unnamed"));
            span.finish(JobLane::Thread { pool, thread }, std::thread::panicking());
        }
    }
}
