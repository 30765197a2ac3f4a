//! Lifespans: async startup and shutdown, once for the App and on each worker's loop
//! ([`App::lifespan`](crate::App::lifespan), [`App::worker_lifespan`](crate::App::worker_lifespan)),
//! and the errors of a startup that failed ([`StartupError`], [`ServeError`]).
//!
//! FastAPI has one `lifespan` per process, and uvicorn runs it in each worker process. A
//! kairos worker is a thread with its loop, so there are two scopes:
//!
//! - **the App**: its startups run on a short-lived loop on the thread that calls
//!   [`App::serve`](crate::App::serve), before any worker starts; their values are shared
//!   state ([`State<T>`](crate::State)), so they must be `Send + Sync`. Their shutdowns run
//!   once every worker has stopped, on another short-lived loop on the server's supervisor
//!   thread, before [`RunningServer::wait`](kairos_http::RunningServer::wait) returns.
//! - **each worker**: its startups run on the worker's own loop before it accepts a
//!   connection; their values are the worker's ([`WorkerState<T>`](crate::WorkerState)), so
//!   they need not be `Send` (a process pool, a client, an `Rc<RefCell<_>>`). Their shutdowns
//!   run on that loop once the worker has drained.
//!
//! In each scope the startups run in the order they were added and the shutdowns in the
//! reverse order, as nested `async with` blocks do; a startup that fails (returns an error or
//! panics) shuts down the ones before it and stops the server before it serves anything.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::FutureExt as _;
use kairos_http::server::StartError;
use kairos_http::BoxError;

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A value an App's startup made, shared by every worker.
pub(crate) type SharedValue = Arc<dyn Any + Send + Sync>;
/// A value a worker's startup made, for that worker only.
pub(crate) type WorkerValue = Rc<dyn Any>;

/// One [`App::lifespan`](crate::App::lifespan) or
/// [`App::worker_lifespan`](crate::App::worker_lifespan), its types forgotten: `V` is the
/// value its startup makes, [`SharedValue`] or [`WorkerValue`].
pub(crate) struct Lifespan<V> {
    /// The type of the value, its key among the App's or the worker's states.
    pub(crate) type_id: TypeId,
    /// What a message calls it: the value's type and the startup function.
    pub(crate) name: HookName,
    startup: Arc<dyn Fn() -> LocalFuture<Result<V, BoxError>> + Send + Sync>,
    shutdown: Option<Arc<dyn Fn(V) -> LocalFuture<()> + Send + Sync>>,
}

impl<V> Clone for Lifespan<V> {
    fn clone(&self) -> Self {
        Lifespan {
            type_id: self.type_id,
            name: self.name,
            startup: Arc::clone(&self.startup),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl Lifespan<SharedValue> {
    /// An App-scope lifespan from typed functions.
    pub(crate) fn shared<T, Start, StartFut, E, Stop, StopFut>(
        startup: Start,
        shutdown: Stop,
    ) -> Lifespan<SharedValue>
    where
        T: Send + Sync + 'static,
        Start: Fn() -> StartFut + Send + Sync + 'static,
        StartFut: Future<Output = Result<T, E>> + 'static,
        E: Into<BoxError>,
        Stop: Fn(Arc<T>) -> StopFut + Send + Sync + 'static,
        StopFut: Future<Output = ()> + 'static,
    {
        Lifespan {
            type_id: TypeId::of::<T>(),
            name: HookName::of::<T, Start>(),
            startup: Arc::new(move || {
                let made = startup();
                Box::pin(async move {
                    made.await.map(|v| Arc::new(v) as SharedValue).map_err(Into::into)
                })
            }),
            shutdown: Some(Arc::new(move |value: SharedValue| {
                let value = value.downcast::<T>().unwrap_or_else(|_| unreachable!("keyed by type"));
                Box::pin(shutdown(value))
            })),
        }
    }
}

impl Lifespan<WorkerValue> {
    /// A worker-scope lifespan from typed functions; no shutdown for `shutdown: None`.
    pub(crate) fn worker<T, Start, StartFut, E, Stop, StopFut>(
        startup: Start,
        shutdown: Option<Stop>,
    ) -> Lifespan<WorkerValue>
    where
        T: 'static,
        Start: Fn() -> StartFut + Send + Sync + 'static,
        StartFut: Future<Output = Result<T, E>> + 'static,
        E: Into<BoxError>,
        Stop: Fn(Rc<T>) -> StopFut + Send + Sync + 'static,
        StopFut: Future<Output = ()> + 'static,
    {
        Lifespan {
            type_id: TypeId::of::<T>(),
            name: HookName::of::<T, Start>(),
            startup: Arc::new(move || {
                let made = startup();
                Box::pin(async move {
                    made.await.map(|v| Rc::new(v) as WorkerValue).map_err(Into::into)
                })
            }),
            shutdown: shutdown.map(|shutdown| {
                Arc::new(move |value: WorkerValue| {
                    let value =
                        value.downcast::<T>().unwrap_or_else(|_| unreachable!("keyed by type"));
                    Box::pin(shutdown(value)) as LocalFuture<()>
                }) as Arc<dyn Fn(WorkerValue) -> LocalFuture<()> + Send + Sync>
            }),
        }
    }
}

/// Adds `lifespan` to `list`, replacing the one of the same type (one value per type).
pub(crate) fn add<V>(list: &mut Vec<Lifespan<V>>, lifespan: Lifespan<V>) {
    match list.iter_mut().find(|l| l.type_id == lifespan.type_id) {
        Some(existing) => *existing = lifespan,
        None => list.push(lifespan),
    }
}

/// Lifespans that started, with their values, to shut down in reverse order.
pub(crate) type Started<V> = Vec<(Lifespan<V>, V)>;

/// Runs the startups of `lifespans` in order. On the first failure, shuts down the ones that
/// had started and returns the failure.
pub(crate) async fn start_all<V: Clone>(
    lifespans: &[Lifespan<V>],
    scope: LifespanScope,
) -> Result<Started<V>, StartupError> {
    let mut started = Vec::with_capacity(lifespans.len());
    for lifespan in lifespans {
        // The call is inside the future, so a startup that panics before it returns one is
        // caught as well.
        let outcome = AssertUnwindSafe(async { (lifespan.startup)().await }).catch_unwind().await;
        let cause = match outcome {
            Ok(Ok(value)) => {
                started.push((lifespan.clone(), value));
                continue;
            }
            Ok(Err(error)) => Cause::Error(error),
            Err(panic) => Cause::Panic(panic_message(&*panic)),
        };
        shut_down_all(started, scope).await;
        return Err(StartupError { scope, hook: Some(lifespan.name), cause });
    }
    Ok(started)
}

/// Runs the shutdowns of `started`, last started first. One that panics is logged; the
/// others still run.
pub(crate) async fn shut_down_all<V>(started: Started<V>, scope: LifespanScope) {
    for (lifespan, value) in started.into_iter().rev() {
        let Some(shutdown) = &lifespan.shutdown else { continue };
        let outcome = AssertUnwindSafe(async { shutdown(value).await }).catch_unwind().await;
        if let Err(panic) = outcome {
            tracing::error!(
                target: "kairos::web",
                "{scope}: the shutdown of {} panicked: {}",
                lifespan.name,
                panic_message(&*panic)
            );
        }
    }
}

/// Which lifespans a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifespanScope {
    /// The App's, run once ([`App::lifespan`](crate::App::lifespan)).
    App,
    /// A worker's, run on its loop ([`App::worker_lifespan`](crate::App::worker_lifespan));
    /// the worker's index.
    Worker(usize),
}

impl fmt::Display for LifespanScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifespanScope::App => f.write_str("the App's lifespan"),
            LifespanScope::Worker(index) => write!(f, "worker {index}'s lifespan"),
        }
    }
}

