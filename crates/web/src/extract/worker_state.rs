//! [`WorkerState<T>`]: a value made on each worker, for what cannot cross threads.

use std::ops::Deref;
use std::rc::Rc;

use http::request::Parts;

use super::{FromRequestParts, RouteContext};
use crate::worker::WorkerContext;
use crate::HttpError;

/// The value [`App::worker_state`](crate::App::worker_state)'s factory made on this request's
/// worker, shared by every request of that worker through an `Rc`.
///
/// For resources that belong to one loop and so cannot be shared between workers: a
/// `kairos_process::ProcessPool` (its pipes are on the loop's reactor), a
/// [`kairos_http::Client`] (its pooled connections are), an `Rc<RefCell<_>>` cache. `T` need
/// not be `Send` or `Sync`, and `RefCell`/`Cell` are enough for what changes: one worker is
/// one thread. The price of that: a `WorkerState` cannot be sent to a pool thread, so it is an
/// argument of `async` handlers only; a [`sync`](crate::sync) handler asking for one does not
/// compile.
///
/// ```
/// use std::cell::Cell;
/// use kairos_web::{App, TestClient, WorkerState};
///
/// // Not Send (a `Cell` in an `Rc`): it could never be `State`.
/// struct Visits { count: Cell<u64>, worker: String }
///
/// async fn visit(WorkerState(visits): WorkerState<Visits>) -> String {
///     visits.count.set(visits.count.get() + 1);
///     format!("visit {} on {}", visits.count.get(), visits.worker)
/// }
///
/// let app = App::new()
///     // Run once on each worker, on its own thread, when it starts.
///     .worker_state(|| Visits {
///         count: Cell::new(0),
///         worker: std::thread::current().name().unwrap_or("").to_owned(),
///     })
///     .get("/visit", visit);
/// let client = TestClient::new(app); // one worker
/// assert_eq!(client.get("/visit").send().text(), "visit 1 on kairos-worker-0");
/// assert_eq!(client.get("/visit").send().text(), "visit 2 on kairos-worker-0");
/// ```
///
/// The compiler refuses a `WorkerState` in a sync handler (an `Rc` cannot be sent to the
/// pool's thread):
///
/// ```compile_fail
/// use kairos_web::{sync, App, WorkerState};
///
/// fn blocking(WorkerState(n): WorkerState<u32>) -> String { n.to_string() }
/// let app = App::new().worker_state(|| 7u32).get("/n", sync(blocking));
/// ```
///
/// Asking for a type the App has no factory for is a programming error: the request gets 500
/// and the log says which type to register with `App::worker_state`.
#[derive(Debug)]
pub struct WorkerState<T>(pub Rc<T>);

impl<T> Clone for WorkerState<T> {
    fn clone(&self) -> Self {
        WorkerState(Rc::clone(&self.0))
    }
}

impl<T> Deref for WorkerState<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: 'static> FromRequestParts for WorkerState<T> {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let worker = RouteContext::of(parts, "WorkerState<_>")?.worker;
        match WorkerContext::state::<T>(worker) {
            Some(state) => Ok(WorkerState(state)),
            None => {
                tracing::error!(
                    target: "kairos::web",
                    "no worker state of type {}: register its factory with App::worker_state",
                    std::any::type_name::<T>()
                );
                Err(HttpError::internal())
            }
        }
    }
}
