//! The per-worker half of an [`App`](crate::App): its sync limiter and sync pool, and its
//! worker states ([`App::worker_state`](crate::App::worker_state)).
//!
//! FastAPI runs `def` routes through anyio's thread limiter: 40 tokens per process. Here each
//! worker (one loop, one thread) has its own [`Semaphore`] of
//! [`App::sync_tokens`](crate::App::sync_tokens) tokens — loop-local, FIFO, cancel-safe — and a
//! [`ThreadPool`] of as many threads, named `kairos-sync_{i}`. A sync handler takes a token
//! (waiting in line if none is free, up to the request timeout), runs on the pool, and gives
//! the token back when the job ends. Since the pool has exactly as many threads as tokens, a
//! job never waits in the pool's queue, and the pool never runs more than the limit at once.
//!
//! The token belongs to the job, not to the request: a thread cannot be stopped half-way, so
//! when a client goes away and its request's future is dropped, the job runs on and keeps its
//! token until it ends (see [`TokenHeld`]). Were the token given back at once, the next
//! request would take it and queue its job behind a thread that is still busy, and clients
//! that leave would make the queue grow without bound.
//!
//! Worker states are made by the worker's lifespans when the worker starts, on its loop
//! (`lifespan.rs`), and live as long as its service. Extractors see only the request, whose extensions must be `Send`, so
//! a routed request carries its worker's id and [`WorkerState`](crate::WorkerState) finds
//! the states in this thread's table of workers (one entry per App served on the thread).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use kairos_rt::executor::{Job, JobError};
use kairos_rt::ThreadPool;
use kairos_sync::{Permit, Semaphore};

use crate::handler::job_response;
use crate::response::IntoResponse;
use crate::{HttpError, Response};

/// The thread-name prefix of the sync pool: threads are `kairos-sync_0`, `kairos-sync_1`, ...
pub const SYNC_THREAD_PREFIX: &str = "kairos-sync";

/// One worker's states, by type.
pub(crate) type WorkerStates = HashMap<TypeId, Rc<dyn Any>>;

thread_local! {
    /// The states of the workers whose loop runs on this thread, by worker id.
    static WORKER_STATES: RefCell<HashMap<u64, Rc<WorkerStates>>> = RefCell::new(HashMap::new());
}

/// Ids of worker contexts, unique in the process.
static NEXT_WORKER_ID: AtomicU64 = AtomicU64::new(0);

/// One worker's sync limiter and pool, and its worker states (opaque; made by the App for
/// each worker).
pub struct WorkerContext {
    id: u64,
    limiter: Semaphore,
    pool: ThreadPool,
    request_timeout: Duration,
    has_states: bool,
}

impl WorkerContext {
    /// Makes the worker's sync pool, and keeps `states` (made by its lifespans) in this
    /// thread's table: the worker's, under its loop.
    pub(crate) fn new(
        tokens: usize,
        request_timeout: Duration,
        states: WorkerStates,
    ) -> WorkerContext {
        let id = NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed);
        let has_states = !states.is_empty();
        if has_states {
            WORKER_STATES.with(|table| table.borrow_mut().insert(id, Rc::new(states)));
        }
        WorkerContext {
            id,
            limiter: Semaphore::new(tokens),
            pool: ThreadPool::builder()
                .max_workers(tokens)
                .thread_name_prefix(SYNC_THREAD_PREFIX)
                .build(),
            request_timeout,
            has_states,
        }
    }

    /// This worker's id, carried by its routed requests.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The state of type `T` of worker `id`, if that worker runs on this thread and has one.
    pub(crate) fn state<T: 'static>(id: u64) -> Option<Rc<T>> {
        let states = WORKER_STATES.with(|table| table.borrow().get(&id).cloned())?;
        Rc::clone(states.get(&TypeId::of::<T>())?).downcast::<T>().ok()
    }

    /// Runs `job` on the sync pool under the limiter; `503` if no token came in time.
    /// Runs `job` on the sync pool with one of the worker's tokens, waiting for a token as
    /// long as it takes (background tasks: no client is waiting for them).
    pub(crate) async fn run_blocking<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, JobError> {
        let Ok(permit) = self.limiter.acquire().await else { return Err(JobError::Cancelled) };
        TokenHeld { job: Some(self.pool.spawn(job)), permit: Some(permit) }.await
    }

    pub(crate) async fn run_sync<R>(&self, job: impl FnOnce() -> R + Send + 'static) -> Response
    where
        R: IntoResponse + Send + 'static,
    {
        let permit = match kairos_rt::timeout(self.request_timeout, self.limiter.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => {
                return HttpError::unavailable("the sync pool is closed: the worker is stopping")
                    .into_response()
            }
            Err(_elapsed) => {
                return HttpError::unavailable(format!(
                    "every sync worker stayed busy for {:?}; retry shortly (the server can \
                     raise App::sync_tokens or App::request_timeout)",
                    self.request_timeout
                ))
                .into_response()
            }
        };
        let result = TokenHeld { job: Some(self.pool.spawn(job)), permit: Some(permit) }.await;
        job_response(result)
    }
}

/// A sync job and the token it holds: the token goes back when the job ends, even if the
/// request that started it is dropped first (its client went away).
struct TokenHeld<R: Send + 'static> {
    // `Option`s so that `Drop` can move them into the task that waits for the job.
    job: Option<Job<R>>,
    permit: Option<Permit>,
}

impl<R: Send + 'static> Future for TokenHeld<R> {
    type Output = Result<R, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin` (a `Job` is a handle, a `Permit` an `Rc`).
        let this = self.get_mut();
        let Some(job) = this.job.as_mut() else {
            panic!("TokenHeld polled after it completed");
        };
        let result = std::task::ready!(Pin::new(job).poll(cx));
        this.job = None;
        this.permit = None; // the job is over: its token goes to the next request in line
        Poll::Ready(result)
    }
}

impl<R: Send + 'static> Drop for TokenHeld<R> {
    fn drop(&mut self) {
        let (Some(job), Some(permit)) = (self.job.take(), self.permit.take()) else { return };
        if job.is_finished() || kairos_rt::Handle::try_current().is_none() {
            // Finished: dropping both gives the token back, the result is not wanted. No loop
            // (its thread is tearing down): nobody is left to wait for the token either.
            return;
        }
        // The request is gone but its job runs on: a task on this loop (the request's
        // future is dropped on its worker's loop, or by the loop's shutdown, which lets
        // destructors spawn) waits for the job and then gives the token back. Only leaving
        // clients pay for it. Awaiting the job rather than dropping it also lets a job that
        // has not started yet run: it holds a token, so a thread is free for it at once.
        let waiter = kairos_rt::spawn_named("kairos-web: sync job of a departed client", async {
            let _ = job.await;
            drop(permit);
        });
        drop(waiter); // detached: the loop owns it until the job ends
    }
}

impl Drop for WorkerContext {
    fn drop(&mut self) {
        if self.has_states {
            // The states are dropped here, on the worker's thread, after its requests. At the
            // thread's exit the table may be gone already, with the states in it.
            let states =
                WORKER_STATES.try_with(|table| table.borrow_mut().remove(&self.id)).ok().flatten();
            drop(states);
        }
    }
}

impl fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerContext")
            .field("id", &self.id)
            .field("limiter", &self.limiter)
            .field("pool", &self.pool)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}
