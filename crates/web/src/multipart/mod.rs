//! Multipart bodies and uploads: FastAPI's `UploadFile` and `Form()` over
//! `multipart/form-data`, streamed.
//!
//! # The model
//!
//! **Streamed.** A multipart body is parsed as it arrives (by `multer`), one part after the
//! other, each part's data chunk by chunk as the network delivers it: nothing waits for the
//! whole body, and nothing holds it. [`Multipart`] hands the parts to the handler as they come
//! ([`Multipart::next_field`], [`Field::chunk`]); [`FormData`] reads them all before the
//! handler runs, as FastAPI does for `UploadFile` parameters.
//!
//! **Spooled.** A file part ([`UploadFile`]) is kept in memory up to the route's
//! [`spool_threshold`](MultipartConfig::spool_threshold) (1 MiB, as Starlette's
//! `SpooledTemporaryFile`); past it, what was held and the rest of the part go to a temporary
//! file, written in batches on the loop's default executor (never on the loop), so a 100 MB
//! upload costs about the threshold in memory, not 100 MB.
//!
//! **Where files go.** In the [`temp_dir`](MultipartConfig::temp_dir) of the route's config
//! (the system's temporary directory by default), each a uniquely named `kairos-upload-*`
//! file readable only by its owner.
//!
//! **When they are deleted.** When their [`UploadFile`] is dropped: at the end of the
//! handler that received it, or as soon as the request fails — a limit passed (413), a
//! malformed body (400), a client that went away half-way, a handler that panicked — unless
//! [`UploadFile::persist`] moved the file where it stays. Nothing of a refused upload is left
//! on disk. (A process killed with `SIGKILL` runs no destructor: its spooled files stay in
//! `temp_dir`, named `kairos-upload-*`, as Python's do.)
//!
//! **Limits.** Each is a [`MultipartConfig`] setting — the body, each file, each text field,
//! how many of each, which names — answered with 413 `{"detail": ...}` naming the limit
//! ([`MultipartError`]). The App's config is its [`MultipartConfig`] state
//! ([`App::with_state`](crate::App::with_state)); a route narrows it with a
//! [`MultipartLimits`] type: `FormData<Avatar>`, `Multipart<Avatar>`. The server's own
//! `max_body_size` (16 MiB by default) comes first, for every route, and so does a
//! `RequestBodyLimitLayer`: both are 413 too.
//!
//! **Not multipart.** A body of another `Content-Type` (JSON, none) is read as an empty
//! form — as Starlette's `request.form()` reads it — so the fields a handler asks for are
//! `missing` (422), which is what FastAPI answers. A `multipart/form-data` without a boundary
//! is 400.
//!
//! ```
//! use kairos_web::multipart::Multipart;
//! use kairos_web::{App, HttpError, TestClient};
//!
//! // Each part as it arrives; a file's bytes counted chunk by chunk, never held whole.
//! async fn inspect(mut multipart: Multipart) -> Result<String, HttpError> {
//!     let mut seen = Vec::new();
//!     while let Some(mut field) = multipart.next_field().await? {
//!         let name = field.name().to_owned();
//!         if field.is_file() {
//!             let mut size = 0;
//!             while let Some(chunk) = field.chunk().await? {
//!                 size += chunk.len();
//!             }
//!             seen.push(format!("{name}: {size} bytes"));
//!         } else {
//!             seen.push(format!("{name} = {}", field.text().await?));
//!         }
//!     }
//!     Ok(seen.join(", "))
//! }
//!
//! let client = TestClient::new(App::new().post("/inspect", inspect));
//! let body = "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday\r\n\
//!             --b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\
//!             Content-Type: image/jpeg\r\n\r\n0123456789\r\n--b--\r\n";
//! let response = client.post("/inspect")
//!     .header("content-type", "multipart/form-data; boundary=b")
//!     .body(body)
//!     .send();
//! assert_eq!(response.text(), "title = Holiday, photo: 10 bytes");
//! ```
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this overview; [`Multipart`] and its [`Field`]s |
//! | `form_data.rs` | [`FormData`]: every part read before the handler, files spooled |
//! | `upload.rs` | [`UploadFile`]: spooling, reading, `persist`, removal on drop |
//! | `config.rs` | [`MultipartConfig`], [`MultipartLimits`], [`AppLimits`] |
//! | `error.rs` | [`MultipartError`] and the answer of each |

mod config;
mod error;
mod form_data;
mod upload;

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap};
use kairos_http::RequestBody;

