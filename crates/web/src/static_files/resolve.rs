//! From a checked path to an open file: every file-system call of a request, run as one job
//! on the loop's default executor (one round trip to a pool thread, not one per call).
//!
//! Each path is canonicalized — symlinks followed, `..` resolved by the kernel — and must
//! then be inside the canonicalized root; below the root, no name of the real path may be
//! hidden unless hidden files are allowed. So a symlink that leaves the root, or leads to a
//! `.env`, is refused as a missing file is, and so is anything that is not a regular file
//! (a FIFO would block a pool thread on `open`). The file opened is checked again, by where
//! the kernel says the open handle is: a directory on the path swapped for a symlink between
//! the check and the `open` cannot hand out a file from elsewhere.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::encoding::Encoding;
use super::path::Wanted;
use super::StaticFiles;

/// The file a request gets, open.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) file: File,
    /// Its real path, for the log.
    pub(super) path: PathBuf,
    /// The name its `Content-Type` comes from: the file asked for (`app.js`, not
    /// `app.js.br`; `index.html` for a directory).
    pub(super) name: String,
    pub(super) len: u64,
    pub(super) modified: Option<SystemTime>,
    /// The precompressed variant sent, if one is.
    pub(super) encoding: Option<Encoding>,
}

/// What a request resolved to.
#[derive(Debug)]
pub(super) enum Resolved {
    File(Found),
    /// A directory with an index, asked for without its trailing slash.
    Redirect,
    NotFound,
}

/// Resolves `wanted` under `files`' root, trying the precompressed variants in `encodings`
/// (best first) before the file itself. Blocking: runs on a pool thread.
pub(super) fn resolve(files: &StaticFiles, wanted: &Wanted, encodings: &[Encoding]) -> Resolved {
    let root = match files.root.canonicalize() {
        Ok(root) => root,
        Err(e) => {
            tracing::error!(
                target: "kairos::web",
                "static files: the root {} cannot be served: {e}; every request under it \
                 gets 404 until it exists",
                files.root.display()
            );
            return Resolved::NotFound;
        }
    };
    let mut asked = root.clone();
    asked.extend(&wanted.segments);
    let Some((real, metadata)) = inside(&root, &asked, files.hidden) else {
        return Resolved::NotFound;
    };
    if metadata.is_dir() {
        if !files.index {
            return Resolved::NotFound;
        }
        let index = asked.join("index.html");
        let Some((real, metadata)) = inside(&root, &index, files.hidden) else {
            return Resolved::NotFound;
        };
        if !metadata.is_file() {
            return Resolved::NotFound;
        }
        if !wanted.trailing_slash {
            return Resolved::Redirect;
        }
        return found(&root, files.hidden, &index, &real, "index.html".to_owned(), encodings);
    }
    if wanted.trailing_slash || !metadata.is_file() {
        return Resolved::NotFound;
    }
    let name = wanted.segments.last().cloned().unwrap_or_default();
    found(&root, files.hidden, &asked, &real, name, encodings)
}

/// The variant of `asked` that the client prefers and exists, else the file at `real`.
fn found(
    root: &Path,
    hidden: bool,
    asked: &Path,
    real: &Path,
    name: String,
    encodings: &[Encoding],
) -> Resolved {
    for &encoding in encodings {
        let mut variant = asked.as_os_str().to_owned();
        variant.push(encoding.extension());
        let Some((variant, metadata)) = inside(root, Path::new(&variant), hidden) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        if let Some(file) = open(root, hidden, &variant) {
            return file_found(file, variant, name, Some(encoding));
        }
    }
    match open(root, hidden, real) {
        Some(file) => file_found(file, real.to_owned(), name, None),
        None => Resolved::NotFound,
    }
}

fn file_found(
    (file, metadata): (File, Metadata),
    path: PathBuf,
    name: String,
    encoding: Option<Encoding>,
) -> Resolved {
    Resolved::File(Found {
        file,
        path,
        name,
        len: metadata.len(),
        modified: metadata.modified().ok(),
        encoding,
    })
}

/// `path`'s real path and metadata, if it exists inside `root` (canonical) and no name
/// below the root is hidden (unless `hidden`).
fn inside(root: &Path, path: &Path, hidden: bool) -> Option<(PathBuf, Metadata)> {
    let real = quiet(path, path.canonicalize())?;
    if !servable(root, &real, hidden) {
        return None;
    }
    let metadata = quiet(&real, std::fs::metadata(&real))?;
    Some((real, metadata))
}

/// Whether a real path may be served: inside `root` (canonical), and no name below the
/// root hidden (unless `hidden`).
fn servable(root: &Path, real: &Path, hidden: bool) -> bool {
    real.strip_prefix(root).is_ok_and(|below| hidden || !below.components().any(is_hidden))
}

fn is_hidden(component: Component<'_>) -> bool {
    matches!(component, Component::Normal(name) if name.as_encoded_bytes().starts_with(b"."))
}

/// Opens a regular file that [`inside`] let through, checking again on the open handle —
/// not the path, which may have changed since — that it is a regular file and servable
/// where it really is.
fn open(root: &Path, hidden: bool, path: &Path) -> Option<(File, Metadata)> {
    let file = quiet(path, File::open(path))?;
    let metadata = quiet(path, file.metadata())?;
    if !metadata.is_file() {
        return None;
    }
    match opened_path(&file) {
        Some(real) if !servable(root, &real, hidden) => {
            tracing::warn!(
                target: "kairos::web",
                "static files: {} turned out to be {} once open (the path changed after it \
                 was checked): not served",
                path.display(),
                real.display()
            );
            None
        }
        // Without /proc, the check of the canonical path stands alone.
        _ => Some((file, metadata)),
    }
}

/// Where an open file is, as the kernel names it (`/proc/self/fd/N`); `None` where /proc is
/// not mounted.
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// The value, or `None` for a path that cannot be served: missing, not a directory where
/// one was needed, not readable... — a 404, which says nothing of why. The reason goes to
/// the debug log.
fn quiet<T>(path: &Path, result: io::Result<T>) -> Option<T> {
    result
        .map_err(|e| {
            tracing::debug!(
                target: "kairos::web",
                "static files: {} cannot be served: {e}",
                path.display()
            );
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_swapped_for_a_symlink_after_the_check_is_caught_at_the_open() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("public");
        let outside = scratch.path().join("secrets");
        for dir in [root.join("css"), outside.clone(), root.join(".git")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(root.join("css/site.css"), "body {}").unwrap();
        std::fs::write(outside.join("site.css"), "the server's secret").unwrap();
        std::fs::write(root.join(".git/config"), "[core]").unwrap();
        let root = root.canonicalize().unwrap();

        // The check passes, then `css` becomes a symlink to the secrets before the open.
        let (real, _) = inside(&root, &root.join("css/site.css"), false).expect("inside");
        assert!(open(&root, false, &real).is_some(), "unchanged, it is served");
        std::fs::rename(root.join("css"), scratch.path().join("old-css")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("css")).unwrap();
        assert!(open(&root, false, &real).is_none(), "the file is outside the root now");

        // Hidden names are judged by where the file is too.
        let config = root.join(".git/config");
        assert!(open(&root, false, &config).is_none());
        assert!(open(&root, true, &config).is_some());
    }
}
