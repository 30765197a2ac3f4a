//! The HTTP server: hyper's HTTP/1.1 on kairos loops, with uvicorn's limits and behaviour.
//!
//! - `config.rs` — [`ServerConfig`]: every limit, its default and its uvicorn counterpart, and
//!   how each worker's loop is built ([`ConfigureLoop`]);
//! - `listener.rs` — the listening socket the workers share, and why they share one;
//! - `accept.rs` — what one worker does: its accept loop, connection limit and graceful drain;
//! - `log_limit.rs` — at most one warning per interval for failures that come in floods;
//! - `connection.rs` — one connection: the TLS handshake, HTTP/2 or HTTP/1.1, hyper, the
//!   keep-alive idle timer, graceful close, and the hand-over of one that switched protocols;
//! - `tls.rs` — [`TlsConfig`]: the certificate and key, and ALPN's offer;
//! - `gate.rs` — what hyper may read: the limits of a request head (414, 431, 413) and
//!   strict framing (400), checked as bytes arrive, with a stand-in for a refused request;
//! - `request.rs` — one request: a refusal's answer, the `Host` rules and 503 before the
//!   service, panic → 500, access log;
//! - `error.rs` — [`ServerError`], the answers the server makes itself, and the
//!   [`ErrorRenderer`] that writes them (plain text unless a framework installs its own);
//! - `forwarded.rs` — behind a proxy: the client, scheme and host a trusted proxy forwards
//!   ([`ForwardedAllowIps`]);
//! - `health.rs` — [`ServerHealth`]: every worker's heartbeat (liveness) and the server's
//!   phase (readiness), for health-check routes;
//! - `shutdown.rs` — [`Shutdown`], the cross-thread switch, and SIGINT/SIGTERM;
//! - `lifespan.rs` — what a worker does before it accepts and after it drains
//!   ([`WorkerService`]), and why a server did not start ([`StartError`]);
//! - `worker_stats.rs` — [`worker_stats`]: a worker's index, connections, requests in progress
//!   and loop lag, read on its thread;
//! - `supervisor.rs` — starting the worker threads, watching them and replacing a dead one
//!   ([`RunningServer`]).

mod accept;
mod config;
mod connection;
mod error;
mod forwarded;
pub(crate) mod gate;
mod health;
mod lifespan;
mod listener;
mod log_limit;
mod request;
mod shutdown;
mod supervisor;
mod tls;
mod worker_stats;

use std::future::Future;
use std::io;
use std::sync::Arc;

pub(crate) use accept::ConnectionHold;
pub use config::{ConfigureLoop, ServerConfig};
pub use error::{render_plain, ErrorRenderer, ServerError};
pub use forwarded::{ForwardedAllowIps, ForwardedAllowIpsError};
pub use health::{NotReady, ServerHealth, StuckWorker, STUCK_AFTER};
pub use lifespan::{StartError, WorkerService};
pub use request::TrackedBody;
pub use shutdown::{Shutdown, Triggered};
pub use supervisor::RunningServer;
use supervisor::StopHook;
pub use tls::{TlsConfig, TlsError};
pub use worker_stats::{worker_stats, LoopLag, WorkerStats, LOOP_LAG_BOUNDS};

use crate::{Body, BoxError, Request};

/// An HTTP/1.1 server.
///
/// A *service* is any `Fn(Request) -> impl Future<Output = Response>`; it runs on the loop of
/// the worker that accepted the connection, so neither it nor its futures need be `Send`.
/// Two ways to run one:
///
/// - [`start`](Server::start): on `config.workers` worker threads, each with its own loop,
///   supervised; `make_service` builds the service once per worker.
///   [`start_with`](Server::start_with) is the same with a lifespan per worker: an async,
///   fallible startup on the worker's loop, and a shutdown after it drains.
/// - [`serve`](Server::serve): on the current loop, with a listener you made — for tests and
///   for embedding a server in a program that runs its own loop.
///
/// The answers the server makes without the service (503, 413, and 500 for a service that
/// panicked: [`ServerError`]) are rendered as plain text unless an
/// [`error_renderer`](Server::error_renderer) says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Server {
    config: ServerConfig,
    render_error: ErrorRenderer,
    on_stop: StopHook,
}

impl Server {
    /// A server with these settings.
    pub fn new(config: ServerConfig) -> Server {
        Server { config, render_error: ErrorRenderer::default(), on_stop: StopHook::default() }
    }

