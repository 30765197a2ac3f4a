//! # kairos-process — a process pool that survives crashes, and async subprocesses
//!
//! asyncio's `ProcessPoolExecutor` and `create_subprocess_exec` for the kairos loop: a
//! [`ProcessPool`] whose jobs are isolated and killable, and [`Command`]/[`Child`] whose
//! pipes and exit suspend only the awaiting task. It is built on `kairos-rt`'s public API
//! alone — [`kairos_rt::io::Async`] puts the pipes and the pidfd on the loop's reactor, and
//! each pool's drivers are ordinary named tasks — as async-process is built on async-io. The
//! `kairos` facade re-exports it as `kairos::process`.
//!
//! # The process pool: what threads cannot give
//!
//! The chapter (section 6) sends CPU-bound work to a `ProcessPoolExecutor` because Python's
//! GIL keeps threads from running Python code in parallel. Rust has no GIL: a
//! [`ThreadPool`](kairos_rt::ThreadPool) already runs CPU-bound closures on every core, with no
//! copying. So kairos' [`ProcessPool`] is for the two things only a process gives:
//!
//! - **Isolation.** A job that segfaults, aborts, leaks or calls `exit` ends its worker
//!   process, not the server. Only that job fails ([`ProcessJobError::Crashed`], saying which
//!   signal or exit code), a new worker replaces the dead one, and the pool keeps its size —
//!   where Python's pool raises `BrokenProcessPool` for every job from then on.
//! - **Real cancellation.** Dropping a job's [`ProcessJob`] (a timeout, a client gone) kills
//!   its worker: the work stops at once. A thread cannot be stopped; a process can.
//!
//! Jobs are **registered functions** ([`ProcessFn`]): a name, and a `fn` whose argument and
//! result are serde types. The pool's workers are the program's own binary executed again;
//! the one line [`worker_main`]`(&[&JOB_A, &JOB_B])`, the first statement of `main`, makes
//! such a process serve jobs instead of running the program, and in the program itself just
//! records the list. [`ProcessPool`]'s documentation has a complete example.
//!
//! | asyncio / `concurrent.futures` | kairos |
//! |---|---|
//! | `ProcessPoolExecutor(max_workers=4)` | [`ProcessPool::new(4)`](ProcessPool::new), [`ProcessPool::builder`] |
//! | `await loop.run_in_executor(pool, f, arg)` | [`pool.spawn(&F, arg).await`](ProcessPool::spawn) |
//! | a picklable module-level function | a [`ProcessFn`] listed in [`worker_main`] |
//! | `BrokenProcessPool` after a worker dies | [`ProcessJobError::Crashed`] for that job only; the worker is replaced |
//! | `future.cancel()` (only if not started) | drop the [`ProcessJob`]: a queued job never starts, a running one's worker is killed |
//! | `executor.shutdown(wait=True, cancel_futures=True)` | [`pool.shutdown(timeout).await`](ProcessPool::shutdown): no zombies |
//!
//! # Subprocesses: `asyncio.create_subprocess_exec`
//!
//! `subprocess.run` blocks the loop (section 5.1). [`Command`] starts a program with its
//! arguments, environment and working directory; the [`Child`]'s stdin, stdout and stderr
//! are pipes on the loop's reactor, and its exit is seen through a pidfd, so
//! [`Child::wait`], [`Command::output`] and friends suspend only the awaiting task. Only the
//! child itself is reaped (never `waitpid(-1)`), so subprocesses started by other code keep
//! their exit status.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview |
//! | `registry.rs` | [`ProcessFn`], [`Registered`]: jobs by name, the list both sides share |
//! | `worker_main.rs` | [`worker_main`]: the worker's side — pipes set aside, the serve loop |
//! | `protocol.rs` | length-prefixed postcard frames, and why postcard |
//! | `pool.rs` | [`ProcessPool`], [`ProcessPoolBuilder`]: the public face |
//! | `shared.rs` | the pool's queue, counters and shutdown state |
//! | `driver.rs` | one loop task per worker: start, feed, replace |
//! | `worker.rs` | one worker process seen from the pool: child, pipes, exit |
//! | `job.rs` | [`ProcessJob`]: the future of one job, and its cancellation |
//! | `error.rs` | [`ProcessJobError`] |
//! | `stats.rs` | [`ProcessPoolStats`], and [`stats()`] for every pool of this loop |
//! | `command.rs`, `child.rs` | [`Command`], [`Child`] and its pipes: async subprocesses |
//! | `pipe.rs` | pipe ends on the reactor, through [`kairos_rt::io::Async`] |
//! | `exit.rs` | a child's exit through a pidfd (or a polling fallback), and background reaping |

#![forbid(unsafe_code)]

mod child;
mod command;
mod driver;
mod error;
mod exit;
mod job;
mod pipe;
mod pool;
mod protocol;
mod registry;
mod shared;
mod stats;
mod worker;
mod worker_main;

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use command::Command;
pub use error::ProcessJobError;
pub use job::ProcessJob;
pub use pool::{ProcessPool, ProcessPoolBuilder};
pub use registry::{ProcessFn, Registered};
pub use stats::{stats, ProcessPoolStats};
pub use std::process::{ExitStatus, Output, Stdio};
pub use worker_main::{worker_main, WORKER_ENV};
