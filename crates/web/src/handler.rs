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

use crate::dependency::Scoped;
use crate::extract::{FromRequest, FromRequestParts, ViaParts};
use crate::openapi::Operation;
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
/// What is not a handler is refused at compile time, and the first error says what is wrong
/// and what to do (each kind of handler has one implementation, so the compiler reports the
/// requirement that failed rather than "not a `Handler`"; `tests/ui/` pins the messages):
///
/// | mistake | the error says |
/// |---|---|
/// | a plain `fn` without [`sync`] | this handler is a plain `fn` (it returns `String`, not a future): wrap it in `sync(...)` ... |
/// | an `async fn` inside [`sync`] | `sync()` and `on_pool()` run a plain `fn` ..., but this one returns `impl Future<Output = String>` ... |
/// | a struct returned as it is | `Item` cannot be a response, so a handler cannot return it (notes: `Json(value)` ...) |
/// | `Json` before another argument | `Json<Item>` cannot be made from a request's head, so it cannot be this argument (note: move it last) |
///
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

    /// Describes the route in the OpenAPI document: its arguments' parameters and body, in
    /// order, then its answer (see [`openapi`](crate::openapi)). Nothing by default.
    fn openapi(&self, operation: &mut Operation<'_>) {
        let _ = operation;
    }

    /// The route's own middleware, outermost first ([`RouteLayer`](crate::middleware::RouteLayer)).
    /// None by default.
    #[doc(hidden)]
    fn layers(&self) -> Vec<crate::middleware::BoxedLayer> {
        Vec::new()
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
    fn openapi(&self, operation: &mut Operation<'_>);
    fn layers(&self) -> Vec<crate::middleware::BoxedLayer>;
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

    fn openapi(&self, operation: &mut Operation<'_>) {
        self.handler.openapi(operation);
    }

    fn layers(&self) -> Vec<crate::middleware::BoxedLayer> {
        self.handler.layers()
    }

    fn call(&self, request: Request, worker: Rc<WorkerContext>, label: Label) -> ResponseFuture {
        Arc::clone(&self.handler).call(request, worker, label)
    }
}

pub(crate) fn erase<H: Handler<T>, T: 'static>(handler: H) -> Arc<dyn ErasedHandler> {
    Arc::new(Erased { handler: Arc::new(handler), _args: PhantomData })
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
///
/// `f` is checked here, so that an `async fn` given to `sync` is refused with what to do:
///
/// ```compile_fail
/// use kairos_web::{sync, App};
///
/// async fn on_the_loop() -> String { "an async fn runs on the loop".into() }
/// let app = App::new().get("/", sync(on_the_loop)); // `.get("/", on_the_loop)` compiles
/// ```
pub fn sync<F, Args>(f: F) -> SyncHandler<F>
where
    F: HandlerFn<Args>,
    F::Output: SyncResult,
{
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
pub fn on_pool<F, Args>(pool: &ThreadPool, f: F) -> PoolHandler<F>
where
    F: HandlerFn<Args>,
    F::Output: SyncResult,
{
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

/// Marks the [`Handler`] implementation for `async` functions: `M` tells the extractors'
/// implementations apart, `Args` is the tuple of the arguments.
#[doc(hidden)]
#[derive(Debug)]
pub struct OnLoop<M, Args>(PhantomData<(M, Args)>);

/// Marks the [`Handler`] implementation of [`BlockingHandler`].
#[doc(hidden)]
#[derive(Debug)]
pub struct OffLoop<M, Args>(PhantomData<(M, Args)>);

// How the compiler is led to the mistake. Each kind of handler has exactly one `Handler`
// implementation, so the compiler commits to it and then reports the first of its
// requirements that fails, each with its own message: the arguments, one by one
// (`FromRequestParts`, `FromRequest`), the result (`IntoResponse`), that an `async`
// handler's function returns a future (`HandlerFuture`), that a `sync` one's does not
// (`SyncResult`). Were there one implementation per number of arguments, as there used to
// be, none would fit and all the compiler could say is that the function is not a `Handler`.
// `HandlerFn` finds the number of arguments without checking anything else.

/// A function of `Args` (a tuple): implemented for every `Fn` of up to 8 arguments, whatever
/// they and the result are — what they must be is checked after.
#[doc(hidden)]
pub trait HandlerFn<Args> {
    /// What the function returns.
    type Output;

    /// Calls the function with the arguments of the tuple.
    fn call_with(&self, args: Args) -> Self::Output;
}

/// The arguments of a handler, as a tuple: each an extractor of the request's head
/// ([`FromRequestParts`]) but the last, which may read the body ([`FromRequest`]).
#[doc(hidden)]
pub trait Extractors<M>: Sized + 'static {
    /// Whether one of them reads the route's context.
    const NEEDS_ROUTE_CONTEXT: bool;

    /// Makes them all from `request`, in order, or the response to their failures: every
    /// 422 item of every argument, or the first other rejection.
    fn extract(request: Request) -> impl Future<Output = Result<Self, Response>>;

    /// Describes them in the OpenAPI document, in order.
    fn openapi(operation: &mut Operation<'_>) {
        let _ = operation;
    }
}

impl Extractors<ViaParts> for () {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn extract(_request: Request) -> Result<Self, Response> {
        Ok(())
    }
}

/// What an `async` handler's function returns: a future whose output is the response.
#[diagnostic::on_unimplemented(
    message = "this handler is a plain `fn` (it returns `{Self}`, not a future): wrap it in \
               `sync(...)` to run it on the sync pool, or make it an `async fn`",
    label = "a plain `fn`, given without `sync()`",
    note = "an `async fn` runs on the worker's event loop (FastAPI's `async def`); a plain `fn` \
            may block, so it runs off the loop: `sync(f)` on the worker's sync pool (FastAPI's \
            `def`), `on_pool(&pool, f)` on a pool of yours"
)]
#[doc(hidden)]
pub trait HandlerFuture: 'static {
    /// The future's output: the response.
    type Response;
    /// The future.
    type Future: Future<Output = Self::Response>;

    /// The future to await.
    fn into_handler_future(self) -> Self::Future;
}

