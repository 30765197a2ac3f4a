//! The per-worker half of an [`App`](crate::App): its sync limiter and sync pool.
//!
//! FastAPI runs `def` routes through anyio's thread limiter: 40 tokens per process. Here each
//! worker (one loop, one thread) has its own [`Semaphore`] of
//! [`App::sync_tokens`](crate::App::sync_tokens) tokens — loop-local, FIFO, cancel-safe — and a
//! [`ThreadPool`] of as many threads, named `kairos-sync_{i}`. A sync handler takes a token
//! (waiting in line if none is free, up to the request timeout), runs on the pool, and gives
//! the token back. Since the pool has exactly as many threads as tokens, a job never waits in
//! the pool's queue, and the pool never runs more than the limit at once.

use std::fmt;
use std::time::Duration;

use kairos_rt::ThreadPool;
use kairos_sync::Semaphore;

use crate::handler::job_response;
use crate::response::IntoResponse;
use crate::{HttpError, Response};

/// The thread-name prefix of the sync pool: threads are `kairos-sync_0`, `kairos-sync_1`, ...
pub const SYNC_THREAD_PREFIX: &str = "kairos-sync";

/// One worker's sync limiter and pool (opaque; made by the App for each worker).
pub struct WorkerContext {
    limiter: Semaphore,
    pool: ThreadPool,
    request_timeout: Duration,
}

impl WorkerContext {
    pub(crate) fn new(tokens: usize, request_timeout: Duration) -> WorkerContext {
        WorkerContext {
            limiter: Semaphore::new(tokens),
            pool: ThreadPool::builder()
                .max_workers(tokens)
                .thread_name_prefix(SYNC_THREAD_PREFIX)
                .build(),
            request_timeout,
        }
    }

    /// Runs `job` on the sync pool under the limiter; `503` if no token came in time.
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
        // If the client goes away now, this future is dropped with the permit while the job
        // may still run; the pool (as many threads as tokens) still bounds what runs at once.
        let result = self.pool.spawn(job).await;
        drop(permit);
        job_response(result)
    }
}

impl fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerContext")
            .field("limiter", &self.limiter)
            .field("pool", &self.pool)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}
