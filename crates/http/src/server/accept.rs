//! The accept loop of one worker (a thread with its loop, accepting from the server's shared
//! listening socket): accepting under the connection limit, the state its connections share, and the drain that ends a
//! graceful shutdown.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use kairos_sync::semaphore::Permit;
use kairos_sync::{Event, Semaphore};

use super::connection::serve_connection;
use super::listener::Listener;
use super::log_limit::LogLimit;
use super::worker_stats::Probe;
use super::{ErrorRenderer, ServerConfig, Shutdown};
use crate::{Body, Request};

/// At most one "accept failed" warning per worker in this interval.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(1);

/// What the connections of one worker share.
pub(crate) struct WorkerState {
    pub(crate) config: Arc<ServerConfig>,
    /// Renders the answers the server makes itself.
    pub(crate) render_error: ErrorRenderer,
    /// Requests in progress (for `limit_concurrency`).
    pub(crate) in_flight: Cell<usize>,
    /// Set when the server shuts down: connections close gracefully, streams end.
    pub(crate) stopping: Event,
    /// The TLS acceptor, when the server speaks TLS.
    pub(crate) tls: Option<futures_rustls::TlsAcceptor>,
    connections: Cell<usize>,
    all_closed: Event,
}

/// Serves `listener` on the current loop with `service` until `shutdown` is triggered and the
/// connections have drained (or `graceful_shutdown_timeout` has passed).
pub(crate) async fn serve_worker<S, Fut>(
    listener: Listener,
    service: S,
    config: Arc<ServerConfig>,
    render_error: ErrorRenderer,
    shutdown: Shutdown,
) -> io::Result<()>
where
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let worker = Rc::new(WorkerState {
        config: Arc::clone(&config),
        render_error,
        in_flight: Cell::new(0),
        stopping: Event::new(),
        tls: config.tls.as_ref().map(|tls| tls.acceptor(config.http2)),
        connections: Cell::new(0),
        all_closed: Event::new(),
    });
    if let Some(probe) = Probe::current() {
        probe.serving(&worker);
    }
    let service = Rc::new(service);
    // One task per worker waits on the cross-thread switch and relays it to the loop-local
    // event that every connection watches.
    let relay = {
        let worker = Rc::clone(&worker);
        let delay = config.shutdown_delay;
        kairos_rt::spawn_named("shutdown-relay", async move {
            shutdown.triggered().await;
            // Readiness fails from the trigger on; serve on for the delay while the load
            // balancers notice, then stop accepting and drain.
            if !delay.is_zero() {
                kairos_rt::sleep(delay).await;
            }
            worker.stopping.set();
        })
    };
    let slots = config.max_connections.map(Semaphore::new);
    // Out of descriptors, accept fails for nearly every connection that arrives as soon as a
    // batch of others closes: hundreds of lines a second, unless limited.
    let mut accept_failures = LogLimit::new(ACCEPT_WARNING_EVERY);

    loop {
        // At `max_connections`, wait for a slot (new connections queue in the backlog).
        let permit = match &slots {
            Some(slots) => {
                let acquire = pin!(slots.acquire());
                let stop = pin!(worker.stopping.wait());
                match select(acquire, stop).await {
                    Either::Left((Ok(permit), _)) => Some(permit),
                    _ => break,
                }
            }
            None => None,
        };
        let accepted = {
            let accept = pin!(listener.accept());
            let stop = pin!(worker.stopping.wait());
            match select(accept, stop).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(_) => break,
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: kairos' listener already backs off before
                // the next attempt; a reset connection is just the client's problem.
                match accept_failures.occurred(Instant::now()) {
                    Some(0) => tracing::warn!(target: "kairos::server", "accept failed: {e}"),
                    Some(left_out) => tracing::warn!(
                        target: "kairos::server",
                        "accept failed: {e} ({left_out} more failures since the last warning)"
                    ),
                    None => {}
                }
                continue;
            }
        };
        worker.connections.set(worker.connections.get() + 1);
        let worker_for_conn = Rc::clone(&worker);
        let service = Rc::clone(&service);
        kairos_rt::spawn(async move {
            let hold = ConnectionHold {
                _permit: permit,
                guard: ConnectionGuard(Rc::clone(&worker_for_conn)),
            };
            serve_connection(stream, peer, service, worker_for_conn, hold).await;
        })
        .detach();
        // One connection per turn of the loop: the workers share one listening socket (see
        // `listener.rs`), and a worker that drained a burst of connections in one go would
        // keep them all, while the others, woken for the same burst, find none.
        kairos_rt::yield_now().await;
    }

    // Stop accepting: the listening socket closes now, new connections are refused.
    drop(listener);
    relay.cancel();
    let grace = config.graceful_shutdown_timeout;
    if worker.connections.get() > 0
        && kairos_rt::timeout(grace, worker.all_closed.wait()).await.is_err()
    {
        tracing::warn!(
            target: "kairos::server",
            "{} connections still open after the {grace:?} graceful shutdown timeout; closing them",
            worker.connections.get()
        );
    }
    Ok(())
}

impl WorkerState {
    /// Connections open now.
    pub(crate) fn connections(&self) -> usize {
        self.connections.get()
    }
}

/// What an open connection holds: its slot under `max_connections` and its place in the
/// count a graceful shutdown drains. A connection that switched protocols takes it along.
pub(crate) struct ConnectionHold {
    _permit: Option<Permit>,
    guard: ConnectionGuard,
}

impl ConnectionHold {
    /// Resolves when the worker begins a graceful shutdown.
    pub(crate) fn stopping(&self) -> kairos_sync::event::Wait {
        self.guard.0.stopping.wait()
    }
}

/// Counts a connection as open; the last one to close during a shutdown says so.
struct ConnectionGuard(Rc<WorkerState>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let open = self.0.connections.get() - 1;
        self.0.connections.set(open);
        if open == 0 && self.0.stopping.is_set() {
            self.0.all_closed.set();
        }
    }
}
