//! Errors as responses: [`HttpError`] — FastAPI's `HTTPException` and `RequestValidationError`
//! in one type — always rendered as JSON `{"detail": ...}`.
//!
//! A handler returns `Result<T, HttpError>` and answers `Err(HttpError::not_found("Item not
//! found"))`; an extractor that rejects a request returns one too, so every error a client sees
//! has the same shape — and so does every answer the server makes itself (503, 413, a handler's
//! panic → 500), which [`App::serve`](crate::App::serve) has rendered here. Validation errors
//! (422) carry FastAPI's list of pydantic v2 items as their detail:
//! `{"type": ..., "loc": [...], "msg": ..., "input": ..., "ctx": {...}}` ([`ValidationItem`]).

use std::fmt;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::response::{IntoResponse, InvalidHeader};
use crate::Response;

/// An error answered as `status` with the JSON body `{"detail": detail}`.
///
/// ```
/// use kairos_web::HttpError;
/// use kairos_web::http::StatusCode;
///
/// // raise HTTPException(status_code=404, detail="Item not found")
/// let error = HttpError::not_found("Item not found");
/// assert_eq!(error.status(), StatusCode::NOT_FOUND);
/// assert_eq!(error.detail(), &serde_json::json!("Item not found"));
/// ```
#[derive(Debug, Clone)]
pub struct HttpError {
    // Boxed: extractors return `Result<_, HttpError>`, and the happy path should stay small.
    inner: Box<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    status: StatusCode,
    detail: Value,
    // A 422's items, kept as well as `detail` so the body is written with each item's keys in
    // pydantic's order (`type`, `loc`, `msg`, `input`, `ctx`); a `Value` sorts them.
    items: Option<Vec<ValidationItem>>,
    headers: HeaderMap,
    // The first header that could not be added: the response becomes a logged 500.
    invalid: Option<InvalidHeader>,
}

impl HttpError {
    /// An error with this status and detail (any JSON: a string, a list, an object).
    pub fn new(status: StatusCode, detail: impl Into<Value>) -> HttpError {
        HttpError {
            inner: Box::new(Inner {
                status,
                detail: detail.into(),
                items: None,
                headers: HeaderMap::new(),
                invalid: None,
            }),
        }
    }

    /// Adds a header to the response (FastAPI's `HTTPException(headers=...)`).
    ///
    /// A `name` or `value` that is not valid in HTTP makes the response a `500` instead,
    /// logged with the header's name and what to fix ([`InvalidHeader`]); it does not panic.
    pub fn with_header(mut self, name: &str, value: &str) -> HttpError {
        if self.inner.invalid.is_some() {
            return self;
        }
        let header = match HeaderName::try_from(name) {
            Ok(header) => header,
            Err(e) => {
                self.inner.invalid = Some(InvalidHeader::name(name, e));
                return self;
            }
        };
        match HeaderValue::try_from(value) {
            Ok(value) => {
                self.inner.headers.append(header, value);
            }
            Err(e) => self.inner.invalid = Some(InvalidHeader::value(&header, e)),
        }
        self
    }

