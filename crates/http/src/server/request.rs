//! One request, from hyper to the service and back: the answers made before the service runs
//! (a request the gate refused, 400 for a missing, repeated or invalid `Host`, 503), the
//! panic guard (500) — all rendered by the server's [`ErrorRenderer`](super::ErrorRenderer)
//! — the access log, and the in-flight count that keep-alive and graceful shutdown rely on.

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
use http::{header, HeaderValue, Response, StatusCode, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kairos_sync::event::Wait;

use super::accept::WorkerState;
use super::forwarded;
use super::ServerError;
use crate::body::{BoxError, RequestBody};
use crate::io::Activity;
use crate::upgrade::{Pending, UpgradeError};
use crate::{Body, Request};

/// Serves request `number` of its connection with `service`, applying the worker's limits.
pub(crate) async fn respond<S, Fut>(
    request: http::Request<hyper::body::Incoming>,
    number: u64,
    service: Rc<S>,
    worker: Rc<WorkerState>,
    conn: Rc<Activity>,
    peer: Option<SocketAddr>,
) -> Result<Response<TrackedBody>, Infallible>
where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response<Body>> + 'static,
{
    let started = Instant::now();
    let guard = InFlight::enter(&worker, &conn);
    let config = &worker.config;
    let refused = conn.refusal_for(number);
    // What the access log needs, taken only when it is on and its lines would be written (at
    // `--log-level warn` they are not): no allocation per request else.
    let logging =
        config.access_log && tracing::enabled!(target: "kairos::access", tracing::Level::INFO);
    // The client as far as the log is concerned: a trusted proxy's word replaces the peer's.
    let mut client = peer;
    let logged = logging.then(|| match &refused {
        // hyper parsed a stand-in: the request line it replaced is not known.
        Some(_) => (None, "(refused)".to_owned()),
        None => (Some(request.method().clone()), request.uri().path().to_owned()),
    });

    let overloaded = config.limit_concurrency.filter(|&limit| worker.in_flight.get() > limit);
    // The request the gate holds what follows for (see `Gate::is_suspended`), until it is
    // known whether the connection switches protocols: the gate's reading decides.
    let asks_upgrade = conn.asks_upgrade(number);
    let response = if let Some(error) = refused {
        close(worker.render_error.render(&error))
    } else if let Err(reason) = check_host(&request) {
        // The request is not trusted to have been framed as the client meant: close.
        close(worker.render_error.render(&ServerError::BadRequest { reason }))
    } else if let Err(error) = check_http2_limits(&request, config) {
        worker.render_error.render(&error)
    } else if let Some(limit) = overloaded {
        worker.render_error.render(&ServerError::Overloaded { limit })
    } else {
        let (mut parts, body) = request.into_parts();
        let mut scheme =
            if worker.tls.is_some() { http::uri::Scheme::HTTPS } else { http::uri::Scheme::HTTP };
        if config.proxy_headers && forwarded::present(&parts.headers) {
            let said = forwarded::resolve(
                &parts.headers,
                peer.map(|p| p.ip()),
                &config.forwarded_allow_ips,
            );
            client = said.client.or(peer);
            scheme = said.scheme.unwrap_or(scheme);
            if let Some(host) = said.host {
                forward_host(&mut parts, host);
            }
        }
        if asks_upgrade {
            let (ticket, pending) = Pending::register();
            parts.extensions.insert(ticket);
            *conn.upgrade.borrow_mut() = Some(pending);
        }
        let request = http::Request::from_parts(
            parts,
            RequestBody::incoming(body, config.max_body_size, client, scheme),
        );
        match AssertUnwindSafe(service(request)).catch_unwind().await {
            Ok(response) => response,
            Err(payload) => {
                let message = kairos_rt::task::panic_message(payload.as_ref());
                tracing::error!(target: "kairos::server", "handler panicked: {message}");
                worker.render_error.render(&ServerError::ServicePanicked)
            }
        }
    };

    if asks_upgrade {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            conn.switching.set(true);
        } else {
            if let Some(pending) = conn.upgrade.borrow_mut().take() {
                pending.failed(UpgradeError::NotSwitched);
            }
            conn.resume();
        }
    }
    if let Some((method, path)) = logged {
        let method = method.as_ref().map_or("-", http::Method::as_str);
        tracing::info!(
            target: "kairos::access",
            "{} \"{method} {path}\" {} {:.1}ms",
            client.map_or_else(|| "unix".to_owned(), |client| client.to_string()),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let (parts, body) = response.into_parts();
    let stop = (body.is_stream()).then(|| worker.stopping.wait());
    Ok(Response::from_parts(parts, TrackedBody { body, _guard: guard, stop }))
}

/// Makes `host` the request's host: its `Host` header, and its target's authority when it
/// has one (HTTP/2's `:authority`, an absolute-form target).
fn forward_host(parts: &mut http::request::Parts, host: HeaderValue) {
    if parts.uri.authority().is_some() {
        let authority = host.to_str().ok().and_then(|h| h.parse::<http::uri::Authority>().ok());
        let mut uri = parts.uri.clone().into_parts();
        uri.authority = authority;
        if let Ok(uri) = http::Uri::from_parts(uri) {
            parts.uri = uri;
        }
    }
    parts.headers.insert(header::HOST, host);
}

/// HTTP/2's counterparts of the limits the gate enforces on an HTTP/1.1 head (h2 bounds the
/// header list's size): the request target's length (`414`) and the field count (`431`).
fn check_http2_limits<B>(
    request: &http::Request<B>,
    config: &super::ServerConfig,
) -> Result<(), ServerError> {
    if request.version() != Version::HTTP_2 {
        return Ok(());
    }
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    if target > config.max_request_line {
        return Err(ServerError::RequestLineTooLong { limit: config.max_request_line });
    }
    if request.headers().len() > config.max_headers {
        return Err(ServerError::TooManyHeaders { limit: config.max_headers });
    }
    Ok(())
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, and any request at most one,
/// whose value is a `uri-host [ ":" port ]` (RFC 3986). One header-map lookup and a pass over
/// a few bytes per request.
fn check_host<B>(request: &http::Request<B>) -> Result<(), &'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if request.version() == Version::HTTP_11 => Err("missing Host header"),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err("more than one Host header"),
        (Some(host), None) if valid_host(host.as_bytes()) => Ok(()),
        (Some(_), None) => Err("invalid Host header"),
    }
}

/// Whether `value` is `uri-host [ ":" port ]`: an IP literal in brackets or a reg-name (which
/// covers IPv4 addresses), then an optional colon and digits. The empty value is allowed: it
/// is how a request whose target has no authority says so.
pub(crate) fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else { return false };
        let literal = &rest[..end];
        let ip_literal = !literal.is_empty()
            && literal.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        // IPvFuture: "v" HEXDIG+ "." ( unreserved / sub-delims / ":" )+
        let future = literal.first().is_some_and(|&b| b == b'v' || b == b'V')
            && literal.iter().all(|&b| reg_name_byte(b) || b == b':');
        if !(ip_literal || future) {
            return false;
        }
        (&[][..], &rest[end + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &[][..]),
        }
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && host.iter().all(|&b| reg_name_byte(b))
}

/// A byte of a reg-name: unreserved, sub-delims, or `%` of a pct-encoding.
fn reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

/// `response` with `Connection: close`: the connection ends after it.
fn close(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn host_values_are_uri_host_and_an_optional_port() {
        for good in ["a", "example.com:8080", "127.0.0.1", "[::1]:80", "[v1.x]", "xn--e1a", ""] {
            assert!(valid_host(good.as_bytes()), "{good:?} was refused");
        }
        for bad in ["a b", "u@h", "a:b", "a:80:80", "[::1", "[zz]", "a/b", "a?", "[::1]x"] {
            assert!(!valid_host(bad.as_bytes()), "{bad:?} was accepted");
        }
    }
}
