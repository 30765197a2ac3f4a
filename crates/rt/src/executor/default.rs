//! Each loop's default executor and [`to_thread`] — asyncio's `run_in_executor(None, f)`.

use std::sync::OnceLock;
use std::time::Duration;

use super::{Job, ThreadPool};
use crate::context;

/// A loop's default executor: a [`ThreadPool`] of `min(32, cores + 4)` threads named
/// `kairos-default_{i}`, started on first use and shut down with the loop.
pub(crate) struct DefaultExecutor {
    workers: usize,
    pool: OnceLock<ThreadPool>,
}

impl DefaultExecutor {
    pub(crate) fn new(workers: usize) -> Self {
        DefaultExecutor { workers, pool: OnceLock::new() }
    }

    pub(crate) fn pool(&self) -> &ThreadPool {
        self.pool.get_or_init(|| {
            ThreadPool::builder()
                .max_workers(self.workers)
                .thread_name_prefix("kairos-default")
                .build()
        })
    }

    /// Stops the pool, waiting up to `timeout` for running jobs (asyncio.run's
    /// `shutdown_default_executor`).
    pub(crate) fn shutdown(&self, timeout: Duration) {
        if let Some(pool) = self.pool.get() {
            if !pool.shutdown(timeout) {
                tracing::warn!(
                    target: "kairos::executor",
                    "default executor jobs still running after {timeout:?} at loop shutdown; \
                     their threads are left to finish on their own"
                );
            }
        }
    }
}

/// Runs blocking `f` on the current loop's default executor — asyncio's
/// `await asyncio.to_thread(f)` and `loop.run_in_executor(None, f)`.
///
/// The loop keeps serving other tasks while `f` runs. Dropping the returned [`Job`] before it
/// starts means it never runs; once running, a thread cannot be interrupted, so only the
/// result is discarded.
///
/// # Panics
/// Outside a running loop.
///
/// ```
/// use std::time::Duration;
/// kairos_rt::run(async {
///     // time.sleep in a def route: fine on a thread, fatal on the loop.
///     let slept = kairos_rt::to_thread(|| std::thread::sleep(Duration::from_millis(10)));
///     slept.await.unwrap();
/// });
/// ```
pub fn to_thread<F, T>(f: F) -> Job<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    context::expect_core("kairos_rt::to_thread", |core| core.default_executor.pool().spawn(f))
}

/// A handle to the current loop's default executor (a clone sharing the same threads).
///
/// # Panics
/// Outside a running loop.
pub fn default_executor() -> ThreadPool {
    context::expect_core("kairos_rt::executor::default_executor", |core| {
        core.default_executor.pool().clone()
    })
}
