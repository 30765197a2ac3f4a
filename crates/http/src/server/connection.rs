//! One connection: its TLS handshake (when the server speaks TLS), the choice of protocol —
//! HTTP/2 by ALPN, or by its preface in the clear (h2c with prior knowledge), else HTTP/1.1 —
//! and hyper's state machine for it, plus one timer of ours for the deadlines a connection
//! can miss between requests, a graceful close at shutdown (HTTP/2: `GOAWAY`), and the
//! hand-over of a connection that switched protocols (see `upgrade.rs`).
//!
//! HTTP/1.1's two deadlines are the header-read timeout (a head started but not finished:
//! slowloris; the connection is dropped) and the keep-alive timeout (nothing at all: closed
//! gracefully). HTTP/2 has the keep-alive one (no request in progress and nothing read);
//! its frames are bounded by the limits given to hyper's h2.
//!
//! hyper can enforce the header-read timeout itself, but arms a boxed timer for every request;
//! ours is re-armed only when it fires, so under load it costs nothing per request. hyper's is
//! therefore turned off, and nothing else we enable in hyper uses a timer: the connection is
//! given none.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::listener::Stream;
use futures_util::future::{select, Either};
use hyper::server::conn::{http1, http2};

use super::accept::{ConnectionHold, WorkerState};
use super::config::DEFAULT_MAX_HEADERS;
use super::gate::{Gate, Limits};
use super::request::respond;
use crate::executor::LoopExecutor;
use crate::io::{Activity, HyperIo};
use crate::transport::Transport;
use crate::upgrade::Upgraded;
use crate::{Body, Request};

/// What an HTTP/2 connection opens with (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// HTTP/2 streams a client may reset before the server has answered them, at once, before
/// the connection is closed with `ENHANCE_YOUR_CALM` (the "rapid reset" attack, CVE-2023-44487:
/// each reset stream costs the server a request it never finishes). hyper's default.
const H2_MAX_PENDING_RESETS: usize = 20;

/// After an HTTP/2 connection's `GOAWAY`, how long its client has to close it once no stream
/// is left, before the server does.
const H2_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Streams the server may reset for a client's protocol errors before it closes the
/// connection (the h2 crate's default; bounds the "made you reset" variant of the attack).
const H2_MAX_LOCAL_RESETS: usize = 1024;

/// How much wider hyper's head-size limit is than the gate's: hyper may count a head's bytes
/// a little differently (leading empty lines, the final CRLF), and must never refuse first.
const HYPER_HEAD_SLACK: usize = 1024;

/// How often a busy connection's timer looks again.
const BUSY_RECHECK: Duration = Duration::from_millis(100);

/// `instant + duration`, saturating far in the future (a huge configured timeout must not
/// overflow `Instant` and panic the connection task).
fn after(instant: Instant, duration: Duration) -> Instant {
    instant
        .checked_add(duration)
        .unwrap_or_else(|| instant + Duration::from_secs(60 * 60 * 24 * 365))
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Serves `stream` until the client closes it, it idles out, or the server shuts down.
pub(crate) async fn serve_connection<S, Fut>(
    stream: Stream,
    peer: Option<SocketAddr>,
    service: Rc<S>,
    worker: Rc<WorkerState>,
    hold: ConnectionHold,
) where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let opened = Instant::now();
    let Some((transport, sniffed, protocol)) = open(stream, peer, &worker).await else { return };
    match protocol {
        Protocol::Http1 => {
            serve_http1(transport, sniffed, opened, peer, service, worker, hold).await;
        }
        Protocol::Http2 => serve_http2(transport, sniffed, peer, service, worker).await,
    }
}

/// Runs `future` unless the deadline passes or the server begins shutting down first.
async fn within<F: Future>(worker: &WorkerState, limit: Duration, future: F) -> Option<F::Output> {
    let stopping = pin!(worker.stopping.wait());
    let timed = pin!(kairos_rt::timeout(limit, future));
    match select(timed, stopping).await {
        Either::Left((Ok(output), _)) => Some(output),
        _ => None,
    }
}

/// The TLS handshake, if the server speaks TLS, and the protocol: ALPN's choice over TLS,
/// else HTTP/2 if the first bytes are its preface. Returns the bytes read to tell (they are
/// the start of the first request), or `None` if the connection ended first — a handshake
/// that failed or stalled costs a line at debug level and nothing else.
async fn open(
    stream: Stream,
    peer: Option<SocketAddr>,
    worker: &WorkerState,
) -> Option<(Transport, Vec<u8>, Protocol)> {
    let config = &worker.config;
    let stream = match stream {
        Stream::Tcp(tcp) => tcp,
        // No TLS over a Unix socket (refused when the server starts): the proxy in front
        // terminates it.
        Stream::Unix(unix) => return sniff(Transport::Unix(unix), peer, worker).await,
    };
    let transport = match &worker.tls {
        None => Transport::Tcp(stream),
        Some(acceptor) => {
            match within(worker, config.tls_handshake_timeout, acceptor.accept(stream)).await {
                Some(Ok(tls)) => Transport::TlsServer(Box::new(tls)),
                Some(Err(e)) => {
                    tracing::debug!(target: "kairos::server", peer = ?peer, "TLS handshake failed: {e}");
                    return None;
                }
                None => {
                    tracing::debug!(target: "kairos::server", peer = ?peer, "TLS handshake timed out");
                    return None;
                }
            }
        }
    };
    sniff(transport, peer, worker).await
}

