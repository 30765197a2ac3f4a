//! Async files: `aiofiles` for kairos, on the loop's default executor.
//!
//! # The model
//!
//! `open("file").read()` and `os.listdir` block the thread that calls them (the chapter's
//! section 5.1), and Linux has no readiness notification for regular files: `epoll` calls a
//! file always ready, then the read blocks on the disk anyway. So, like `aiofiles` and
//! `asyncio.to_thread`, every operation here runs the `std::fs` call on the loop's default
//! executor ([`to_thread`](crate::to_thread)) and hands the result back as a future. The
//! awaiting task waits; the loop goes on serving the others.
//!
//! ```
//! use kairos_rt::fs;
//! use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
//!
//! kairos_rt::run(async {
//!     let dir = std::env::temp_dir().join(format!("kairos-fs-doc-{}", std::process::id()));
//!     fs::create_dir_all(&dir).await?;
//!     let path = dir.join("notes.txt");
//!
//!     fs::write(&path, "first line\n").await?; // async with aiofiles.open(p, "w") as f: ...
//!     fs::append(&path, "second line\n").await?; // aiofiles.open(p, "a")
//!     assert_eq!(fs::read_to_string(&path).await?, "first line\nsecond line\n");
//!
//!     let mut file = fs::File::open(&path).await?; // a handle with async read/write
//!     let mut first = [0u8; 5];
//!     file.read_exact(&mut first).await?;
//!     assert_eq!(&first, b"first");
//!
//!     let names: Vec<_> = fs::read_dir(&dir).await?.into_iter().map(|e| e.file_name().to_owned()).collect();
//!     assert_eq!(names, ["notes.txt"]); // os.listdir, off the loop
//!     assert_eq!(fs::metadata(&path).await?.len(), 23);
//!
//!     fs::remove_dir_all(&dir).await
//! })
//! .unwrap();
//! ```
//!
//! # Errors name their path
//!
//! Every error is an [`io::Error`] of the original [`kind`](io::Error::kind) (`NotFound`,
//! `PermissionDenied`, ...) whose message names the operation and the path —
//! `open /etc/nope: No such file or directory (os error 2)` — with the details in a
//! [`PathError`] inside. An operation cut off by the loop shutting down fails with an error of
//! kind `Other`.
//!
//! # Costs
//!
//! Each call is one round trip to a pool thread (a few microseconds) plus the system call:
//! read a file whole with [`read`] rather than in many small reads, or wrap a [`File`] in a
//! `futures::io::BufReader`. A [`File`] moves at most 1 MiB per thread round trip.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this overview, and the one-call functions: [`read`], [`write()`], [`append`], [`metadata`], ... |
//! | `dir.rs` | [`read_dir`] and [`DirEntry`] (`os.listdir`, `os.scandir`) |
//! | `file.rs` | [`File`] and [`OpenOptions`]: a handle with async read, write and seek |
//! | `error.rs` | [`PathError`] |
//!
//! # Panics
//!
//! Every function needs a running loop (its default executor), like [`to_thread`](crate::to_thread).

mod dir;
mod error;
mod file;

use std::fs::Metadata;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use dir::{read_dir, DirEntry};
pub use error::PathError;
pub use file::{File, OpenOptions};
/// `seek` and `stream_position` for a [`File`] (the other extension traits are in
/// [`crate::io`]).
pub use futures_util::io::AsyncSeekExt;

/// Runs `f(path)` on the default executor; its error (and a failure of the executor itself)
/// comes back naming `op` and `path`.
pub(crate) async fn blocking<T, F>(op: &'static str, path: PathBuf, f: F) -> io::Result<T>
where
    F: FnOnce(&Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let for_thread = path.clone();
    match crate::to_thread(move || f(&for_thread).map_err(|e| PathError::wrap(op, &for_thread, e)))
        .await
    {
        Ok(result) => result,
        Err(job) => Err(PathError::wrap(op, &path, io::Error::other(job))),
    }
}

/// Reads a whole file into bytes (`await f.read()` in `aiofiles`, `Path.read_bytes`).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    blocking("read", path.as_ref().to_owned(), |p| std::fs::read(p)).await
}

/// Reads a whole UTF-8 file into a string (`Path.read_text`). Invalid UTF-8 is an error of
/// kind `InvalidData`.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    blocking("read", path.as_ref().to_owned(), |p| std::fs::read_to_string(p)).await
}

/// Creates or truncates a file and writes `contents` (`open(p, "w").write(...)`). The bytes
/// are copied once, to travel to the pool thread.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    blocking("write", path.as_ref().to_owned(), move |p| std::fs::write(p, contents)).await
}

/// Appends `contents` to a file, creating it if needed (`open(p, "a").write(...)`). One
/// `write` of the whole buffer to a file opened with `O_APPEND`, so appends from several
/// processes do not interleave within a call (on a local file system).
pub async fn append(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    blocking("append", path.as_ref().to_owned(), move |p| {
        std::fs::OpenOptions::new().append(true).create(true).open(p)?.write_all(&contents)
    })
    .await
}

/// The file's metadata, following symlinks (`os.stat`): size, type, permissions, times.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    blocking("metadata", path.as_ref().to_owned(), |p| std::fs::metadata(p)).await
}

/// Whether the path exists (`os.path.exists`), with errors other than "not found" reported
/// rather than read as "no".
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    blocking("metadata", path.as_ref().to_owned(), |p| p.try_exists()).await
}

/// Creates a directory and its missing parents (`os.makedirs(p, exist_ok=True)`).
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    blocking("create_dir_all", path.as_ref().to_owned(), |p| std::fs::create_dir_all(p)).await
}

/// Removes a file (`os.remove`).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    blocking("remove_file", path.as_ref().to_owned(), |p| std::fs::remove_file(p)).await
}

/// Removes a directory and everything in it (`shutil.rmtree`).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    blocking("remove_dir_all", path.as_ref().to_owned(), |p| std::fs::remove_dir_all(p)).await
}

/// Renames a file or directory, replacing `to` if it is a file (`os.replace`). The error
/// names `from`.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let to = to.as_ref().to_owned();
    blocking("rename", from.as_ref().to_owned(), move |p| std::fs::rename(p, to)).await
}

/// Copies a file's contents and permissions (`shutil.copy`); returns the bytes copied. The
/// error names `from`.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let to = to.as_ref().to_owned();
    blocking("copy", from.as_ref().to_owned(), move |p| std::fs::copy(p, to)).await
}
