//! [`ThreadPool`], its builder and its statistics: the public face of the pool.
//!
//! The threads, the queue and the shutdown protocol are in [`worker`](super::worker).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::job::{Job, JobCell};
use super::worker::Shared;

/// The thread-name prefix when none is given: threads are `kairos-pool_0`, `kairos-pool_1`, ...
const DEFAULT_PREFIX: &str = "kairos-pool";

/// A pool of OS threads that runs blocking closures and hands their results back as futures:
/// Python's `concurrent.futures.ThreadPoolExecutor`.
///
/// ```
/// use kairos_rt::executor::ThreadPool;
///
/// // ThreadPoolExecutor(max_workers=4, thread_name_prefix="cpu")
/// let cpu_pool = ThreadPool::builder().max_workers(4).thread_name_prefix("cpu").build();
///
/// // await loop.run_in_executor(cpu_pool, heavy_computation, data)
/// let data: Vec<u64> = (0..1_000).collect();
/// let job = cpu_pool.spawn(move || data.iter().map(|x| x * x).sum::<u64>());
/// let sum = futures::executor::block_on(job).unwrap();
/// assert_eq!(sum, 332_833_500);
/// ```
///
/// - **Threads** start lazily: a submission starts a new thread when no thread is idle and
///   fewer than `max_workers` exist (Python's rule), and threads then stay until shutdown. A
///   new pool has no threads at all.
/// - **Jobs** wait in one FIFO queue, unbounded unless a
///   [`queue_limit`](ThreadPoolBuilder::queue_limit) is set; [`spawn`](ThreadPool::spawn)
///   never blocks.
/// - **Panics** in a job are caught: the awaiter gets [`JobError::Panicked`], the thread takes
///   the next job.
/// - **Clones** share one pool (`Arc` inside). Dropping the last clone shuts the pool down
///   without waiting (see [`shutdown`](ThreadPool::shutdown) for what that does to jobs).
///
/// [`JobError::Panicked`]: super::JobError::Panicked
#[derive(Clone)]
pub struct ThreadPool {
    owner: Arc<Owner>,
}