pub(crate) use config::config_for;
pub use config::{
    AppLimits, MultipartConfig, MultipartLimits, DEFAULT_MAX_FIELD_SIZE, DEFAULT_MAX_PARTS,
    DEFAULT_SPOOL_THRESHOLD,
};
pub(crate) use error::body_error;
pub use error::MultipartError;
pub use form_data::FormData;
pub use upload::UploadFile;

use crate::extract::FromRequest;
use crate::openapi::Operation;
use crate::{HttpError, Request};

/// A `multipart/form-data` body, streamed: as the last argument of a handler, its parts one
/// by one ([`next_field`](Self::next_field)), each read chunk by chunk as it arrives
/// ([`Field::chunk`]) — or spooled into an [`UploadFile`] ([`Field::spool`]).
///
/// `L` is the route's limits ([`MultipartLimits`]; by default the App's
/// [`MultipartConfig`]). Each limit is checked as the body is read, so a part over one is
/// refused at the chunk that passes it, with a [`MultipartError`] that `?` answers (413).
/// A body that is not multipart has no fields (see the [module](self) docs).
///
/// ```
/// use kairos_web::multipart::Multipart;
/// use kairos_web::{App, HttpError};
///
/// // Stores each file under its field's name, as it streams in.
/// async fn store(mut multipart: Multipart) -> Result<String, HttpError> {
///     let mut stored = 0;
///     while let Some(field) = multipart.next_field().await? {
///         if field.is_file() {
///             let name = format!("/srv/uploads/{}", field.name().replace(['/', '.'], "_"));
///             let file = field.spool().await?;
///             file.persist(name).await.map_err(|_| HttpError::internal())?;
///             stored += 1;
///         }
///     }
///     Ok(format!("{stored} files"))
/// }
/// # drop(App::new().post("/store", store));
/// ```
pub struct Multipart<L = AppLimits> {
    /// `None` for a body that is not multipart: it has no fields.
    inner: Option<multer::Multipart<'static>>,
    config: MultipartConfig,
    fields: usize,
    files: usize,
    _limits: PhantomData<fn() -> L>,
}

impl<L> Multipart<L> {
    /// Reads `body` by `headers`' `Content-Type` with `config`. A declared `Content-Length`
    /// over the body's limit is refused here, before anything is read.
    pub(crate) fn new(
        headers: &HeaderMap,
        body: RequestBody,
        config: MultipartConfig,
    ) -> Result<Multipart<L>, MultipartError> {
        let mut multipart =
            Multipart { inner: None, config, fields: 0, files: 0, _limits: PhantomData };
        let Some(boundary) = boundary(headers)? else {
            return Ok(multipart);
        };
        check_declared_length(headers, multipart.config.max_body_size)?;
        // multer counts the whole body; the other limits are counted here, per field.
        let whole = multipart.config.max_body_size.unwrap_or(u64::MAX);
        let constraints =
            multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(whole));
        let stream = http_body_util::BodyDataStream::new(body);
        multipart.inner = Some(multer::Multipart::with_constraints(stream, boundary, constraints));
        Ok(multipart)
    }

    /// The next part of the body, or `None` after the last. The previous [`Field`] must be
    /// dropped first (the borrow checker sees to it); what it left unread is skipped.
    ///
    /// Refused here, before its data is read: a part without a name, a name not in the
    /// route's `allowed_fields`, a file or a field past `max_files` or `max_fields`.
    pub async fn next_field(&mut self) -> Result<Option<Field<'_>>, MultipartError> {
        let Some(inner) = &mut self.inner else {
            return Ok(None);
        };
        let Some(field) = inner.next_field().await.map_err(MultipartError::from_multer)? else {
            return Ok(None);
        };
        let Some(name) = field.name() else {
            return Err(MultipartError::Malformed {
                reason: "a part has no name in its Content-Disposition".into(),
            });
        };
        if let Some(allowed) = &self.config.allowed_fields
            && !allowed.iter().any(|allowed| allowed == name)
        {
            return Err(MultipartError::FieldNotAllowed { field: name.to_owned() });
        }
        let is_file = field.file_name().is_some();
        let limit = if is_file {
            self.files += 1;
            if self.files > self.config.max_files {
                return Err(MultipartError::TooManyFiles { limit: self.config.max_files });
            }
            self.config.max_file_size
        } else {
            self.fields += 1;
            if self.fields > self.config.max_fields {
                return Err(MultipartError::TooManyFields { limit: self.config.max_fields });
            }
            Some(self.config.max_field_size)
        };
        Ok(Some(Field { inner: field, config: &self.config, is_file, limit, read: 0 }))
    }
}

impl<L> std::fmt::Debug for Multipart<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("is_multipart", &self.inner.is_some())
            .field("config", &self.config)
            .finish()
    }
}

