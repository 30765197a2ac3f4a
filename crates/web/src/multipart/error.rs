//! [`MultipartError`]: why a multipart body was refused, and the answer each reason gets.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use http::StatusCode;
use kairos_http::{BodyError, BoxError};
use serde_json::Value;

use crate::{HttpError, ValidationItem};

/// Why reading a multipart body failed. Each converts into the [`HttpError`] a client is
/// answered with — so `?` in a handler answers it:
///
/// | error | status | detail |
/// |---|---|---|
/// | a limit of the route's [`MultipartConfig`](super::MultipartConfig) passed | 413 | names the limit: `The file in field "upload" is larger than this route accepts: max_file_size is 1048576 bytes` |
/// | [`BodyLimit`](Self::BodyLimit): the server's `max_body_size`, or a `RequestBodyLimitLayer` | 413 | the limit's own message |
/// | [`FieldNotAllowed`](Self::FieldNotAllowed) | 422 | `extra_forbidden` at `["body", name]` |
/// | [`NotUtf8`](Self::NotUtf8) | 422 | `string_unicode` at `["body", name]` |
/// | [`Malformed`](Self::Malformed): a bad boundary, a truncated body, a part without a name | 400 | FastAPI's `There was an error parsing the body`, with the reason |
/// | [`Read`](Self::Read): the connection failed (the client left) | 400 | what failed |
/// | [`Spool`](Self::Spool): a temporary file could not be written | 500 | logged, with the path |
///
/// ```
/// use kairos_web::multipart::MultipartError;
/// use kairos_web::HttpError;
///
/// let error = MultipartError::FileTooLarge { field: "upload".into(), limit: 1024 };
/// let answer = HttpError::from(error);
/// assert_eq!(answer.status(), 413);
/// assert_eq!(answer.detail(), "The file in field \"upload\" is larger than this route accepts: \
///                              max_file_size is 1024 bytes");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MultipartError {
    /// The body is over the route's `max_body_size`.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A file is over the route's `max_file_size`.
    FileTooLarge {
        /// The file's field name.
        field: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A text field is over the route's `max_field_size`.
    FieldTooLarge {
        /// The field's name.
        field: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body has more files than the route's `max_files`.
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// The body has more text fields than the route's `max_fields`.
    TooManyFields {
        /// The limit.
        limit: usize,
    },
    /// The body is over a limit outside the route: the server's `max_body_size`, or a
    /// middleware's (tower-http's `RequestBodyLimitLayer`, whose error is
    /// `http_body_util::LengthLimitError`).
    BodyLimit(BoxError),
    /// A field whose name is not in the route's `allowed_fields`.
    FieldNotAllowed {
        /// The field's name.
        field: String,
    },
    /// A text field that is not UTF-8.
    NotUtf8 {
        /// The field's name.
        field: String,
    },
    /// The body is not valid multipart: no boundary in its `Content-Type`, a truncated
    /// body, a part without a name, a bad part head.
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The body could not be read: the client went away, or sent a broken chunked encoding.
    Read(BoxError),
    /// A file could not be spooled to disk (the temporary directory is missing, full, or
    /// not writable).
    Spool(io::Error),
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MultipartError::*;
        match self {
            BodyTooLarge { limit } => write!(
                f,
                "The body is larger than this route accepts: max_body_size is {limit} bytes"
            ),
            FileTooLarge { field, limit } => write!(
                f,
                "The file in field {field:?} is larger than this route accepts: max_file_size is \
                 {limit} bytes"
            ),
            FieldTooLarge { field, limit } => write!(
                f,
                "The field {field:?} is larger than this route accepts: max_field_size is {limit} \
                 bytes"
            ),
            TooManyFiles { limit } => {
                write!(f, "Too many files: this route accepts at most {limit} (max_files)")
            }
            TooManyFields { limit } => {
                write!(f, "Too many fields: this route accepts at most {limit} (max_fields)")
            }
            BodyLimit(source) => write!(f, "{source}"),
            FieldNotAllowed { field } => {
                write!(f, "The field {field:?} is not one this route accepts (allowed_fields)")
            }
            NotUtf8 { field } => write!(f, "The field {field:?} is not valid UTF-8 text"),
            Malformed { reason } => write!(f, "There was an error parsing the body: {reason}"),
            Read(source) => write!(f, "reading the request body failed: {source}"),
            Spool(source) => write!(f, "spooling an upload to disk failed: {source}"),
        }
    }
}

