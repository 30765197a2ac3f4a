//! [`File`]: an open file with async read, write and seek, each done on the default executor.
//!
//! A `File` owns an `Arc<std::fs::File>` and at most one operation in flight. An operation
//! is a closure sent to the loop's default executor; it carries the file and a buffer, and
//! brings the buffer back with the result, so steady reading or writing reuses one buffer.
//!
//! Reads ask for exactly what the caller's buffer can hold (up to 1 MiB), so the file's
//! position is where the caller thinks it is. Should a caller poll again with a smaller
//! buffer, the extra bytes are kept and handed out first, and a later seek or write accounts
//! for them.

use std::fmt;
use std::fs::Metadata;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::{blocking, PathError};
use crate::executor::Job;

/// The most one read or write moves in one trip to a pool thread.
const MAX_CHUNK: usize = 1 << 20;

/// An open file: `aiofiles.open(...)`'s handle. Implements the `futures-io` traits
/// [`AsyncRead`](crate::io::AsyncRead), [`AsyncWrite`](crate::io::AsyncWrite) and `AsyncSeek`;
/// bring [`AsyncReadExt`](crate::io::AsyncReadExt) and
/// [`AsyncWriteExt`](crate::io::AsyncWriteExt) into scope for `read_to_end`, `write_all` and
/// friends.
///
/// ```
/// use kairos_rt::fs::File;
/// use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
///
/// kairos_rt::run(async {
///     let path = std::env::temp_dir().join(format!("kairos-file-doc-{}", std::process::id()));
///     let mut file = File::create(&path).await?; // async with aiofiles.open(p, "w") as f:
///     file.write_all(b"hello, file").await?; //      await f.write(...)
///     file.close().await?;
///
///     let mut text = String::new();
///     File::open(&path).await?.read_to_string(&mut text).await?;
///     assert_eq!(text, "hello, file");
///     kairos_rt::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
///
/// **Writes are not buffered** here: each `poll_write` is one `write` system call on a pool
/// thread, and returns when it is done, so `flush` has nothing to do and an error is reported
/// by the write that caused it. Many small writes are many round trips; batch them (or wrap
/// the file in a `futures::io::BufWriter`).
///
/// **Cancellation**: dropping a read or write future after it started leaves the operation to
/// finish on its thread (a thread cannot be interrupted); the file's position then reflects
/// it. Data read that way is kept and returned by the next read.
pub struct File {
    std: Arc<std::fs::File>,
    path: Arc<Path>,
    state: State,
    /// The buffer an operation carries; between operations it may hold read-ahead bytes.
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    pos: usize,
}

enum State {
    Idle,
    Busy(Job<(Op, Vec<u8>)>),
}

/// What an operation did.
enum Op {
    Read(io::Result<usize>),
    Write(io::Result<usize>),
    Seek(io::Result<u64>),
}

impl File {
    /// Opens a file for reading (`aiofiles.open(p, "r")`).
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates a file for writing, truncating it if it exists (`aiofiles.open(p, "w")`).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).open(path).await
    }

    /// Options to open a file otherwise (append, read and write, create only if new, ...).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Adopts an open `std` file; `path` is only used in error messages.
    pub fn from_std(file: std::fs::File, path: impl Into<PathBuf>) -> File {
        File {
            std: Arc::new(file),
            path: Arc::from(path.into()),
            state: State::Idle,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's metadata (`os.fstat`), after any operation in flight.
    pub async fn metadata(&mut self) -> io::Result<Metadata> {
        self.settle().await?;
        let file = Arc::clone(&self.std);
        blocking("metadata", self.path.to_path_buf(), move |_| file.metadata()).await
    }

    /// Flushes the file's data and metadata to the disk (`os.fsync`).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.settle().await?;
        let file = Arc::clone(&self.std);
        blocking("sync_all", self.path.to_path_buf(), move |_| file.sync_all()).await
    }

    /// Truncates or extends the file to `size` bytes (`f.truncate(size)`).
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.settle().await?;
        self.discard_read_ahead().await?;
        let file = Arc::clone(&self.std);
        blocking("set_len", self.path.to_path_buf(), move |_| file.set_len(size)).await
    }

    /// Waits for the operation in flight, if any.
    async fn settle(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_settle(cx)).await.map(drop)
    }

    /// Moves the file position back over read-ahead bytes nobody took yet.
    async fn discard_read_ahead(&mut self) -> io::Result<()> {
        if self.pos < self.buf.len() {
            let mut this = Pin::new(&mut *self);
            poll_fn(|cx| futures_io::AsyncSeek::poll_seek(this.as_mut(), cx, SeekFrom::Current(0)))
                .await?;
        }
        Ok(())
    }

    /// Starts `op` on the default executor with the file and the buffer.
    fn start(&mut self, op: impl FnOnce(&std::fs::File, &mut Vec<u8>) -> Op + Send + 'static) {
        let file = Arc::clone(&self.std);
        let mut buf = std::mem::take(&mut self.buf);
        self.pos = 0;
        self.state = State::Busy(crate::to_thread(move || {
            let op = op(&file, &mut buf);
            (op, buf)
        }));
    }

    /// Ready once no operation is in flight, with what the last one did. The error of a
    /// write or seek whose caller went away is reported here, to the next caller.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Settled>> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(Ok(Settled::Nothing));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.state = State::Idle;
        let (op, buf) = match done {
            Ok(done) => done,
            Err(e) => return Poll::Ready(Err(self.error("io", io::Error::other(e)))),
        };
        self.buf = buf;
        self.pos = 0;
        if !matches!(op, Op::Read(Ok(_))) {
            self.buf.clear(); // only a successful read leaves bytes to hand out
        }
        Poll::Ready(match op {
            Op::Read(result) => result.map(Settled::Read).map_err(|e| self.error("read", e)),
            Op::Write(result) => result.map(Settled::Wrote).map_err(|e| self.error("write", e)),
            Op::Seek(result) => result.map(Settled::Seeked).map_err(|e| self.error("seek", e)),
        })
    }

    fn error(&self, op: &'static str, e: io::Error) -> io::Error {
        PathError::wrap(op, &self.path, e)
    }

    /// How many read-ahead bytes the file position is past the caller's position.
    fn read_ahead(&self) -> i64 {
        (self.buf.len() - self.pos) as i64
    }
}

