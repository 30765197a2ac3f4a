//! [`PathError`]: an `io::Error` that says which operation failed on which path.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The error inside every `io::Error` this module returns: the operation, the path, and the
/// operating system's error.
///
/// `std::fs` errors do not name the file ("No such file or directory (os error 2)" — which
/// one?). kairos' do: `read /etc/nope: No such file or directory (os error 2)`. The outer
/// `io::Error` keeps the original [`kind()`](io::Error::kind), so code can still match on
/// `NotFound` or `PermissionDenied`; the original error, with its `raw_os_error()`, is the
/// [`source()`](Error::source).
///
/// ```
/// kairos_rt::run(async {
///     let err = kairos_rt::fs::read("/nope/missing.txt").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     assert!(err.to_string().starts_with("read /nope/missing.txt: "));
///
///     let detail = err.get_ref().unwrap().downcast_ref::<kairos_rt::fs::PathError>().unwrap();
///     assert_eq!(detail.path(), std::path::Path::new("/nope/missing.txt"));
///     assert_eq!(detail.os_error().raw_os_error(), Some(2)); // ENOENT
/// });
/// ```
#[derive(Debug)]
pub struct PathError {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl PathError {
    /// Wraps `source` as an `io::Error` of the same kind that names `op` and `path`.
    pub(crate) fn wrap(op: &'static str, path: &Path, source: io::Error) -> io::Error {
        let kind = source.kind();
        io::Error::new(kind, PathError { op, path: path.to_owned(), source })
    }

    /// The operation that failed: `open`, `read`, `write`, `append`, `metadata`, ...
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The path it failed on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operating system's error (with its `raw_os_error()`).
    pub fn os_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl Error for PathError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}
