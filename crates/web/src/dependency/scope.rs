//! A request's scope: the dependency values it made, and their teardowns after it.
//!
//! Extractors see only the request's head, whose extensions must be `Send`, while a
//! dependency's value need not be (it lives on one loop). So the scope is not in the
//! request: the future that answers a request is wrapped in [`Scoped`], which makes its scope
//! the thread's current one while it polls — a task-local, as tokio's — and the
//! dependencies find it there. Nothing is allocated for a request that resolves none.
//!
//! [`Scoped`] runs the teardowns: after the response is made, awaited before it is returned
//! — or, for a streamed body, once the body has ended, since the stream may still use the
//! dependencies' values (current FastAPI also closes them after the response); if the
//! request's future or the stream is dropped first (a panic the server caught, a client that
//! left), in a task spawned on the loop.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::future::LocalBoxFuture;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};
use kairos_http::{Body, BoxError};
use pin_project_lite::pin_project;

use super::{Dependency, Outcome};
use crate::background::Queue;
use crate::worker::WorkerContext;
use crate::{HttpError, Response};

thread_local! {
    /// The scope of the request being polled on this thread, if a [`Scoped`] polls one.
    static CURRENT: RefCell<Current> = const { RefCell::new(Current::Outside) };
}

enum Current {
    /// No request is being polled: a dependency used here is a programming error.
    Outside,
    /// A request is being polled; its scope, once a dependency has made it.
    Inside(Option<Rc<RequestScope>>),
}

/// The values of one request's dependencies, in the order they were resolved.
pub(crate) struct RequestScope {
    entries: RefCell<Vec<Entry>>,
    /// The request's [`BackgroundTasks`](crate::BackgroundTasks), once one is asked for: run
    /// after the response's body is done.
    background: RefCell<Option<Queue>>,
    /// Set when the request's future panicked while polled (seen from a guard's `Drop`).
    panicked: Cell<bool>,
}

struct Entry {
    type_id: TypeId,
    /// The value, or `None` for a dependency that failed: its rejection is answered once.
    value: Option<Box<dyn Any>>,
    teardown: Option<Teardown>,
}

/// `T::teardown` for an `Entry`'s value, its type forgotten.
type Teardown = fn(Box<dyn Any>, Outcome) -> LocalBoxFuture<'static, ()>;

fn teardown_of<T: Dependency>(
    value: Box<dyn Any>,
    outcome: Outcome,
) -> LocalBoxFuture<'static, ()> {
    match value.downcast::<T>() {
        Ok(value) => Box::pin(value.teardown(outcome)),
        Err(_) => Box::pin(std::future::ready(())),
    }
}

impl RequestScope {
    /// The scope of the request being polled, made by the first dependency that asks; a 500
    /// (logged) outside a request.
    pub(crate) fn current<T>() -> Result<Rc<RequestScope>, HttpError> {
        CURRENT.with(|current| match &mut *current.borrow_mut() {
            Current::Inside(scope) => Ok(Rc::clone(scope.get_or_insert_with(|| {
                Rc::new(RequestScope {
                    entries: RefCell::new(Vec::new()),
                    background: RefCell::new(None),
                    panicked: Cell::new(false),
                })
            }))),
            Current::Outside => {
                tracing::error!(
                    target: "kairos::web",
                    "Depends<{}> used outside a request of an App: a dependency is resolved \
                     only for a handler's arguments",
                    std::any::type_name::<T>()
                );
                Err(HttpError::internal())
            }
        })
    }

    /// The value of `T` this request made already: `Ok(Some)` a clone of it, `Err` when
    /// resolving it failed (an empty 422, which adds nothing to the items of the first
    /// failure: they are answered once), `Ok(None)` if it is not made yet.
    pub(crate) fn cached<T: Dependency>(&self) -> Result<Option<T>, HttpError> {
        let entries = self.entries.borrow();
        let Some(entry) = entries.iter().find(|e| e.type_id == TypeId::of::<T>()) else {
            return Ok(None);
        };
        match &entry.value {
            Some(value) => Ok(value.downcast_ref::<T>().cloned()),
            None => Err(HttpError::validation_errors(Vec::new())),
        }
    }

    /// Keeps the request's value of `T`, torn down after the request if `tear_down`.
    pub(crate) fn keep<T: Dependency>(&self, value: T, tear_down: bool) {
        self.entries.borrow_mut().push(Entry {
            type_id: TypeId::of::<T>(),
            value: Some(Box::new(value)),
            teardown: tear_down.then_some(teardown_of::<T> as Teardown),
        });
    }

