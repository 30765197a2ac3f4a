//! [`run`], [`Builder`] and [`Runtime`]: creating a loop and driving it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::diagnostic::{Diagnostic, DiagnosticHook};
use crate::event_loop::Core;
use crate::{Handle, LoopStats};

/// asyncio's default `slow_callback_duration`.
pub const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// Runs `future` on a new event loop on this thread and returns its output — asyncio's
/// `asyncio.run(main())`.
///
/// The loop is configured by [`Builder::new`] (which reads `KAIROS_SLOW_CALLBACK_MS` and
/// `KAIROS_DEBUG`). When `future` completes, the tasks still alive are cancelled (their
/// destructors run), the default executor is shut down, and the output is returned.
///
/// # Panics
/// If the loop cannot be created (an invalid environment variable, or the OS refusing an
/// epoll instance), or if called inside a running loop. A panic in `future` itself propagates,
/// as an exception in asyncio's main coroutine does.
///
/// # Example
/// ```
/// let answer = kairos_rt::run(async {
///     let task = kairos_rt::spawn(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    Builder::new().run(future)
}

/// The loop's settings that are not per-task.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) slow_callback_duration: Option<Duration>,
    pub(crate) debug: bool,
    pub(crate) default_executor_workers: usize,
    pub(crate) executor_shutdown_timeout: Duration,
    pub(crate) event_capacity: usize,
    pub(crate) diagnostic_hook: Option<DiagnosticHook>,
    pub(crate) context: Option<LoopContext>,
    /// Events each loop keeps when recording (0: the loop does not record).
    pub(crate) record_events: usize,
}

/// What [`Builder::context`] keeps: makes the guard a running loop holds.
pub(crate) type LoopContext = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;

/// Settings for a new loop; [`build`](Builder::build) makes a [`Runtime`],
/// [`run`](Builder::run) makes one and runs a future on it.
///
/// | setting | default | environment |
/// |---|---|---|
/// | [`slow_callback_duration`](Self::slow_callback_duration) | 100 ms | `KAIROS_SLOW_CALLBACK_MS` (`0` turns detection off) |
/// | [`debug`](Self::debug) | off | `KAIROS_DEBUG=1` |
/// | [`default_executor_workers`](Self::default_executor_workers) | `min(32, cores + 4)` | |
/// | [`executor_shutdown_timeout`](Self::executor_shutdown_timeout) | 10 s | |
/// | [`on_diagnostic`](Self::on_diagnostic) | log through `tracing` | |
/// | [`context`](Self::context) | none | |
/// | [`record`](Self::record) | off | `KAIROS_RECORD=<events>` |
///
/// Explicit setter calls win over the environment.
#[must_use = "a Builder does nothing until .build() or .run()"]
pub struct Builder {
    config: Config,
    env_error: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Defaults, adjusted by the `KAIROS_*` environment variables.
    pub fn new() -> Builder {
        let mut builder = Builder {
            config: Config {
                slow_callback_duration: Some(DEFAULT_SLOW_CALLBACK),
                debug: false,
                default_executor_workers: crate::executor::default_workers(),
                executor_shutdown_timeout: Duration::from_secs(10),
                event_capacity: 1024,
                diagnostic_hook: None,
                context: None,
                record_events: 0,
            },
            env_error: None,
        };
        if let Ok(value) = std::env::var("KAIROS_SLOW_CALLBACK_MS") {
            match value.trim().parse::<u64>() {
                Ok(0) => builder.config.slow_callback_duration = None,
                Ok(ms) => builder.config.slow_callback_duration = Some(Duration::from_millis(ms)),
                Err(_) => {
                    builder.env_error = Some(format!(
                        "KAIROS_SLOW_CALLBACK_MS must be a whole number of milliseconds \
                         (0 turns stall detection off), got {value:?}"
                    ))
                }
            }
        }
        if let Ok(value) = std::env::var("KAIROS_DEBUG") {
            match value.trim() {
                "1" | "true" | "yes" | "on" => builder.config.debug = true,
                "" | "0" | "false" | "no" | "off" => builder.config.debug = false,
                _ => {
                    builder.env_error = Some(format!("KAIROS_DEBUG must be 1 or 0, got {value:?}"))
                }
            }
        }
        if let Ok(value) = std::env::var("KAIROS_RECORD") {
            match value.trim().parse::<usize>() {
                Ok(events) => builder.config.record_events = events,
                Err(_) => {
                    builder.env_error = Some(format!(
                        "KAIROS_RECORD must be the number of events each loop keeps (such as \
                         262144; 0 turns recording off), got {value:?}"
                    ))
                }
            }
        }
        builder
    }

    /// Records what the loop does — every poll of every task, what woke it, its spawn, the
    /// requests and pool jobs it serves — keeping the newest `events` in a ring (32 bytes
    /// each, allocated now); 0 turns recording off, the default. See [`record`](crate::record)
    /// for what is kept and [`record::chrome_trace`](crate::record::chrome_trace) to export it.
    ///
    /// Off, it costs a never-taken branch per poll; on, one reading of the CPU's time-stamp
    /// counter and one 32-byte write per poll (BENCHMARKS.md has the figures).
    pub fn record(mut self, events: usize) -> Self {
        self.config.record_events = events;
        self.env_error = self.env_error.filter(|e| !e.starts_with("KAIROS_RECORD"));
        self
    }

