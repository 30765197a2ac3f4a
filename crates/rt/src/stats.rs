//! [`stats`]: everything the loop counts, in one call.
//!
//! Only what the loop itself counts. Pools report on their own, so the loop core never reaches
//! into them: thread pools, which belong to the process, through
//! [`executor::pool_stats`](crate::executor::pool_stats); process pools through
//! `kairos_process::stats()`. A dashboard such as the service's `/debug/loop` shows the three
//! side by side.

use crate::context;

/// A snapshot of a loop's counters, from [`stats`] or [`Runtime::stats`](crate::Runtime::stats).
///
/// Counters that only grow (`tasks_spawned`, `polls`, `slow_polls`, `unobserved_panics`) are
/// totals since the loop started; the others are the current levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopStats {
    /// The loop's id (loops are numbered from 1 in creation order).
    pub loop_id: u64,
    /// Tasks spawned and not yet finished.
    pub tasks_alive: usize,
    /// Tasks spawned in total.
    pub tasks_spawned: u64,
    /// Polls of tasks (and of the main future) in total.
    pub polls: u64,
    /// Tasks waiting on the ready queue right now.
    pub ready_queue: usize,
    /// Timers armed right now.
    pub timers_pending: usize,
    /// I/O sources (sockets, pipes, [`io::Async`](crate::io::Async)) registered with the
    /// reactor right now.
    pub io_sources: usize,
    /// Polls that blocked the loop longer than `slow_callback_duration`.
    pub slow_polls: u64,
    /// `slow_polls` broken down by [`Label`](crate::task::Label) (for a server: by route),
    /// most first; slow polls outside any label scope are counted only in `slow_polls`.
    pub slow_polls_by_label: Vec<(std::sync::Arc<str>, u64)>,
    /// Detached tasks that panicked with nobody to see it.
    pub unobserved_panics: u64,
    /// How long each poll took, as a histogram; `None` when the loop does not record poll
    /// times.
    pub poll_time: Option<PollHistogram>,
}

/// A histogram of durations, in buckets fixed when the loop starts: what
/// [`LoopStats::poll_time`] reports.
///
/// `counts` has one entry per bound and one more, last, for the polls longer than every bound
/// (Prometheus' `+Inf` bucket). The counts are per bucket, not cumulative: `counts[i]` is
/// how many polls took more than `bounds[i - 1]` and at most `bounds[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollHistogram {
    /// The buckets' upper bounds, ascending.
    pub bounds: Vec<std::time::Duration>,
    /// Polls per bucket, `bounds.len() + 1` of them; the last is the overflow bucket.
    pub counts: Vec<u64>,
    /// The total time of every poll counted.
    pub sum: std::time::Duration,
}

/// The current loop's counters.
///
/// # Panics
/// Outside a running loop.
pub fn stats() -> LoopStats {
    context::expect_core("kairos_rt::stats", |core| core.stats())
}