/// The users' share of the pool. The worker threads hold the [`Shared`] state too, so the
/// pool's "last clone dropped" moment is this struct's `Drop`, not `Shared`'s.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Without waiting: a drop must not block (it may run on the event loop).
        self.shared.close();
    }
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads, named `kairos-pool_{i}`, with an unbounded
    /// queue. `ThreadPool::new(n)` is `ThreadPool::builder().max_workers(n).build()`.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0: such a pool could never run anything.
    pub fn new(max_workers: usize) -> ThreadPool {
        ThreadPool::builder().max_workers(max_workers).build()
    }

    /// A builder, to name the threads or bound the queue. Its defaults are
    /// [`default_workers()`](super::default_workers) threads, prefix `"kairos-pool"`, and an
    /// unbounded queue.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: super::default_workers(),
            name_prefix: DEFAULT_PREFIX.to_owned(),
            queue_limit: None,
        }
    }

    /// Submits `f` to run on a pool thread and returns its [`Job`], a future of the result:
    /// asyncio's `loop.run_in_executor(pool, f)` (see also
    /// [`run_in_executor`](super::run_in_executor)).
    ///
    /// Never waits (for room, or for a thread) and never fails synchronously: if the pool is
    /// shut down the job is born failed with [`JobError::Cancelled`], and if the queue is at its
    /// limit, with [`JobError::QueueFull`]; check with [`Job::is_finished`] or just await it.
    /// The cost is a short lock and one allocation, plus starting an OS thread (tens of
    /// microseconds) on the few submissions that grow the pool.
    ///
    /// Jobs start in submission order. Arguments are captured by the closure (Python's
    /// `functools.partial`): `pool.spawn(move || heavy_computation(data))`.
    ///
    /// # Panics
    ///
    /// Only if the operating system refuses to start a thread while the pool has none left to
    /// run the job (like `std::thread::spawn`). If the pool still has a thread, the refusal is
    /// logged and the job waits for that thread instead.
    ///
    /// [`JobError::Cancelled`]: super::JobError::Cancelled
    /// [`JobError::QueueFull`]: super::JobError::QueueFull
    pub fn spawn<F, T>(&self, f: F) -> Job<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = &self.owner.shared;
        let cell = Arc::new(JobCell::new(crate::record::traced(&shared.name_prefix, f)));
        match shared.submit(cell.clone()) {
            Ok(start_thread) => {
                // The Job exists before a thread is started, so if starting panics, unwinding
                // drops the Job and the queued closure is cancelled rather than stranded.
                let job = Job::new(cell, Arc::clone(shared));
                if let Some(index) = start_thread {
                    shared.start_thread(index);
                }
                job
            }
            Err(error) => {
                cell.reject(error);
                Job::new(cell, Arc::clone(shared))
            }
        }
    }

    /// A snapshot of the pool's gauges and counters, for logs and dashboards.
    ///
    /// Cheap: a handful of relaxed atomic loads, no lock, so it can be called per request.
    /// Each field is exact on its own, but they are read one by one while the pool runs, so a
    /// snapshot can be off by one between fields (say `idle + active != threads` for an
    /// instant).
    pub fn stats(&self) -> PoolStats {
        stats_of(&self.owner.shared)
    }

    /// Shuts the pool down: Python's `executor.shutdown(wait=True, cancel_futures=True)`, with
    /// a time limit. Blocks the calling thread, so call it when the loop is shutting down, or
    /// from a blocking context, not from a task that should keep the loop responsive.
    ///
    /// 1. The pool stops accepting jobs: later [`spawn`](ThreadPool::spawn)s give jobs already
    ///    failed with [`JobError::Cancelled`].
    /// 2. Jobs still queued never start: their awaiters get [`JobError::Cancelled`].
    /// 3. Running jobs are waited for, up to `timeout`, and every thread is joined.
    ///
    /// Returns `true` if every thread exited in time. Otherwise `false`, and the threads still
    /// running a job are left *detached*: they finish that job (a thread cannot be
    /// interrupted), deliver its result, and exit; nothing waits for them any more unless
    /// `shutdown` is called again, which waits anew. `Duration::ZERO` does not wait at all.
    ///
    /// Called from one of this pool's own jobs, it waits for the *other* threads only (a
    /// thread cannot wait for itself), and that thread exits once its job returns.
    ///
    /// Dropping the last clone of a pool does steps 1 and 2 without waiting.
    ///
    /// [`JobError::Cancelled`]: super::JobError::Cancelled
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let shared = &self.owner.shared;
        shared.close();
        shared.wait_for_threads(timeout)
    }
}

/// The statistics of the pool behind `shared` (also read by the pool registry).
pub(crate) fn stats_of(shared: &Shared) -> PoolStats {
    let c = &shared.counters;
    PoolStats {
        name_prefix: shared.name_prefix.clone(),
        max_workers: shared.max_workers,
        threads: c.threads.load(Relaxed),
        idle: c.idle.load(Relaxed),
        active: c.active.load(Relaxed),
        queued: c.queued.load(Relaxed),
        completed: c.completed.load(Relaxed),
        panicked: c.panicked.load(Relaxed),
        cancelled: c.cancelled.load(Relaxed),
        rejected: c.rejected.load(Relaxed),
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ThreadPool").field(&self.stats()).finish()
    }
}

/// Configures a [`ThreadPool`]; made by [`ThreadPool::builder`].
///
/// ```
/// use kairos_rt::executor::ThreadPool;
///
/// // At most 40 threads (anyio's default for sync routes) and 1000 waiting jobs; past that,
/// // spawn returns jobs already failed with JobError::QueueFull.
/// let pool = ThreadPool::builder()
///     .max_workers(40)
///     .thread_name_prefix("sync-route")
///     .queue_limit(Some(1000))
///     .build();
/// assert_eq!(pool.stats().max_workers, 40);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct ThreadPoolBuilder {
    max_workers: usize,
    name_prefix: String,
    queue_limit: Option<usize>,
}