/// The protocol of an open transport: ALPN's choice over TLS, else HTTP/2 if the first bytes
/// are its preface (with the bytes read to tell).
async fn sniff(
    mut transport: Transport,
    peer: Option<SocketAddr>,
    worker: &WorkerState,
) -> Option<(Transport, Vec<u8>, Protocol)> {
    let config = &worker.config;
    if transport.alpn() == Some(b"h2") {
        return Some((transport, Vec::new(), Protocol::Http2));
    }
    if !config.http2 || worker.tls.is_some() {
        return Some((transport, Vec::new(), Protocol::Http1));
    }
    // In the clear: read until the bytes either differ from the preface (the first byte does,
    // for every HTTP/1.1 method but PRI, POST, PUT, PATCH; those by the second) or are all of it.
    let mut first = [0u8; H2_PREFACE.len()];
    let mut len = 0;
    let sniff = poll_fn(|cx| loop {
        if !H2_PREFACE.starts_with(&first[..len]) {
            return Poll::Ready(Protocol::Http1);
        }
        if len == H2_PREFACE.len() {
            return Poll::Ready(Protocol::Http2);
        }
        match std::task::ready!(transport.poll_read_buf(cx, &mut first[len..])) {
            Ok(n) if n > 0 => len += n,
            // Closed or failed: HTTP/1.1's reader sees the same end and says nothing.
            _ => return Poll::Ready(Protocol::Http1),
        }
    });
    let Some(protocol) = within(worker, config.header_read_timeout, sniff).await else {
        tracing::debug!(target: "kairos::server", peer = ?peer, "header read timeout");
        return None;
    };
    Some((transport, first[..len].to_vec(), protocol))
}

/// Serves an HTTP/1.1 connection; hands it over if a request switches protocols.
async fn serve_http1<S, Fut>(
    transport: Transport,
    sniffed: Vec<u8>,
    opened: Instant,
    peer: Option<SocketAddr>,
    service: Rc<S>,
    worker: Rc<WorkerState>,
    hold: ConnectionHold,
) where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let config = &worker.config;
    let activity = Rc::new(Activity::new(opened));
    let gate = Gate::new(Limits {
        max_head: config.max_header_size,
        max_request_line: config.max_request_line,
        max_fields: config.max_headers,
        max_body: config.max_body_size,
        strict: config.strict,
    });
    let io = HyperIo::server(transport, sniffed, Rc::clone(&activity), Some(gate));

    let hyper_service = {
        let worker = Rc::clone(&worker);
        let activity = Rc::clone(&activity);
        hyper::service::service_fn(move |request| {
            let number = activity.head_parsed();
            let conn = Rc::clone(&activity);
            respond(request, number, Rc::clone(&service), Rc::clone(&worker), conn, peer)
        })
    };
    let mut builder = http1::Builder::new();
    builder
        // Ours, below. Turned off explicitly: hyper's default (30 s) needs a timer, which
        // this connection does not have (without one, hyper skips it with a warning).
        .header_read_timeout(None)
        .keep_alive(true)
        // The gate enforces the head limits (and answers them through the error renderer);
        // hyper's own, a little wider than the gate's, is a second line that never fires.
        .max_header_size(config.max_header_size.saturating_add(HYPER_HEAD_SLACK))
        // hyper's default write strategy (writev of queued pieces) stays: `writev(false)`
        // saved ~470 instructions per pipelined response but copies every body into one
        // buffer that keeps its capacity, so an idle connection held its largest response
        // (16 MB per connection in a review's test).
        // Not `pipeline_flush(true)`: with it, hyper 1.12's shutdown flushes through the same
        // "skip while input is buffered" test, so the 431 for an oversized head (or a 400 for
        // garbage) is queued and never written — the client sees a bare close. Responses to
        // pipelined requests are coalesced by `HyperIo` instead (see coalesce.rs).
        .pipeline_flush(false);
    if config.max_headers != DEFAULT_MAX_HEADERS {
        // Only when it differs: told any count, even its own 100, hyper builds its header
        // arrays at run time for every request instead of using its inline default.
        builder.max_headers(config.max_headers);
    }
    // Not pinned: hyper's connection is `Unpin` (it boxes the service's future), and a
    // connection that switches protocols is taken apart by value.
    let mut connection = builder.serve_connection(io, hyper_service);
    let mut stopping = pin!(worker.stopping.wait());
    let keep_alive = config.keep_alive_timeout;
    let header_timeout = config.header_read_timeout;
    let mut timer = pin!(kairos_rt::sleep(keep_alive.min(header_timeout)));
    let mut closing = false;

    let outcome = poll_fn(|cx| loop {
        activity.next_poll();
        if let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
            return Poll::Ready(result);
        }
        if closing {
            return Poll::Pending;
        }
        if stopping.as_mut().poll(cx).is_ready() {
            closing = true;
            // idle: closes now; busy: after the response
            Pin::new(&mut connection).graceful_shutdown();
            continue;
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        if activity.in_flight.get() > 0 {
            // Busy: nothing to enforce until the request is done; look again later (never
            // sooner than BUSY_RECHECK, so a zero timeout cannot spin the loop).
            timer.as_mut().reset(after(now, keep_alive.min(header_timeout).max(BUSY_RECHECK)));
            continue;
        }
        match activity.head_started.get() {
            Some(started) if now >= after(started, header_timeout) => {
                // A head begun and never finished (or nothing sent since the connection
                // opened): drop the connection, as hyper's own header-read timeout does.
                tracing::debug!(target: "kairos::server", peer = ?peer, "header read timeout");
                return Poll::Ready(Ok(()));
            }
            Some(started) => timer.as_mut().reset(after(started, header_timeout)),
            None if now >= after(activity.last_read.get(), keep_alive) => {
                closing = true;
                Pin::new(&mut connection).graceful_shutdown();
                continue;
            }
            None => timer.as_mut().reset(after(activity.last_read.get(), keep_alive)),
        }
    })
    .await;

    match outcome {
        Ok(()) if activity.switching.get() => {
            // hyper wrote the 101 and stopped: the connection is the claimant's now, with
            // what the client sent after its request (in hyper's buffer, then the gate's).
            let parts = connection.into_parts();
            let (transport, held) = parts.io.into_switched();
            let mut unread = parts.read_buf.to_vec();
            unread.extend_from_slice(&held);
            if let Some(pending) = activity.upgrade.borrow_mut().take() {
                pending.switched(Upgraded::new(transport, unread, peer, hold));
            }
        }
        Ok(()) => {}
        // Clients vanish all the time; only say so at debug level.
        Err(e) => {
            tracing::debug!(target: "kairos::server", peer = ?peer, "connection ended with an error: {e}")
        }
    }
}