    /// The request's background-task queue, made by the first `BackgroundTasks` asked for.
    pub(crate) fn background_queue(&self) -> Queue {
        Arc::clone(self.background.borrow_mut().get_or_insert_with(Queue::default))
    }

    /// Remembers that resolving `T` failed in this request.
    pub(crate) fn failed<T: Dependency>(&self) {
        self.entries.borrow_mut().push(Entry {
            type_id: TypeId::of::<T>(),
            value: None,
            teardown: None,
        });
    }

    /// The teardowns of the values made, last first, as one future; `None` if there are
    /// none. A teardown that panics is logged; the next ones run.
    fn tear_down(&self, outcome: Outcome) -> Option<Teardowns> {
        let mut entries = std::mem::take(&mut *self.entries.borrow_mut());
        entries.retain(|entry| entry.teardown.is_some() && entry.value.is_some());
        (!entries.is_empty()).then(|| Teardowns { entries, outcome, current: None })
    }
}

/// A request's teardowns, last first, each made when its turn comes and polled at once: a
/// teardown that finishes in its first poll — the default one, most — costs no allocation
/// (its future is zero-sized: [`NothingToClose`]) and no task.
pub(crate) struct Teardowns {
    /// Those not started, the next one last.
    entries: Vec<Entry>,
    outcome: Outcome,
    current: Option<LocalBoxFuture<'static, ()>>,
}

impl Future for Teardowns {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut(); // every field is `Unpin`
        loop {
            if this.current.is_none() {
                let Some(entry) = this.entries.pop() else { return Poll::Ready(()) };
                if let (Some(teardown), Some(value)) = (entry.teardown, entry.value) {
                    this.current = Some(teardown(value, this.outcome));
                }
                continue;
            }
            let current = this.current.as_mut().expect("a teardown is current");
            match std::panic::catch_unwind(AssertUnwindSafe(|| current.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => {}
                Err(payload) => tracing::error!(
                    target: "kairos::web",
                    "a dependency's teardown panicked: {}",
                    kairos_rt::task::panic_message(payload.as_ref())
                ),
            }
            this.current = None;
        }
    }
}

/// What [`Dependency::teardown`]'s default returns: ready at once, and zero-sized, so that
/// boxing it allocates nothing.
#[derive(Debug)]
pub(crate) struct NothingToClose;

impl Future for NothingToClose {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// What a [`Scoped`] is to the request's scope.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Not polled yet.
    Unknown,
    /// It owns the scope: the outermost `Scoped` of the request.
    Owner,
    /// Another `Scoped` around it owns the scope (a route's checks run in one, the handler's
    /// own inside it): this one only polls.
    Nested,
    /// The response is made: its teardowns are running, or done, or left to its body.
    Done,
}

pin_project! {
    /// A request's future in its dependency scope: polled with the scope current, and the
    /// scope's teardowns run after it, however it ends.
    pub(crate) struct Scoped<F> {
        #[pin]
        inner: F,
        role: Role,
        scope: Option<Rc<RequestScope>>,
        // Where the request's background tasks run.
        worker: Rc<WorkerContext>,
        // The teardowns after a response, and the response they hold back.
        finishing: Option<(Teardowns, Response)>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let teardowns = match (this.finishing.take(), this.scope.take()) {
                // Dropped while tearing down after a response: the rest still runs.
                (Some((teardowns, _response)), _) => Some(teardowns),
                (None, Some(scope)) => {
                    let outcome =
                        if scope.panicked.get() { Outcome::Panicked } else { Outcome::Cancelled };
                    scope.tear_down(outcome)
                }
                (None, None) => None,
            };
            if let Some(teardowns) = teardowns {
                spawn(teardowns);
            }
        }
    }
}

/// Runs `teardowns` in a task of their own on this loop: no one is left to await them.
fn spawn(teardowns: Teardowns) {
    if kairos_rt::Handle::try_current().is_none() {
        // No loop (its thread is tearing down): nothing could run them.
        tracing::warn!(
            target: "kairos::web",
            "a request's dependency teardowns were dropped: its loop had stopped"
        );
        return;
    }
    drop(kairos_rt::spawn_named("kairos-web: dependency teardowns", teardowns));
}

