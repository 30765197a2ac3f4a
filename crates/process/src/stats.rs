//! [`ProcessPoolStats`]: what a process pool is doing and has done, and [`stats`] for every
//! pool of the current loop.
//!
//! The loop (`kairos-rt`) knows nothing of process pools, so it cannot report them in its own
//! `LoopStats`; each pool instead registers itself, weakly, in a list of its loop's thread
//! (`shared.rs`), which [`stats`] reads. A dashboard puts `kairos_rt::stats()`,
//! `kairos_rt::executor::pool_stats()` and this side by side.

/// The stats of every process pool made on this thread's loop and still alive, in creation
/// order (a process pool belongs to the loop that made it). Empty outside a loop, or when no
/// pool is alive.
pub fn stats() -> Vec<ProcessPoolStats> {
    crate::shared::thread_pool_stats()
}

/// A snapshot of a [`ProcessPool`](crate::ProcessPool), from
/// [`ProcessPool::stats`](crate::ProcessPool::stats) or, for every pool of the loop, from
/// [`stats`].
///
/// Gauges (`workers`, `busy`, `queued`) say what the pool is doing now; the rest are counters
/// that only grow. Every job submitted ends in exactly one of `completed`, `panicked`,
/// `failed`, `crashed`, `cancelled` or `rejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessPoolStats {
    /// The pool's size: the number of worker processes it keeps.
    pub max_workers: usize,
    /// Worker processes alive now: started and not yet reaped. Equal to `max_workers` in a
    /// healthy pool, except for the moments a worker is being replaced.
    pub workers: usize,
    /// Workers running a job.
    pub busy: usize,
    /// Jobs waiting for a worker.
    pub queued: usize,
    /// Jobs that returned a value.
    pub completed: u64,
    /// Jobs that panicked (caught in the worker, which lived on).
    pub panicked: u64,
    /// Jobs that could not run or deliver: a (de)serialisation failure, or no worker could be
    /// started.
    pub failed: u64,
    /// Jobs whose worker died under them (a signal, an abort, an `exit`). A worker that dies
    /// while idle is replaced too, and counted in `restarted` only.
    pub crashed: u64,
    /// Jobs cancelled: dropped before they started (never run), dropped while running (their
    /// worker killed), or cut off by a shutdown.
    pub cancelled: u64,
    /// Jobs refused at once: a full queue, an unregistered job, an argument too large.
    pub rejected: u64,
    /// Workers started in place of an earlier one of the same slot that crashed (running a
    /// job or idle), was killed to cancel its job, or broke the protocol. The first worker of
    /// each slot is not counted.
    pub restarted: u64,
    /// Attempts to start a worker that failed (the process did not start, or did not say it
    /// was ready in time).
    pub start_failures: u64,
}
