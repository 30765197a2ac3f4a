//! [`Job<T>`]: the awaitable handle of one job, and the cell it shares with the pool.
//!
//! A job lives in a single allocation, a [`JobCell`]: the closure while it waits, then its
//! result, plus the waker of whoever awaits it, all behind one `Mutex`. The pool's queue holds
//! the cell as `Arc<dyn Run>` (the side that runs it) and the caller's [`Job`] holds the same
//! cell as `Arc<dyn Outcome<T>>` (the side that awaits it). The two traits erase the closure's
//! type, so the queue is one `VecDeque` and `Job` has only the result type as a parameter.
//!
//! The cell's life (every change happens under the cell's lock, so exactly one party makes it):
//!
//! | stage | holds | next, and who moves it there |
//! |---|---|---|
//! | `Queued(f)` | closure | `Claimed`: a worker pops it (under the pool lock); `Abandoned`: the `Job` is dropped (counted cancelled); `Done(Err(Cancelled))`: shutdown |
//! | `Claimed(f)` | closure | `Running`: the worker starts it; `Abandoned`: the `Job` is dropped (counted cancelled, never runs) |
//! | `Running` | nothing | `Done`: the closure returned or panicked; `Abandoned`: the `Job` is dropped (the result will be dropped) |
//! | `Done(r)` | result | `Taken`: the `Job` is polled; `Abandoned`: the `Job` is dropped (the result is dropped) |
//! | `Taken`, `Abandoned` | nothing | final |

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::JobError;
use super::worker::{Counters, Shared};

/// A job submitted to a [`ThreadPool`](super::ThreadPool): a future of its result.
///
/// Await it (from any executor: it only needs a [`Waker`]) to get the closure's return value, or
/// a [`JobError`] saying why there is none. The waker is woken from the pool thread that
/// finished the job, so on a kairos loop it goes through the loop's cross-thread wake-up; the
/// loop itself never blocks on the pool.
///
/// # Dropping a `Job` (asyncio: cancelling the awaiting task)
///
/// - **Before the job started**: the job never runs. Its closure is dropped right away (so what
///   it captured is freed), and the pool counts it in [`PoolStats::cancelled`].
/// - **While it runs**: the job runs to the end anyway, and its result is dropped on the pool
///   thread. *An OS thread cannot be interrupted*: neither Rust nor Python can stop a closure
///   half-way, so cancelling the awaiter frees the awaiter, not the thread. A job that should
///   stop early must check a flag it was given (an `Arc<AtomicBool>`, a closed channel).
/// - **After it finished**: the unclaimed result is dropped.
///
/// Note the contrast with a loop `Task`, which keeps running when its handle is dropped: a job
/// that nobody waits for is work nobody wants, so it is not started.
///
/// [`PoolStats::cancelled`]: super::PoolStats::cancelled
#[must_use = "a Job does nothing useful unless awaited; dropping it before it starts cancels it"]
pub struct Job<T> {
    cell: Arc<dyn Outcome<T>>,
    pool: Arc<Shared>,
}

impl<T> Job<T> {
    pub(super) fn new(cell: Arc<dyn Outcome<T>>, pool: Arc<Shared>) -> Self {
        Job { cell, pool }
    }

    /// Whether awaiting this job would complete at once: it ran (or panicked), was cancelled,
    /// was rejected, or its result was already taken. Handy to poll a job from synchronous
    /// code, or to check that [`ThreadPool::spawn`](super::ThreadPool::spawn) rejected it.
    pub fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }
}