/// A response's body, and what to do once it is done: `then(true)` when it has ended —
/// polled past its last frame, or dropped by a server that saw its end — or `then(false)` when
/// it is dropped before (the client left). Called once.
struct Finally<F: FnOnce(bool)> {
    body: Body,
    then: Option<F>,
}

impl<F: FnOnce(bool) + Unpin + 'static> Finally<F> {
    fn wrap(body: Body, then: F) -> Body {
        Body::new(Finally { body, then: Some(then) })
    }
}

impl<F: FnOnce(bool) + Unpin> HttpBody for Finally<F> {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, BoxError>>> {
        let this = self.get_mut(); // `F: Unpin`, and a `Body` is
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(then) = this.then.take()
        {
            then(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<F: FnOnce(bool)> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(then) = self.then.take() {
            // A body the server saw end without polling it past its last frame ended all the same.
            then(self.body.is_end_stream());
        }
    }
}

/// A streamed response's body with its request's scope, torn down when the body has ended
/// ([`Outcome::Responded`]) or is dropped before (the client left: [`Outcome::Cancelled`]).
fn tear_down_after(body: Body, scope: Rc<RequestScope>, status: StatusCode) -> Body {
    Finally::wrap(body, move |ended| {
        let outcome = if ended { Outcome::Responded(status) } else { Outcome::Cancelled };
        if let Some(teardowns) = scope.tear_down(outcome) {
            spawn(teardowns);
        }
    })
}

impl<F> Scoped<F> {
    /// `inner`, a request's future on `worker`, in its own dependency scope.
    pub(crate) fn new(worker: Rc<WorkerContext>, inner: F) -> Scoped<F> {
        Scoped { inner, role: Role::Unknown, scope: None, worker, finishing: None }
    }
}

/// `response` with the request's background tasks started once its body is done — the
/// connection took its last frame, or the client left before — if it has any.
fn with_background(
    response: Response,
    queue: Option<Queue>,
    worker: &Rc<WorkerContext>,
) -> Response {
    let Some(queue) = queue else { return response };
    let worker = Rc::clone(worker);
    response.map(|body| Finally::wrap(body, move |_| crate::background::start(queue, worker)))
}

/// The scope made current while a [`Scoped`] polls; put back on drop, a panic's unwinding
/// included (which it records).
struct Entered<'a> {
    slot: &'a mut Option<Rc<RequestScope>>,
}

impl<'a> Entered<'a> {
    fn enter(slot: &'a mut Option<Rc<RequestScope>>) -> Entered<'a> {
        let scope = slot.take();
        CURRENT.with(|current| *current.borrow_mut() = Current::Inside(scope));
        Entered { slot }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let current = CURRENT.with(|current| current.replace(Current::Outside));
        if let Current::Inside(scope) = current {
            if std::thread::panicking()
                && let Some(scope) = &scope
            {
                scope.panicked.set(true);
            }
            *self.slot = scope;
        }
    }
}

impl<F: Future<Output = Response>> Future for Scoped<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        if let Some((teardowns, _)) = this.finishing.as_mut() {
            ready!(Pin::new(teardowns).poll(cx));
            let (_, response) = this.finishing.take().expect("finishing is set");
            return Poll::Ready(response);
        }
        if *this.role == Role::Unknown {
            let inside = CURRENT.with(|current| matches!(*current.borrow(), Current::Inside(_)));
            *this.role = if inside { Role::Nested } else { Role::Owner };
        }
        if *this.role != Role::Owner {
            return this.inner.poll(cx);
        }
        let polled = {
            let _entered = Entered::enter(this.scope);
            this.inner.poll(cx)
        };
        let response = ready!(polled);
        *this.role = Role::Done;
        let Some(scope) = this.scope.take() else { return Poll::Ready(response) };
        let background = scope.background.borrow_mut().take();
        if response.body().is_stream() {
            let (head, body) = response.into_parts();
            let body = tear_down_after(body, scope, head.status);
            let response = Response::from_parts(head, body);
            return Poll::Ready(with_background(response, background, this.worker));
        }
        let response = with_background(response, background, this.worker);
        let Some(mut teardowns) = scope.tear_down(Outcome::Responded(response.status())) else {
            return Poll::Ready(response);
        };
        if Pin::new(&mut teardowns).poll(cx).is_ready() {
            return Poll::Ready(response);
        }
        *this.finishing = Some((teardowns, response));
        Poll::Pending
    }
}