#[diagnostic::do_not_recommend]
impl<Fut: Future + 'static> HandlerFuture for Fut {
    type Response = Fut::Output;
    type Future = Fut;

    fn into_handler_future(self) -> Fut {
        self
    }
}

/// What a [`sync`] or [`on_pool`] handler's function returns: a response, which is sent from
/// the pool's thread back to the loop.
#[diagnostic::on_unimplemented(
    message = "`sync()` and `on_pool()` run a plain `fn` and send what it returns, but this one \
               returns `{Self}`, which is not a response that can be sent between threads",
    label = "an `async fn` here? give it without `sync()`: it runs on the loop",
    note = "an `async fn` returns a future (`impl Future<Output = ...>`): register it as it is, \
            `.get(path, f)`, not `.get(path, sync(f))`",
    note = "a plain `fn` returns a response: `String`, `&'static str`, `Json(value)`, \
            `Html(text)`, `StatusCode`, `(StatusCode, body)`, `Result<T, HttpError>`...; \
            implement `IntoResponse` for a type of your own; it must be `Send`"
)]
#[doc(hidden)]
pub trait SyncResult: IntoResponse + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<R: IntoResponse + Send + 'static> SyncResult for R {}

impl<F, M, Args> Handler<OnLoop<M, Args>> for F
where
    F: HandlerFn<Args> + Send + Sync + 'static,
    F::Output: HandlerFuture,
    <F::Output as HandlerFuture>::Response: IntoResponse,
    Args: Extractors<M>,
    M: 'static,
{
    fn kind(&self) -> HandlerKind {
        HandlerKind::Async
    }

    fn needs_route_context(&self) -> bool {
        Args::NEEDS_ROUTE_CONTEXT
    }

    fn openapi(&self, operation: &mut Operation<'_>) {
        Args::openapi(operation);
        <<F::Output as HandlerFuture>::Response as IntoResponse>::openapi(operation);
    }

    fn call(
        self: Arc<Self>,
        request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        // `Scoped`: the request's dependencies are resolved once and torn down after it.
        Box::pin(label.scope(Scoped::new(worker, async move {
            match Args::extract(request).await {
                Ok(args) => self.call_with(args).into_handler_future().await.into_response(),
                Err(rejection) => rejection,
            }
        })))
    }
}