    /// Reports any poll that holds the loop longer than this — asyncio's
    /// `loop.slow_callback_duration`. `None` turns the stall detector off.
    pub fn slow_callback_duration(mut self, threshold: Option<Duration>) -> Self {
        self.config.slow_callback_duration = threshold.filter(|d| !d.is_zero());
        self.env_error = self.env_error.filter(|e| !e.starts_with("KAIROS_SLOW"));
        self
    }

    /// Debug mode — asyncio's `loop.set_debug(True)`: every poll is timed exactly, so every
    /// slow poll is reported with its precise duration. Costs two clock reads per poll.
    pub fn debug(mut self, on: bool) -> Self {
        self.config.debug = on;
        self.env_error = self.env_error.filter(|e| !e.starts_with("KAIROS_DEBUG"));
        self
    }

    /// Threads of the loop's default executor (used by [`to_thread`](crate::to_thread));
    /// Python's default is `min(32, os.cpu_count() + 4)`.
    pub fn default_executor_workers(mut self, workers: usize) -> Self {
        self.config.default_executor_workers = workers.max(1);
        self
    }

    /// How long shutting the loop down waits for running default-executor jobs (a thread
    /// cannot be interrupted; jobs still running after this are left to finish on their own).
    pub fn executor_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.executor_shutdown_timeout = timeout;
        self
    }

    /// Sends [`Diagnostic`]s (slow polls, unobserved panics) to `hook` instead of the log.
    /// The hook may be called from the loop's watchdog thread.
    pub fn on_diagnostic(mut self, hook: impl Fn(&Diagnostic) + Send + Sync + 'static) -> Self {
        self.config.diagnostic_hook = Some(Arc::new(hook));
        self
    }

    /// A context the loop holds while it runs: `enter` is called on the loop's thread each
    /// time the loop starts running ([`Runtime::block_on`], [`run`](Builder::run)), and what
    /// it returns is dropped when that run returns; it is entered again while the loop shuts
    /// down and its leftover tasks are cancelled (their destructors may need it too).
    ///
    /// This is for libraries that find their runtime in a thread-local: a tokio runtime's
    /// `Handle::enter` guard makes tokio's sockets and timers usable by every task of the loop
    /// (the `kairos-tokio` crate installs it). A later call replaces an earlier one.
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// thread_local!(static INSIDE: Cell<bool> = const { Cell::new(false) });
    /// struct Inside;
    /// impl Drop for Inside {
    ///     fn drop(&mut self) { INSIDE.with(|inside| inside.set(false)) }
    /// }
    ///
    /// let seen = kairos_rt::Builder::new()
    ///     .context(|| {
    ///         INSIDE.with(|inside| inside.set(true));
    ///         Box::new(Inside)
    ///     })
    ///     .run(async { kairos_rt::spawn(async { INSIDE.with(Cell::get) }).await.unwrap() });
    /// assert!(seen, "tasks run inside the context");
    /// assert!(!INSIDE.with(Cell::get), "and it ends with the loop");
    /// ```
    pub fn context(mut self, enter: impl Fn() -> Box<dyn Any> + Send + Sync + 'static) -> Self {
        self.config.context = Some(Arc::new(enter));
        self
    }

    /// Creates the loop on this thread.
    pub fn build(self) -> io::Result<Runtime> {
        if let Some(message) = self.env_error {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        Ok(Runtime { core: Rc::new(Core::new(self.config)?) })
    }

    /// Builds a loop, runs `future` to completion on it, then shuts the loop down — the same
    /// as [`run`] with these settings.
    ///
    /// # Panics
    /// If the loop cannot be built; the message says why.
    #[track_caller]
    pub fn run<F: Future>(self, future: F) -> F::Output {
        let runtime = match self.build() {
            Ok(runtime) => runtime,
            Err(e) => panic!("cannot start the kairos event loop: {e}"),
        };
        runtime.block_on(future)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("slow_callback_duration", &self.config.slow_callback_duration)
            .field("debug", &self.config.debug)
            .field("default_executor_workers", &self.config.default_executor_workers)
            .finish_non_exhaustive()
    }
}

/// An event loop on the current thread — what `asyncio.new_event_loop()` returns.
///
/// Tasks spawned during one [`block_on`](Self::block_on) that are still alive when it returns
/// stay on the loop and continue in the next `block_on`. Dropping the runtime cancels them
/// all (their destructors run) and shuts down its default executor.
///
/// `Runtime` is `!Send`: its tasks' loop-only state must be touched on the thread that made it
/// (see [`Task`](crate::Task)'s "Thread safety"), so the compiler refuses to move it:
///
/// ```compile_fail,E0277
/// let runtime = kairos_rt::Builder::new().build().unwrap();
/// std::thread::spawn(move || runtime.block_on(async {}));
/// ```
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// Runs the loop until `future` completes — asyncio's `loop.run_until_complete`.
    ///
    /// # Panics
    /// If another loop is already running on this thread.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, Location::caller())
    }

    /// A `Send` handle for giving this loop work from other threads.
    pub fn handle(&self) -> Handle {
        Handle::from_shared(Arc::clone(&self.core.shared))
    }

    /// The loop's counters (see [`stats`](crate::stats)).
    pub fn stats(&self) -> LoopStats {
        self.core.stats()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("loop_id", &self.core.loop_id()).finish()
    }
}
