//! [`BackgroundTasks`]: work a handler schedules to run after its response is sent
//! (FastAPI's `BackgroundTasks`, Starlette's `BackgroundTask`).
//!
//! # The model
//!
//! A handler asks for [`BackgroundTasks`] as an argument and adds tasks to it: async ones
//! ([`add`](BackgroundTasks::add)), run on the worker's loop, and blocking ones
//! ([`add_blocking`](BackgroundTasks::add_blocking)), run on the worker's sync pool with one of
//! its tokens, as a `def` route would. Once the response's body has been handed to the
//! connection in full — or the client left before — the tasks run, **one after the other in
//! the order they were added**, in a task of their own on the worker's loop: the client has
//! its answer and does not wait for them.
//!
//! A task that fails — returns `Err`, or panics — is logged with its name, and the next one
//! runs (Starlette stops at the first exception; a failed email should not cancel the audit
//! line after it). A graceful shutdown waits for the tasks still running, after the
//! connections have drained, up to the server's `graceful_shutdown_timeout` again; those
//! still running then are dropped, and the log says how many.
//!
//! The queue lives in the request's dependency scope (`dependency/scope.rs`): nothing is
//! allocated for a request whose handler does not ask for it, and every `BackgroundTasks`
//! argument of one request — the handler's, a dependency's — is the same queue.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use http::request::Parts;
use kairos_sync::Event;

use crate::dependency::scope::RequestScope;
use crate::extract::FromRequestParts;
use crate::worker::WorkerContext;
use crate::HttpError;

/// The tasks a handler scheduled to run after its response is sent: an argument like any
/// extractor (FastAPI's `background_tasks: BackgroundTasks`).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use kairos_web::{App, BackgroundTasks, State, TestClient};
///
/// struct Outbox { sent: Arc<Mutex<Vec<String>>> }
///
/// async fn signup(tasks: BackgroundTasks, State(outbox): State<Outbox>) -> &'static str {
///     // Runs after the 200 is sent: the client does not wait for the mail server.
///     tasks.add(move || async move {
///         outbox.sent.lock().unwrap().push("welcome mail".to_owned());
///     });
///     "signed up"
/// }
///
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let app = App::new().with_state(Outbox { sent: Arc::clone(&sent) }).post("/signup", signup);
/// let client = TestClient::new(app);
/// assert_eq!(client.post("/signup").send().text(), "signed up");
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while sent.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
/// #     std::thread::sleep(std::time::Duration::from_millis(5));
/// # }
/// assert_eq!(*sent.lock().unwrap(), ["welcome mail"]);
/// ```
///
/// It is `Send`: a sync handler (on the sync pool) can take it and add tasks too.
#[derive(Clone)]
pub struct BackgroundTasks {
    queue: Queue,
}

/// The tasks of one request, shared by its `BackgroundTasks` handles and its scope.
pub(crate) type Queue = Arc<Mutex<Vec<Task>>>;

/// A task as it waits in the queue.
pub(crate) enum Task {
    /// Made into its future on the loop when its turn comes.
    Async {
        name: &'static str,
        start: Box<dyn FnOnce() -> LocalBoxFuture<'static, Failure> + Send>,
    },
    /// Run on the worker's sync pool.
    Blocking { name: &'static str, run: Box<dyn FnOnce() -> Failure + Send> },
}

/// Why a task failed, if it did.
type Failure = Option<String>;

/// What a background task may return: nothing, or a `Result` whose error is logged.
pub trait TaskOutput {
    /// The failure to log, if any.
    fn failure(self) -> Option<String>;
}

impl TaskOutput for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Display> TaskOutput for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|error| error.to_string())
    }
}

