//! Middleware: code around every request of an App, a router or a route — FastAPI's
//! `@app.middleware("http")` and Starlette's `Middleware`, and tower's `Layer`s as they are.
//!
//! # Two ways to write one
//!
//! - [`from_fn`]: an `async fn(request, next) -> impl IntoResponse` that may look at or change
//!   the request, call `next.run(request).await` for the rest of the chain, look at or change
//!   the response — or answer without calling `next` at all (a short-circuit).
//! - Any tower [`Layer`] whose service answers an `http::Response` of a
//!   body of `Bytes`: tower-http's `CorsLayer`, `SetRequestIdLayer`/`PropagateRequestIdLayer`,
//!   `TraceLayer`, `SetResponseHeaderLayer`, `SetSensitiveHeadersLayer`, `NormalizePathLayer`, `ValidateRequestHeaderLayer`, `RequestBodyLimitLayer`... work
//!   unmodified, alone or stacked in a `tower::ServiceBuilder`.
//!
//! ```
//! use kairos_web::middleware::{from_fn, Next};
//! use kairos_web::{App, Request, TestClient};
//!
//! // FastAPI: @app.middleware("http") async def add_header(request, call_next): ...
//! async fn add_header(request: Request, next: Next) -> kairos_web::Response {
//!     let mut response = next.run(request).await;
//!     response.headers_mut().insert("x-served-by", "kairos".parse().unwrap());
//!     response
//! }
//!
//! let app = App::new().layer(from_fn(add_header)).get("/", || async { "hello" });
//! let client = TestClient::new(app);
//! assert_eq!(client.get("/").send().header("x-served-by"), Some("kairos"));
//! ```
//!
//! # Three places
//!
//! | added with | wraps | sees |
//! |---|---|---|
//! | [`App::layer`](crate::App::layer) | the whole App | every request: 404s, 405s, a CORS preflight for a route that has no `OPTIONS`, the docs pages |
//! | [`ApiRouter::layer`](crate::ApiRouter::layer) | each route of the router | the requests routed to them |
//! | [`RouteLayer::layer`] on a handler | that route | its requests |
//!
//! The order is **outermost first**, as Starlette's `middleware=[...]` list and tower's
//! `ServiceBuilder`: the first layer added sees the request first and the response last.
//! App layers come outside router layers, which come outside a route's own. Every layer
//! runs *before* the route's dependencies (an App's or router's [`Dependency`] checks and the
//! handler's [`Depends`] arguments are part of the route, as in FastAPI), so a CORS layer
//! adds its headers to the 401 an auth dependency answers. A layer that needs the route's
//! path — `NormalizePathLayer` — belongs on the App: the route is chosen before router and
//! route layers run.
//!
//! Errors and panics: the exception handlers ([`App::exception_handler`](crate::App::exception_handler)) run inside every
//! layer, so layers see the response they make. A handler that panics is a `500` *inside*
//! the layers too — the access log, the request id and CORS headers are on it — and the
//! worker lives on. A tower service that fails (`Err`) is answered `500` and logged: tower
//! errors are for failures a layer cannot answer itself.
//!
//! # What runs where
//!
//! Layers are built **once per worker**, on its loop, and cloned per request (tower's model):
//! the state a layer keeps — a `ConcurrencyLimitLayer`'s permits, a rate limit's count — is
//! per worker, like the sync limiter (`GlobalConcurrencyLimitLayer` shares one across
//! workers). Their futures run on the worker's loop and need not be `Send`. A layer must
//! not block: it runs on the loop, and the stall detector names it in the request's label.
//!
//! Two kinds of tower layer do not fit, and kairos has their equivalent. Layers that need a
//! **`Send` response body** — tower-http's `CatchPanicLayer` — do not compile: a kairos
//! body may hold what belongs to its loop (an `Rc`, a stream of a worker's state), so it is
//! not `Send`; and kairos already answers a panic inside the layers with the App's 500
//! (change it with [`App::status_handler`](crate::App::status_handler)). Layers that wait on **tokio's timer** — tower's `TimeoutLayer` and `RateLimitLayer`,
//! tower-http's `TimeoutLayer` — panic outside a tokio runtime, which kairos' loop is not:
//! use [`Timeout`] (on the kairos clock) instead. tower-http's compression needs no runtime
//! and works, but brings tokio's I/O traits into the build; [`Compression`] is kairos' own
//! (its docs compare the two).
//!
//! # Costs
//!
//! An App without layers pays nothing. Each [`App::layer`](crate::App::layer) call costs a
//! clone of its service and one boxed future per request; stack several tower layers in one
//! `ServiceBuilder` to pay that once.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this overview; [`Next`], the rest of the chain; how a layer is kept and stacked |
//! | `from_fn.rs` | [`from_fn`], [`FromFn`] |
//! | `route.rs` | [`RouteLayer`], [`Layered`]: a route's own layers |
//! | `timeout.rs` | [`Timeout`]: a deadline per request on the kairos clock |
//! | `compression.rs` | [`Compression`]: gzip, br and zstd by `Accept-Encoding`, streams flushed chunk by chunk |
//!
//! [`Dependency`]: crate::Dependency
//! [`Depends`]: crate::Depends

