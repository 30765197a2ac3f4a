//! An HTTP client on the kairos loop — the chapter's `httpx.AsyncClient` (seed 6.3): `http://`
//! and `https://`, HTTP/1.1 with a keep-alive pool, and HTTP/2 when a server offers it.
//!
//! - `mod.rs` — [`Client`], [`ClientConfig`], [`ClientResponse`];
//! - `connect.rs` — resolving, TCP, TLS, and hyper's HTTP/1.1 or HTTP/2 over them;
//! - `tls.rs` — the roots trusted (the platform's, given ones) and the handshake's errors;
//! - `pool.rs` — connections per origin: idle HTTP/1.1 ones, a shared HTTP/2 one;
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
//! **HTTP/1.1 and HTTP/2.** Over TLS, ALPN offers `h2` and `http/1.1` and the server chooses.
//! An HTTP/1.1 connection carries one request at a time: it is reused when a response body
//! has been read to the end (`text`, `bytes`, `json`), and a response dropped unread closes it.
//! An HTTP/2 connection carries any number at once: one per origin is shared by every request
//! to it, and requests that start together wait for the first one's handshake rather than
//! opening one each. In the clear the client speaks HTTP/1.1, or HTTP/2 from the first byte
//! with [`ClientConfig::http2_prior_knowledge`] (h2c). [`ClientResponse::version`] says which.
//!
//! **A pooled connection that closed.** A server may end an idle connection (its keep-alive
//! timeout, or a GOAWAY) just as the client picks it from the pool. When not a byte of the
//! request went out on it, the request is sent again on another connection, whatever its
//! method — it never reached the server. One that failed after it went out is an error:
//! only the caller knows whether it may be repeated.
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
//! println!("{:?} {}", response.version(), response.status()); // HTTP/2.0 200 OK
//! # let _ = page;
//! # Ok(())
//! # }
//! ```

mod connect;
mod error;
mod pool;
mod tls;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_rustls::TlsConnector;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use kairos_sync::Lock;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::ClientError;
/// A DER-encoded certificate, as [`ClientConfig::root_certificates`] holds them (rustls'
/// type, re-exported so that no other crate is needed to name it).
pub use rustls::pki_types::CertificateDer;

use connect::Sender;
use pool::{Origin, Pool, Scheme};

use crate::Body;

/// How many times a request goes out again after a pooled connection turned out closed
/// before any of it was sent — hyper-util's legacy client does the same, unbounded. Each try
/// uses up a pooled connection or opens a new one, which is not retried.
const MAX_UNSENT_RETRIES: usize = 3;

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
/// | `http2` | on | `http2=False` |
/// | `http2_prior_knowledge` | off | — |
#[derive(Clone)]
pub struct ClientConfig {
    /// Longest wait for a connection: resolving the host, TCP, and for `https://` the TLS
    /// handshake (a server that accepts and then never answers it times out here). Requests
    /// that wait for another's handshake to share its HTTP/2 connection wait within it too.
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to its response's status and headers, and again
    /// for reading its body.
    pub request_timeout: Duration,
    /// An idle pooled connection older than this is not reused: an HTTP/1.1 connection
    /// since its last response, an HTTP/2 one since a request last started or finished on it.
    pub pool_idle_timeout: Duration,
    /// Idle HTTP/1.1 connections kept per origin.
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
    /// Offer HTTP/2 to `https://` servers (ALPN `h2` before `http/1.1`); a server that
    /// chooses it gets one connection per origin for every request at once. Off: HTTP/1.1
    /// only.
    pub http2: bool,
    /// Speak HTTP/2 to `http://` servers from the first byte (h2c with prior knowledge, which
    /// kairos, hyper and nginx's `http2` listeners serve), rather than HTTP/1.1. Only for
    /// servers known to speak it: an HTTP/1.1-only server answers the preface with an error.
    pub http2_prior_knowledge: bool,
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
            http2: true,
            http2_prior_knowledge: false,
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
            .field("http2", &self.http2)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
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

/// An HTTP client with a per-origin connection pool. Cheap to clone (the clones share the
/// pool).
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

    /// Idle HTTP/1.1 connections pooled right now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    /// HTTP/2 connections held right now (one per origin at most, shared by its requests).
    pub fn http2_connections(&self) -> usize {
        self.inner.pool.shared_count()
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
        // The host as the request names it: `Host` in HTTP/1.1, `:authority` in HTTP/2.
        let authority = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());