/// Serves an HTTP/2 connection: each stream is a request, run as a task of its own.
async fn serve_http2<S, Fut>(
    transport: Transport,
    sniffed: Vec<u8>,
    peer: Option<SocketAddr>,
    service: Rc<S>,
    worker: Rc<WorkerState>,
) where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let config = &worker.config;
    let activity = Rc::new(Activity::new(Instant::now()));
    activity.head_started.set(None);
    let io = HyperIo::server(transport, sniffed, Rc::clone(&activity), None);
    let hyper_service = {
        let worker = Rc::clone(&worker);
        let activity = Rc::clone(&activity);
        hyper::service::service_fn(move |request| {
            let conn = Rc::clone(&activity);
            respond(request, 0, Rc::clone(&service), Rc::clone(&worker), conn, peer)
        })
    };
    let mut builder = http2::Builder::new(LoopExecutor);
    builder
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_RESETS);
    let mut connection = pin!(builder.serve_connection(io, hyper_service));
    let mut stopping = pin!(worker.stopping.wait());
    let keep_alive = config.keep_alive_timeout;
    let mut timer = pin!(kairos_rt::sleep(keep_alive));
    let mut closing = false;

    let outcome = poll_fn(|cx| loop {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if !closing && stopping.as_mut().poll(cx).is_ready() {
            closing = true;
            connection.as_mut().graceful_shutdown(); // GOAWAY; streams in progress finish
            timer.as_mut().reset(after(Instant::now(), H2_CLOSE_GRACE));
            continue;
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        if closing {
            // h2 closes once the client acknowledges the GOAWAY's PING; one that never does
            // must not hold the shutdown once no stream is left.
            if activity.in_flight.get() == 0 {
                return Poll::Ready(Ok(()));
            }
            timer.as_mut().reset(after(now, H2_CLOSE_GRACE));
            continue;
        }
        let idle_since = activity.last_read.get();
        if activity.in_flight.get() == 0 && now >= after(idle_since, keep_alive) {
            closing = true;
            connection.as_mut().graceful_shutdown();
            timer.as_mut().reset(after(now, H2_CLOSE_GRACE));
            continue;
        }
        let next = if activity.in_flight.get() > 0 { now } else { idle_since };
        timer.as_mut().reset(after(next, keep_alive).max(after(now, BUSY_RECHECK)));
    })
    .await;
    if let Err(e) = outcome {
        tracing::debug!(target: "kairos::server", peer = ?peer, "HTTP/2 connection ended with an error: {e}");
    }
}
