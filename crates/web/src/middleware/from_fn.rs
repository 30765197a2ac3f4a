//! [`from_fn`]: a middleware written as an `async fn(request, next)`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body as HttpBody;
use kairos_http::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::Next;
use crate::response::IntoResponse;
use crate::Request;

/// A middleware made of an async function (FastAPI's `@app.middleware("http")`, axum's
/// `from_fn`): `f(request, next)` is called for each request and its output is the response.
///
/// The function may change the request before `next.run(request).await`, change the response
/// after it, or return without calling `next` — a short-circuit: the rest of the chain, the
/// route included, does not run. What it returns is anything [`IntoResponse`]: a `Response`,
/// an [`HttpError`](crate::HttpError), a `Result` of both.
///
/// ```
/// use kairos_web::middleware::{from_fn, Next};
/// use kairos_web::{App, HttpError, Request, Response, TestClient};
///
/// // Refuses every request without the right key, before any route runs.
/// async fn require_key(request: Request, next: Next) -> Result<Response, HttpError> {
///     match request.headers().get("x-key") {
///         Some(key) if key == "secret" => Ok(next.run(request).await),
///         _ => Err(HttpError::new(kairos_web::http::StatusCode::UNAUTHORIZED, "Missing key")),
///     }
/// }
///
/// let app = App::new().layer(from_fn(require_key)).get("/", || async { "in" });
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/").send().status(), 401);
/// assert_eq!(client.get("/").header("x-key", "secret").send().text(), "in");
/// ```
///
/// The function must be `Send + Sync` and `Clone` (every worker keeps one); what it
/// captures is shared: capture `Arc`s. Its future need not be `Send`.
pub fn from_fn<F>(f: F) -> FromFn<F> {
    FromFn { f }
}

/// The [`Layer`] [`from_fn`] makes.
#[derive(Clone)]
pub struct FromFn<F> {
    f: F,
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn").field("f", &std::any::type_name::<F>()).finish()
    }
}

impl<F: Clone, S> Layer<S> for FromFn<F> {
    type Service = FromFnService<F, S>;

    fn layer(&self, inner: S) -> FromFnService<F, S> {
        FromFnService { f: self.f.clone(), inner }
    }
}

/// The service of a [`from_fn`] middleware around `S`.
#[derive(Clone)]
pub struct FromFnService<F, S> {
    f: F,
    inner: S,
}

impl<F, S> fmt::Debug for FromFnService<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFnService").field("f", &std::any::type_name::<F>()).finish()
    }
}

impl<F, Fut, Out, S, B> Service<Request> for FromFnService<F, S>
where
    F: Fn(Request, Next) -> Fut + Clone + 'static,
    Fut: Future<Output = Out> + 'static,
    Out: IntoResponse,
    S: Service<Request, Response = http::Response<B>> + Clone + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + 'static,
    B::Error: Into<BoxError>,
{
    type Response = crate::Response;
    type Error = Infallible;
    type Future = FromFnFuture<Fut>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The rest of the chain is made ready when `next.run` calls it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> FromFnFuture<Fut> {
        let next = Next::from_service(self.inner.clone());
        FromFnFuture { answer: (self.f)(request, next) }
    }
}

pin_project_lite::pin_project! {
    /// The response of a [`from_fn`] middleware: its function's future, its output made a
    /// response (not boxed: the chain boxes once per layer already).
    pub struct FromFnFuture<Fut> {
        #[pin]
        answer: Fut,
    }
}

impl<Fut> Future for FromFnFuture<Fut>
where
    Fut: Future,
    Fut::Output: IntoResponse,
{
    type Output = Result<crate::Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().answer.poll(cx).map(|out| Ok(out.into_response()))
    }
}

impl<Fut> fmt::Debug for FromFnFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFnFuture")
    }
}
