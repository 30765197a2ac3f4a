//! # kairos-rt — an asyncio-style event loop for Rust
//!
//! This crate is the event loop of the FastAPI chapter on asynchronous programming, built for
//! real: a **ready queue**, a **reactor** on `epoll` (through `mio`), **timers**, **tasks**,
//! `wait_for`/cancellation, **executors** for blocking work, and a **stall detector** that tells
//! you when something blocks the loop.
//!
//! It is one crate of a family, as smol's is (async-io, async-channel, async-lock,
//! async-process): what needs no loop — `Semaphore`, `Lock`, `Event`, `Queue`, `oneshot` and
//! the `gather` family — is `kairos-sync`, which runs on any executor; the process pool and
//! subprocesses are `kairos-process`, built on this crate's public [`io::Async`]. The `kairos`
//! facade re-exports all of them in one namespace (`kairos::rt`, `kairos::sync`,
//! `kairos::process`).
//!
//! ## The model
//!
//! One loop runs on one thread, as one asyncio loop does. A *task* is a future the loop owns;
//! the loop polls it until it returns `Pending` — Rust's `await` — and polls it again when its
//! waker says it can progress. So a task runs without interruption between two `.await`s, and
//! state shared by the tasks of one loop needs no lock: `Rc<RefCell<_>>` is fine (the compiler
//! checks it — task futures need not be `Send`). Races happen only across an `.await`, exactly
//! as the chapter's section 1.3 says.
//!
//! Each turn of the loop polls every task that was ready when the turn began, then checks
//! sockets and timers (see `event_loop.rs`), so no task can starve I/O. Blocking work — a
//! synchronous library, `std::thread::sleep`, heavy CPU — must leave the loop: send it to a
//! [`ThreadPool`] with [`run_in_executor`] or [`to_thread`]; its result comes back as a future.
//! If you forget, the stall detector names the task that blocked the loop, where it was
//! spawned and, through a [`task::Label`], what it was doing (a server's request: route and
//! handler), even while it is still blocking.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! async fn slow_operation(name: &str, ms: u64) -> String {
//!     kairos_rt::sleep(Duration::from_millis(ms)).await;
//!     format!("{name} result")
//! }
//!
//! kairos_rt::run(async {
//!     let started = Instant::now();
//!     // gather: run concurrently, results in input order (asyncio.gather).
//!     let results = kairos_sync::gather!(
//!         slow_operation("A", 100),
//!         slow_operation("B", 200),
//!         slow_operation("C", 150),
//!     )
//!     .await;
//!     assert_eq!(results.1, "B result");
//!     // The longest one's 200 ms, not the sum's 450 ms.
//!     assert!(started.elapsed() < Duration::from_millis(450));
//! });
//! ```
//!
//! ## asyncio → kairos
//!
//! | asyncio (the chapter) | kairos |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())` |
//! | `asyncio.new_event_loop()`, `loop.run_until_complete` | [`Builder::build`], [`Runtime::block_on`] |
//! | `asyncio.create_task(coro, name=…)` | [`spawn`], [`spawn_named`] → [`Task`] |
//! | `task.cancel()`, `task.done()` | [`Task::cancel`], [`Task::is_finished`] |
//! | `await task` (raises `CancelledError`/the exception) | `task.await` → `Result<T, `[`TaskError`]`>` |
//! | `asyncio.sleep(s)`, `asyncio.sleep(0)` | [`sleep`], [`yield_now`] |
//! | `asyncio.wait_for(aw, timeout)`, `asyncio.timeout` | [`wait_for`], [`timeout`] → [`Elapsed`] |
//! | `asyncio.gather(*aws, return_exceptions=True)` | [`kairos_sync::combinator::gather`], [`kairos_sync::gather!`] |
//! | `asyncio.gather(*aws)` (first exception) | [`kairos_sync::combinator::try_gather`], [`kairos_sync::try_gather!`] (and the rest are cancelled) |
//! | `asyncio.TaskGroup` | [`TaskGroup`] |
//! | `asyncio.wait(FIRST_COMPLETED)`, `asyncio.as_completed` | [`kairos_sync::combinator::race`], [`kairos_sync::combinator::as_completed`] |
//! | `asyncio.Semaphore`, `Lock`, `Event`, `Queue` | [`kairos_sync::Semaphore`], [`kairos_sync::Lock`], [`kairos_sync::Event`], [`kairos_sync::Queue`] |
//! | `loop.create_future()` set from elsewhere | [`kairos_sync::oneshot`] |
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix)` | [`ThreadPool::builder`] |
//! | `loop.run_in_executor(pool, f)`, `asyncio.to_thread(f)` | [`run_in_executor`], [`to_thread`] |
//! | `asyncio.get_running_loop()` | [`Handle::current`], or [`Handle::try_current`] to ask whether one runs |
//! | `loop.call_soon_threadsafe(f)`, `run_coroutine_threadsafe` | [`Handle::call_soon`], [`Handle::spawn`] |
//! | `loop.slow_callback_duration`, debug mode | [`Builder::slow_callback_duration`], [`Builder::debug`], `KAIROS_SLOW_CALLBACK_MS`, `KAIROS_DEBUG=1` |
//! | `loop.create_server`, streams | [`net::TcpListener`], [`net::TcpStream`] |
//! | `loop.create_datagram_endpoint` | [`net::UdpSocket`] |
//! | `loop.add_reader(fd, cb)`, `add_writer` | [`io::Async`]`::new(fd)`, `.readable().await`, `.writable().await` |
//! | `ProcessPoolExecutor(max_workers)` | `kairos_process::ProcessPool::new`, with jobs registered by `kairos_process::worker_main` |
//! | `loop.run_in_executor(process_pool, f, arg)` | `kairos_process::ProcessPool::spawn(&F, arg)` → `ProcessJob` |
//! | `asyncio.create_subprocess_exec`, `subprocess.run` | `kairos_process::Command` → `Child` (`wait`, `output`, `kill`, `timeout`) |
//! | `aiofiles.open`, `open().read()`, `os.listdir` | [`fs::File`], [`fs::read`], [`fs::write`], [`fs::read_dir`] |
//!
//! Where kairos differs on purpose: a task is never lost because nobody kept a reference to it
//! (the loop owns every task); `try_gather` cancels the siblings of a failing future (asyncio's
//! `gather` leaves them running); an error nobody awaits is reported when the task ends, not
//! when a garbage collector gets to it. (And in `kairos-process`, a process pool survives a
//! crashing job — Python's pool is broken for good by one — and cancelling a running job kills
//! its worker.)
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `runtime.rs` | [`run`], [`Builder`], [`Runtime`] |
//! | `event_loop.rs` | the loop's turn: ready queue, injection, reactor, timers, shutdown |
//! | `context.rs` | the thread's running loop; where a wake goes |
//! | `shared.rs` | the cross-thread half of a loop: injection queue and unpark |
//! | [`task`] | [`spawn`], [`Task`], [`TaskError`], [`yield_now`], [`task::Label`] (what a task is doing, for stall reports) — and the task cell |
//! | `task_group.rs` | [`TaskGroup`] |
//! | [`time`] | [`sleep`], [`timeout`], [`interval`] and the timer queue |
//! | [`io`] | the reactor, [`io::Async`] for any file descriptor, the `AsyncRead`/`AsyncWrite` traits |
//! | [`net`] | TCP and UDP sockets |
//! | [`executor`] | `ThreadPool`, `run_in_executor`, the default executor and `to_thread` |
//! | [`fs`] | async files on the default executor: `read`, `write`, `append`, `read_dir`, `File` |
//! | [`record`] | the recording: every poll, wake, request and pool job, exported as a Perfetto trace |
//! | `stall.rs`, `diagnostic.rs` | the stall detector and what the loop reports |
//! | `stats.rs`, `remote.rs` | [`stats`] (what the loop counts; pools report on their own), [`Handle`] |
//!
//! ## Safety
//!
//! The crate's only `unsafe` is in `task/cell.rs` (the task allocation: its future lives in an
//! `UnsafeCell` touched only on the owning loop's thread) and one pointer read in `stall.rs`;
//! each block carries a `// SAFETY:` comment, and the tests exercise every one of them.
//! `bash scripts/miri.sh` runs those tests under Miri (the task cell through the `tasks`,
//! `scheduling`, `structured` and `time` tests; the stall detector's read through its unit
//! test). The cell's `unsafe impl Send + Sync` relies on [`Task`], [`AbortHandle`],
//! [`CancelOnDrop`] and [`Runtime`] staying on their loop's thread: `compile_fail` doctests on
//! each of them pin those markers.

#![deny(unsafe_code)] // allowed, with reasons, in task/cell.rs and stall.rs only

mod context;
mod diagnostic;
mod event_loop;
pub mod executor;
pub mod fs;
pub mod io;
pub mod net;
pub mod record;
mod remote;
mod runtime;
mod shared;
mod stall;
mod stats;
pub mod task;
mod task_group;
pub mod time;

pub use diagnostic::{Diagnostic, PanicReport, StallReport};
pub use executor::{run_in_executor, to_thread, ThreadPool};
pub use record::PollHistogram;
pub use remote::{Handle, LoopClosed, RemoteTask};
pub(crate) use runtime::Config;
pub use runtime::{run, Builder, Runtime, DEFAULT_SLOW_CALLBACK};
pub use stats::{stats, LoopStats};
pub use task::{
    spawn, spawn_named, yield_now, AbortHandle, CancelOnDrop, Task, TaskError, TaskId, TaskInfo,
};
pub use task_group::{ChildFailure, TaskGroup, TaskGroupError};
pub use time::{interval, sleep, sleep_until, timeout, wait_for, Elapsed};