/// What [`File::poll_settle`] found.
enum Settled {
    Nothing,
    Read(usize),
    Wrote(usize),
    Seeked(u64),
}

impl futures_io::AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.buf.len() {
                let n = dst.len().min(this.buf.len() - this.pos);
                dst[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(n));
            }
            if let State::Busy(_) = this.state {
                match ready!(this.poll_settle(cx))? {
                    Settled::Read(0) => return Poll::Ready(Ok(0)), // the end of the file
                    _ => continue, // read bytes to hand out, or another operation done
                }
            }
            if dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let want = dst.len().min(MAX_CHUNK);
            this.start(move |mut file, buf| {
                buf.clear();
                buf.resize(want, 0);
                let result = file.read(buf);
                buf.truncate(*result.as_ref().unwrap_or(&0));
                Op::Read(result)
            });
        }
    }
}

impl futures_io::AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if let State::Busy(_) = this.state {
                match ready!(this.poll_settle(cx))? {
                    Settled::Wrote(n) => return Poll::Ready(Ok(n)),
                    _ => continue,
                }
            }
            if src.is_empty() {
                return Poll::Ready(Ok(0));
            }
            // Bytes read ahead are not the caller's: the write goes where the caller is.
            let back = this.read_ahead();
            this.buf.clear();
            this.buf.extend_from_slice(&src[..src.len().min(MAX_CHUNK)]);
            this.start(move |mut file, buf| {
                if back > 0 {
                    if let Err(e) = file.seek(SeekFrom::Current(-back)) {
                        return Op::Seek(Err(e));
                    }
                }
                Op::Write(file.write(buf))
            });
        }
    }

    /// Waits for a write in flight (there is no buffer of ours to flush).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx).map_ok(drop)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl futures_io::AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            if let State::Busy(_) = this.state {
                match ready!(this.poll_settle(cx))? {
                    Settled::Seeked(at) => return Poll::Ready(Ok(at)),
                    _ => continue,
                }
            }
            let target = match pos {
                SeekFrom::Current(n) => SeekFrom::Current(n - this.read_ahead()),
                other => other,
            };
            this.buf.clear();
            this.start(move |mut file, _| Op::Seek(file.seek(target)));
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("path", &self.path).finish()
    }
}

/// How to open a [`File`]: `std::fs::OpenOptions`, with an async `open`. Python's modes
/// map as `"r"` → `.read(true)`, `"w"` → `.write(true).create(true).truncate(true)`,
/// `"a"` → `.append(true).create(true)`, `"x"` → `.write(true).create_new(true)`,
/// `"r+"` → `.read(true).write(true)`.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    std: std::fs::OpenOptions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off (set at least `read`, `write` or `append`).
    pub fn new() -> OpenOptions {
        OpenOptions { std: std::fs::OpenOptions::new() }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.std.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.std.write(write);
        self
    }

    /// Every write goes to the end of the file (`O_APPEND`).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.std.append(append);
        self
    }

    /// Empty the file when opening it.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.std.truncate(truncate);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.std.create(create);
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (`O_EXCL`).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.std.create_new(create_new);
        self
    }

    /// Opens `path` on the default executor. Errors name the path: `open /nope: No such file
    /// or directory (os error 2)`.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let options = self.std.clone();
        let path = path.as_ref().to_owned();
        let file = blocking("open", path.clone(), move |p| options.open(p)).await?;
        Ok(File::from_std(file, path))
    }
}
