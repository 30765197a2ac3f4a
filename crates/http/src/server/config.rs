//! Server settings: every limit has a default (modelled on uvicorn's) and a setter, and each
//! worker's event loop is configured here too ([`ConfigureLoop`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How a [`Server`](super::Server) listens, limits and shuts down.
///
/// | setting | default | uvicorn's |
/// |---|---|---|
/// | `bind` | `127.0.0.1:8000` | `--host 127.0.0.1 --port 8000` |
/// | `workers` | 1 | `--workers 1` |
/// | `backlog` | 2048 | `--backlog 2048` |
/// | `max_connections` | none | — (accepting pauses at the limit) |
/// | `limit_concurrency` | none | `--limit-concurrency` (503 past it) |
/// | `keep_alive_timeout` | 5 s | `--timeout-keep-alive 5` |
/// | `header_read_timeout` | 10 s | — (h11 has none; slowloris defence) |
/// | `max_request_line` | 8 KiB | — (h11 counts it in the head; nginx's and Apache's 8 KiB; 414 past it) |
/// | `max_header_size` | 16 KiB | h11's 16 KiB (431 past it) |
/// | `max_headers` | 100 | — (h11 has none; Apache's and Tomcat's 100; 431 past it) |
/// | `max_body_size` | 16 MiB | — (413 past it) |
/// | `strict` | on | — (h11 is strict on most of it; llhttp's lenient flags off) |
/// | `graceful_shutdown_timeout` | 30 s | `--timeout-graceful-shutdown` |
/// | `access_log` | on | `--access-log` |
/// | `tls` | none (plain TCP) | `--ssl-certfile`, `--ssl-keyfile` |
/// | `tls_handshake_timeout` | 10 s | — (nginx's `ssl_handshake_timeout` is 60 s) |
/// | `http2` | on (h2 by ALPN over TLS, h2c by prior knowledge in the clear) | — (uvicorn has none; Hypercorn's `h2`) |
/// | `http2_max_concurrent_streams` | 100 | — (nginx's `http2_max_concurrent_streams` 128, h2's RFC floor 100) |
/// | `slow_callback_duration` | the loop's: 100 ms | `loop.slow_callback_duration` (asyncio) |
/// | `record_events` | 0: no recording | — (asyncio has none; `kairos serve --record-events`) |
/// | `configure_loop` | nothing more | — |
///
/// Each worker runs its own loop, built from [`loop_builder`](ServerConfig::loop_builder):
/// the settings are given to every worker, replacements included, without touching the
/// process's environment.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Worker threads, each with its own event loop, all accepting from one listening socket:
    /// whichever loop is free takes the next connection, so a blocked loop strands none.
    pub workers: usize,
    /// Length of the kernel's queue of connections not yet accepted.
    pub backlog: u32,
    /// Connections open at once per worker; at the limit, accepting pauses (new connections
    /// wait in the backlog) until one closes.
    pub max_connections: Option<usize>,
    /// Requests in progress at once per worker; past it, requests get `503`.
    pub limit_concurrency: Option<usize>,
    /// An idle keep-alive connection is closed after this long without a request.
    pub keep_alive_timeout: Duration,
    /// A connection must send a request's complete headers within this time, or is closed.
    pub header_read_timeout: Duration,
    /// Longest request line (method, target and version) accepted; longer gets `414`.
    pub max_request_line: usize,
    /// Largest request head (request line and headers) accepted; larger gets `431`. A chunked
    /// body's trailer section has the same limit.
    pub max_header_size: usize,
    /// Most header fields in a request head; more gets `431`. The default, 100, is hyper's,
    /// Apache's (`LimitRequestFields`) and Tomcat's (`maxHeaderCount`); uvicorn counts none
    /// and relies on the size limit. hyper parses the headers into an array on the stack up to
    /// 100 entries; a larger limit makes it allocate that array for every request, so raise it
    /// only for clients that need it.
    pub max_headers: usize,
    /// Largest request body accepted; larger gets `413`. `None`: no limit.
    pub max_body_size: Option<u64>,
    /// Refuse, with `400` and a closed connection, what RFC 9112 permits a recipient to
    /// accept but a front proxy may read differently — where one parser frames a byte stream
    /// differently from another, a request can be smuggled past the proxy (a "desync"):
    /// a line ended by a bare LF, a folded header line (obs-fold), more than one
    /// `Content-Length` (even equal ones), `Content-Length` together with
    /// `Transfer-Encoding`, whitespace after a chunk size that no extension follows, a
    /// malformed chunk extension, `chunked` applied twice, framing or routing fields
    /// (`Content-Length`, `Transfer-Encoding`, `Host`, `Trailer`) in a trailer, and a request
    /// target whose form does not fit its method (RFC 9112 §3.2: `*` is for `OPTIONS`,
    /// `host:port` for `CONNECT`; never a fragment or userinfo). A `Transfer-Encoding` other
    /// than a single `chunked` gets `501`.
    ///
    /// On by default. Turned off (lenient), each of these is read as hyper reads it: the
    /// transfer coding wins over a `Content-Length` (and the connection closes after), equal
    /// `Content-Length` lines count as one, a coding list that ends in `chunked` is chunked. The risk is the
    /// one above: run lenient only where every client and proxy in front frames messages the
    /// same way (an old client that ends lines with a bare LF, say, on a private network).
    /// The limits, RFC 9112 §3.2's `Host` rules and the rules a proxy cannot disagree with
    /// (a `Transfer-Encoding` not ending in `chunked`, or in an HTTP/1.0 request: `400`) hold
    /// in both modes.
    pub strict: bool,
    /// Serve TLS with this certificate and key (HTTP/2 or HTTP/1.1 chosen by ALPN); `None`
    /// serves plain TCP.
    pub tls: Option<super::TlsConfig>,
    /// A TLS handshake must finish within this time, or the connection is closed (logged at
    /// debug level: a client that stalls or speaks garbage costs the server nothing lasting).
    pub tls_handshake_timeout: Duration,
    /// Serve HTTP/2 as well as HTTP/1.1: over TLS when the client chooses `h2` by ALPN, and
    /// in the clear when a connection opens with HTTP/2's preface (h2c with prior knowledge;
    /// the HTTP/1.1 `Upgrade: h2c` dance is not offered, as in hyper and most servers).
    pub http2: bool,
    /// Most streams (requests) in progress at once on one HTTP/2 connection; a client that
    /// opens more has them refused (`REFUSED_STREAM`). HTTP/2's header list has the
    /// `max_header_size` limit, its `:path` the `max_request_line` one, and its field count
    /// `max_headers`.
    pub http2_max_concurrent_streams: u32,
    /// How long a graceful shutdown waits for requests in progress before closing them.
    pub graceful_shutdown_timeout: Duration,
    /// Log each request through `tracing` (target `kairos::access`, level INFO).
    pub access_log: bool,
    /// The stall threshold of each worker's loop: a poll that holds the loop longer is
    /// reported ([`kairos_rt::Builder::slow_callback_duration`]); `Duration::ZERO` turns the
    /// detector off. `None`: the loop's own default (asyncio's 100 ms, or
    /// `KAIROS_SLOW_CALLBACK_MS`).
    pub slow_callback_duration: Option<Duration>,
    /// Events each worker's loop records ([`kairos_rt::Builder::record`]: every poll, wake,
    /// request and pool job, for `kairos_rt::record::chrome_trace`); 0, the default, records
    /// nothing.
    pub record_events: usize,
    /// Anything else about each worker's loop (debug mode, its default executor, where
    /// diagnostics go), applied after `slow_callback_duration`.
    pub configure_loop: ConfigureLoop,
}

