//! The HTTP server: hyper's HTTP/1.1 on kairos loops, with uvicorn's limits and behaviour.
//!
//! - `config.rs` — [`ServerConfig`]: every limit, its default and its uvicorn counterpart;
//! - `listener.rs` — listening sockets with backlog and `SO_REUSEPORT`;
//! - `accept.rs` — what one worker does: its accept loop, connection limit and graceful drain;
//! - `connection.rs` — one connection: hyper, the keep-alive idle timer, graceful close;
//! - `request.rs` — one request: 503/413 before the service, panic → 500, access log;
//! - `shutdown.rs` — [`Shutdown`], the cross-thread switch, and SIGINT/SIGTERM;
//! - `supervisor.rs` — starting the worker threads, watching them and replacing a dead one
//!   ([`RunningServer`]).

mod accept;
mod config;
mod connection;
mod listener;
mod request;
mod shutdown;
mod supervisor;

use std::future::Future;
use std::io;
use std::sync::Arc;

pub use config::ServerConfig;
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
#[derive(Debug, Clone, Default)]
pub struct Server {
    config: ServerConfig,
}

impl Server {
    /// A server with these settings.
    pub fn new(config: ServerConfig) -> Server {
        Server { config }
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
        supervisor::start(self.config, make_service)
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
        accept::serve_worker(listener, service, Arc::new(self.config.clone()), shutdown).await
    }
}
