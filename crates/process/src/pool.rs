//! [`ProcessPool`] and its builder: the public face of the pool.

use std::any::TypeId;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::driver;
use crate::error::ProcessJobError;
use crate::job::{JobSlot, ProcessJob};
use crate::protocol::{self, EncodeError, Request};
use crate::registry::{self, ProcessFn};
use crate::shared::{bump, Config, PoolShared};
use crate::stats::ProcessPoolStats;

/// How long a new worker has to start and say it is ready, by default.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of worker processes that run registered functions: Python's
/// `concurrent.futures.ProcessPoolExecutor`, for isolation and for work that must be
/// stoppable.
///
/// In Rust, threads already run in parallel (there is no GIL), so CPU-bound work that is
/// trusted belongs on a [`ThreadPool`](kairos_rt::ThreadPool): it costs no copying. A process
/// pool is for what threads cannot give:
///
/// - **isolation**: a job that crashes (a segfault in a C library, an `abort`, a panic in a
///   `panic = "abort"` build), leaks memory or calls `exit` takes down its worker, not the
///   server. The job fails with [`ProcessJobError::Crashed`] saying how the worker ended, a
///   new worker takes its place, and the pool keeps its size. (Python's pool is *broken* for
///   good after one such crash.)
/// - **real cancellation**: dropping a job's [`ProcessJob`] — a timeout, a client gone —
///   kills the worker running it; a thread cannot be stopped mid-way.
///
/// # The complete picture
///
/// ```
/// use std::time::Duration;
/// use kairos_process::{worker_main, ProcessFn, ProcessJobError, ProcessPool};
///
/// // 1. Jobs are plain functions with serde arguments and results, registered by name.
/// fn cpu_intensive_task(n: u64) -> u64 {
///     (0..n).map(|i| i.wrapping_mul(i)).fold(0, u64::wrapping_add)
/// }
/// static CPU_TASK: ProcessFn<u64, u64> = ProcessFn::new("cpu_intensive_task", cpu_intensive_task);
///
/// fn main() {
///     // 2. The one line: in a worker process this serves jobs and never returns.
///     worker_main(&[&CPU_TASK]);
///
///     kairos_rt::run(async {
///         // 3. A pool on this loop: ProcessPoolExecutor(max_workers=2).
///         let pool = ProcessPool::new(2);
///         // result = await loop.run_in_executor(process_pool, cpu_intensive_task, 10_000)
///         let result = pool.spawn(&CPU_TASK, 10_000).await?;
///         assert_eq!(result, cpu_intensive_task(10_000));
///
///         // A deadline that really stops the work: the worker is killed and replaced.
///         let late = kairos_rt::timeout(Duration::from_millis(1), pool.spawn(&CPU_TASK, u64::MAX));
///         assert!(late.await.is_err());
///
///         pool.shutdown(Duration::from_secs(5)).await;
///         Ok::<_, ProcessJobError>(())
///     })
///     .unwrap();
/// }
/// ```
///
/// # How it works
///
/// Workers are this same binary, executed again (`/proc/self/exe`) with an environment
/// variable that [`worker_main`](crate::worker_main), the first line of `main`, recognises.
/// Each worker talks to the pool over two pipes registered with the loop's reactor: a job
/// travels as its registered name and its postcard-encoded argument, in a length-prefixed
/// frame, and the result comes back the same way. A job's `println!` goes to the pool's
/// stderr, never into the pipe. A worker's exit is seen through a pidfd on the reactor, so
/// the loop never blocks on a child and never reaps one that is not its own.
///
/// The pool belongs to the loop that created it (`!Send`, like sockets): its pipes are on
/// that loop's reactor, and one loop task per worker slot (a *driver*) keeps the worker
/// alive and feeds it jobs. So jobs start as soon as they are submitted, in order, whether or
/// not their `ProcessJob` is polled yet. Workers start when the pool is made, on the loop's
/// next turn; each costs a `fork`+`exec` and the program's start-up.
///
/// # Costs (the chapter's caution 4)
///
/// A job's argument and result are encoded and copied through a pipe, each way: about 10 µs
/// for a trivial job on a 2-core machine (Python's pool: 250 µs), and close to a millisecond
/// per megabyte of argument (`BENCHMARKS.md` has the figures, beside Python's). Send work
/// worth more than that, or a path instead of the data; send a large argument you keep with
/// [`spawn_ref`](ProcessPool::spawn_ref), and large byte buffers as `serde_bytes::ByteBuf`.
///
/// # Shutting down
///
/// [`shutdown`](ProcessPool::shutdown) stops accepting jobs, cancels queued ones, waits for
/// running ones up to a timeout (then kills their workers) and reaps every worker: no zombie
/// is left. Dropping the last clone of the pool does the same without waiting: running jobs
/// finish in the background (if their `ProcessJob` is still awaited), idle workers exit, and
/// the loop's shutdown kills whatever is still running.
///
/// # Requirements
///
/// `worker_main` must have run in this process (it is the first line of `main`), or building
/// a pool panics: a worker started without it would run the program itself. Rust ignores
/// `SIGPIPE`, which the pool relies on to see a dead worker's pipe as an error; a program
/// that restores the default `SIGPIPE` handler must not use a process pool.
#[derive(Clone)]
pub struct ProcessPool {
    owner: Rc<Owner>,
}

