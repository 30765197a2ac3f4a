//! Handlers and their kinds: what runs a route, and where.
//!
//! | kind | register with | runs on | FastAPI |
//! |---|---|---|---|
//! | [`Async`](HandlerKind::Async) | `app.get(path, f)`, `f` an `async fn`/closure | the worker's loop | `async def` |
//! | [`Sync`](HandlerKind::Sync) | `app.get(path, `[`sync`]`(f))`, `f` a plain `fn` | the worker's sync pool, at most [`App::sync_tokens`](crate::App::sync_tokens) at once | `def` |
//! | [`Pool`](HandlerKind::Pool) | `app.get(path, `[`on_pool`]`(&pool, f))` | the [`ThreadPool`] you give | `run_in_executor(pool, f)` |
//!
//! In every kind the extractors run on the loop (reading the body is I/O); then the function
//! runs where its kind says. An async handler must never block: it shares the loop with every
//! other request of its worker. A sync handler may block as it likes; it holds one of the
//! worker's tokens meanwhile, and a request that cannot get a token within
//! [`App::request_timeout`](crate::App::request_timeout) is answered `503`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use kairos_rt::executor::JobError;
use kairos_rt::task::Label;
use kairos_rt::ThreadPool;

use crate::extract::{FromRequest, FromRequestParts};
use crate::response::IntoResponse;
use crate::worker::WorkerContext;
use crate::{HttpError, Request, Response};

/// A boxed response future, polled on the worker's loop (so it need not be `Send`).
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response>>>;

/// Where a route's handler runs; listed by [`App::routes`](crate::App::routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerKind {
    /// An `async` function, run on the worker's event loop (FastAPI's `async def`).
    Async,
    /// A plain function, run on the worker's bounded sync pool (FastAPI's `def`).
    Sync,
    /// A plain function, run on a [`ThreadPool`] given at registration.
    Pool,
}

impl fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandlerKind::Async => "async",
            HandlerKind::Sync => "sync",
            HandlerKind::Pool => "pool",
        })
    }
}

/// A function that can answer a route: an `async fn` whose arguments are extractors, or a
/// plain `fn` wrapped by [`sync`] or [`on_pool`]. `T` is inferred; it only tells the
/// implementations apart.
///
/// The function itself must be `Send + Sync + 'static`, because every worker calls it; the
/// future of an async handler need not be `Send`, because it stays on one loop.
///
/// What is not a handler is refused at compile time with what to do, a plain `fn` given
/// without [`sync`] for one ("... is not a handler kairos-web can route to", with notes):
///
/// ```compile_fail
/// fn plain() -> &'static str { "def, not async def" }
/// let app = kairos_web::App::new().get("/", plain); // `sync(plain)` compiles
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler kairos-web can route to",
    label = "not a handler",
    note = "a handler is an `async fn` (or a closure returning a future) of at most 8 \
            extractor arguments (`Path`, `Query`, `Headers`, `State`, `WorkerState`, \
            `HeaderMap`, ...; only the last may read the body: `Json`, `Bytes`, `String`, \
            `Request`) whose output implements `IntoResponse` (for `Result<T, E>`, both must: \
            make `E` an `HttpError`)",
    note = "a plain `fn` must be wrapped: `sync(f)` runs it on the worker's sync pool (FastAPI's \
            `def` route), `on_pool(&pool, f)` on a pool of yours; its arguments and result \
            must then be `Send`",
    note = "the function itself must be `Send + Sync + 'static`: capture `Arc`s, not references \
            or `Rc`s (for a value per worker, see `App::worker_state`)"
)]
pub trait Handler<T>: Send + Sync + Sized + 'static {
    /// Where this handler runs.
    fn kind(&self) -> HandlerKind;

    /// Whether one of its extractors reads the route's context (path parameters, state); see
    /// [`FromRequestParts::NEEDS_ROUTE_CONTEXT`].
    fn needs_route_context(&self) -> bool {
        true
    }

    /// The handler's name, for the route table and the stall detector's reports: the
    /// function's path (`my_service::items::get_item`).
    fn name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// Answers `request` on the worker `worker`, under the route's `label` (what a stall
    /// report names). Called by the router.
    #[doc(hidden)]
    fn call(
        self: Arc<Self>,
        request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture;
}