        let tls = match scheme {
            Scheme::Https => Some(self.tls_connector().await?),
            Scheme::Http => None,
        };
        let connect_timeout = self.inner.config.connect_timeout;
        let timeout = self.inner.config.request_timeout;
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.headers_mut() = headers;
        let mut retries = 0;
        let (response, sender) = loop {
            let (mut sender, reused) =
                kairos_rt::timeout(connect_timeout, self.connection(&origin, tls.as_ref()))
                    .await
                    .map_err(|_| ClientError::ConnectTimeout(connect_timeout))??;
            address(&mut request, &sender, &uri, &authority, path)
                .map_err(|e| ClientError::InvalidUrl(format!("{url:?}: {e}")))?;
            let sent = match &mut sender {
                Sender::Http1(h1) => {
                    kairos_rt::timeout(timeout, h1.try_send_request(request)).await
                }
                Sender::Http2(h2, _) => {
                    kairos_rt::timeout(timeout, h2.try_send_request(request)).await
                }
            };
            match sent.map_err(|_| ClientError::Timeout(timeout))? {
                Ok(response) => break (response, sender),
                Err(mut failed) => match failed.take_message() {
                    // Not a byte of it was sent: the pooled connection had closed (the server
                    // ended it as idle, or sent GOAWAY) before this request could go out, so
                    // sending it again is safe whatever its method.
                    Some(unsent) if reused && retries < MAX_UNSENT_RETRIES => {
                        tracing::debug!(
                            target: "kairos::client",
                            "a pooled connection to {url} closed before the request went out \
                             ({}); sending it on another",
                            failed.error()
                        );
                        retries += 1;
                        request = unsent;
                    }
                    _ => return Err(ClientError::Http(failed.into_error())),
                },
            }
        };
        let reuse = match sender {
            Sender::Http1(sender) => Reuse::Http1 { client: self.clone(), origin, sender },
            Sender::Http2(_, last_used) => Reuse::Http2(last_used),
        };
        let (parts, body) = response.into_parts();
        Ok(ClientResponse {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: Some(body),
            timeout,
            reuse: Some(reuse),
        })
    }

    /// A connection to `origin` — the shared HTTP/2 one, an idle HTTP/1.1 one, or a new one —
    /// and whether it came from the pool (it may have closed since it was last used).
    async fn connection(
        &self,
        origin: &Origin,
        tls: Option<&TlsConnector>,
    ) -> Result<(Sender, bool), ClientError> {
        let pool = &self.inner.pool;
        if let Some(sender) = self.pooled(origin) {
            return Ok((sender, true));
        }
        let config = &self.inner.config;
        let may_be_http2 = match origin.scheme {
            Scheme::Http => config.http2_prior_knowledge,
            Scheme::Https => config.http2 && !pool.speaks_http1(origin),
        };
        if !may_be_http2 {
            let sender = connect::connect(origin, tls, config.http2_prior_knowledge, pool).await?;
            return Ok((sender, false));
        }
        // The first request to find nothing connects; those that come meanwhile wait for it,
        // and share its connection if the server chose HTTP/2.
        let turn = pool.turn(origin);
        let mine = turn.lock().await;
        if let Some(sender) = self.pooled(origin) {
            return Ok((sender, true));
        }
        if pool.speaks_http1(origin) {
            drop(mine); // nothing to share: the others connect at once too
        }
        let sender = connect::connect(origin, tls, config.http2_prior_knowledge, pool).await?;
        Ok((sender, false))
    }

    /// A connection from the pool, if one is ready.
    fn pooled(&self, origin: &Origin) -> Option<Sender> {
        let pool = &self.inner.pool;
        if let Some((sender, last_used)) = pool.shared(origin) {
            return Some(Sender::Http2(sender, last_used));
        }
        pool.take(origin).map(Sender::Http1)
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
            http2: config.http2,
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

/// Gives `request` the target its connection's protocol wants: for HTTP/1.1 the origin form
/// with the host in `Host`; for HTTP/2 an absolute URI, whose `:scheme` and `:authority` it
/// takes (RFC 9113 §8.3.1: no userinfo in it, so it is rebuilt rather than copied).
fn address(
    request: &mut http::Request<Body>,
    sender: &Sender,
    uri: &Uri,
    authority: &str,
    path: &str,
) -> Result<(), http::Error> {
    match sender {
        Sender::Http1(_) => {
            *request.uri_mut() = path.parse::<Uri>()?;
            *request.version_mut() = Version::HTTP_11;
            if let Ok(value) = HeaderValue::from_str(authority) {
                request.headers_mut().insert(header::HOST, value);
            }
        }
        Sender::Http2(..) => {
            *request.uri_mut() = Uri::builder()
                .scheme(uri.scheme_str().unwrap_or("https"))
                .authority(authority)
                .path_and_query(path)
                .build()?;
            *request.version_mut() = Version::HTTP_2;
        }
    }
    Ok(())
}

/// What happens to the connection once a response's body has been read to its end.
enum Reuse {
    /// The HTTP/1.1 connection goes back to the pool.
    Http1 { client: Client, origin: Origin, sender: http1::SendRequest<Body> },
    /// The shared HTTP/2 connection was used just now.
    Http2(Rc<Cell<Instant>>),
}

/// A response: status and headers at once, the body when asked for.
pub struct ClientResponse {
    status: StatusCode,
    version: Version,
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

    /// The protocol the response came by: `HTTP/1.1`, or `HTTP/2.0` when the server chose
    /// HTTP/2 (or the client spoke it with prior knowledge).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Reads the whole body (within the request timeout); an HTTP/1.1 connection goes back to
    /// the pool.
    pub async fn bytes(mut self) -> Result<Bytes, ClientError> {
        let body = self.body.take().expect("the body is read once");
        let timeout = self.timeout;
        let collected = kairos_rt::timeout(timeout, body.collect())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(ClientError::Http)?;
        match self.reuse.take() {
            Some(Reuse::Http1 { client, origin, sender }) => client.inner.pool.put(origin, sender),
            Some(Reuse::Http2(last_used)) => last_used.set(Instant::now()),
            None => {}
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
        f.debug_struct("ClientResponse")
            .field("status", &self.status)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
