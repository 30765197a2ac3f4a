//! The inside of a pool: the shared state, the loop each thread runs, and shutdown.
//!
//! One `Mutex<State>` guards the FIFO queue and the decisions made about threads; one
//! `Condvar` (`work_ready`) puts idle threads to sleep and another (`exited`) lets `shutdown`
//! wait for them. The gauges live in atomics so [`ThreadPool::stats`] never takes the lock;
//! `threads`, `idle` and `active` are only *written* under the lock, so the decisions below
//! can read them there as if they were plain fields. `queued` is also lowered without it, by a
//! dropped `Job`, which only ever makes room.
//!
//! Two counts drive the hot path:
//! - **`idle`**: threads not holding a job: asleep, just started, notified but not yet awake,
//!   or done with a job (a thread counts itself idle *before* publishing a result, so the
//!   awaiter's next job finds it). A submission starts a new thread only when the live queued
//!   jobs outnumber them, so a burst of `n` jobs does not start `n` threads to race for them,
//!   and an idle thread is reused rather than a new one started (Python's rule).
//! - **`waiting`**: threads asleep on `work_ready` and not yet notified. A submission notifies
//!   one only if there is one and the awake idle threads cannot take every queued job, so
//!   queueing behind busy threads, or handing a job to a thread that is just finishing one,
//!   costs no system call.
//!
//! [`ThreadPool::stats`]: super::ThreadPool::stats

use std::cell::Cell;
use std::collections::VecDeque;
use std::mem;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::error::JobError;
use super::job::Run;

/// The pool's gauges and counters; see [`PoolStats`](super::PoolStats) for their meaning.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) threads: AtomicUsize,
    pub(super) idle: AtomicUsize,
    pub(super) active: AtomicUsize,
    pub(super) queued: AtomicUsize,
    pub(super) completed: AtomicU64,
    pub(super) panicked: AtomicU64,
    pub(super) cancelled: AtomicU64,
    pub(super) rejected: AtomicU64,
}

/// What the pool's users and its threads share.
pub(super) struct Shared {
    /// Tells this pool's threads from others' (see [`WORKER_OF`]). Never 0.
    id: u64,
    pub(super) name_prefix: String,
    pub(super) max_workers: usize,
    queue_limit: Option<usize>,
    state: Mutex<State>,
    work_ready: Condvar,
    exited: Condvar,
    /// An idle thread is spinning for the next job (see `spin_for_work`).
    spinning: AtomicBool,
    pub(super) counters: Counters,
}

/// How long a thread that just finished a job spins for the next one before it sleeps.
/// A futex wake-up of a sleeping thread costs several µs on a virtual machine; a steady
/// stream of `to_thread` round trips (a sync route per request) never pays it.
const SPIN: Duration = Duration::from_micros(30);

struct State {
    jobs: VecDeque<Arc<dyn Run>>,
    /// Threads asleep on `work_ready` that no submission has notified yet. Never too low
    /// (that would strand a job); a spurious wake-up can make it too high, which only costs
    /// an unneeded notification.
    waiting: usize,
    /// Threads ever started: the next thread's name index.
    started: usize,
    shutdown: bool,
    handles: Vec<JoinHandle<()>>,
}