impl BackgroundTasks {
    /// Schedules `task` — a function that makes a future — to run on the worker's loop after
    /// the response is sent. The function is `Send` (it may be added from a sync handler);
    /// the future it makes need not be. Its output is `()` or a `Result<(), E>` whose error
    /// is logged.
    pub fn add<F, Fut>(&self, task: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: TaskOutput,
    {
        let start = Box::new(move || task().map(TaskOutput::failure).boxed_local());
        self.push(Task::Async { name: std::any::type_name::<F>(), start });
    }

    /// Schedules blocking `task` to run on the worker's sync pool, with one of its tokens
    /// (FastAPI runs a `def` background task in its thread pool), after the response is
    /// sent and after the tasks added before it.
    pub fn add_blocking<F, R>(&self, task: F)
    where
        F: FnOnce() -> R + Send + 'static,
        R: TaskOutput,
    {
        let run = Box::new(move || task().failure());
        self.push(Task::Blocking { name: std::any::type_name::<F>(), run });
    }

    /// How many tasks are scheduled and not started yet.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no task is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, task: Task) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }
}

impl fmt::Debug for BackgroundTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundTasks").field("scheduled", &self.len()).finish()
    }
}

impl FromRequestParts for BackgroundTasks {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(_parts: &mut Parts) -> Result<Self, HttpError> {
        let scope = RequestScope::current::<BackgroundTasks>()?;
        Ok(BackgroundTasks { queue: scope.background_queue() })
    }
}

/// Runs `queue`'s tasks, in order, in a task of their own on this loop; the worker's
/// shutdown waits for it ([`wait_for_running`]).
pub(crate) fn start(queue: Queue, worker: Rc<WorkerContext>) {
    let tasks = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
    if tasks.is_empty() {
        return;
    }
    if kairos_rt::Handle::try_current().is_none() {
        tracing::warn!(
            target: "kairos::web",
            "{} background task(s) dropped: their loop had stopped",
            tasks.len()
        );
        return;
    }
    let running = Running::enter();
    drop(kairos_rt::spawn_named("kairos-web: background tasks", async move {
        let _running = running;
        for task in tasks {
            let (name, failure) = match task {
                Task::Async { name, start } => {
                    let outcome = std::panic::AssertUnwindSafe(async move { start().await })
                        .catch_unwind()
                        .await;
                    let failure = outcome.unwrap_or_else(|payload| {
                        Some(format!(
                            "panicked: {}",
                            kairos_rt::task::panic_message(payload.as_ref())
                        ))
                    });
                    (name, failure)
                }
                Task::Blocking { name, run } => {
                    let failure = match worker.run_blocking(run).await {
                        Ok(failure) => failure,
                        Err(error) => Some(error.to_string()),
                    };
                    (name, failure)
                }
            };
            if let Some(failure) = failure {
                tracing::error!(target: "kairos::web", "background task {name} failed: {failure}");
            }
        }
    }));
}

thread_local! {
    /// Batches of background tasks running on this thread's loop, and the event set when the
    /// last one ends.
    static RUNNING: (Cell<usize>, Event) = (Cell::new(0), Event::new());
}

/// Counts a batch of background tasks as running while it lives.
struct Running;

impl Running {
    fn enter() -> Running {
        RUNNING.with(|(count, idle)| {
            count.set(count.get() + 1);
            idle.clear();
        });
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // `try_with`: a task dropped as its thread ends finds the thread-local gone.
        let _ = RUNNING.try_with(|(count, idle)| {
            count.set(count.get() - 1);
            if count.get() == 0 {
                idle.set();
            }
        });
    }
}

/// Waits, up to `limit`, for the background tasks running on this loop; logs those left.
pub(crate) async fn wait_for_running(limit: Duration) {
    let Some(idle) = RUNNING.with(|(count, idle)| (count.get() > 0).then(|| idle.wait())) else {
        return;
    };
    tracing::info!(target: "kairos::web", "waiting for background tasks to finish");
    if kairos_rt::timeout(limit, idle).await.is_err() {
        let left = RUNNING.with(|(count, _)| count.get());
        tracing::warn!(
            target: "kairos::web",
            "{left} batch(es) of background tasks still running after {limit:?}; dropping them"
        );
    }
}
