//! Thread pools for blocking work: asyncio's `run_in_executor` and `ThreadPoolExecutor`.
//!
//! # The model
//!
//! The event loop runs every task on one thread, so a task that blocks (`std::fs`, a
//! synchronous database driver, `thread::sleep`, a long computation) stalls all the others.
//! Such work goes to a [`ThreadPool`]: a set of OS threads fed by one FIFO job queue. Handing a
//! closure to the pool returns a [`Job<T>`](Job) at once, a future that completes with the
//! closure's result when a pool thread has run it. Awaiting it suspends only the awaiting task;
//! the loop goes on running the others and never blocks on the pool. When the job ends, the
//! pool thread wakes the task's [`Waker`](std::task::Waker), which on a kairos loop is the
//! loop's cross-thread waker, and the task resumes on the loop with the value.
//!
//! ```
//! use kairos_rt::executor::{run_in_executor, ThreadPool};
//!
//! let pool = ThreadPool::new(4);
//! let task = async {
//!     // result = await loop.run_in_executor(pool, time.sleep, 0.01)
//!     run_in_executor(&pool, || std::thread::sleep(std::time::Duration::from_millis(10))).await
//! };
//! futures::executor::block_on(task).unwrap();
//! ```
//!
//! | asyncio / `concurrent.futures` | kairos |
//! |---|---|
//! | `ThreadPoolExecutor(max_workers=4, thread_name_prefix="cpu")` | `ThreadPool::builder().max_workers(4).thread_name_prefix("cpu").build()` |
//! | `ThreadPoolExecutor()` (default size) | [`ThreadPool::builder().build()`](ThreadPool::builder): [`default_workers()`] threads |
//! | `await loop.run_in_executor(pool, f, *args)` | [`run_in_executor(&pool, move \|\| f(args)).await`](run_in_executor), or `pool.spawn(..)` |
//! | `loop.run_in_executor(None, f)` / `asyncio.to_thread(f)` | the loop's default pool, a `ThreadPool` of [`default_workers()`] threads (the loop provides it) |
//! | `functools.partial(f, *args)` | a `move` closure |
//! | the exception `f` raised | [`JobError::Panicked`] (return a `Result` for expected failures) |
//! | `future.cancel()` / cancelling the awaiting task | drop the [`Job`] |
//! | `executor.shutdown(wait=True, cancel_futures=True)` | [`ThreadPool::shutdown(timeout)`](ThreadPool::shutdown) |
//!
//! # What cancellation can and cannot do
//!
//! **A running job cannot be stopped.** OS threads cannot be interrupted, in Rust as in Python,
//! so cancelling the task that awaits a job (dropping its [`Job`], a timeout) only *discards
//! the result*: the thread keeps running the closure to the end and stays busy meanwhile. What
//! cancellation does stop is a job that has not started yet: it never runs. A long job that
//! should be stoppable must check a flag it was given.
//!
//! # Where kairos differs from Python
//!
//! - The queue can be bounded ([`ThreadPoolBuilder::queue_limit`]); a full queue rejects at
//!   once with [`JobError::QueueFull`] instead of growing without end. `spawn` never blocks.
//! - Shutdown always cancels queued jobs (Python's `cancel_futures=True`) and waits for running
//!   ones with a time limit, not forever.
//! - Dropping a job's handle before it starts cancels it (Python runs a forgotten future's job).
//! - [`ThreadPool::stats`] shows threads, queue and outcomes, cheaply, for dashboards, and
//!   [`pool_stats`] shows every pool alive in the process.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this overview, [`run_in_executor`], [`default_workers`] |
//! | `thread_pool.rs` | [`ThreadPool`], [`ThreadPoolBuilder`], [`PoolStats`]: the public face |
//! | `worker.rs` | the shared state, the worker threads' loop, shutdown |
//! | `job.rs` | [`Job`]: the future of one job, and the cell it shares with the pool |
//! | `error.rs` | [`JobError`] |
//! | `registry.rs` | [`pool_stats`]: every live pool, registered when built |
//! | `tests.rs` | the behaviour above, as tests |

mod default;
mod error;
mod job;
mod registry;
mod thread_pool;
mod worker;

#[cfg(test)]
mod tests;

pub(crate) use default::DefaultExecutor;
pub use default::{default_executor, to_thread};
pub use error::JobError;
pub use job::Job;
pub use registry::pool_stats;
pub use thread_pool::{PoolStats, ThreadPool, ThreadPoolBuilder};

/// Runs `f` on `pool` and returns a future of its result: asyncio's
/// `loop.run_in_executor(pool, f)`, and the same as [`pool.spawn(f)`](ThreadPool::spawn).
///
/// Python's extra positional arguments become captures of a `move` closure:
/// `loop.run_in_executor(pool, heavy_computation, data)` is
/// `run_in_executor(&pool, move || heavy_computation(data))`.
pub fn run_in_executor<F, T>(pool: &ThreadPool, f: F) -> Job<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pool.spawn(f)
}

/// The default pool size, `min(32, cores + 4)`: Python's `ThreadPoolExecutor` default since
/// 3.8, where `cores` is [`std::thread::available_parallelism`] (1 if unknown).
///
/// The `+ 4` keeps a few threads for I/O-bound jobs even on one core; the cap of 32 keeps a
/// big machine from starting hundreds of threads that mostly sleep. CPU-bound work wants a
/// separate pool of about `cores` threads instead, so it does not crowd out blocking I/O.
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}
