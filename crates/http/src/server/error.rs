//! The answers the server makes itself, without the service: [`ServerError`] says what went
//! wrong, an [`ErrorRenderer`] turns it into the response. The default renders plain text; a
//! framework installs its own (kairos-web answers FastAPI's JSON) so that a client sees one
//! shape of error whoever answered.

use std::fmt;
use std::sync::Arc;

use http::{header, HeaderValue, StatusCode};

use crate::{Body, Response};

/// An error the server answers by itself, before the service runs or instead of its response.
///
/// The limits and rules of a request head are checked as its bytes arrive, before hyper
/// parses them (see [`ServerConfig::strict`](super::ServerConfig::strict)); a refused request
/// is answered with one of these after the answers to the requests before it on its
/// connection, which then closes. hyper still answers by itself, with a bare `400`, the bytes
/// that are not HTTP/1.1 at all (a request line without a version, a field without a colon).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// [`limit_concurrency`](super::ServerConfig::limit_concurrency) requests were already in
    /// progress on the worker: `503`, to retry shortly.
    Overloaded {
        /// The limit.
        limit: usize,
    },
    /// The request declared a `Content-Length` over
    /// [`max_body_size`](super::ServerConfig::max_body_size): `413`, answered without reading
    /// the body. (A body that grows past the limit while it is read is an error of the
    /// service's read, [`BodyError::TooLarge`](crate::BodyError::TooLarge).)
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The service panicked: `500`. The panic message is logged, never sent.
    ServicePanicked,
    /// The request breaks a rule of HTTP/1.1 the server enforces before the service runs
    /// (RFC 9112 §3.2's `Host` rules; in strict mode, the framing a front proxy may read
    /// differently): `400`, and the connection is closed.
    BadRequest {
        /// What was wrong, for the client: "missing Host header", and so on.
        reason: &'static str,
    },
    /// The request line is longer than
    /// [`max_request_line`](super::ServerConfig::max_request_line): `414`.
    RequestLineTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request head is larger than
    /// [`max_header_size`](super::ServerConfig::max_header_size): `431`.
    HeadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request head has more fields than
    /// [`max_headers`](super::ServerConfig::max_headers): `431`.
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The request's `Transfer-Encoding` names a coding besides `chunked` (strict mode):
    /// `501`, as RFC 9112 §6.1 advises for a coding the server does not implement.
    UnsupportedTransferCoding,
}

impl ServerError {
    /// The status the server means.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::RequestLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            ServerError::HeadTooLarge { .. } | ServerError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ServerError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ServerError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::ServicePanicked => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ServerError {
    /// The message for the client.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Overloaded { .. } => f.write_str(
                "Service Unavailable: the server is at its concurrency limit; retry shortly",
            ),
            ServerError::BodyTooLarge { limit } => write!(
                f,
                "Content Too Large: the request body is larger than the server accepts \
                 ({limit} bytes)"
            ),
            ServerError::ServicePanicked => f.write_str("Internal Server Error"),
            ServerError::BadRequest { reason } => write!(f, "Bad Request: {reason}"),
            ServerError::RequestLineTooLong { limit } => {
                write!(f, "URI Too Long: the request line is longer than {limit} bytes")
            }
            ServerError::HeadTooLarge { limit } => write!(
                f,
                "Request Header Fields Too Large: the request head is larger than {limit} bytes"
            ),
            ServerError::TooManyHeaders { limit } => write!(
                f,
                "Request Header Fields Too Large: the request has more than {limit} header fields"
            ),
            ServerError::UnsupportedTransferCoding => {
                f.write_str("Not Implemented: the only transfer coding accepted is chunked, alone")
            }
        }
    }
}

impl std::error::Error for ServerError {}

/// Renders every [`ServerError`] into the response the client gets; set with
/// [`Server::error_renderer`](super::Server::error_renderer).
///
/// The renderer decides the whole response: answer with [`ServerError::status`] and, for a
/// `503`, a `Retry-After`, as the default does, unless you mean otherwise. It runs on the
/// worker's loop, once per error, and must not panic (a panic there ends the connection).
#[derive(Clone)]
pub struct ErrorRenderer(Arc<dyn Fn(&ServerError) -> Response + Send + Sync>);

impl ErrorRenderer {
    /// A renderer from a function.
    pub fn new(render: impl Fn(&ServerError) -> Response + Send + Sync + 'static) -> Self {
        ErrorRenderer(Arc::new(render))
    }

    /// The response for `error`.
    pub fn render(&self, error: &ServerError) -> Response {
        (self.0)(error)
    }
}

impl Default for ErrorRenderer {
    /// [`render_plain`].
    fn default() -> Self {
        ErrorRenderer::new(render_plain)
    }
}

impl fmt::Debug for ErrorRenderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorRenderer(..)")
    }
}

/// The default rendering: the status, the message as `text/plain`, and `Retry-After: 1` on a
/// `503`.
pub fn render_plain(error: &ServerError) -> Response {
    let mut response = Response::new(Body::from(error.to_string()));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_renders_plain_text_with_the_status() {
        let response = ErrorRenderer::default().render(&ServerError::Overloaded { limit: 3 });
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = render_plain(&ServerError::BodyTooLarge { limit: 1024 });
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(ServerError::ServicePanicked.to_string(), "Internal Server Error");
        let bad = ServerError::BadRequest { reason: "missing Host header" };
        assert_eq!(render_plain(&bad).status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.to_string(), "Bad Request: missing Host header");
    }
}