/// A lifespan as messages name it: the type of the value its startup makes, and the startup
/// function (`my_app::open_pool`, or `my_app::main::{{closure}}` for a closure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookName {
    /// The value's type.
    pub value: &'static str,
    /// The startup function's.
    pub startup: &'static str,
}

impl HookName {
    fn of<T, F>() -> HookName {
        HookName { value: std::any::type_name::<T>(), startup: std::any::type_name::<F>() }
    }
}

impl fmt::Display for HookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (made by `{}`)", self.value, self.startup)
    }
}

/// What went wrong in a startup.
#[derive(Debug)]
enum Cause {
    Error(BoxError),
    Panic(String),
}

/// A startup that failed: where, which one, and why. Nothing was served; the startups that
/// had succeeded were shut down.
#[derive(Debug)]
pub struct StartupError {
    scope: LifespanScope,
    hook: Option<HookName>,
    cause: Cause,
}

impl StartupError {
    /// Whose startup it was: the App's, or which worker's.
    pub fn scope(&self) -> LifespanScope {
        self.scope
    }

    /// Which lifespan failed (`None` when the server's own start of the worker did).
    pub fn hook(&self) -> Option<HookName> {
        self.hook
    }

    /// Whether the startup panicked rather than returned an error.
    pub fn panicked(&self) -> bool {
        matches!(self.cause, Cause::Panic(_))
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("application startup failed")?;
        if let LifespanScope::Worker(index) = self.scope {
            write!(f, " on worker {index}")?;
        }
        match &self.hook {
            Some(hook) => write!(f, ": the startup of {hook}")?,
            None => f.write_str(": the worker's start")?,
        }
        match &self.cause {
            Cause::Error(error) => write!(f, " returned an error: {error}"),
            Cause::Panic(message) => write!(f, " panicked: {message}"),
        }
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Error(error) => Some(&**error),
            Cause::Panic(_) => None,
        }
    }
}

/// Why [`App::serve`](crate::App::serve) did not serve the App.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The server could not listen (the message names the address: another server may hold
    /// it; choose another `ServerConfig::bind`), or a thread could not be started.
    Io(io::Error),
    /// A lifespan's startup failed (FastAPI's "Application startup failed"): the server did
    /// not start, and the startups that had succeeded were shut down. Fix what the startup
    /// needs (a database that is down, a missing file) or the startup itself, and start again.
    Startup(StartupError),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Io(error) => write!(f, "the server did not start: {error}"),
            ServeError::Startup(error) => write!(f, "{error}; the server did not start"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Io(error) => Some(error),
            ServeError::Startup(error) => Some(error),
        }
    }
}

impl From<StartupError> for ServeError {
    fn from(error: StartupError) -> ServeError {
        ServeError::Startup(error)
    }
}

impl From<StartError> for ServeError {
    fn from(error: StartError) -> ServeError {
        match error {
            StartError::Io(error) => ServeError::Io(error),
            StartError::WorkerStartup { worker, error } => match error.downcast::<StartupError>() {
                Ok(startup) => ServeError::Startup(*startup),
                // The server's own part of a worker's start (its socket) failed.
                Err(error) => ServeError::Startup(StartupError {
                    scope: LifespanScope::Worker(worker),
                    hook: None,
                    cause: Cause::Error(error),
                }),
            },
            other => ServeError::Io(io::Error::other(other.to_string())),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a payload that is not text".to_owned()
    }
}
