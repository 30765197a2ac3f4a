//! One request, from hyper to the service and back: the limits that answer before the
//! service runs (503, 413), the panic guard (500) — all three rendered by the server's
//! [`ErrorRenderer`](super::ErrorRenderer) — the access log, and the in-flight count that
//! keep-alive and graceful shutdown rely on.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kairos_sync::event::Wait;

use super::accept::WorkerState;
use super::ServerError;
use crate::body::{BoxError, RequestBody};
use crate::io::Activity;
use crate::{Body, Request};

/// Serves one request with `service`, applying the worker's limits.
pub(crate) async fn respond<S, Fut>(
    request: http::Request<hyper::body::Incoming>,
    service: Rc<S>,
    worker: Rc<WorkerState>,
    conn: Rc<Activity>,
    peer: SocketAddr,
) -> Result<Response<TrackedBody>, Infallible>
where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + 'static,
{
    let started = Instant::now();
    let guard = InFlight::enter(&worker, &conn);
    let config = &worker.config;
    // What the access log needs, taken only when it is on (no allocation per request else).
    let logged =
        config.access_log.then(|| (request.method().clone(), request.uri().path().to_owned()));

    let overloaded = config.limit_concurrency.filter(|&limit| worker.in_flight.get() > limit);
    let response = if let Some(limit) = overloaded {
        worker.render_error.render(&ServerError::Overloaded { limit })
    } else if let Some(limit) = declared_length_over(&request, config.max_body_size)
        .filter(|_| !http_body::Body::is_end_stream(request.body()))
    {
        worker.render_error.render(&ServerError::BodyTooLarge { limit })
    } else {
        let (parts, body) = request.into_parts();
        let request =
            http::Request::from_parts(parts, RequestBody::incoming(body, config.max_body_size));
        match AssertUnwindSafe(service(request)).catch_unwind().await {
            Ok(response) => response,
            Err(payload) => {
                let message = kairos_rt::task::panic_message(payload.as_ref());
                tracing::error!(target: "kairos::server", "handler panicked: {message}");
                worker.render_error.render(&ServerError::ServicePanicked)
            }
        }
    };

    if let Some((method, path)) = logged {
        tracing::info!(
            target: "kairos::access",
            "{peer} \"{method} {path}\" {} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let (parts, body) = response.into_parts();
    let stop = (body.is_stream()).then(|| worker.stopping.wait());
    Ok(Response::from_parts(parts, TrackedBody { body, _guard: guard, stop }))
}

/// `Some(limit)` if the request declares a `Content-Length` above the limit: answered at
/// once, without reading the body.
fn declared_length_over<B>(request: &http::Request<B>, limit: Option<u64>) -> Option<u64> {
    let limit = limit?;
    let length =
        request.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse::<u64>().ok()?;
    (length > limit).then_some(limit)
}

/// Counts a request as in progress until its response body is dropped (sent, or abandoned
/// because the client went away).
pub(crate) struct InFlight {
    worker: Rc<WorkerState>,
    conn: Rc<Activity>,
}

impl InFlight {
    fn enter(worker: &Rc<WorkerState>, conn: &Rc<Activity>) -> InFlight {
        worker.in_flight.set(worker.in_flight.get() + 1);
        conn.in_flight.set(conn.in_flight.get() + 1);
        conn.head_started.set(None); // the head is complete: hyper called us
        InFlight { worker: Rc::clone(worker), conn: Rc::clone(conn) }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.worker.in_flight.set(self.worker.in_flight.get() - 1);
        self.conn.in_flight.set(self.conn.in_flight.get() - 1);
    }
}

/// A response body that keeps its request counted while it is sent, and ends a stream when
/// the server shuts down (so that graceful shutdown is not held up by an endless SSE feed).
pub struct TrackedBody {
    body: Body,
    _guard: InFlight,
    stop: Option<Wait>,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(stop) = &mut this.stop {
            if Pin::new(stop).poll(cx).is_ready() {
                return Poll::Ready(None); // shutting down: end the stream cleanly
            }
        }
        Pin::new(&mut this.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
