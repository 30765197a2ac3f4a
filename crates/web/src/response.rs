//! Responses: the [`IntoResponse`] trait and what implements it.
//!
//! | a handler returns | the client gets |
//! |---|---|
//! | `&'static str`, `String` | `200`, `text/plain; charset=utf-8` |
//! | `Bytes`, `Vec<u8>` | `200`, `application/octet-stream` |
//! | [`Html`]`(s)` | `200`, `text/html; charset=utf-8` |
//! | [`Json`](crate::Json)`(value)` | `200`, `application/json` |
//! | `()` | `200`, empty |
//! | `StatusCode` | that status, empty |
//! | `(StatusCode, R)` | `R` with that status |
//! | `(StatusCode, H, R)`, `(H, R)` | `R` with that status and the headers `H`: a `HeaderMap` or `[(name, value); N]` |
//! | `Result<T, E>` | `T` or `E`, both `IntoResponse` (usually `E =` [`HttpError`](crate::HttpError)) |
//! | [`Response`] | itself |
//! | [`StreamingResponse`](crate::StreamingResponse), [`Sse`](crate::Sse) | a chunked stream |

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use crate::Response;

/// Anything a handler can return.
pub trait IntoResponse {
    /// Turns `self` into the response sent to the client.
    fn into_response(self) -> Response;
}

fn with_type(body: impl Into<kairos_http::Body>, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_type(self, TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(self, TEXT)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(kairos_http::Body::empty())
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = ().into_response();
        *response.status_mut() = self;
        response
    }
}

/// An HTML response (`text/html; charset=utf-8`): FastAPI's `HTMLResponse`.
#[derive(Debug, Clone)]
pub struct Html<T>(pub T);

impl<T: Into<kairos_http::Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_type(self.0, "text/html; charset=utf-8")
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

/// Headers a response tuple can carry: a [`HeaderMap`], or an array of `(name, value)` pairs
/// whose parts convert to [`HeaderName`] and [`HeaderValue`] (`&str` does).
pub trait IntoHeaders {
    /// Adds the headers to `headers` (replacing those of the same name).
    ///
    /// # Panics
    ///
    /// If a name or value is not valid in HTTP: fix the literal in the handler.
    fn into_headers(self, headers: &mut HeaderMap);
}

impl IntoHeaders for HeaderMap {
    fn into_headers(self, headers: &mut HeaderMap) {
        let mut last: Option<HeaderName> = None;
        for (name, value) in self {
            match name {
                Some(name) => {
                    headers.insert(name.clone(), value);
                    last = Some(name);
                }
                // More values of the previous name.
                None => {
                    if let Some(name) = &last {
                        headers.append(name.clone(), value);
                    }
                }
            }
        }
    }
}

impl<K, V, const N: usize> IntoHeaders for [(K, V); N]
where
    K: TryInto<HeaderName>,
    K::Error: std::fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: std::fmt::Display,
{
    fn into_headers(self, headers: &mut HeaderMap) {
        for (name, value) in self {
            let name =
                name.try_into().unwrap_or_else(|e| panic!("invalid response header name: {e}"));
            let value =
                value.try_into().unwrap_or_else(|e| panic!("invalid value for header {name}: {e}"));
            headers.insert(name, value);
        }
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (StatusCode, H, R) {
    fn into_response(self) -> Response {
        let mut response = self.2.into_response();
        *response.status_mut() = self.0;
        self.1.into_headers(response.headers_mut());
        response
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (H, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        self.0.into_headers(response.headers_mut());
        response
    }
}
