//! [`MultipartConfig`]: how much a route takes and where its files go; [`MultipartLimits`]:
//! one route's own.

use std::any::TypeId;
use std::path::PathBuf;
use std::sync::Arc;

use http::request::Parts;

use crate::extract::RouteContext;

/// The default [`spool_threshold`](MultipartConfig::spool_threshold): 1 MiB, Starlette's
/// `SpooledTemporaryFile(max_size=1024 * 1024)`.
pub const DEFAULT_SPOOL_THRESHOLD: usize = 1024 * 1024;

/// The default [`max_field_size`](MultipartConfig::max_field_size) of a text field: 1 MiB,
/// Starlette's `max_part_size`.
pub const DEFAULT_MAX_FIELD_SIZE: u64 = 1024 * 1024;

/// The default [`max_fields`](MultipartConfig::max_fields) and
/// [`max_files`](MultipartConfig::max_files): 1000 each, Starlette's.
pub const DEFAULT_MAX_PARTS: usize = 1000;

/// The limits of a multipart body and where its files are spooled: what [`Multipart`],
/// [`FormData`] and [`Form`] read a request with.
///
/// An App's uploads take the `MultipartConfig` given to
/// [`App::with_state`](crate::App::with_state) — or this default when it has none; a route
/// narrows it with a [`MultipartLimits`] type (`FormData<Avatar>`).
///
/// | setting | default | past it |
/// |---|---|---|
/// | [`max_body_size`](Self::max_body_size) | none: the server's `max_body_size` (16 MiB) | 413 |
/// | [`max_file_size`](Self::max_file_size) (each file) | none | 413 |
/// | [`max_field_size`](Self::max_field_size) (each text field) | 1 MiB (Starlette's `max_part_size`) | 413 |
/// | [`max_files`](Self::max_files), [`max_fields`](Self::max_fields) | 1000 each (Starlette's) | 413 |
/// | [`allowed_fields`](Self::allowed_fields) | any name | 422 `extra_forbidden` |
/// | [`spool_threshold`](Self::spool_threshold) | 1 MiB (Starlette's) | the file moves to disk |
/// | [`temp_dir`](Self::temp_dir) | `std::env::temp_dir()` (`TMPDIR`, else `/tmp`) | — |
///
/// The server's own `max_body_size` ([`ServerConfig`](kairos_http::ServerConfig)) is checked
/// first, for every route: to take uploads larger than 16 MiB, raise it, and keep the
/// routes that take no uploads small with their own limits.
///
/// ```
/// use kairos_web::{App, FormData, MultipartConfig};
///
/// async fn upload(form: FormData) -> String {
///     form.files().iter().map(|f| f.size()).sum::<u64>().to_string()
/// }
///
/// let app = App::new()
///     .with_state(
///         MultipartConfig::new()
///             .max_file_size(50 * 1024 * 1024)
///             .spool_threshold(256 * 1024)
///             .temp_dir(std::env::temp_dir().join("uploads")),
///     )
///     .post("/upload", upload);
/// # drop(app);
/// ```
///
/// [`Multipart`]: super::Multipart
/// [`FormData`]: super::FormData
/// [`Form`]: crate::Form
#[derive(Debug, Clone)]
pub struct MultipartConfig {
    pub(crate) max_body_size: Option<u64>,
    pub(crate) max_file_size: Option<u64>,
    pub(crate) max_field_size: u64,
    pub(crate) max_fields: usize,
    pub(crate) max_files: usize,
    pub(crate) allowed_fields: Option<Arc<[String]>>,
    pub(crate) spool_threshold: usize,
    pub(crate) temp_dir: Option<PathBuf>,
}

impl Default for MultipartConfig {
    fn default() -> MultipartConfig {
        MultipartConfig {
            max_body_size: None,
            max_file_size: None,
            max_field_size: DEFAULT_MAX_FIELD_SIZE,
            max_fields: DEFAULT_MAX_PARTS,
            max_files: DEFAULT_MAX_PARTS,
            allowed_fields: None,
            spool_threshold: DEFAULT_SPOOL_THRESHOLD,
            temp_dir: None,
        }
    }
}

impl MultipartConfig {
    /// The defaults (see the table above).
    pub fn new() -> MultipartConfig {
        MultipartConfig::default()
    }

