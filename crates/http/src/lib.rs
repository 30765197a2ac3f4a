//! # kairos-http
//!
//! HTTP for kairos: hyper 1.x speaking HTTP/1.1 and HTTP/2, in the clear or over TLS
//! (rustls), on the kairos-rt event loop.
//!
//! ## The model
//!
//! A server is a set of *workers*; each worker is a thread running one kairos loop, and all
//! of them accept from one listening socket, so whichever loop is free takes the next
//! connection and a worker whose loop is blocked strands none (uvicorn's workers share their
//! socket too). A connection lives on the worker that accepted it, and so
//! does every request on it: the service — `Fn(Request) -> impl Future<Output = Response>` —
//! runs on that loop and need not be `Send`. This is uvicorn's model (one asyncio loop per
//! worker) with threads instead of processes. Each worker's loop is built from the
//! [`ServerConfig`] (its stall threshold, and anything else through
//! [`ConfigureLoop`](server::ConfigureLoop)), so no setting goes through the environment.
//!
//! What hyper does: parsing, keep-alive, pipelining, chunked bodies, and refusing a request head
//! over the size or header-count limit (431), a URI over 64 KiB (414), and one that is not HTTP,
//! folds a header line (obs-fold), has differing `Content-Length`s or a bad chunk (400). What this
//! crate adds around it, with uvicorn's defaults ([`ServerConfig`]): backlog, a connection limit, a
//! concurrency limit answered with 503, the header size limit and a body size limit (413), the
//! header-read timeout (slowloris) and closing idle keep-alive connections, TLS with ALPN
//! ([`TlsConfig`]; a handshake that stalls or fails is closed at a timeout), HTTP/2 by ALPN or by
//! its preface in the clear (h2c), with its streams, header list and resets limited (the "rapid
//! reset" flood gets `GOAWAY`), switching protocols ([`upgrade`]: the WebSocket handshake's
//! way; the connection is handed over after the 101), a handler panic
//! answered with 500, the `Host` rules of RFC 9112 §3.2 (an HTTP/1.1 request without `Host`, or any
//! with two or an invalid one, gets 400 and the connection is closed), graceful shutdown on
//! SIGINT/SIGTERM that ends streams and drains connections, supervised workers with a lifespan each
//! (an async, fallible startup on the worker's loop before it accepts, a shutdown after it drains:
//! [`Server::start_with`]), an access log
//! through `tracing`, and one write for the answers to a pipelined batch (hyper writes each on its
//! own). Behind a proxy: the client address, scheme and host that a *trusted* proxy forwards
//! (`X-Forwarded-*`, RFC 7239's `Forwarded`; [`server::ForwardedAllowIps`], uvicorn's
//! defaults), a Unix socket to listen on ([`ServerConfig::uds`]), a delay between the start
//! of a graceful shutdown and the socket's close ([`ServerConfig::shutdown_delay`]), and each
//! server's liveness and readiness for health checks ([`server::ServerHealth`]). The 400,
//! 503, 413 and 500 the server writes itself go through one [`ErrorRenderer`]: plain text by
//! default, the framework's shape when it installs its own. And a client: [`Client`],
//! for `http://` and `https://` (verified against the platform's root certificates or given
//! ones), speaking HTTP/2 when a server offers it by ALPN (one connection per origin, shared by
//! concurrent requests) and pooled HTTP/1.1 otherwise, with connect and request timeouts and TLS
//! failures that are errors of their own.
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `server/` | [`Server`], [`ServerConfig`], [`ServerError`] and its [`ErrorRenderer`], [`Shutdown`], [`RunningServer`], [`WorkerService`] and [`StartError`] |
//! | `client/` | [`Client`] (the chapter's `httpx.AsyncClient`): `http://` and `https://`, HTTP/1.1 with a keep-alive pool, HTTP/2 by ALPN with one shared connection per origin |
//! | `executor.rs` | hyper's executor on the loop, for HTTP/2's tasks |
//! | `body.rs` | [`Body`] (responses), [`RequestBody`] (requests, size-limited) |
//! | `io.rs` | [`HyperIo`]: the socket as hyper's `Read`/`Write` |
//! | `transport.rs` | the byte stream under a connection: TCP, or TLS over TCP |
//! | `upgrade.rs` | [`upgrade::OnUpgrade`]: taking over a connection after a `101` |
//! | `coalesce.rs` | one write for the answers to a pipelined batch, used by [`HyperIo`] |
//!
//! ## Example
//!
//! ```no_run
//! use kairos_http::{Body, Request, Response, Server, ServerConfig};
//!
//! async fn hello(_request: Request) -> Response {
//!     Response::new(Body::from("Hello, World!"))
//! }
//!
//! let config = ServerConfig { workers: 2, ..ServerConfig::default() };
//! let running = Server::new(config).start(|| hello).unwrap();
//! running.shutdown_handle().on_signals().unwrap(); // Ctrl-C stops it gracefully
//! running.wait();
//! ```
#![forbid(unsafe_code)]

mod body;
pub mod client;
mod coalesce;
mod executor;
mod io;
pub mod server;
mod transport;
pub mod upgrade;

pub use body::{Body, BodyError, BoxError, RequestBody};
pub use client::{Client, ClientConfig, ClientError, ClientResponse};
pub use io::HyperIo;
pub use server::{
    ErrorRenderer, RunningServer, Server, ServerConfig, ServerError, Shutdown, StartError,
    TlsConfig, WorkerService,
};

/// A request as a service receives it.
pub type Request = http::Request<RequestBody>;
/// A response as a service returns it.
pub type Response = http::Response<Body>;

pub use http;
pub use kairos_rt as rt;
