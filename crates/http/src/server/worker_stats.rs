//! [`worker_stats`]: what the server knows of the worker running on this thread — its index,
//! its open connections, its requests in progress, and how late its loop runs a timer.
//!
//! The numbers live on the worker's own thread, in plain cells its loop updates (no atomics
//! on the request path), so they are read there too: code that reports every worker (a
//! `/metrics` route) runs a small task on each worker's loop through a
//! [`Handle`](kairos_rt::Handle) and reads them from inside. The loop's lag comes from the
//! supervisor's heartbeat, a task that wakes on a 100 ms timer on each worker anyway: each
//! beat measures how long after its scheduled time it ran (Node's `monitorEventLoopDelay`).
//! A loop that is blocked runs its timers late, so the lag shows a stall even when no single
//! poll was long enough to trip the stall detector — many medium ones add up too.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::accept::WorkerState;

/// The upper bounds of the loop-lag histogram's buckets ([`LoopLag::bounds`]): from half a
/// millisecond (a timer's normal lateness on an idle loop) to ten seconds (a worker that is
/// stuck).
pub const LOOP_LAG_BOUNDS: [Duration; 14] = [
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_micros(2_500_000),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// A snapshot of one worker, from [`worker_stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's index, `0..workers`; a worker that replaces a dead one takes its index.
    pub index: usize,
    /// Connections open on this worker now (an upgraded one, a WebSocket, included).
    pub connections: usize,
    /// Requests in progress on this worker now: from a complete head until the response's
    /// body is sent or abandoned.
    pub requests_in_flight: usize,
    /// How late the worker's loop has been running its heartbeat timer.
    pub loop_lag: LoopLag,
}

/// How late a loop runs a timer that is due: measured on each heartbeat (every 100 ms) as
/// the time between when the beat was due and when the loop ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopLag {
    /// The latest beat's lateness.
    pub latest: Duration,
    /// The buckets' upper bounds, ascending ([`LOOP_LAG_BOUNDS`]).
    pub bounds: &'static [Duration],
    /// Beats per bucket, `bounds.len() + 1` of them, the last for those later than every
    /// bound; not cumulative.
    pub counts: Vec<u64>,
    /// The lateness of every beat, added up.
    pub sum: Duration,
}

impl LoopLag {
    fn new() -> LoopLag {
        LoopLag {
            latest: Duration::ZERO,
            bounds: &LOOP_LAG_BOUNDS,
            counts: vec![0; LOOP_LAG_BOUNDS.len() + 1],
            sum: Duration::ZERO,
        }
    }

    fn record(&mut self, late: Duration) {
        self.latest = late;
        self.counts[self.bounds.partition_point(|&bound| bound < late)] += 1;
        self.sum += late;
    }
}

/// The stats of the server's worker running on this thread; `None` on a thread that runs no
/// worker of a [`Server::start`](super::Server::start)ed server (a
/// [`Server::serve`](super::Server::serve) on a loop of your own has no supervisor, no index
/// and no heartbeat).
pub fn worker_stats() -> Option<WorkerStats> {
    let probe = Probe::current()?;
    let serving = probe.serving.borrow().upgrade();
    let loop_lag = probe.lag.borrow().clone();
    Some(WorkerStats {
        index: probe.index,
        connections: serving.as_ref().map_or(0, |worker| worker.connections()),
        requests_in_flight: serving.as_ref().map_or(0, |worker| worker.in_flight.get()),
        loop_lag,
    })
}

thread_local! {
    /// The worker whose loop runs on this thread.
    static PROBE: RefCell<Option<Rc<Probe>>> = const { RefCell::new(None) };
}

/// One worker's numbers, kept on its thread.
pub(crate) struct Probe {
    index: usize,
    lag: RefCell<LoopLag>,
    /// The worker's accept loop, once it serves.
    serving: RefCell<Weak<WorkerState>>,
}

impl Probe {
    /// Makes worker `index`'s probe the thread's until the returned guard is dropped.
    pub(crate) fn install(index: usize) -> ProbeGuard {
        let probe = Rc::new(Probe {
            index,
            lag: RefCell::new(LoopLag::new()),
            serving: RefCell::new(Weak::new()),
        });
        PROBE.with(|slot| *slot.borrow_mut() = Some(Rc::clone(&probe)));
        ProbeGuard(probe)
    }

    /// The thread's probe, if a worker runs here.
    pub(crate) fn current() -> Option<Rc<Probe>> {
        PROBE.with(|slot| slot.borrow().clone())
    }

    /// Records a heartbeat that ran `late` after it was due.
    pub(crate) fn beat(&self, late: Duration) {
        self.lag.borrow_mut().record(late);
    }

    /// Points the probe at the worker's accept loop, for its connections and requests.
    pub(crate) fn serving(&self, worker: &Rc<WorkerState>) {
        *self.serving.borrow_mut() = Rc::downgrade(worker);
    }
}

/// Keeps a worker's [`Probe`] installed on its thread; see [`Probe::install`].
pub(crate) struct ProbeGuard(Rc<Probe>);

impl ProbeGuard {
    pub(crate) fn probe(&self) -> &Rc<Probe> {
        &self.0
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        // At the thread's exit the slot may be gone already, and the probe with it.
        let _ = PROBE.try_with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().is_some_and(|probe| Rc::ptr_eq(probe, &self.0)) {
                *slot = None;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let mut lag = LoopLag::new();
        lag.record(Duration::from_micros(100)); // ≤ 0.5 ms
        lag.record(Duration::from_millis(1)); // exactly a bound: that bucket
        lag.record(Duration::from_millis(120)); // ≤ 250 ms
        lag.record(Duration::from_secs(30)); // past every bound
        assert_eq!(lag.counts[0], 1);
        assert_eq!(lag.counts[1], 1);
        assert_eq!(lag.counts[8], 1);
        assert_eq!(lag.counts[LOOP_LAG_BOUNDS.len()], 1);
        assert_eq!(lag.counts.iter().sum::<u64>(), 4);
        assert_eq!(lag.latest, Duration::from_secs(30));
        assert_eq!(lag.sum, Duration::from_micros(30_121_100));
    }

    #[test]
    fn a_thread_without_a_worker_has_no_stats() {
        assert_eq!(worker_stats(), None);
        let guard = Probe::install(3);
        guard.probe().beat(Duration::from_millis(2));
        let stats = worker_stats().expect("installed");
        assert_eq!((stats.index, stats.connections, stats.requests_in_flight), (3, 0, 0));
        assert_eq!(stats.loop_lag.latest, Duration::from_millis(2));
        drop(guard);
        assert_eq!(worker_stats(), None);
    }
}
