//! What can go wrong with a client request, each case its own variant.

use std::fmt;
use std::time::Duration;

/// Why a [`Client`](super::Client) request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be used: not absolute, neither `http` nor `https`, or without a host.
    InvalidUrl(String),
    /// The host name did not resolve.
    Resolve(String, std::io::Error),
    /// The TCP connection could not be made (refused, unreachable...).
    Connect(std::net::SocketAddr, std::io::Error),
    /// The TLS handshake with the host failed: its certificate is not trusted (signed by an
    /// unknown authority, made for another name, expired), or the peer does not speak TLS.
    /// The message says which, and what to do; the source is the handshake's error (for a
    /// refusal by rustls, an `io::Error` holding the `rustls::Error`).
    Tls(String, std::io::Error),
    /// There are no root certificates to verify `https://` servers with: the platform's could
    /// not be loaded, none were given, or one given is not a certificate.
    RootCertificates(String),
    /// The connection (resolving, TCP, the TLS handshake) was not made within the connect
    /// timeout.
    ConnectTimeout(Duration),
    /// No response (status and headers) came within the request timeout.
    Timeout(Duration),
    /// The exchange failed at the HTTP level (the peer closed, sent garbage...).
    Http(hyper::Error),
    /// The response body was not valid JSON for the expected type.
    Json(serde_json::Error),
}

impl ClientError {
    /// Whether this is one of the timeouts (connect or request).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::ConnectTimeout(_) | ClientError::Timeout(_))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            ClientError::Resolve(host, e) => write!(f, "cannot resolve host {host:?}: {e}"),
            ClientError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ClientError::Tls(host, e) => f.write_str(&super::tls::explain(host, e)),
            ClientError::RootCertificates(why) => write!(f, "root certificates: {why}"),
            ClientError::ConnectTimeout(d) => {
                write!(
                    f,
                    "connecting took longer than the connect timeout ({d:?}); is the server up and answering?"
                )
            }
            ClientError::Timeout(d) => write!(
                f,
                "no response within the request timeout ({d:?}); raise it if the server is slow"
            ),
            ClientError::Http(e) => write!(f, "HTTP exchange failed: {e}"),
            ClientError::Json(e) => write!(f, "the response is not the JSON expected: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Resolve(_, e) | ClientError::Connect(_, e) | ClientError::Tls(_, e) => {
                Some(e)
            }
            ClientError::Http(e) => Some(e),
            ClientError::Json(e) => Some(e),
            _ => None,
        }
    }
}
