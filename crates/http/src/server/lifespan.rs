//! A worker's lifespan: the async, fallible startup that makes its service on its own loop
//! before it accepts a connection, and the shutdown that runs on that loop after it has
//! drained ([`WorkerService`]); and why a server did not start ([`StartError`]).
//!
//! uvicorn runs an app's lifespan in each worker process; a kairos worker is a thread with
//! its loop, so this is where what belongs to one loop (a process pool, a client, a
//! connection pool) is opened and closed. [`Server::start_with`](super::Server::start_with)
//! returns only once every worker's startup has succeeded — no worker accepts a connection
//! before then (they queue in the listening socket's backlog) — or with the first failure,
//! after stopping the workers that had started (each runs its shutdown).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::BoxError;

/// What a worker's shutdown is: run once on the worker's loop, after its connections have
/// drained.
type ShutdownHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// The service one worker runs, made by its startup on its loop, and what it does when the
/// worker stops.
///
/// ```
/// use kairos_http::server::WorkerService;
/// use kairos_http::{Body, Request, Response};
///
/// let worker = WorkerService::new(|_request: Request| async { Response::new(Body::from("hi")) })
///     .on_shutdown(|| async { eprintln!("closing this worker's pool") });
/// # drop(worker);
/// ```
pub struct WorkerService<S> {
    service: S,
    shutdown: Option<ShutdownHook>,
}

impl<S> WorkerService<S> {
    /// A worker that runs `service` and does nothing more when it stops.
    pub fn new(service: S) -> WorkerService<S> {
        WorkerService { service, shutdown: None }
    }

    /// Runs `shutdown` on the worker's loop once it has stopped accepting and its connections
    /// have drained (or the graceful-shutdown timeout has passed), before the service is
    /// dropped. A worker whose loop died (a panic that escaped it) runs no shutdown.
    pub fn on_shutdown<F, Fut>(mut self, shutdown: F) -> WorkerService<S>
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.shutdown = Some(Box::new(move || Box::pin(shutdown())));
        self
    }

    /// The service and the shutdown, apart.
    pub(crate) fn into_parts(self) -> (S, Option<ShutdownHook>) {
        (self.service, self.shutdown)
    }
}

impl<S> fmt::Debug for WorkerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerService")
            .field("shutdown", &self.shutdown.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// Why [`Server::start_with`](super::Server::start_with) did not start a server. Nothing was
/// served: no worker had accepted a connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The listening socket could not be bound (the message names the address: another
    /// server may hold it), or a worker thread could not be started.
    Io(io::Error),
    /// A worker's startup returned an error or panicked. The workers whose startup had
    /// succeeded were stopped, and ran their shutdown.
    WorkerStartup {
        /// Which worker (0-based; each one's startup runs, so the first to fail is named).
        worker: usize,
        /// What the startup returned (a panic's message, for one that panicked).
        error: BoxError,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Io(error) => write!(f, "the server did not start: {error}"),
            StartError::WorkerStartup { worker, error } => write!(
                f,
                "the startup of worker {worker} failed, so the server did not start: {error}"
            ),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Io(error) => Some(error),
            StartError::WorkerStartup { error, .. } => Some(&**error),
        }
    }
}

impl From<io::Error> for StartError {
    fn from(error: io::Error) -> StartError {
        StartError::Io(error)
    }
}

impl From<StartError> for io::Error {
    /// For [`Server::start`](super::Server::start), whose startup cannot fail but may panic.
    fn from(error: StartError) -> io::Error {
        match error {
            StartError::Io(error) => error,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// A panic's payload as text, for the error that reports it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a payload that is not text".to_owned()
    }
}