/// The users' share of the pool; the drivers and jobs hold the `PoolShared` too, so "the
/// last clone is dropped" is this struct's `Drop`.
struct Owner {
    shared: Rc<PoolShared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl ProcessPool {
    /// A pool of `max_workers` worker processes with an unbounded queue:
    /// `ProcessPoolExecutor(max_workers=n)`. Same as
    /// `ProcessPool::builder().max_workers(n).build()`.
    ///
    /// # Panics
    ///
    /// Outside a running loop, if `max_workers` is 0, or if
    /// [`worker_main`](crate::worker_main) has not run in this process.
    pub fn new(max_workers: usize) -> ProcessPool {
        ProcessPool::builder().max_workers(max_workers).build()
    }

    /// A builder. Its defaults: as many workers as cores (Python's default), an unbounded
    /// queue, 10 s for a worker to start.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            max_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue_limit: None,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// Submits `job` with `args` and returns its [`ProcessJob`], a future of the result:
    /// `loop.run_in_executor(process_pool, job, args)`.
    ///
    /// The argument is encoded here, on the loop (for a large argument that is the first of
    /// the copies caution 4 warns about), and the job is queued: a free worker takes it at
    /// once. Never waits and never fails synchronously: a job the pool refuses — not
    /// registered, too large, queue full, pool shut down — is born finished with the
    /// [`ProcessJobError`] that says why.
    ///
    /// Several arguments go as a tuple: `pool.spawn(&RESIZE, (path, 800, 600))`. To send a
    /// large argument you want to keep, use [`spawn_ref`](ProcessPool::spawn_ref): only its
    /// encoding travels, so there is nothing to clone.
    pub fn spawn<A, R>(&self, job: &ProcessFn<A, R>, args: A) -> ProcessJob<R>
    where
        A: Serialize + 'static,
        R: DeserializeOwned + 'static,
    {
        self.spawn_ref(job, &args)
    }

    /// [`spawn`](ProcessPool::spawn) with a borrowed argument: it is encoded at once, so the
    /// caller keeps it and no copy of it is made besides the encoding (Python, too, only
    /// pickles the object it is given).
    pub fn spawn_ref<A, R>(&self, job: &ProcessFn<A, R>, args: &A) -> ProcessJob<R>
    where
        A: Serialize + 'static,
        R: DeserializeOwned + 'static,
    {
        let shared = &self.owner.shared;
        let id = shared.next_id();
        let name = job.name();
        let refuse = |error: ProcessJobError| {
            let counter = match error {
                ProcessJobError::Cancelled => &shared.counters.cancelled,
                ProcessJobError::Failed(_) => &shared.counters.failed,
                _ => &shared.counters.rejected,
            };
            bump(counter);
            ProcessJob::new(Rc::new(JobSlot::rejected(id, name, error)), Rc::clone(shared))
        };
        if let Err(message) = shared.registry.check(name, TypeId::of::<(A, R)>()) {
            return refuse(ProcessJobError::NotRegistered(message));
        }
        let frame = protocol::start_in(shared.frame_buffer(), &Request { id, job: name }).and_then(
            |frame| {
                protocol::finish(postcard::to_extend(args, frame).map_err(EncodeError::Serialize)?)
            },
        );
        let frame = match frame {
            Ok(frame) => frame,
            Err(EncodeError::TooLarge(bytes)) => return refuse(ProcessJobError::TooLarge(bytes)),
            Err(EncodeError::Serialize(e)) => {
                return refuse(ProcessJobError::Failed(format!(
                    "the argument of job {name:?} could not be encoded: {e}"
                )))
            }
        };
        let slot = Rc::new(JobSlot::new(id, name, frame));
        match shared.submit(Rc::clone(&slot)) {
            Ok(()) => ProcessJob::new(slot, Rc::clone(shared)),
            Err(error) => refuse(error),
        }
    }

    /// A snapshot of the pool's gauges and counters (also listed, with every other pool of
    /// this loop, by [`kairos_process::stats()`](crate::stats)).
    pub fn stats(&self) -> ProcessPoolStats {
        self.owner.shared.stats()
    }

    /// The process ids of the workers alive now, in slot order (a slot whose worker is being
    /// replaced is missing for that moment). For monitoring, and for tests that check a
    /// killed worker is really gone.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.owner.shared.pids()
    }

