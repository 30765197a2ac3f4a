//! An HTTP/1.1 client on the kairos loop — the chapter's `httpx.AsyncClient` (seed 6.3):
//! `http://` and `https://`, with a keep-alive pool.
//!
//! - `mod.rs` — [`Client`], [`ClientConfig`], [`ClientResponse`];
//! - `connect.rs` — resolving, TCP, TLS, and hyper's HTTP/1.1 over them;
//! - `tls.rs` — the roots trusted (the platform's, given ones) and the handshake's errors;
//! - `pool.rs` — idle connections per origin;
//! - `error.rs` — [`ClientError`], with distinct timeouts and TLS failures.
//!
//! A `Client` belongs to the loop it is used on (`!Send`), like an `httpx.AsyncClient` to its
//! event loop; make one per worker.
//!
//! **HTTPS.** Servers are verified against the platform's root certificates (on Debian,
//! `/etc/ssl/certs` from the `ca-certificates` package, read once per `Client`, on its first
//! `https://` request, off the loop), plus any given with [`ClientConfig::with_root_pem`]; with
//! [`ClientConfig::platform_roots`] off, only the given ones. The certificate must be valid
//! for the URL's host: a name (also sent by SNI) or an IP address (matched against the
//! certificate's IP address SANs). A refusal is [`ClientError::Tls`], whose message says what
//! to do.
//!
//! **Connections.** A connection carries one request at a time: it is reused when a response
//! body has been read to the end (`text`, `bytes`, `json`), and a response dropped unread
//! closes it.
//!
//! ```no_run
//! use kairos_http::{Client, ClientConfig};
//!
//! # async fn example() -> Result<(), kairos_http::ClientError> {
//! // The platform's roots: any public HTTPS site.
//! let client = Client::new();
//! let page = client.get("https://example.com/").await?.text().await?;
//!
//! // A server whose certificate your own CA signed, and nothing else.
//! let ca = std::fs::read("ca.pem").unwrap();
//! let config = ClientConfig { platform_roots: false, ..ClientConfig::default() }
//!     .with_root_pem(&ca)?;
//! let internal = Client::with_config(config);
//! let response = internal.get("https://internal.example:8443/health").await?;
//! println!("{}", response.status());
//! # let _ = page;
//! # Ok(())
//! # }
//! ```

mod connect;
mod error;
mod pool;
mod tls;

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_rustls::TlsConnector;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use kairos_sync::Lock;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::ClientError;
/// A DER-encoded certificate, as [`ClientConfig::root_certificates`] holds them (rustls'
/// type, re-exported so that no other crate is needed to name it).
pub use rustls::pki_types::CertificateDer;

use pool::{Origin, Pool, Scheme};

use crate::Body;

/// Client settings.
///
/// | setting | default | httpx's |
/// |---|---|---|
/// | `connect_timeout` | 5 s | `Timeout(connect=5)` |
/// | `request_timeout` | 30 s | — (`read=5` per read) |
/// | `pool_idle_timeout` | 4 s | `keepalive_expiry=5` |
/// | `max_idle_per_host` | 32 | `max_keepalive_connections=20` (in all) |
/// | `platform_roots` | on | `verify=True` (certifi's bundle) |
/// | `root_certificates` | none | `verify=ssl_context` |
#[derive(Clone)]
pub struct ClientConfig {
    /// Longest wait for a connection: resolving the host, TCP, and for `https://` the TLS
    /// handshake (a server that accepts and then never answers it times out here).
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to its response's status and headers, and again
    /// for reading its body.
    pub request_timeout: Duration,
    /// An idle pooled connection older than this is not reused.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per origin.
    pub max_idle_per_host: usize,
    /// Trust the platform's root certificates for `https://` (on Debian, `/etc/ssl/certs`
    /// from the `ca-certificates` package; `SSL_CERT_FILE` and `SSL_CERT_DIR` override, as
    /// for OpenSSL). When on and none can be loaded, `https://` requests fail with
    /// [`ClientError::RootCertificates`], saying how to install them. Turn it off to trust
    /// only [`root_certificates`](ClientConfig::root_certificates).
    pub platform_roots: bool,
    /// Root certificates (a CA, or a self-signed server certificate) trusted as well as the
    /// platform's, or alone with `platform_roots` off. Add them from PEM with
    /// [`with_root_pem`](ClientConfig::with_root_pem).
    pub root_certificates: Vec<CertificateDer<'static>>,
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
            platform_roots: true,
            root_certificates: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The certificates are counted, not dumped: each is a kilobyte of hex.
        f.debug_struct("ClientConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("max_idle_per_host", &self.max_idle_per_host)
            .field("platform_roots", &self.platform_roots)
            .field("root_certificates", &self.root_certificates.len())
            .finish()
    }
}