impl<P, F, M, Args> Handler<OffLoop<M, Args>> for BlockingHandler<P, F>
where
    P: RunsBlocking,
    F: HandlerFn<Args> + Send + Sync + 'static,
    F::Output: SyncResult,
    Args: Extractors<M> + Send,
    M: 'static,
{
    fn kind(&self) -> HandlerKind {
        P::KIND
    }

    fn needs_route_context(&self) -> bool {
        Args::NEEDS_ROUTE_CONTEXT
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<F>()
    }

    fn openapi(&self, operation: &mut Operation<'_>) {
        Args::openapi(operation);
        <F::Output as IntoResponse>::openapi(operation);
    }

    fn call(
        self: Arc<Self>,
        request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        Box::pin(label.scope(Scoped::new(Rc::clone(&worker), async move {
            match Args::extract(request).await {
                Ok(args) => P::run(self, worker, move |f| f.call_with(args)).await,
                Err(rejection) => rejection,
            }
        })))
    }
}

macro_rules! impl_handler_fn {
    ($($T:ident),*) => {
        impl<F, R, $($T,)*> HandlerFn<($($T,)*)> for F
        where
            F: Fn($($T),*) -> R,
        {
            type Output = R;

            #[allow(non_snake_case)]
            fn call_with(&self, ($($T,)*): ($($T,)*)) -> R {
                self($($T),*)
            }
        }
    };
}

impl_handler_fn!();
impl_handler_fn!(A);
impl_handler_fn!(A, B);
impl_handler_fn!(A, B, C);
impl_handler_fn!(A, B, C, D);
impl_handler_fn!(A, B, C, D, E);
impl_handler_fn!(A, B, C, D, E, G);
impl_handler_fn!(A, B, C, D, E, G, H);
impl_handler_fn!(A, B, C, D, E, G, H, I);

macro_rules! impl_extractors {
    ($($T:ident),*; $Last:ident) => {
        impl<M, $($T,)* $Last> Extractors<M> for ($($T,)* $Last,)
        where
            $($T: FromRequestParts + 'static,)*
            $Last: FromRequest<M> + 'static,
            M: 'static,
        {
            const NEEDS_ROUTE_CONTEXT: bool =
                false $(|| $T::NEEDS_ROUTE_CONTEXT)* || $Last::NEEDS_ROUTE_CONTEXT;

            #[allow(non_snake_case)]
            async fn extract(request: Request) -> Result<Self, Response> {
                #[allow(unused_mut)] // no FromRequestParts arguments
                let (mut parts, body) = request.into_parts();
                let mut rejected: Option<HttpError> = None;
                $(
                    let $T = match $T::from_request_parts(&mut parts).await {
                        Ok(value) => Some(value),
                        Err(rejection) => {
                            rejected = Some(
                            reject(rejected.take(), rejection).map_err(IntoResponse::into_response)?,
                        );
                            None
                        }
                    };
                )*
                let $Last = match $Last::from_request(Request::from_parts(parts, body)).await {
                    Ok(value) => Some(value),
                    Err(rejection) => {
                        rejected = Some(
                            reject(rejected.take(), rejection).map_err(IntoResponse::into_response)?,
                        );
                        None
                    }
                };
                match ($($T,)* $Last,) {
                    ($(Some($T),)* Some($Last),) => Ok(($($T,)* $Last,)),
                    _ => Err(rejected.unwrap_or_else(HttpError::internal).into_response()),
                }
            }

            fn openapi(operation: &mut Operation<'_>) {
                $($T::openapi(operation);)*
                $Last::openapi(operation);
            }
        }
    };
}

/// Adds an extractor's rejection to those before it: `Ok` with all the 422 items so far, or
/// `Err` with a rejection that is not a 422, to answer at once. As FastAPI, a
/// request is answered with every bad value at once: a 422 from one extractor does not stop
/// the others, and their items join it in argument order; any other rejection (a 413, a 500)
/// answers at once.
pub(crate) fn reject(
    before: Option<HttpError>,
    rejection: HttpError,
) -> Result<HttpError, HttpError> {
    if rejection.validation_items().is_none() {
        return Err(rejection);
    }
    Ok(match before {
        Some(before) => before.merge(rejection),
        None => rejection,
    })
}

impl_extractors!(; A);
impl_extractors!(A; B);
impl_extractors!(A, B; C);
impl_extractors!(A, B, C; D);
impl_extractors!(A, B, C, D; E);
impl_extractors!(A, B, C, D, E; G);
impl_extractors!(A, B, C, D, E, G; H);
impl_extractors!(A, B, C, D, E, G, H; I);