/// A handler with its argument types forgotten, as the router stores it.
pub(crate) trait ErasedHandler: Send + Sync {
    fn kind(&self) -> HandlerKind;
    fn needs_route_context(&self) -> bool;
    fn name(&self) -> &'static str;
    fn call(&self, request: Request, worker: Rc<WorkerContext>, label: Label) -> ResponseFuture;
}

struct Erased<H, T> {
    handler: Arc<H>,
    _args: PhantomData<fn() -> T>,
}

impl<H: Handler<T>, T: 'static> ErasedHandler for Erased<H, T> {
    fn kind(&self) -> HandlerKind {
        self.handler.kind()
    }

    fn needs_route_context(&self) -> bool {
        self.handler.needs_route_context()
    }

    fn name(&self) -> &'static str {
        self.handler.name()
    }

    fn call(&self, request: Request, worker: Rc<WorkerContext>, label: Label) -> ResponseFuture {
        Arc::clone(&self.handler).call(request, worker, label)
    }
}

pub(crate) fn erase<H: Handler<T>, T: 'static>(handler: H) -> Arc<dyn ErasedHandler> {
    Arc::new(Erased { handler: Arc::new(handler), _args: PhantomData })
}

/// Runs the extractors of a handler. As FastAPI, a request is answered with every bad value at
/// once: a 422 from one extractor does not stop the others, and their 422 items join it in
/// argument order; any other rejection (a 413, a 500) answers at once.
macro_rules! extract {
    ($request:ident; $($T:ident),*; $Last:ident) => {
        #[allow(unused_mut)] // no FromRequestParts arguments
        let (mut parts, body) = $request.into_parts();
        let mut rejected: Option<HttpError> = None;
        $(
            let $T = match $T::from_request_parts(&mut parts) {
                Ok(value) => Some(value),
                Err(rejection) => match reject(rejected.take(), rejection) {
                    Ok(all) => {
                        rejected = Some(all);
                        None
                    }
                    Err(now) => return now.into_response(),
                },
            };
        )*
        let $Last = match $Last::from_request(Request::from_parts(parts, body)).await {
            Ok(value) => Some(value),
            Err(rejection) => match reject(rejected.take(), rejection) {
                Ok(all) => {
                    rejected = Some(all);
                    None
                }
                Err(now) => return now.into_response(),
            },
        };
        let ($($T,)* $Last,) = match ($($T,)* $Last,) {
            ($(Some($T),)* Some($Last),) => ($($T,)* $Last,),
            _ => return rejected.unwrap_or_else(HttpError::internal).into_response(),
        };
    };
}

/// Adds an extractor's rejection to those before it: `Ok` with all the 422 items so far, or
/// `Err` with a rejection that is not a 422, to answer at once.
fn reject(before: Option<HttpError>, rejection: HttpError) -> Result<HttpError, HttpError> {
    if rejection.validation_items().is_none() {
        return Err(rejection);
    }
    Ok(match before {
        Some(before) => before.merge(rejection),
        None => rejection,
    })
}

// Zero arguments.
impl<F, Fut, R> Handler<()> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn kind(&self) -> HandlerKind {
        HandlerKind::Async
    }

    fn needs_route_context(&self) -> bool {
        false
    }

    fn call(
        self: Arc<Self>,
        _request: Request,
        _worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        Box::pin(label.scope(async move { (self)().await.into_response() }))
    }
}

/// A plain function and where it runs, off the loop: the worker's sync pool
/// ([`SyncHandler`], made by [`sync`]) or a pool of yours ([`PoolHandler`], made by
/// [`on_pool`]). The two kinds share every line but the one that hands the call to its
/// threads, which is [`RunsBlocking`]'s.
#[derive(Debug, Clone)]
pub struct BlockingHandler<P, F> {
    place: P,
    f: F,
}