    /// Waits until every worker has started and said it is ready (or `limit` passes; returns
    /// whether they all did). A pool works without calling this — jobs wait in the queue for
    /// their worker — but benchmarks and tests like a warm pool.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        let shared = &self.owner.shared;
        let deadline = std::time::Instant::now() + limit;
        loop {
            let alive = shared.pids().len();
            if alive == shared.config.max_workers {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            kairos_rt::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Shuts the pool down, without blocking the loop: Python's
    /// `executor.shutdown(wait=True, cancel_futures=True)`, with a time limit.
    ///
    /// 1. The pool stops accepting jobs: later [`spawn`](ProcessPool::spawn)s give jobs
    ///    already failed with [`ProcessJobError::Cancelled`].
    /// 2. Queued jobs never start: their awaiters get [`ProcessJobError::Cancelled`].
    /// 3. Idle workers are told to exit (their request pipe is closed); running jobs are
    ///    waited for, up to `timeout`, and their workers then exit too.
    /// 4. Workers still running a job when `timeout` is up are killed; their jobs fail with
    ///    [`ProcessJobError::KilledAtShutdown`].
    ///
    /// Every worker is reaped before this returns: no zombie is left. Returns `true` if all
    /// running jobs finished in time, `false` if some had to be killed.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        let shared = &self.owner.shared;
        shared.close();
        let in_time =
            kairos_rt::timeout(timeout, poll_fn(|cx| shared.poll_stopped(cx))).await.is_ok();
        if !in_time {
            shared.kill_all();
            poll_fn(|cx| shared.poll_stopped(cx)).await;
        }
        in_time
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessPool").field(&self.stats()).finish()
    }
}

/// Configures a [`ProcessPool`]; made by [`ProcessPool::builder`].
///
/// ```no_run
/// # use std::time::Duration;
/// # kairos_rt::run(async {
/// use kairos_process::ProcessPool;
///
/// // 4 workers, at most 100 jobs waiting (then spawn gives QueueFull), 30 s to start.
/// let pool = ProcessPool::builder()
///     .max_workers(4)
///     .queue_limit(Some(100))
///     .start_timeout(Duration::from_secs(30))
///     .build();
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct ProcessPoolBuilder {
    max_workers: usize,
    queue_limit: Option<usize>,
    start_timeout: Duration,
}

impl ProcessPoolBuilder {
    /// The number of worker processes (`ProcessPoolExecutor(max_workers=...)`). Defaults to
    /// the number of cores. The pool keeps exactly this many alive, replacing any that die.
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = max_workers;
        self
    }

    /// Bounds the jobs waiting for a worker: `None` (the default, as in Python) means
    /// unbounded. With `Some(n)`, a job that would be the `n + 1`-th waiting is refused at
    /// once with [`ProcessJobError::QueueFull`]; a job a worker can take now always gets in.
    pub fn queue_limit(mut self, limit: Option<usize>) -> Self {
        self.queue_limit = limit;
        self
    }

    /// How long a new worker has to start and report ready before it is killed and counted
    /// as a failed start (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Makes the pool on the current loop; its workers start on the loop's next turn.
    ///
    /// # Panics
    ///
    /// Outside a running loop, if `max_workers` is 0, or if
    /// [`worker_main`](crate::worker_main) has not run in this process.
    pub fn build(self) -> ProcessPool {
        assert!(
            self.max_workers > 0,
            "a ProcessPool needs max_workers >= 1 (got 0): a pool without workers could never \
             run a job"
        );
        let Some(registry) = registry::installed() else {
            panic!(
                "a ProcessPool needs kairos_process::worker_main(&[...]) as the first \
                 statement of main: its workers are this binary started again, and without \
                 that line they would run the program itself instead of serving jobs"
            );
        };
        if kairos_rt::Handle::try_current().is_none() {
            panic!(
                "kairos_process::ProcessPool::build needs a running kairos event loop, and none \
                 runs on this thread; call it from inside kairos_rt::run(...) (asyncio: 'no \
                 running event loop')"
            );
        }
        let config = Config {
            max_workers: self.max_workers,
            queue_limit: self.queue_limit,
            start_timeout: self.start_timeout,
        };
        let shared = PoolShared::new(config, registry);
        for index in 0..self.max_workers {
            let name = format!("kairos-process-worker-{index}");
            kairos_rt::spawn_named(name, driver::drive(Rc::clone(&shared), index)).detach();
        }
        ProcessPool { owner: Rc::new(Owner { shared }) }
    }
}