thread_local! {
    /// On a pool thread, the id of its pool; 0 elsewhere. Lets `shutdown` called from a job
    /// skip waiting for its own thread.
    static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

impl Shared {
    pub(super) fn new(name_prefix: String, max_workers: usize, queue_limit: Option<usize>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Relaxed),
            name_prefix,
            max_workers,
            queue_limit,
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                waiting: 0,
                started: 0,
                shutdown: false,
                handles: Vec::new(),
            }),
            work_ready: Condvar::new(),
            exited: Condvar::new(),
            spinning: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    // No user code runs under the pool lock (closures, results and wakers are all dropped or
    // called outside it), so poisoning can only follow an allocation failure; carry on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job. `Ok(Some(i))`: the caller must start thread number `i` (outside the lock,
    /// which is why this returns instead of starting it). `Err`: the job was refused.
    pub(super) fn submit(&self, job: Arc<dyn Run>) -> Result<Option<usize>, JobError> {
        let c = &self.counters;
        let mut state = self.lock();
        if state.shutdown {
            c.cancelled.fetch_add(1, Relaxed);
            return Err(JobError::Cancelled);
        }
        let threads = c.threads.load(Relaxed);
        let idle = c.idle.load(Relaxed);
        if let Some(limit) = self.queue_limit {
            // Jobs that would have to wait once this one is in: those beyond what idle threads
            // and not-yet-started threads will take at once.
            let takers = idle + (self.max_workers - threads);
            if c.queued.load(Relaxed) + 1 > limit.saturating_add(takers) {
                c.rejected.fetch_add(1, Relaxed);
                return Err(JobError::QueueFull);
            }
        }
        state.jobs.push_back(job);
        // fetch_add, not store: a dropped `Job` decrements `queued` without the pool lock.
        let queued = c.queued.fetch_add(1, Relaxed) + 1;
        let start_thread = if queued > idle && threads < self.max_workers {
            // The new thread counts as idle from now on, so the next submission sees it.
            c.threads.store(threads + 1, Relaxed);
            c.idle.store(idle + 1, Relaxed);
            state.started += 1;
            Some(state.started - 1)
        } else {
            None
        };
        // Idle threads that are awake (starting, finishing a job, or already notified) look at
        // the queue before they sleep; wake a sleeper only for jobs they cannot all take.
        let awake_idle = c.idle.load(Relaxed).saturating_sub(state.waiting);
        let notify = state.waiting > 0 && queued > awake_idle;
        if notify {
            state.waiting -= 1;
        }
        drop(state);
        if notify {
            self.work_ready.notify_one();
        }
        Ok(start_thread)
    }

    /// Starts thread `{prefix}_{index}`, already counted in `threads` and `idle` by `submit`.
    pub(super) fn start_thread(self: &Arc<Self>, index: usize) {
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("{}_{index}", self.name_prefix))
            .spawn(move || shared.work());
        match spawned {
            Ok(handle) => self.lock().handles.push(handle),
            Err(error) => {
                let threads_left = {
                    let _state = self.lock();
                    self.counters.idle.fetch_sub(1, Relaxed);
                    self.counters.threads.fetch_sub(1, Relaxed) - 1
                };
                if threads_left == 0 {
                    panic!(
                        "thread pool `{}` could not start a worker thread ({error}) and has none \
                         to run the job; lower max_workers or raise the process's thread limit",
                        self.name_prefix
                    );
                }
                tracing::error!(
                    pool = %self.name_prefix, %error, threads_left,
                    "could not start a worker thread; the job waits for a running one"
                );
            }
        }
    }

    /// The loop of one pool thread: take the oldest job, run it, repeat; sleep when the queue
    /// is empty; leave at shutdown once the queue is empty (shutdown empties it).
    fn work(self: Arc<Self>) {
        WORKER_OF.with(|id| id.set(self.id));
        tracing::debug!(pool = %self.name_prefix, "worker thread started");
        let _exit = ExitGuard(&self);
        let c = &self.counters;
        loop {
            let job = {
                let mut state = self.lock();
                let mut spun = false;
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        if job.claim(c) {
                            c.idle.fetch_sub(1, Relaxed);
                            c.active.fetch_add(1, Relaxed);
                            break job;
                        }
                        continue; // its Job was dropped: discard, already counted
                    }
                    if state.shutdown {
                        c.idle.fetch_sub(1, Relaxed);
                        return;
                    }
                    if !spun && self.try_become_spinner() {
                        // Awake and not `waiting`, so a submission meanwhile skips the futex
                        // wake, and this thread takes the job within a fraction of a µs.
                        spun = true;
                        drop(state);
                        self.spin_for_work();
                        state = self.lock();
                        continue;
                    }
                    state.waiting += 1;
                    state = self.work_ready.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
            };
            // The thread counts as idle again before the result is published, so an awaiter
            // that submits its next job straight away reuses it instead of starting another.
            let release_thread = || {
                let _state = self.lock();
                c.active.fetch_sub(1, Relaxed);
                c.idle.fetch_add(1, Relaxed);
            };
            let waker = job.run(c, &release_thread);
            drop(job); // may be the last reference: frees the cell off the lock
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Only one idle thread spins at a time: enough to catch the next job of a steady stream
    /// of round trips, while the rest of an idle pool costs no CPU.
    fn try_become_spinner(&self) -> bool {
        !self.spinning.swap(true, Acquire)
    }

    /// Waits up to [`SPIN`] for a job to be queued, without sleeping.
    fn spin_for_work(&self) {
        let started = Instant::now();
        while self.counters.queued.load(Relaxed) == 0 && started.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        self.spinning.store(false, Release);
    }

    /// Stops accepting jobs, cancels the queued ones, and wakes the sleeping threads so they
    /// exit. Does not wait. Idempotent.
    pub(super) fn close(&self) {
        let drained = {
            let mut state = self.lock();
            state.shutdown = true;
            state.waiting = 0;
            mem::take(&mut state.jobs)
        };
        self.work_ready.notify_all();
        for job in drained {
            job.cancel(&self.counters); // outside the lock: wakes awaiters, drops closures
        }
    }

    /// After [`close`](Shared::close): waits up to `timeout` for the threads to exit, and
    /// joins them if they all did.
    pub(super) fn wait_for_threads(&self, timeout: Duration) -> bool {
        // A job calling shutdown on its own pool cannot wait for its own thread.
        let me = usize::from(WORKER_OF.with(Cell::get) == self.id);
        let deadline = Instant::now().checked_add(timeout); // None: too far to matter
        let mut state = self.lock();
        loop {
            let running = self.counters.threads.load(Relaxed);
            if running <= me {
                break;
            }
            let now = Instant::now();
            state = match deadline {
                None => self.exited.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) if now < deadline => {
                    let (state, _) = self
                        .exited
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner);
                    state
                }
                Some(_) => {
                    tracing::warn!(
                        pool = %self.name_prefix, running, ?timeout,
                        "shutdown timed out; threads still running a job are left detached"
                    );
                    return false;
                }
            };
        }
        let handles = mem::take(&mut state.handles);
        drop(state);
        let current = thread::current().id();
        for handle in handles {
            if handle.thread().id() != current {
                // Err only if the thread panicked outside a job, which `ExitGuard` has counted.
                let _ = handle.join();
            }
        }
        true
    }
}

/// Counts a pool thread out when it ends, even by a panic outside a job, so that `threads`
/// stays right and `shutdown` is not left waiting for a thread that is gone.
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        {
            let _state = shared.lock();
            shared.counters.threads.fetch_sub(1, Relaxed);
        }
        shared.exited.notify_all();
        tracing::debug!(pool = %shared.name_prefix, "worker thread exited");
    }
}