/// A plain function run on the worker's bounded sync pool: FastAPI's `def` route.
///
/// ```
/// use kairos_web::{sync, App, Path};
///
/// fn read_file(Path(name): Path<String>) -> String {
///     // Blocking I/O is fine here: this runs on a pool thread, not on the loop.
///     std::fs::read_to_string(format!("/tmp/{name}")).unwrap_or_default()
/// }
/// let app = App::new().get("/files/{name}", sync(read_file));
/// # drop(app);
/// ```
pub type SyncHandler<F> = BlockingHandler<SyncPool, F>;

/// Wraps a plain function to run on the worker's bounded sync pool (kind
/// [`Sync`](HandlerKind::Sync)).
pub fn sync<F>(f: F) -> SyncHandler<F> {
    BlockingHandler { place: SyncPool, f }
}

/// A plain function run on a [`ThreadPool`] of your own: CPU-heavy work with its own bound,
/// apart from the sync pool.
pub type PoolHandler<F> = BlockingHandler<ThreadPool, F>;

/// Wraps a plain function to run on `pool` (kind [`Pool`](HandlerKind::Pool)). The pool's size
/// bounds how many run at once; a pool with a full bounded queue answers `503`.
///
/// ```
/// use kairos_web::{on_pool, App, Path};
/// use kairos_rt::ThreadPool;
///
/// fn fib(Path(n): Path<u64>) -> String {
///     fn f(n: u64) -> u64 { if n < 2 { n } else { f(n - 1) + f(n - 2) } }
///     f(n.min(40)).to_string()
/// }
/// let cpu = ThreadPool::builder().max_workers(4).thread_name_prefix("cpu").build();
/// let app = App::new().get("/fib/{n}", on_pool(&cpu, fib));
/// # drop(app);
/// ```
pub fn on_pool<F>(pool: &ThreadPool, f: F) -> PoolHandler<F> {
    BlockingHandler { place: pool.clone(), f }
}

/// The worker's sync pool, behind its limiter: where a [`SyncHandler`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncPool;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::SyncPool {}
    impl Sealed for kairos_rt::ThreadPool {}
}

/// Where a [`BlockingHandler`]'s function runs: [`SyncPool`] or a [`ThreadPool`]. Sealed.
pub trait RunsBlocking: sealed::Sealed + Sized + Send + Sync + 'static {
    /// The kind [`App::routes`](crate::App::routes) lists.
    const KIND: HandlerKind;

    /// Runs `call(&handler.f)` off the loop and answers with its result (or the error that
    /// kept it from running). Takes the handler's `Arc` so that the job can own it: the sync
    /// pool then costs no clone at all, a thread pool one (of the pool's handle, to submit).
    #[doc(hidden)]
    fn run<F, R>(
        handler: Arc<BlockingHandler<Self, F>>,
        worker: Rc<WorkerContext>,
        call: impl FnOnce(&F) -> R + Send + 'static,
    ) -> impl Future<Output = Response>
    where
        F: Send + Sync + 'static,
        R: IntoResponse + Send + 'static;
}

impl RunsBlocking for SyncPool {
    const KIND: HandlerKind = HandlerKind::Sync;

    async fn run<F, R>(
        handler: Arc<BlockingHandler<Self, F>>,
        worker: Rc<WorkerContext>,
        call: impl FnOnce(&F) -> R + Send + 'static,
    ) -> Response
    where
        F: Send + Sync + 'static,
        R: IntoResponse + Send + 'static,
    {
        worker.run_sync(move || call(&handler.f)).await
    }
}

impl RunsBlocking for ThreadPool {
    const KIND: HandlerKind = HandlerKind::Pool;

    async fn run<F, R>(
        handler: Arc<BlockingHandler<Self, F>>,
        _worker: Rc<WorkerContext>,
        call: impl FnOnce(&F) -> R + Send + 'static,
    ) -> Response
    where
        F: Send + Sync + 'static,
        R: IntoResponse + Send + 'static,
    {
        let pool = handler.place.clone();
        job_response(pool.spawn(move || call(&handler.f)).await)
    }
}

