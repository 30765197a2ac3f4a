//! The HTTP server: hyper's HTTP/1.1 on kairos loops, with uvicorn's limits and behaviour.
//!
//! - `config.rs` — [`ServerConfig`]: every limit, its default and its uvicorn counterpart, and
//!   how each worker's loop is built ([`ConfigureLoop`]);
//! - `listener.rs` — the listening socket the workers share, and why they share one;
//! - `accept.rs` — what one worker does: its accept loop, connection limit and graceful drain;
//! - `log_limit.rs` — at most one warning per interval for failures that come in floods;
//! - `connection.rs` — one connection: hyper, the keep-alive idle timer, graceful close;
//! - `gate.rs` — what hyper may read: the limits of a request head (414, 431, 413) and
//!   strict framing (400), checked as bytes arrive, with a stand-in for a refused request;
//! - `request.rs` — one request: a refusal's answer, the `Host` rules and 503 before the
//!   service, panic → 500, access log;
//! - `error.rs` — [`ServerError`], the answers the server makes itself, and the
//!   [`ErrorRenderer`] that writes them (plain text unless a framework installs its own);
//! - `shutdown.rs` — [`Shutdown`], the cross-thread switch, and SIGINT/SIGTERM;
//! - `supervisor.rs` — starting the worker threads, watching them and replacing a dead one
//!   ([`RunningServer`]).

mod accept;
mod config;
mod connection;
mod error;
pub(crate) mod gate;
mod listener;
mod log_limit;
mod request;
mod shutdown;
mod supervisor;

use std::future::Future;
use std::io;
use std::sync::Arc;

pub use config::{ConfigureLoop, ServerConfig};
pub use error::{render_plain, ErrorRenderer, ServerError};
pub use request::TrackedBody;
pub use shutdown::{Shutdown, Triggered};
pub use supervisor::RunningServer;

use crate::{Body, Request};

/// An HTTP/1.1 server.
///
/// A *service* is any `Fn(Request) -> impl Future<Output = Response>`; it runs on the loop of
/// the worker that accepted the connection, so neither it nor its futures need be `Send`.
/// Two ways to run one:
///
/// - [`start`](Server::start): on `config.workers` worker threads, each with its own loop,
///   supervised; `make_service` builds the service once per worker.
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
}

impl Server {
    /// A server with these settings.
    pub fn new(config: ServerConfig) -> Server {
        Server { config, render_error: ErrorRenderer::default() }
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
    pub fn start<F, S, Fut>(self, make_service: F) -> io::Result<RunningServer>
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = http::Response<Body>> + 'static,
    {
        supervisor::start(self.config, self.render_error, make_service)
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
        accept::serve_worker(listener, service, config, self.render_error.clone(), shutdown).await
    }
}
