//! [`ProcessPoolStats`]: what a process pool is doing and has done.

/// A snapshot of a [`ProcessPool`](super::ProcessPool), from
/// [`ProcessPool::stats`](super::ProcessPool::stats) or, for every pool of the loop, in
/// [`LoopStats::process_pools`](crate::LoopStats::process_pools).
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
