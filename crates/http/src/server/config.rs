//! Server settings: every limit has a default (modelled on uvicorn's) and a setter.

use std::net::SocketAddr;
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
/// | `max_header_size` | 16 KiB | h11's 16 KiB (431 past it) |
/// | `max_body_size` | 16 MiB | — (413 past it) |
/// | `graceful_shutdown_timeout` | 30 s | `--timeout-graceful-shutdown` |
/// | `access_log` | on | `--access-log` |
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Worker threads, each with its own event loop and `SO_REUSEPORT` listener.
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
    /// Largest request head (request line and headers) accepted; larger gets `431`.
    pub max_header_size: usize,
    /// Largest request body accepted; larger gets `413`. `None`: no limit.
    pub max_body_size: Option<u64>,
    /// How long a graceful shutdown waits for requests in progress before closing them.
    pub graceful_shutdown_timeout: Duration,
    /// Log each request through `tracing` (target `kairos::access`, level INFO).
    pub access_log: bool,
}

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
            max_header_size: 16 * 1024,
            max_body_size: Some(16 * 1024 * 1024),
            graceful_shutdown_timeout: Duration::from_secs(30),
            access_log: true,
        }
    }
}