    /// The most bytes the whole body may have, boundaries and part headers included. A
    /// declared `Content-Length` over it is refused before anything is read; a body that
    /// grows past it is refused when it does.
    pub fn max_body_size(mut self, bytes: u64) -> MultipartConfig {
        self.max_body_size = Some(bytes);
        self
    }

    /// The most bytes one file may have (a part with a `filename`).
    pub fn max_file_size(mut self, bytes: u64) -> MultipartConfig {
        self.max_file_size = Some(bytes);
        self
    }

    /// The most bytes one text field may have (a part without a `filename`).
    pub fn max_field_size(mut self, bytes: u64) -> MultipartConfig {
        self.max_field_size = bytes;
        self
    }

    /// The most text fields a body may have.
    pub fn max_fields(mut self, count: usize) -> MultipartConfig {
        self.max_fields = count;
        self
    }

    /// The most files a body may have.
    pub fn max_files(mut self, count: usize) -> MultipartConfig {
        self.max_files = count;
        self
    }

    /// The only field names a body may have; a part of another name is refused before its
    /// data is read (422, `extra_forbidden`, as pydantic's `extra="forbid"`).
    pub fn allowed_fields<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> MultipartConfig {
        self.allowed_fields = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// How many bytes of a file are kept in memory: a file that grows past it is moved to a
    /// temporary file in [`temp_dir`](Self::temp_dir), and the rest of it streamed there.
    /// `0` puts every non-empty file on disk.
    pub fn spool_threshold(mut self, bytes: usize) -> MultipartConfig {
        self.spool_threshold = bytes;
        self
    }

    /// Where spooled files are written (it must exist). Each is a uniquely named
    /// `kairos-upload-*` file there, removed when its [`UploadFile`](super::UploadFile) is
    /// dropped unless it was persisted.
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> MultipartConfig {
        self.temp_dir = Some(dir.into());
        self
    }

    /// The directory spooled files go to.
    pub(crate) fn spool_dir(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// The App's config (its state), or the default for an App without one.
    fn of_app(parts: &Parts) -> MultipartConfig {
        parts
            .extensions
            .get::<RouteContext>()
            .and_then(|context| context.states.0.get(&TypeId::of::<MultipartConfig>()))
            .and_then(|state| state.downcast_ref::<MultipartConfig>())
            .cloned()
            .unwrap_or_default()
    }
}

/// The limits of one route, as a type: `Multipart<L>` and `FormData<L>` read their request
/// with `L::limits` of the App's [`MultipartConfig`] — so a route says only what differs
/// (the App's `temp_dir`, say, is kept).
///
/// ```
/// use kairos_web::multipart::MultipartLimits;
/// use kairos_web::{App, FormData, HttpError, MultipartConfig};
///
/// /// An avatar: one image of at most 2 MiB, and its alt text.
/// struct Avatar;
///
/// impl MultipartLimits for Avatar {
///     fn limits(app: MultipartConfig) -> MultipartConfig {
///         app.max_file_size(2 * 1024 * 1024).max_files(1).allowed_fields(["image", "alt"])
///     }
/// }
///
/// async fn set_avatar(mut form: FormData<Avatar>) -> Result<String, HttpError> {
///     let image = form.take_file("image")?;
///     Ok(format!("{} bytes", image.size()))
/// }
///
/// let app = App::new().post("/me/avatar", set_avatar);
/// # drop(app);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route's multipart limits",
    label = "not `MultipartLimits`",
    note = "implement `kairos_web::multipart::MultipartLimits` for `{Self}`: \
            `fn limits(app: MultipartConfig) -> MultipartConfig`, or leave the parameter out \
            to use the App's `MultipartConfig`"
)]
pub trait MultipartLimits: 'static {
    /// This route's config, from the App's (its [`MultipartConfig`] state, or the default).
    fn limits(app: MultipartConfig) -> MultipartConfig;
}

/// The App's [`MultipartConfig`] as it is: the default limits of `Multipart` and `FormData`.
#[derive(Debug)]
pub enum AppLimits {}

impl MultipartLimits for AppLimits {
    fn limits(app: MultipartConfig) -> MultipartConfig {
        app
    }
}

/// The config a request to a route with limits `L` is read with.
pub(crate) fn config_for<L: MultipartLimits>(parts: &Parts) -> MultipartConfig {
    L::limits(MultipartConfig::of_app(parts))
}