mod compression;
mod from_fn;
mod route;
mod timeout;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body as HttpBody;
use kairos_http::{Body, BoxError, RequestBody};
use tower_layer::Layer;
use tower_service::Service;

pub use compression::{
    Compression, CompressionLevel, CompressionService, ContentEncoding, DEFAULT_MIN_SIZE,
};
pub use from_fn::{from_fn, FromFn, FromFnFuture, FromFnService};
pub use route::{Layered, RouteLayer, WithLayers};
pub use timeout::{Timeout, TimeoutService};

use crate::exception::ExceptionHandlers;
use crate::handler::ResponseFuture;
use crate::response::IntoResponse;
use crate::{HttpError, Request, Response};

/// The rest of the chain: what a middleware calls to pass the request on — the next layer,
/// or the route — and the service every tower layer wraps.
///
/// Cheap to clone (an `Rc`): tower clones a service per request. It accepts a request of any
/// `Send` body of `Bytes` (a layer may replace the body: `RequestBodyLimitLayer` wraps it in
/// `Limited`), and never fails: every error is already a response.
#[derive(Clone)]
pub struct Next {
    call: Rc<dyn Fn(Request) -> ResponseFuture>,
}

impl Next {
    /// The chain that ends in `call`.
    pub(crate) fn new(call: impl Fn(Request) -> ResponseFuture + 'static) -> Next {
        Next { call: Rc::new(call) }
    }

    /// The innermost of a chain, ending in `call` (the route, or the App's dispatch): its
    /// response through the App's exception handlers, or the App's 500 for a panic while it
    /// was made — one future, so that the layers see both as any response.
    pub(crate) fn innermost(
        exceptions: Arc<ExceptionHandlers>,
        call: impl Fn(Request) -> ResponseFuture + 'static,
    ) -> Next {
        Next::new(move |request| {
            let exceptions = Arc::clone(&exceptions);
            Box::pin(Innermost { response: call(request), exceptions })
        })
    }

    /// Passes `request` on and returns the response of the rest of the chain (Starlette's
    /// `await call_next(request)`).
    pub fn run(&self, request: Request) -> ResponseFuture {
        (self.call)(request)
    }

    /// A tower service as a chain: cloned, made ready and called per request. A `Next` given
    /// here is returned as it is.
    fn from_service<S, B>(service: S) -> Next
    where
        S: Service<Request, Response = http::Response<B>> + Clone + 'static,
        S::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(service);
        if let Some(next) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Next>>()
            && let Some(next) = next.take()
        {
            return next;
        }
        let Some(service) = slot else { unreachable!("the service is taken only when returned") };
        Next::new(move |request| {
            let mut service = service.clone();
            Box::pin(async move {
                let answered = match std::future::poll_fn(|cx| service.poll_ready(cx)).await {
                    Ok(()) => service.call(request).await,
                    Err(error) => Err(error),
                };
                match answered {
                    Ok(response) => response.map(Body::new),
                    Err(error) => {
                        let error: BoxError = error.into();
                        tracing::error!(target: "kairos::web", "a middleware failed: {error}");
                        HttpError::internal().into_response()
                    }
                }
            })
        })
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Next")
    }
}

impl<B> Service<http::Request<B>> for Next
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = NextFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> NextFuture {
        NextFuture(self.run(request.map(RequestBody::new)))
    }
}

/// The response of the rest of the chain, as a tower future (it never fails).
pub struct NextFuture(ResponseFuture);

impl Future for NextFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

impl fmt::Debug for NextFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NextFuture")
    }
}

/// A layer with its type forgotten: how Apps, routers and routes keep theirs. Applied on
/// each worker to the chain inside it.
#[doc(hidden)]
#[derive(Clone)]
pub struct BoxedLayer(Arc<dyn Fn(Next) -> Next + Send + Sync>);

impl BoxedLayer {
    pub(crate) fn new<L, B>(layer: L) -> BoxedLayer
    where
        L: Layer<Next> + Send + Sync + 'static,
        L::Service: Service<Request, Response = http::Response<B>> + Clone + 'static,
        <L::Service as Service<Request>>::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        BoxedLayer(Arc::new(move |next| Next::from_service(layer.layer(next))))
    }
}

impl fmt::Debug for BoxedLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedLayer")
    }
}

/// `layers` (outermost first) around `inner`.
pub(crate) fn stack(layers: &[BoxedLayer], inner: Next) -> Next {
    layers.iter().rev().fold(inner, |next, layer| (layer.0)(next))
}

struct Innermost {
    response: ResponseFuture,
    exceptions: Arc<ExceptionHandlers>,
}

impl Future for Innermost {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = &mut *self;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            this.response.as_mut().poll(cx)
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(response)) => Poll::Ready(this.exceptions.handle_ready(response)),
            Err(payload) => {
                let message = kairos_rt::task::panic_message(payload.as_ref());
                tracing::error!(target: "kairos::server", "handler panicked: {message}");
                let error = HttpError::from(&kairos_http::ServerError::ServicePanicked);
                Poll::Ready(this.exceptions.handle_ready(error.into_response()))
            }
        }
    }
}