impl<T> Future for Job<T> {
    type Output = Result<T, JobError>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`, like most futures.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll_result(cx)
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        self.cell.abandon(&self.pool.counters);
    }
}

impl<T> fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("finished", &self.is_finished()).finish()
    }
}

/// The pool's side of a job cell.
pub(super) trait Run: Send + Sync {
    /// Called by a worker, *under the pool lock*, when it pops the job: `Queued → Claimed`, so
    /// the pool's `queued` and `idle` counts change together. Returns `false` when the `Job`
    /// was dropped, in which case there is nothing to run.
    fn claim(&self, counters: &Counters) -> bool;

    /// Runs a claimed job to the end, catching a panic, and stores the result. Calls
    /// `release_thread` (the worker marking itself idle) once the closure is over but *before*
    /// the result is visible, so whoever sees the result also sees an idle thread to reuse.
    /// Returns the awaiter's waker, for the worker to wake outside every lock.
    fn run(&self, counters: &Counters, release_thread: &dyn Fn()) -> Option<Waker>;

    /// Shutdown: a job still in the queue fails with [`JobError::Cancelled`].
    fn cancel(&self, counters: &Counters);
}

/// The awaiting side of a job cell, behind [`Job`].
pub(super) trait Outcome<T>: Send + Sync {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>>;
    fn is_finished(&self) -> bool;
    /// The `Job` was dropped.
    fn abandon(&self, counters: &Counters);
}

enum Stage<F, T> {
    Queued(F),
    Claimed(F),
    Running,
    Done(Result<T, JobError>),
    Taken,
    Abandoned,
}

struct CellState<F, T> {
    stage: Stage<F, T>,
    waker: Option<Waker>,
}

/// The single allocation behind a job: closure, result and waker.
pub(super) struct JobCell<F, T> {
    state: Mutex<CellState<F, T>>,
}

impl<F, T> JobCell<F, T> {
    pub(super) fn new(f: F) -> Self {
        JobCell { state: Mutex::new(CellState { stage: Stage::Queued(f), waker: None }) }
    }

    /// The pool refused the job (`error` is `Cancelled` or `QueueFull`): it is born finished.
    pub(super) fn reject(&self, error: JobError) {
        let closure = mem::replace(&mut self.lock().stage, Stage::Done(Err(error)));
        drop(closure); // outside the lock: dropping captures may run arbitrary code
    }

    // No closure, result or waker is run or dropped under the cell lock (only a waker is
    // cloned), so a poisoned lock can only follow an allocation failure; its data is sound.
    fn lock(&self) -> MutexGuard<'_, CellState<F, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F, T> Run for JobCell<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn claim(&self, counters: &Counters) -> bool {
        let mut state = self.lock();
        match mem::replace(&mut state.stage, Stage::Abandoned) {
            Stage::Queued(f) => {
                state.stage = Stage::Claimed(f);
                counters.queued.fetch_sub(1, Relaxed);
                true
            }
            other => {
                state.stage = other;
                false
            }
        }
    }

    fn run(&self, counters: &Counters, release_thread: &dyn Fn()) -> Option<Waker> {
        let f = {
            let mut state = self.lock();
            match mem::replace(&mut state.stage, Stage::Running) {
                Stage::Claimed(f) => f,
                other => {
                    state.stage = other; // dropped between claim and run: stays Abandoned
                    drop(state);
                    release_thread();
                    return None;
                }
            }
        };
        // AssertUnwindSafe: after a panic the closure is gone and its captures were dropped
        // during unwinding; nothing half-updated is observed again except through the panic
        // message, which is the point.
        let result = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => {
                counters.completed.fetch_add(1, Relaxed);
                Ok(value)
            }
            Err(payload) => {
                counters.panicked.fetch_add(1, Relaxed);
                Err(JobError::Panicked(panic_message(payload)))
            }
        };
        release_thread();
        let mut state = self.lock();
        if let Stage::Running = state.stage {
            state.stage = Stage::Done(result);
            state.waker.take()
        } else {
            drop(state); // Abandoned while running: nobody wants the result
            discard(result);
            None
        }
    }

    fn cancel(&self, counters: &Counters) {
        let (closure, waker) = {
            let mut state = self.lock();
            if !matches!(state.stage, Stage::Queued(_)) {
                return; // Abandoned: already counted when its Job was dropped
            }
            counters.queued.fetch_sub(1, Relaxed);
            counters.cancelled.fetch_add(1, Relaxed);
            let closure = mem::replace(&mut state.stage, Stage::Done(Err(JobError::Cancelled)));
            (closure, state.waker.take())
        };
        drop(closure);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<F, T> Outcome<T> for JobCell<F, T>
where
    F: Send,
    T: Send,
{
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut state = self.lock();
        match mem::replace(&mut state.stage, Stage::Taken) {
            Stage::Done(result) => Poll::Ready(result),
            Stage::Taken | Stage::Abandoned => panic!("a kairos Job was polled after completion"),
            pending => {
                state.stage = pending;
                let replaced = match &state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => None,
                    _ => state.waker.replace(cx.waker().clone()),
                };
                drop(state);
                drop(replaced);
                Poll::Pending
            }
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self.lock().stage, Stage::Done(_) | Stage::Taken)
    }

    fn abandon(&self, counters: &Counters) {
        let (previous, waker) = {
            let mut state = self.lock();
            let previous = match state.stage {
                Stage::Taken => None,
                _ => Some(mem::replace(&mut state.stage, Stage::Abandoned)),
            };
            (previous, state.waker.take())
        };
        match previous {
            Some(Stage::Queued(_)) => {
                counters.queued.fetch_sub(1, Relaxed);
                counters.cancelled.fetch_add(1, Relaxed);
            }
            Some(Stage::Claimed(_)) => {
                counters.cancelled.fetch_add(1, Relaxed); // popped, but `run` will skip it
            }
            _ => {}
        }
        // The unrun closure or the unclaimed result is dropped here, outside the lock.
        drop(previous);
        drop(waker);
    }
}

/// The text of a panic: `panic!` gives a `&'static str` or a `String`; anything else (from
/// `panic_any`) gets a placeholder.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = crate::task::panic_message(payload.as_ref());
    discard(payload);
    message
}

/// Drops a value on a worker thread. A destructor may panic too; that must not take the
/// thread down.
fn discard<V>(value: V) {
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
}