/// hyper's own header-count limit, which [`ServerConfig::max_headers`] keeps by default.
pub(crate) const DEFAULT_MAX_HEADERS: usize = 100;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            workers: 1,
            backlog: 2048,
            max_connections: None,
            limit_concurrency: None,
            keep_alive_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            max_request_line: 8 * 1024,
            max_header_size: 16 * 1024,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_size: Some(16 * 1024 * 1024),
            strict: true,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            http2: true,
            http2_max_concurrent_streams: 100,
            graceful_shutdown_timeout: Duration::from_secs(30),
            access_log: true,
            slow_callback_duration: None,
            record_events: 0,
            configure_loop: ConfigureLoop::default(),
        }
    }
}

impl ServerConfig {
    /// The builder each worker's loop is made from: [`kairos_rt::Builder::new`], then
    /// `slow_callback_duration` and `record_events`, then `configure_loop`. To embed a server with
    /// [`Server::serve`](super::Server::serve) on a loop of your own, with these settings:
    /// `config.loop_builder().run(server.serve(listener, service, shutdown))`.
    pub fn loop_builder(&self) -> kairos_rt::Builder {
        let mut builder = kairos_rt::Builder::new();
        if let Some(threshold) = self.slow_callback_duration {
            builder = builder.slow_callback_duration(Some(threshold));
        }
        if self.record_events > 0 {
            builder = builder.record(self.record_events);
        }
        self.configure_loop.apply(builder)
    }
}

/// A function that configures each worker's [`kairos_rt::Builder`]: the general hook of
/// [`ServerConfig::configure_loop`]. It is called on every worker thread as its loop is built
/// (a replacement worker's too), so it is `Send + Sync`, and what it captures is shared.
///
/// ```
/// use std::time::Duration;
/// use kairos_http::server::{ConfigureLoop, ServerConfig};
///
/// let config = ServerConfig {
///     // Debug mode: every poll timed exactly (two clock reads per poll).
///     configure_loop: ConfigureLoop::new(|builder| {
///         builder
///             .debug(true)
///             .default_executor_workers(8)
///             .on_diagnostic(|diagnostic| eprintln!("{diagnostic:?}"))
///     }),
///     slow_callback_duration: Some(Duration::from_millis(50)),
///     ..ServerConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Default)]
pub struct ConfigureLoop(
    Option<Arc<dyn Fn(kairos_rt::Builder) -> kairos_rt::Builder + Send + Sync>>,
);

impl ConfigureLoop {
    /// A hook from a function.
    pub fn new(
        configure: impl Fn(kairos_rt::Builder) -> kairos_rt::Builder + Send + Sync + 'static,
    ) -> Self {
        ConfigureLoop(Some(Arc::new(configure)))
    }

    /// `builder`, configured (unchanged by the default hook).
    pub fn apply(&self, builder: kairos_rt::Builder) -> kairos_rt::Builder {
        match &self.0 {
            Some(configure) => configure(builder),
            None => builder,
        }
    }
}

impl fmt::Debug for ConfigureLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "ConfigureLoop(..)" } else { "ConfigureLoop(none)" })
    }
}