/// Marks the [`Handler`] implementations of [`BlockingHandler`].
#[doc(hidden)]
#[derive(Debug)]
pub struct OffLoop<T>(PhantomData<T>);

/// The response for a pool job's outcome.
pub(crate) fn job_response<R: IntoResponse>(result: Result<R, JobError>) -> Response {
    match result {
        Ok(value) => value.into_response(),
        Err(JobError::Panicked(message)) => {
            tracing::error!(target: "kairos::web", "handler panicked: {message}");
            HttpError::internal().into_response()
        }
        Err(JobError::QueueFull) => {
            HttpError::unavailable("the handler's thread pool is full; retry shortly")
                .into_response()
        }
        Err(other) => HttpError::unavailable(other.to_string()).into_response(),
    }
}

macro_rules! impl_handlers {
    ($($T:ident),*; $Last:ident) => {
        impl<F, Fut, R, M, $($T,)* $Last> Handler<(M, $($T,)* $Last,)> for F
        where
            F: Fn($($T,)* $Last) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + 'static,
            R: IntoResponse,
            $($T: FromRequestParts + 'static,)*
            $Last: FromRequest<M> + 'static,
            M: 'static,
        {
            fn kind(&self) -> HandlerKind {
                HandlerKind::Async
            }

            fn needs_route_context(&self) -> bool {
                false $(|| $T::NEEDS_ROUTE_CONTEXT)* || $Last::NEEDS_ROUTE_CONTEXT
            }

            #[allow(non_snake_case)]
            fn call(
                self: Arc<Self>,
                request: Request,
                _worker: Rc<WorkerContext>,
                label: Label,
            ) -> ResponseFuture {
                Box::pin(label.scope(async move {
                    extract!(request; $($T),*; $Last);
                    (self)($($T,)* $Last).await.into_response()
                }))
            }
        }

        impl<P, F, R, M, $($T,)* $Last> Handler<OffLoop<(M, $($T,)* $Last,)>>
            for BlockingHandler<P, F>
        where
            P: RunsBlocking,
            F: Fn($($T,)* $Last) -> R + Send + Sync + 'static,
            R: IntoResponse + Send + 'static,
            $($T: FromRequestParts + Send + 'static,)*
            $Last: FromRequest<M> + Send + 'static,
            M: 'static,
        {
            fn kind(&self) -> HandlerKind {
                P::KIND
            }

            fn needs_route_context(&self) -> bool {
                false $(|| $T::NEEDS_ROUTE_CONTEXT)* || $Last::NEEDS_ROUTE_CONTEXT
            }

            fn name(&self) -> &'static str {
                std::any::type_name::<F>()
            }

            #[allow(non_snake_case)]
            fn call(
                self: Arc<Self>,
                request: Request,
                worker: Rc<WorkerContext>,
                label: Label,
            ) -> ResponseFuture {
                Box::pin(label.scope(async move {
                    extract!(request; $($T),*; $Last);
                    P::run(self, worker, move |f| f($($T,)* $Last)).await
                }))
            }
        }
    };
}

impl_handlers!(; A);
impl_handlers!(A; B);
impl_handlers!(A, B; C);
impl_handlers!(A, B, C; D);
impl_handlers!(A, B, C, D; E);
impl_handlers!(A, B, C, D, E; G);
impl_handlers!(A, B, C, D, E, G; H);
impl_handlers!(A, B, C, D, E, G, H; I);

// Zero arguments, off the loop.
impl<P, F, R> Handler<OffLoop<()>> for BlockingHandler<P, F>
where
    P: RunsBlocking,
    F: Fn() -> R + Send + Sync + 'static,
    R: IntoResponse + Send + 'static,
{
    fn kind(&self) -> HandlerKind {
        P::KIND
    }

    fn needs_route_context(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<F>()
    }

    fn call(
        self: Arc<Self>,
        _request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        Box::pin(label.scope(P::run(self, worker, |f| f())))
    }
}
