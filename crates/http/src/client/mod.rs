//! An HTTP/1.1 client on the kairos loop with a keep-alive pool — the chapter's
//! `httpx.AsyncClient` (seed 6.3).
//!
//! - `mod.rs` — [`Client`], [`ClientConfig`], [`ClientResponse`];
//! - `pool.rs` — idle connections per origin;
//! - `error.rs` — [`ClientError`], with distinct timeouts.
//!
//! A `Client` belongs to the loop it is used on (`!Send`), like an `httpx.AsyncClient` to its
//! event loop; make one per worker. Connections are reused when a response body has been read
//! to the end (`text`, `bytes`, `json`); a response dropped unread closes its connection.

mod error;
mod pool;

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use kairos_rt::net::TcpStream;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::ClientError;
use pool::{Origin, Pool};

use crate::{Body, HyperIo};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to its response's status and headers.
    pub request_timeout: Duration,
    /// An idle pooled connection older than this is not reused.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per origin.
    pub max_idle_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        // Idle connections are kept 4 s: just under the keep-alive of common servers (uvicorn
        // and kairos close after 5 s), so a pooled connection is not reused at the moment its
        // server closes it (httpx keeps them 5 s).
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(4),
            max_idle_per_host: 32,
        }
    }
}

/// An HTTP/1.1 client with a per-origin keep-alive pool. Cheap to clone (the clones share
/// the pool).
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    config: ClientConfig,
    pool: Pool,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with default settings.
    pub fn new() -> Client {
        Client::with_config(ClientConfig::default())
    }

    /// A client with these settings.
    pub fn with_config(config: ClientConfig) -> Client {
        let pool = Pool::new(config.max_idle_per_host, config.pool_idle_timeout);
        Client { inner: Rc::new(Inner { config, pool }) }
    }

    /// Idle pooled connections right now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<ClientResponse, ClientError> {
        self.send(Method::GET, url, HeaderMap::new(), Body::empty()).await
    }

    /// `POST url` with `value` as a JSON body.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        value: &T,
    ) -> Result<ClientResponse, ClientError> {
        let body = serde_json::to_vec(value).map_err(ClientError::Json)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.send(Method::POST, url, headers, Body::from(body)).await
    }

    /// Sends a request with any method, headers and body.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<ClientResponse, ClientError> {
        let uri: Uri = url.parse().map_err(|e| ClientError::InvalidUrl(format!("{url:?}: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(ClientError::InvalidUrl(format!(
                    "{url:?}: scheme {other:?} is not supported (kairos' client speaks plain http)"
                )))
            }
            None => return Err(ClientError::InvalidUrl(format!("{url:?}: needs http://host"))),
        }
        let host =
            uri.host().ok_or_else(|| ClientError::InvalidUrl(format!("{url:?}: no host")))?;
        let origin: Origin = (host.to_owned(), uri.port_u16().unwrap_or(80));
        let path = uri.path_and_query().map_or("/", |p| p.as_str());

        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(body)
            .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        *request.headers_mut() = headers;
        let host_header = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&host_header) {
            request.headers_mut().insert(header::HOST, value);
        }

        let mut sender = match self.inner.pool.take(&origin) {
            Some(sender) => sender,
            None => self.connect(&origin).await?,
        };
        let timeout = self.inner.config.request_timeout;
        let response = kairos_rt::timeout(timeout, sender.send_request(request))
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(ClientError::Http)?;
        let (parts, body) = response.into_parts();
        Ok(ClientResponse {
            status: parts.status,
            headers: parts.headers,
            body: Some(body),
            reuse: Some(Reuse { client: self.clone(), origin, sender }),
        })
    }

    async fn connect(&self, origin: &Origin) -> Result<http1::SendRequest<Body>, ClientError> {
        let addr = resolve(origin).await?;
        let connect_timeout = self.inner.config.connect_timeout;
        let stream = kairos_rt::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout(connect_timeout))?
            .map_err(|e| ClientError::Connect(addr, e))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .handshake(HyperIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        // The connection's I/O runs as a task on this loop until it closes.
        kairos_rt::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "kairos::client", "connection closed with an error: {e}");
            }
        })
        .detach();
        Ok(sender)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// An IP literal needs no lookup; a name is resolved on the default executor (getaddrinfo
/// blocks, so it must not run on the loop).
async fn resolve(origin: &Origin) -> Result<SocketAddr, ClientError> {
    let (host, port) = origin.clone();
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = kairos_rt::to_thread(move || {
        use std::net::ToSocketAddrs;
        (host.as_str(), port).to_socket_addrs().map(|mut addrs| addrs.next())
    });
    match lookup.await {
        Ok(Ok(Some(addr))) => Ok(addr),
        Ok(Ok(None)) => Err(ClientError::Resolve(
            origin.0.clone(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        )),
        Ok(Err(e)) => Err(ClientError::Resolve(origin.0.clone(), e)),
        Err(e) => Err(ClientError::Resolve(origin.0.clone(), std::io::Error::other(e.to_string()))),
    }
}

/// Gives the connection back to the pool once the body has been read to its end.
struct Reuse {
    client: Client,
    origin: Origin,
    sender: http1::SendRequest<Body>,
}

/// A response: status and headers at once, the body when asked for.
pub struct ClientResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<hyper::body::Incoming>,
    reuse: Option<Reuse>,
}

impl ClientResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Reads the whole body (within the request timeout); the connection goes back to the pool.
    pub async fn bytes(mut self) -> Result<Bytes, ClientError> {
        let body = self.body.take().expect("the body is read once");
        let timeout = self
            .reuse
            .as_ref()
            .map_or(Duration::from_secs(30), |r| r.client.inner.config.request_timeout);
        let collected = kairos_rt::timeout(timeout, body.collect())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(ClientError::Http)?;
        if let Some(reuse) = self.reuse.take() {
            reuse.client.inner.pool.put(reuse.origin, reuse.sender);
        }
        Ok(collected.to_bytes())
    }

    /// Reads the body as text (UTF-8, invalid bytes replaced).
    pub async fn text(self) -> Result<String, ClientError> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads the body as JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(ClientError::Json)
    }
}

impl std::fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponse").field("status", &self.status).finish_non_exhaustive()
    }
}
