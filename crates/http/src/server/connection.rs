//! One connection: hyper's HTTP/1.1 state machine over the socket, plus one timer of ours
//! for the two deadlines a connection can miss between requests — the header-read timeout
//! (a head started but not finished: slowloris; the connection is dropped) and the keep-alive
//! timeout (nothing at all: closed gracefully) — and a graceful close at shutdown.
//!
//! hyper can enforce the header-read timeout itself, but arms a boxed timer for every request;
//! ours is re-armed only when it fires, so under load it costs nothing per request. hyper's is
//! therefore turned off, and nothing else we enable in hyper uses a timer: the connection is
//! given none.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use kairos_rt::net::TcpStream;

use super::accept::WorkerState;
use super::config::DEFAULT_MAX_HEADERS;
use super::gate::{Gate, Limits};
use super::request::respond;
use crate::io::{Activity, HyperIo};
use crate::{Body, Request};

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

/// Serves `stream` until the client closes it, it idles out, or the server shuts down.
pub(crate) async fn serve_connection<S, Fut>(
    stream: TcpStream,
    peer: SocketAddr,
    service: Rc<S>,
    worker: Rc<WorkerState>,
) where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let config = &worker.config;
    let activity = Rc::new(Activity::new(Instant::now()));
    let gate = Gate::new(Limits {
        max_head: config.max_header_size,
        max_request_line: config.max_request_line,
        max_fields: config.max_headers,
        max_body: config.max_body_size,
        strict: config.strict,
    });
    let io = HyperIo::server(stream, Rc::clone(&activity), gate);

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
    let mut connection = pin!(builder.serve_connection(io, hyper_service));
    let mut stopping = pin!(worker.stopping.wait());
    let keep_alive = config.keep_alive_timeout;
    let header_timeout = config.header_read_timeout;
    let mut timer = pin!(kairos_rt::sleep(keep_alive.min(header_timeout)));
    let mut closing = false;

    let outcome = poll_fn(|cx| loop {
        activity.next_poll();
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if closing {
            return Poll::Pending;
        }
        if stopping.as_mut().poll(cx).is_ready() {
            closing = true;
            connection.as_mut().graceful_shutdown(); // idle: closes now; busy: after the response
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
                tracing::debug!(target: "kairos::server", %peer, "header read timeout");
                return Poll::Ready(Ok(()));
            }
            Some(started) => timer.as_mut().reset(after(started, header_timeout)),
            None if now >= after(activity.last_read.get(), keep_alive) => {
                closing = true;
                connection.as_mut().graceful_shutdown();
                continue;
            }
            None => timer.as_mut().reset(after(activity.last_read.get(), keep_alive)),
        }
    })
    .await;

    if let Err(e) = outcome {
        // Clients vanish all the time; only say so at debug level.
        tracing::debug!(target: "kairos::server", %peer, "connection ended with an error: {e}");
    }
}
