//! The tokio runtime beside the loops: made once, on first use, and kept for the process.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{EnterGuard, Runtime};
use tokio::task::JoinHandle;

/// The runtime, once made.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The name of the runtime's threads: `kairos-tokio`.
const THREAD_NAME: &str = "kairos-tokio";

/// Settings of the tokio runtime beside the loops. [`start`](Builder::start) it before its
/// first use (anything in this crate that needs it makes it with the defaults otherwise).
///
/// ```
/// kairos_tokio::Builder::new().worker_threads(2).start().unwrap();
/// assert_eq!(kairos_tokio::runtime().metrics().num_workers(), 2);
/// // Once it runs, its settings are fixed.
/// assert!(kairos_tokio::Builder::new().worker_threads(8).start().is_err());
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until .start()"]
pub struct Builder {
    worker_threads: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: as many threads as cores, at most 4. The loops do the application's
    /// work; these threads drive the bridged sockets and timers and run what the libraries
    /// spawn, which is mostly waiting.
    pub fn new() -> Builder {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Builder { worker_threads: cores.min(4) }
    }

    /// Threads of the runtime (at least 1).
    pub fn worker_threads(mut self, threads: usize) -> Builder {
        self.worker_threads = threads.max(1);
        self
    }

    /// Makes the runtime with these settings.
    ///
    /// # Errors
    ///
    /// [`AlreadyStarted`] if it was made already (by an earlier `start` or a first use).
    ///
    /// # Panics
    ///
    /// If the OS refuses the runtime's threads or its I/O driver.
    pub fn start(self) -> Result<&'static Runtime, AlreadyStarted> {
        let mut made = false;
        let runtime = RUNTIME.get_or_init(|| {
            made = true;
            self.build()
        });
        if made {
            Ok(runtime)
        } else {
            Err(AlreadyStarted)
        }
    }

    fn build(&self) -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime beside the loops: {e}"))
    }
}

/// [`Builder::start`] was called after the runtime was made: its settings cannot change.
/// Start it with your settings before anything uses it (before the server starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the tokio runtime beside the loops is already running; call \
             kairos_tokio::Builder::start before anything uses it",
        )
    }
}

impl std::error::Error for AlreadyStarted {}

/// The tokio runtime beside the loops, made with the defaults if nothing made it yet.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| Builder::new().build())
}

/// Enters the runtime's context on this thread until the guard is dropped: tokio sockets and
/// timers made meanwhile register with the runtime's drivers, and `tokio::spawn` spawns on
/// it. Guards must be dropped in the reverse order of their making (tokio panics otherwise),
/// which scopes do by themselves.
pub fn enter() -> EnterGuard<'static> {
    runtime().enter()
}

/// `builder`, with the runtime's context entered while its loop runs (see
/// [`kairos_rt::Builder::context`]): every task of the loop can use tokio's libraries.
///
/// ```
/// let rows = kairos_tokio::configure_loop(kairos_rt::Builder::new()).run(async {
///     // sqlx's SQLite driver works on a thread pool and wakes the task through tokio.
///     let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
///     let (n,): (i64,) = sqlx::query_as("SELECT 6 * 7").fetch_one(&pool).await.unwrap();
///     n
/// });
/// assert_eq!(rows, 42);
/// ```
pub fn configure_loop(builder: kairos_rt::Builder) -> kairos_rt::Builder {
    builder.context(|| Box::new(enter()))
}

/// Runs a `Send` future on the tokio runtime itself, not on the loop: its polls are tokio's
/// (the stall detector does not see them), and awaiting the handle from a loop gives its
/// output. Dropping the handle lets the future run on; `abort()` stops it.
///
/// ```
/// let answer = kairos_rt::run(async {
///     let on_tokio = kairos_tokio::spawn(async { std::thread::current().name().map(String::from) });
///     on_tokio.await.unwrap()
/// });
/// assert_eq!(answer.as_deref(), Some("kairos-tokio"));
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}