impl ThreadPoolBuilder {
    /// The most threads the pool will run at once (`ThreadPoolExecutor(max_workers=...)`).
    /// Defaults to [`default_workers()`](super::default_workers). Must be at least 1, checked
    /// by [`build`](ThreadPoolBuilder::build).
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = max_workers;
        self
    }

    /// Names the threads `{prefix}_{i}`, `i` counting from 0, as
    /// `ThreadPoolExecutor(thread_name_prefix=...)` does. They show up in
    /// `std::thread::current().name()`, panic messages, debuggers and `top -H` (where Linux
    /// cuts names to 15 bytes). An empty prefix means the default, `"kairos-pool"`.
    ///
    /// # Panics
    ///
    /// [`build`](ThreadPoolBuilder::build) panics if the prefix contains a NUL byte, which no
    /// OS thread name can hold.
    pub fn thread_name_prefix(mut self, prefix: &str) -> Self {
        self.name_prefix = if prefix.is_empty() { DEFAULT_PREFIX } else { prefix }.to_owned();
        self
    }

    /// Bounds the jobs waiting for a thread: `None` (the default, as in Python) means
    /// unbounded. With `Some(n)`, a job that would be the `n + 1`-th waiting is rejected at
    /// once with [`JobError::QueueFull`]: `spawn` never blocks for room.
    ///
    /// Only jobs that must *wait* count: a job an idle thread (or a thread the pool may still
    /// start) takes at once is always accepted. So `Some(0)` means "run now or refuse", and
    /// `max_workers + n` jobs can be in the pool at most.
    ///
    /// [`JobError::QueueFull`]: super::JobError::QueueFull
    pub fn queue_limit(mut self, limit: Option<usize>) -> Self {
        self.queue_limit = limit;
        self
    }

    /// Makes the pool. No thread starts until the first job arrives.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0, or the thread-name prefix contains a NUL byte.
    pub fn build(self) -> ThreadPool {
        assert!(
            self.max_workers > 0,
            "a ThreadPool needs max_workers >= 1 (got 0): a pool without threads could never \
             run a job; use kairos_rt::executor::default_workers() for asyncio's default"
        );
        assert!(
            !self.name_prefix.contains('\0'),
            "a ThreadPool's thread_name_prefix cannot contain a NUL byte (got {:?})",
            self.name_prefix
        );
        let shared = Arc::new(Shared::new(self.name_prefix, self.max_workers, self.queue_limit));
        super::registry::register(&shared);
        ThreadPool { owner: Arc::new(Owner { shared }) }
    }
}

/// A snapshot of a [`ThreadPool`], from [`ThreadPool::stats`].
///
/// Gauges (`threads`, `idle`, `active`, `queued`) say what the pool is doing now; counters
/// (`completed`, `panicked`, `cancelled`, `rejected`) only grow. Every job submitted ends up in
/// exactly one counter, once it is over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The threads' name prefix: they are `{name_prefix}_{i}`.
    pub name_prefix: String,
    /// The most threads the pool runs at once.
    pub max_workers: usize,
    /// Threads alive now (started lazily, up to `max_workers`, until shutdown).
    pub threads: usize,
    /// Threads not running a job: waiting for one, or about to take one.
    pub idle: usize,
    /// Threads running a job.
    pub active: usize,
    /// Jobs waiting for a thread. A waiting job whose [`Job`] was dropped no longer counts.
    pub queued: usize,
    /// Jobs that ran and returned, whether or not anyone took the result.
    pub completed: u64,
    /// Jobs that ran and panicked ([`JobError::Panicked`](super::JobError::Panicked)).
    pub panicked: u64,
    /// Jobs that never ran: their [`Job`] was dropped before they started, or the pool shut
    /// down before they started (including jobs submitted after shutdown).
    pub cancelled: u64,
    /// Jobs refused because the queue was full
    /// ([`JobError::QueueFull`](super::JobError::QueueFull)).
    pub rejected: u64,
}
