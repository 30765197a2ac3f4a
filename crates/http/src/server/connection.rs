//! One connection: hyper's HTTP/1.1 state machine over the socket, plus what hyper leaves to
//! us — closing an idle keep-alive connection after `keep_alive_timeout`, and switching to a
//! graceful close when the server shuts down.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use hyper::server::conn::http1;
use kairos_rt::net::TcpStream;

use super::request::{respond, ConnState};
use super::worker::WorkerState;
use crate::io::{Activity, HyperIo};
use crate::timer::KairosTimer;
use crate::{Body, Request};

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
    let activity = Rc::new(Activity { last_read: Cell::new(Instant::now()) });
    let conn_state = Rc::new(ConnState::default());
    let io = HyperIo::with_activity(stream, Rc::clone(&activity));

    let hyper_service = {
        let worker = Rc::clone(&worker);
        let conn_state = Rc::clone(&conn_state);
        hyper::service::service_fn(move |request| {
            respond(request, Rc::clone(&service), Rc::clone(&worker), Rc::clone(&conn_state), peer)
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(KairosTimer)
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        // hyper >= 1.12 limits the request head itself and answers 431 past it.
        .max_header_size(config.max_header_size)
        // Not `pipeline_flush(true)`: with it, hyper 1.12 queues the 431 for an oversized head
        // and closes without ever flushing it (the client sees a bare close). Pipelining still
        // works without it; each response is flushed on its own.
        .pipeline_flush(false);
    let mut connection = pin!(builder.serve_connection(io, hyper_service));
    let mut stopping = pin!(worker.stopping.wait());
    let keep_alive = config.keep_alive_timeout;
    let mut idle = pin!(kairos_rt::sleep(keep_alive));
    let mut closing = false;

    let outcome = poll_fn(|cx| loop {
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
        if idle.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let quiet_until = activity.last_read.get() + keep_alive;
        if conn_state.in_flight.get() == 0 && Instant::now() >= quiet_until {
            closing = true;
            connection.as_mut().graceful_shutdown();
            continue;
        }
        // Busy, or bytes came in since: look again when the connection could next be idle.
        idle.as_mut().reset(quiet_until.max(Instant::now() + keep_alive / 4));
    })
    .await;

    if let Err(e) = outcome {
        // Clients vanish all the time; only say so at debug level.
        tracing::debug!(target: "kairos::server", %peer, "connection ended with an error: {e}");
    }
}