    /// Calls `on_stop` once the server has stopped — every worker has drained, run its
    /// shutdown and ended — on the supervisor's thread, before
    /// [`RunningServer::wait`] returns. The place for what outlives the workers (FastAPI's
    /// lifespan shutdown, once per app). It is not called for a server that did not start.
    pub fn on_stop(mut self, on_stop: impl Fn() + Send + Sync + 'static) -> Server {
        self.on_stop = StopHook(Some(Arc::new(on_stop)));
        self
    }

    /// Renders the answers the server makes itself with `render`, so that they have the same
    /// shape as the service's own errors.
    ///
    /// ```
    /// use kairos_http::server::{Server, ServerConfig, ServerError};
    /// use kairos_http::{Body, Response};
    ///
    /// let server = Server::new(ServerConfig::default()).error_renderer(|error: &ServerError| {
    ///     let body = serde_json::json!({ "error": error.to_string() }).to_string();
    ///     let mut response = Response::new(Body::from(body));
    ///     *response.status_mut() = error.status();
    ///     response
    /// });
    /// ```
    pub fn error_renderer(
        mut self,
        render: impl Fn(&ServerError) -> crate::Response + Send + Sync + 'static,
    ) -> Server {
        self.render_error = ErrorRenderer::new(render);
        self
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Binds and starts the workers and their supervisor; returns once they are listening.
    /// `make_service` runs on each worker's loop as it starts (a replacement's too). A
    /// `make_service` that panics as the server starts is an error here.
    pub fn start<F, S, Fut>(self, make_service: F) -> io::Result<RunningServer>
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = http::Response<Body>> + 'static,
    {
        let startup = move |_worker| {
            std::future::ready(Ok::<_, std::convert::Infallible>(
                WorkerService::new(make_service()),
            ))
        };
        self.start_with(startup).map_err(io::Error::from)
    }

    /// Binds and starts the workers and their supervisor, each worker running `startup` (given
    /// its index) on its own loop before it accepts anything: the service it returns is what
    /// the worker serves, and its [`on_shutdown`](WorkerService::on_shutdown) runs once the
    /// worker has drained. Returns once every worker's startup has succeeded and they are
    /// listening.
    ///
    /// If a startup fails (or panics), no worker accepts a connection: the workers that did
    /// start are stopped — they run their shutdown — and the first failure is returned, as
    /// uvicorn exits when an app's startup fails. A worker that replaces one whose loop died
    /// runs `startup` again; if that fails, the error is logged and the supervisor tries
    /// again after 100 ms, doubling the wait up to 10 s while it keeps failing (the other
    /// workers serve meanwhile).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use kairos_http::server::{Server, ServerConfig, WorkerService};
    /// use kairos_http::{Body, Request, Response};
    ///
    /// let config = ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
    /// let server = Server::new(config)
    ///     .start_with(|worker: usize| async move {
    ///         // On the worker's loop: open what it keeps (here a name; a pool, a client...).
    ///         let name = Rc::new(format!("worker {worker}"));
    ///         let service = move |_request: Request| {
    ///             let name = Rc::clone(&name);
    ///             async move { Response::new(Body::from(name.to_string())) }
    ///         };
    ///         Ok::<_, std::io::Error>(WorkerService::new(service).on_shutdown(|| async {
    ///             // after the worker has drained: close what it opened
    ///         }))
    ///     })
    ///     .unwrap();
    /// server.shutdown();
    /// server.wait();
    /// ```
    pub fn start_with<F, StartFut, E, S, Fut>(self, startup: F) -> Result<RunningServer, StartError>
    where
        F: Fn(usize) -> StartFut + Send + Sync + 'static,
        StartFut: Future<Output = Result<WorkerService<S>, E>> + 'static,
        E: Into<BoxError>,
        S: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = http::Response<Body>> + 'static,
    {
        supervisor::start(self.config, self.render_error, self.on_stop, startup)
    }

    /// Serves `listener` on the current loop until `shutdown` is triggered and the
    /// connections have drained (or `graceful_shutdown_timeout` has passed).
    pub async fn serve<S, Fut>(
        &self,
        listener: kairos_rt::net::TcpListener,
        service: S,
        shutdown: Shutdown,
    ) -> io::Result<()>
    where
        S: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = http::Response<Body>> + 'static,
    {
        let config = Arc::new(self.config.clone());
        let listener = listener::Listener::Tcp(listener);
        accept::serve_worker(listener, service, config, self.render_error.clone(), shutdown).await
    }
}
