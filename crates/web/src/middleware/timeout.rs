//! [`Timeout`]: a deadline per request, on the kairos clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::Body as HttpBody;
use kairos_http::{Body, BoxError};
use tower_layer::Layer;
use tower_service::Service;

use crate::response::IntoResponse;
use crate::{HttpError, Response};

/// A deadline for each request: a response not ready within `duration` is dropped — the
/// handler's future with it, as `asyncio.wait_for` cancels its task — and answered `408
/// Request Timeout` (tower-http's status; another with [`status`](Timeout::status)).
///
/// The kairos equivalent of tower-http's `TimeoutLayer`, which waits on tokio's timer and so
/// panics on a kairos loop. Its clock is the worker loop's: a loop that is blocked answers
/// late (the stall detector says why), as every timer on it would.
///
/// A sync handler's function cannot be stopped half-way on its thread: the client gets its
/// answer at the deadline, and the thread finishes the call (holding its token) as it
/// would if the client had gone away.
///
/// ```
/// use std::time::Duration;
/// use kairos_web::middleware::Timeout;
/// use kairos_web::{App, TestClient};
///
/// async fn slow() -> &'static str {
///     kairos_web::rt::sleep(Duration::from_secs(60)).await;
///     "too late"
/// }
/// let app = App::new().layer(Timeout::new(Duration::from_millis(50))).get("/slow", slow);
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/slow").send().status(), 408);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    duration: Duration,
    status: StatusCode,
}

impl Timeout {
    /// A deadline of `duration` per request, answered `408` when it passes.
    pub fn new(duration: Duration) -> Timeout {
        Timeout { duration, status: StatusCode::REQUEST_TIMEOUT }
    }

    /// Answers a request past its deadline with `status` instead (`503`, `504`...).
    pub fn status(mut self, status: StatusCode) -> Timeout {
        self.status = status;
        self
    }
}

impl<S> Layer<S> for Timeout {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> TimeoutService<S> {
        TimeoutService { timeout: *self, inner }
    }
}

/// The service of a [`Timeout`] around `S`.
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    timeout: Timeout,
    inner: S,
}

impl<S, Req, B> Service<Req> for TimeoutService<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Future: 'static,
    B: HttpBody<Data = Bytes> + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Timeout { duration, status } = self.timeout;
        let answer = self.inner.call(request);
        Box::pin(async move {
            match kairos_rt::timeout(duration, answer).await {
                Ok(answered) => answered.map(|response| response.map(Body::new)),
                Err(_elapsed) => {
                    let reason = status.canonical_reason().unwrap_or("Timeout");
                    Ok(HttpError::new(status, reason).into_response())
                }
            }
        })
    }
}
