//! What the loop tells you about your program: slow polls and panics nobody awaited.
//!
//! By default each [`Diagnostic`] is logged through `tracing` (`WARN` for slow polls, `ERROR`
//! for panics). [`Builder::on_diagnostic`](crate::Builder::on_diagnostic) replaces the logging
//! with your own function — to count, to alert, or to assert in tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::task::TaskInfo;

/// Something the loop noticed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Diagnostic {
    /// A poll held the loop for longer than `slow_callback_duration` (asyncio's "Executing
    /// <Task ...> took 0.150 seconds").
    SlowPoll(StallReport),
    /// A detached task panicked: nobody holds its handle, so nobody else would ever know
    /// (asyncio's "Task exception was never retrieved").
    UnobservedPanic(PanicReport),
}

/// A poll that blocked the loop.
#[derive(Debug, Clone)]
pub struct StallReport {
    /// Which loop (see [`LoopStats::loop_id`](crate::LoopStats::loop_id)).
    pub loop_id: u64,
    /// The task whose poll blocked (task 0 is the main future of `run`).
    pub task: TaskInfo,
    /// What the task was doing: the innermost [`Label`](crate::task::Label) scope its poll
    /// had entered — for a server, the request's method, route and handler.
    pub label: Option<Arc<str>>,
    /// How long the loop was blocked — so far, if `still_running`.
    pub duration: Duration,
    /// `true` when the watchdog reports a poll that has not returned yet; a poll that never
    /// returns is reported again at ten times the threshold, then each time its duration
    /// doubles.
    pub still_running: bool,
    /// `true` when the duration was measured around the poll (debug mode); `false` when it is
    /// the watchdog's estimate, accurate to a tenth of `slow_callback_duration`.
    pub exact: bool,
    /// The configured threshold.
    pub threshold: Duration,
}

/// A panic in a detached task.
#[derive(Debug, Clone)]
pub struct PanicReport {
    /// Which loop.
    pub loop_id: u64,
    /// The task that panicked.
    pub task: TaskInfo,
    /// The panic message.
    pub message: String,
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.duration.as_secs_f64() * 1e3;
        let approx = if self.exact { "" } else { "~" };
        write!(f, "{}", self.task)?;
        if let Some(label) = &self.label {
            write!(f, " while running {label}")?;
        }
        if self.still_running {
            write!(f, " has blocked the event loop for {approx}{ms:.0} ms and is still running")?;
        } else {
            write!(f, " blocked the event loop for {approx}{ms:.0} ms")?;
        }
        write!(
            f,
            " (slow_callback_duration = {} ms): a blocking call in async code? Move it to \
             kairos_rt::to_thread or a ThreadPool",
            self.threshold.as_millis()
        )
    }
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} panicked and nobody awaits it: {} (keep the Task handle and await it to handle \
             the error)",
            self.task, self.message
        )
    }
}

/// A user function that receives diagnostics.
pub(crate) type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// Sends diagnostics to the hook, or to `tracing` when there is none.
#[derive(Clone, Default)]
pub(crate) struct Reporter {
    hook: Option<DiagnosticHook>,
}

impl Reporter {
    pub(crate) fn new(hook: Option<DiagnosticHook>) -> Self {
        Reporter { hook }
    }

    /// Reports `diagnostic`. A panicking hook is contained: it runs on the loop or on the
    /// watchdog thread, and neither may die of a reporting bug.
    pub(crate) fn report(&self, diagnostic: Diagnostic) {
        match &self.hook {
            Some(hook) => {
                let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    hook(&diagnostic);
                }));
                if delivered.is_err() {
                    tracing::error!(target: "kairos::diagnostic", "the on_diagnostic hook panicked");
                }
            }
            None => match &diagnostic {
                Diagnostic::SlowPoll(r) => tracing::warn!(target: "kairos::stall", "{r}"),
                Diagnostic::UnobservedPanic(r) => tracing::error!(target: "kairos::task", "{r}"),
            },
        }
    }
}