    /// `400 Bad Request`.
    pub fn bad_request(detail: impl Into<Value>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// `401 Unauthorized`.
    pub fn unauthorized(detail: impl Into<Value>) -> HttpError {
        HttpError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// `403 Forbidden`.
    pub fn forbidden(detail: impl Into<Value>) -> HttpError {
        HttpError::new(StatusCode::FORBIDDEN, detail)
    }

    /// `404 Not Found`.
    pub fn not_found(detail: impl Into<Value>) -> HttpError {
        HttpError::new(StatusCode::NOT_FOUND, detail)
    }

    /// `500 Internal Server Error` with the detail `"Internal Server Error"` (the cause belongs
    /// in the log, not in the response).
    pub fn internal() -> HttpError {
        HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// `503 Service Unavailable` with `Retry-After: 1`.
    pub fn unavailable(detail: impl Into<Value>) -> HttpError {
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, detail).with_header("retry-after", "1")
    }

    /// `422 Unprocessable Content` with one validation error: FastAPI's
    /// `{"detail": [{"type": kind, "loc": loc, "msg": msg, "input": null}]}`. For an `input`
    /// or a `ctx`, build the [`ValidationItem`] and use [`HttpError::validation_errors`].
    pub fn validation(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> HttpError {
        HttpError::validation_errors(vec![ValidationItem::new(kind, loc, msg)])
    }

    /// `422 Unprocessable Content` with these validation errors, in this order.
    pub fn validation_errors(items: Vec<ValidationItem>) -> HttpError {
        let detail = serde_json::to_value(&items).unwrap_or(Value::Null);
        let mut error = HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        error.inner.items = Some(items);
        error
    }

    /// The items of a 422 made by [`HttpError::validation_errors`] — every extractor's
    /// rejection of a request — or `None` for any other error: what a
    /// [`status_handler`](crate::App::status_handler) for 422 writes its own body from.
    pub fn validation_items(&self) -> Option<&[ValidationItem]> {
        self.inner.items.as_deref()
    }

    /// One 422 with the items of both, `self`'s first; when either is not a validation
    /// error, the first error alone (a 500 from a missing state says more than a 422).
    pub(crate) fn merge(self, later: HttpError) -> HttpError {
        match (self.inner.items, later.inner.items) {
            (Some(mut first), Some(second)) => {
                first.extend(second);
                HttpError::validation_errors(first)
            }
            (items, _) => HttpError { inner: Box::new(Inner { items, ..*self.inner }) },
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The `detail` value.
    pub fn detail(&self) -> &Value {
        &self.inner.detail
    }
}

/// One item of a 422 response's `detail` list, in pydantic v2's shape (the fields in its
/// order; FastAPI drops pydantic's `url`):
///
/// ```json
/// {"type": "greater_than_equal", "loc": ["query", "ms"],
///  "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}}
/// ```
///
/// ```
/// use kairos_web::ValidationItem;
/// use serde_json::json;
///
/// let item = ValidationItem::new("string_too_short", vec!["body".into(), "name".into()],
///                                "String should have at least 3 characters")
///     .input("ab")
///     .ctx(json!({"min_length": 3}));
/// assert_eq!(serde_json::to_value(&item).unwrap(), json!({
///     "type": "string_too_short", "loc": ["body", "name"],
///     "msg": "String should have at least 3 characters", "input": "ab",
///     "ctx": {"min_length": 3}}));
/// ```
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValidationItem {
    /// What is wrong, for a program: pydantic's error type (`"int_parsing"`, `"missing"`,
    /// `"greater_than_equal"`, `"json_invalid"`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the bad value is: `["query", "ms"]`, `["path", "id"]`, `["body", "items", 0]`.
    pub loc: Vec<Value>,
    /// What is wrong, for a person: `"Input should be a valid integer, ..."`.
    pub msg: String,
    /// The value that failed, as the client sent it (`null` for a missing parameter; the
    /// enclosing object for a missing body field, as pydantic gives).
    pub input: Value,
    /// The constraint's parameters (`{"ge": 1}`, `{"min_length": 3}`), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl ValidationItem {
    /// An item of type `kind` at `loc`, with `input` null and no `ctx`.
    pub fn new(kind: &str, loc: Vec<Value>, msg: impl Into<String>) -> ValidationItem {
        ValidationItem {
            kind: kind.to_owned(),
            loc,
            msg: msg.into(),
            input: Value::Null,
            ctx: None,
        }
    }

    /// Sets the value that failed.
    pub fn input(mut self, input: impl Into<Value>) -> ValidationItem {
        self.input = input.into();
        self
    }

    /// Sets the constraint's parameters.
    pub fn ctx(mut self, ctx: Value) -> ValidationItem {
        self.ctx = Some(ctx);
        self
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.status, self.inner.detail)
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// The response: `{"detail": ...}` with the status and headers.
    pub(crate) fn render(&self) -> Response {
        let Inner { status, detail, items, headers, invalid } = &*self.inner;
        if let Some(invalid) = invalid {
            return invalid.clone().into_response();
        }
        #[derive(Serialize)]
        struct Body<'a> {
            detail: &'a [ValidationItem],
        }
        let body = match items {
            Some(items) => serde_json::to_string(&Body { detail: items })
                .unwrap_or_else(|_| serde_json::json!({ "detail": detail }).to_string()),
            None => serde_json::json!({ "detail": detail }).to_string(),
        };
        let mut response = Response::new(body.into());
        *response.status_mut() = *status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().extend(headers.clone());
        response
    }
}

impl IntoResponse for HttpError {
    /// The error as `{"detail": ...}`, unless the App has an exception handler for its status
    /// or for `HttpError` ([`App::status_handler`](crate::App::status_handler)): the response
    /// carries the error to it.
    fn into_response(self) -> Response {
        crate::exception::raised(self.render(), self)
    }
}

impl From<&kairos_http::ServerError> for HttpError {
    /// What the server answers by itself (503 at its concurrency limit, 413 for a declared body
    /// over its limit, 414 and 431 for a request head over its limits, 400 for a missing or
    /// bad `Host` or a framing it refuses, 500 when a handler panicked), in the same shape as
    /// every other error.
    fn from(error: &kairos_http::ServerError) -> HttpError {
        match error {
            kairos_http::ServerError::Overloaded { .. } => {
                HttpError::unavailable(error.to_string())
            }
            kairos_http::ServerError::ServicePanicked => HttpError::internal(),
            _ => HttpError::new(error.status(), error.to_string()),
        }
    }
}

impl From<kairos_http::BodyError> for HttpError {
    /// A body over the server's limit, or over a limit a middleware set, is `413`; a body
    /// that could not be read is `400`.
    fn from(error: kairos_http::BodyError) -> HttpError {
        if error.is_too_large() {
            HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
        } else {
            HttpError::bad_request(error.to_string())
        }
    }
}