impl ClientConfig {
    /// These settings, also trusting every certificate in `pem` (its `-----BEGIN
    /// CERTIFICATE-----` blocks) as a root: your CA, or a self-signed server's certificate.
    /// Fails with [`ClientError::RootCertificates`] if `pem` holds no certificate or one that
    /// cannot be a root.
    pub fn with_root_pem(mut self, pem: &[u8]) -> Result<ClientConfig, ClientError> {
        self.root_certificates.extend(tls::roots_from_pem(pem)?);
        Ok(self)
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
    /// The TLS settings, made on the first `https://` request (loading the roots reads
    /// files); a lock, so that requests that start together load them once. A failure is not
    /// kept: the next request tries again, so installing the roots mends a running client.
    tls: Lock<Option<TlsConnector>>,
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
        Client { inner: Rc::new(Inner { config, pool, tls: Lock::new(None) }) }
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
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => {
                return Err(ClientError::InvalidUrl(format!(
                    "{url:?}: scheme {other:?} is not supported (kairos' client speaks http and \
                     https)"
                )))
            }
            None => {
                return Err(ClientError::InvalidUrl(format!("{url:?}: needs http:// or https://")))
            }
        };
        let host =
            uri.host().ok_or_else(|| ClientError::InvalidUrl(format!("{url:?}: no host")))?;
        let origin = Origin {
            scheme,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(scheme.default_port()),
        };
        let host_header = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());

        let tls = match scheme {
            Scheme::Https => Some(self.tls_connector().await?),
            Scheme::Http => None,
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(body)
            .map_err(|e| ClientError::InvalidUrl(format!("{url:?}: {e}")))?;
        *request.headers_mut() = headers;
        if let Ok(value) = HeaderValue::from_str(&host_header) {
            request.headers_mut().insert(header::HOST, value);
        }

        let mut sender = match self.inner.pool.take(&origin) {
            Some(sender) => sender,
            None => {
                let connect_timeout = self.inner.config.connect_timeout;
                kairos_rt::timeout(connect_timeout, connect::connect(&origin, tls.as_ref()))
                    .await
                    .map_err(|_| ClientError::ConnectTimeout(connect_timeout))??
            }
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
            timeout,
            reuse: Some(Reuse { client: self.clone(), origin, sender }),
        })
    }

    /// The TLS settings, made from the configuration's roots on first use.
    async fn tls_connector(&self) -> Result<TlsConnector, ClientError> {
        let mut slot = self.inner.tls.lock().await;
        if let Some(connector) = &*slot {
            return Ok(connector.clone());
        }
        let config = &self.inner.config;
        let trust = tls::Trust {
            platform_roots: config.platform_roots,
            root_certificates: config.root_certificates.clone(),
        };
        // Reading and parsing the platform's store (a few hundred KiB of PEM) blocks: it is
        // done on the default executor, not on the loop.
        let connector = kairos_rt::to_thread(move || trust.connector()).await.map_err(|e| {
            ClientError::RootCertificates(format!("loading the root certificates failed: {e}"))
        })??;
        *slot = Some(connector.clone());
        Ok(connector)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.inner.config).finish_non_exhaustive()
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
    timeout: Duration,
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
        let timeout = self.timeout;
        let collected = kairos_rt::timeout(timeout, body.collect())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(ClientError::Http)?;
        if let Some(Reuse { client, origin, sender }) = self.reuse.take() {
            client.inner.pool.put(origin, sender);
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
