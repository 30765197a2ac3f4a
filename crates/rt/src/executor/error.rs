//! [`JobError`]: why a job handed to a [`ThreadPool`](super::ThreadPool) produced no value.

use std::error::Error;
use std::fmt;

/// Why awaiting a [`Job`](super::Job) gave no value.
///
/// Each variant is a different situation with a different fix, so match on it rather than only
/// printing it:
///
/// | variant | what happened | the job ran? |
/// |---|---|---|
/// | [`Panicked`](JobError::Panicked) | the closure panicked; the pool caught it | yes, partly |
/// | [`Cancelled`](JobError::Cancelled) | the pool was shut down (or dropped) first | no |
/// | [`QueueFull`](JobError::QueueFull) | the pool's bounded queue had no room | no |
///
/// In Python, `Panicked` is the exception re-raised by `await loop.run_in_executor(...)`,
/// `Cancelled` is `concurrent.futures.CancelledError` after `shutdown(cancel_futures=True)`, and
/// `QueueFull` has no counterpart (`ThreadPoolExecutor`'s queue is unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked. The payload is the panic message (`panic!("...")`'s text), or a
    /// placeholder when the panic carried something other than a string.
    ///
    /// The panic was caught with [`std::panic::catch_unwind`]: the worker thread lives on and the
    /// pool keeps its size. The panic hook still ran, so the message and location were also
    /// printed to stderr by default.
    Panicked(String),
    /// The pool was shut down before the job started, so it never ran: the job was queued when
    /// [`ThreadPool::shutdown`](super::ThreadPool::shutdown) was called or the last
    /// [`ThreadPool`](super::ThreadPool) clone was dropped, or it was submitted afterwards.
    Cancelled,
    /// The pool's queue was at its
    /// [`queue_limit`](super::ThreadPoolBuilder::queue_limit), so the job was rejected at once
    /// and never ran. `spawn` never blocks waiting for room; shedding the load is up to the
    /// caller (a web handler would answer 503).
    QueueFull,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked(message) => write!(
                f,
                "the job panicked on a pool thread: {message} (the pool is unharmed; fix the \
                 panic, or return a Result from the job to report failures as values)"
            ),
            JobError::Cancelled => f.write_str(
                "the job never ran because its thread pool was shut down first; submit work \
                 only to a running pool, and keep a ThreadPool clone alive until its jobs finish",
            ),
            JobError::QueueFull => f.write_str(
                "the job was rejected because the thread pool's queue is full; shed load (for \
                 example answer 503 and let the client retry) or raise the pool's \
                 queue_limit or max_workers",
            ),
        }
    }
}

impl Error for JobError {}
