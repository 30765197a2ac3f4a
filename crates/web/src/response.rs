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
//! | `(StatusCode, H, R)`, `(H, R)` | `R` with that status and the headers `H`: a `HeaderMap` or `[(name, value); N]` (`500`, logged, if one is not valid HTTP: [`InvalidHeader`]) |
//! | `Result<T, E>` | `T` or `E`, both `IntoResponse` (usually `E =` [`HttpError`](crate::HttpError)) |
//! | [`Response`] | itself |
//! | [`StreamingResponse`](crate::StreamingResponse), [`Sse`](crate::Sse) | a chunked stream |

use std::fmt;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use crate::openapi::Operation;
use crate::Response;

/// Anything a handler can return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a response, so a handler cannot return it",
    label = "not a response",
    note = "return a `String` or `&'static str`, `Json(value)`, `Html(text)`, `Bytes`, \
            `StatusCode`, `(StatusCode, R)`, `(headers, R)`, `Response`, a `StreamingResponse` \
            or `Sse`, or implement `IntoResponse` for your type",
    note = "a `Result<T, E>` is a response when both are: turn your error into an `HttpError` \
            (`.map_err(|e| HttpError::bad_request(e.to_string()))`), or make it an exception \
            the App answers: `impl Exception for E {{}}` and `App::exception_handler`"
)]
pub trait IntoResponse {
    /// Turns `self` into the response sent to the client.
    fn into_response(self) -> Response;

    /// Describes this answer in the route's OpenAPI operation, usually with
    /// [`Operation::success`]: its media type and schema under the success status. Nothing by
    /// default (the document then says only "Successful Response").
    fn openapi(operation: &mut Operation<'_>)
    where
        Self: Sized,
    {
        let _ = operation;
    }
}

/// The description of a body of text: `media_type`, any string.
fn text(operation: &mut Operation<'_>, media_type: &str) {
    operation.success(Some((media_type, serde_json::json!({"type": "string"}))));
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

    fn openapi(operation: &mut Operation<'_>) {
        text(operation, "text/plain");
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(self, TEXT)
    }

    fn openapi(operation: &mut Operation<'_>) {
        text(operation, "text/plain");
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }

    fn openapi(operation: &mut Operation<'_>) {
        text(operation, "application/octet-stream");
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }

    fn openapi(operation: &mut Operation<'_>) {
        text(operation, "application/octet-stream");
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

    fn openapi(operation: &mut Operation<'_>) {
        text(operation, "text/html");
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        T::openapi(operation);
        E::openapi(operation);
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }

    /// `R`'s, under the success status: the status is chosen at run time (document it with
    /// [`RouteDocs::status_code`](crate::openapi::RouteDocs::status_code)).
    fn openapi(operation: &mut Operation<'_>) {
        R::openapi(operation);
    }
}

/// A response header a handler gave that HTTP cannot carry: a name that is not a token
/// (`"x note"`), or a value with a line break or another control character (`"a\nb"`).
///
/// Response builders do not panic on one: they keep it, and the response becomes a `500`
/// whose cause — this error — is logged (target `kairos::web`). A header value made from user
/// input should be checked or encoded (percent-encoding, say) before it is set.
///
/// The error names the header, never its value: a value may carry a secret or a client's
/// input, which does not belong in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    name: String,
    bad_name: bool,
    reason: String,
}

impl InvalidHeader {
    /// A header whose name is not valid.
    pub(crate) fn name(name: impl fmt::Debug, reason: impl fmt::Display) -> InvalidHeader {
        InvalidHeader { name: format!("{name:?}"), bad_name: true, reason: reason.to_string() }
    }

    /// A header whose value is not valid.
    pub(crate) fn value(name: &HeaderName, reason: impl fmt::Display) -> InvalidHeader {
        InvalidHeader {
            name: format!("{:?}", name.as_str()),
            bad_name: false,
            reason: reason.to_string(),
        }
    }

    /// Sets `name: value` in `headers` (replacing that name's values), or says why not.
    pub(crate) fn insert<K, V>(headers: &mut HeaderMap, name: K, value: V) -> Result<(), Self>
    where
        K: TryInto<HeaderName> + fmt::Debug + Clone,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        // The clone is of a name: a `&str` or a `HeaderName` (shared bytes), nearly always.
        let header = name.clone().try_into().map_err(|e| InvalidHeader::name(&name, e))?;
        let value = value.try_into().map_err(|e| InvalidHeader::value(&header, e))?;
        headers.insert(header, value);
        Ok(())
    }

    /// The response for a handler that gave this header: `500`, with the cause in the log.
    pub(crate) fn into_response(self) -> Response {
        tracing::error!(target: "kairos::web", "{self}; answered 500 Internal Server Error");
        crate::HttpError::internal().into_response()
    }
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bad_name {
            write!(
                f,
                "invalid response header name {}: {}; a header name is a token (letters, \
                 digits and !#$%&'*+-.^_`|~, no spaces): fix the name the handler sets",
                self.name, self.reason
            )
        } else {
            write!(
                f,
                "invalid value for response header {}: {}; a header value is visible ASCII, \
                 spaces and tabs, with no line breaks: check or encode (percent-encode, say) \
                 the value the handler sets",
                self.name, self.reason
            )
        }
    }
}

impl std::error::Error for InvalidHeader {}

/// Headers a response tuple can carry: a [`HeaderMap`], or an array of `(name, value)` pairs
/// whose parts convert to [`HeaderName`] and [`HeaderValue`] (`&str` and `String` do).
///
/// A pair that does not convert makes the response a `500`, logged with the header's name
/// and what to do (see [`InvalidHeader`]); the server answers the next request as usual.
pub trait IntoHeaders {
    /// Adds the headers to `headers` (replacing those of the same name).
    ///
    /// # Errors
    ///
    /// If a name or value is not valid in HTTP; the headers before it may have been added.
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader>;
}

impl IntoHeaders for HeaderMap {
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
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
        Ok(())
    }
}

impl<K, V, const N: usize> IntoHeaders for [(K, V); N]
where
    K: TryInto<HeaderName> + fmt::Debug + Clone,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
{
    fn into_headers(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        for (name, value) in self {
            InvalidHeader::insert(headers, name, value)?;
        }
        Ok(())
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (StatusCode, H, R) {
    fn into_response(self) -> Response {
        let mut response = self.2.into_response();
        *response.status_mut() = self.0;
        match self.1.into_headers(response.headers_mut()) {
            Ok(()) => response,
            Err(invalid) => invalid.into_response(),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        R::openapi(operation);
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (H, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        match self.0.into_headers(response.headers_mut()) {
            Ok(()) => response,
            Err(invalid) => invalid.into_response(),
        }
    }

    fn openapi(operation: &mut Operation<'_>) {
        R::openapi(operation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_header_is_reported_by_name_with_what_to_do_and_without_its_value() {
        let mut headers = HeaderMap::new();
        let bad_name = InvalidHeader::insert(&mut headers, "x note", "v").unwrap_err();
        let message = bad_name.to_string();
        assert!(message.starts_with("invalid response header name \"x note\": "), "{message}");
        assert!(message.contains("fix the name the handler sets"), "{message}");

        let bad_value = InvalidHeader::insert(&mut headers, "x-token", "secret\n").unwrap_err();
        let message = bad_value.to_string();
        assert!(
            message.starts_with("invalid value for response header \"x-token\": "),
            "{message}"
        );
        assert!(message.contains("percent-encode"), "{message}");
        assert!(!message.contains("secret"), "a value may be a secret: {message}");
        assert!(headers.is_empty());
    }
}