/// Refuses a body whose declared `Content-Length` is over `limit`, before it is read.
pub(crate) fn check_declared_length(
    headers: &HeaderMap,
    limit: Option<u64>,
) -> Result<(), MultipartError> {
    let Some(limit) = limit else { return Ok(()) };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => Err(MultipartError::BodyTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The boundary of a `multipart/form-data` body; `None` for a body of another type (read as
/// an empty form); 400 for multipart without a boundary.
fn boundary(headers: &HeaderMap) -> Result<Option<String>, MultipartError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    match multer::parse_boundary(content_type) {
        Ok(boundary) => Ok(Some(boundary)),
        Err(multer::Error::NoBoundary) => {
            Err(MultipartError::Malformed { reason: "Missing boundary in multipart.".into() })
        }
        Err(_) => Ok(None),
    }
}

impl<L: MultipartLimits> FromRequest for Multipart<L> {
    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let (parts, body) = request.into_parts();
        let config = config_for::<L>(&parts);
        Ok(Multipart::new(&parts.headers, body, config)?)
    }

    fn openapi(operation: &mut Operation<'_>) {
        multipart_openapi(operation, serde_json::json!({"type": "object"}));
    }
}

/// A multipart body in the OpenAPI document, and the answers its limits give.
pub(crate) fn multipart_openapi(operation: &mut Operation<'_>, schema: serde_json::Value) {
    operation.validates();
    operation.body("multipart/form-data", schema);
    operation.error_response(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        "The body, a file or a field is over a limit of the route",
    );
}

/// One part of a multipart body: a text field, or a file (a part with a `filename`).
///
/// Read it [`chunk`](Self::chunk) by chunk, whole ([`bytes`](Self::bytes),
/// [`text`](Self::text)), or into an [`UploadFile`] ([`spool`](Self::spool)). Every way counts
/// its bytes against the route's `max_file_size` or `max_field_size`.
pub struct Field<'a> {
    inner: multer::Field<'static>,
    config: &'a MultipartConfig,
    is_file: bool,
    /// The most bytes it may have: `max_file_size` or `max_field_size`.
    limit: Option<u64>,
    read: u64,
}

impl Field<'_> {
    /// The field's name (`name=` of its `Content-Disposition`).
    pub fn name(&self) -> &str {
        // `next_field` refuses a part without a name.
        self.inner.name().unwrap_or_default()
    }

    /// The file name the client gave, for a file (`filename=`); `None` for a text field. It
    /// is the client's word: never use it as a path as it is.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The part's `Content-Type`, if it has one (`image/png`).
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|mime| mime.as_ref())
    }

    /// The part's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// Whether the part is a file: it has a `filename`, as Starlette decides.
    pub fn is_file(&self) -> bool {
        self.is_file
    }

    /// The next chunk of the part's data as the network delivered it, or `None` at its end.
    /// Fails with [`MultipartError::FileTooLarge`] or [`MultipartError::FieldTooLarge`] at the
    /// chunk that passes the route's limit.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        let chunk = self.inner.chunk().await.map_err(MultipartError::from_multer)?;
        if let Some(chunk) = &chunk {
            self.read += chunk.len() as u64;
            if let Some(limit) = self.limit.filter(|limit| self.read > *limit) {
                let field = self.name().to_owned();
                return Err(if self.is_file {
                    MultipartError::FileTooLarge { field, limit }
                } else {
                    MultipartError::FieldTooLarge { field, limit }
                });
            }
        }
        Ok(chunk)
    }

    /// The part's data, whole, in memory (within the route's limit for it).
    pub async fn bytes(mut self) -> Result<Bytes, MultipartError> {
        // A part that arrives in one chunk (most text fields) is handed back without a copy.
        let mut first: Option<Bytes> = None;
        let mut data = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            match first.take() {
                None if data.is_empty() => first = Some(chunk),
                Some(earlier) => {
                    data.extend_from_slice(&earlier);
                    data.extend_from_slice(&chunk);
                }
                None => data.extend_from_slice(&chunk),
            }
        }
        Ok(first.unwrap_or_else(|| data.freeze()))
    }

    /// The part's data as UTF-8 text (422 `string_unicode` at `["body", name]` otherwise).
    pub async fn text(self) -> Result<String, MultipartError> {
        let name = self.name().to_owned();
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into()).map_err(|_| MultipartError::NotUtf8 { field: name })
    }

    /// The part as an [`UploadFile`]: in memory up to the route's `spool_threshold`, then
    /// streamed to a temporary file in its `temp_dir`, removed when the `UploadFile` drops.
    pub async fn spool(self) -> Result<UploadFile, MultipartError> {
        upload::spool(self).await
    }
}

impl std::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .field("content_type", &self.content_type())
            .finish()
    }
}