impl StdError for MultipartError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            MultipartError::BodyLimit(source) | MultipartError::Read(source) => Some(&**source),
            MultipartError::Spool(source) => Some(source),
            _ => None,
        }
    }
}

impl From<MultipartError> for HttpError {
    fn from(error: MultipartError) -> HttpError {
        use MultipartError::*;
        let at = |field: &str| vec![Value::from("body"), Value::from(field)];
        match &error {
            BodyTooLarge { .. }
            | FileTooLarge { .. }
            | FieldTooLarge { .. }
            | TooManyFiles { .. }
            | TooManyFields { .. }
            | BodyLimit(_) => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string()),
            FieldNotAllowed { field } => HttpError::validation_errors(vec![ValidationItem::new(
                "extra_forbidden",
                at(field),
                "Extra inputs are not permitted",
            )]),
            NotUtf8 { field } => HttpError::validation_errors(vec![ValidationItem::new(
                "string_unicode",
                at(field),
                "Input should be a valid string, unable to parse raw data as a unicode string",
            )]),
            Malformed { .. } | Read(_) => HttpError::bad_request(error.to_string()),
            Spool(_) => {
                tracing::error!(target: "kairos::web", "{error}");
                HttpError::internal()
            }
        }
    }
}

impl MultipartError {
    /// The error of a body that could not be read: over a limit (the server's, or a
    /// middleware's anywhere in the source chain), or a failed read.
    pub(crate) fn from_body(error: BoxError) -> MultipartError {
        if is_over_a_limit(&*error) {
            MultipartError::BodyLimit(error)
        } else {
            MultipartError::Read(error)
        }
    }

    /// multer's error, as ours. The limits multer is given are only the whole body's (the
    /// others are counted by [`Field`](super::Field)), so its other size errors cannot
    /// happen; they are mapped anyway.
    pub(crate) fn from_multer(error: multer::Error) -> MultipartError {
        match error {
            multer::Error::StreamSizeExceeded { limit } => MultipartError::BodyTooLarge { limit },
            multer::Error::FieldSizeExceeded { limit, field_name } => {
                MultipartError::FieldTooLarge { field: field_name.unwrap_or_default(), limit }
            }
            multer::Error::UnknownField { field_name } => {
                MultipartError::FieldNotAllowed { field: field_name.unwrap_or_default() }
            }
            multer::Error::StreamReadFailed(source) => MultipartError::from_body(source),
            other => MultipartError::Malformed { reason: other.to_string() },
        }
    }
}

/// Whether `error`, or an error in its source chain, is a body over a limit: kairos-http's
/// [`BodyError::TooLarge`], or the `LengthLimitError` of `http_body_util::Limited` (what
/// tower-http's `RequestBodyLimitLayer` wraps a body in).
pub(crate) fn is_over_a_limit(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<http_body_util::LengthLimitError>()
            || matches!(error.downcast_ref::<BodyError>(), Some(BodyError::TooLarge { .. }))
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// A body error as the answer it gets: 413 past a limit, 400 otherwise.
pub(crate) fn body_error(error: impl Into<BoxError>) -> HttpError {
    HttpError::from(MultipartError::from_body(error.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "wrapped: {}", self.0)
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    /// A `RequestBodyLimitLayer` reads a body through `http_body_util::Limited`, whose error
    /// is `LengthLimitError`, maybe wrapped in others: wherever it is in the chain, the
    /// answer is 413.
    #[test]
    fn a_length_limit_anywhere_in_the_chain_is_413() {
        use http_body_util::BodyExt;
        let limited = http_body_util::Limited::new(
            http_body_util::Full::new(bytes::Bytes::from("twelve")),
            4,
        );
        let error = futures::executor::block_on(limited.collect()).err().unwrap();
        assert_eq!(body_error(Box::new(Wrapper(error)) as BoxError).status(), 413);
        let server: BoxError = Box::new(BodyError::TooLarge { limit: 5 });
        assert_eq!(body_error(server).status(), 413);
        let other: BoxError = "connection reset".into();
        assert_eq!(body_error(other).status(), 400);
    }
}
