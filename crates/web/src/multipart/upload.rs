//! [`UploadFile`]: a file field, spooled — in memory up to a threshold, then in a temporary
//! file that is removed when the handle drops.
//!
//! Every disk operation (creating the file, each write, each read, the rename of `persist`,
//! the removal) is a job on the loop's default executor ([`kairos_rt::to_thread`]), so the
//! loop never waits on the disk. Writes go out in batches of [`WRITE_BATCH`] bytes, one job
//! each, and the next chunk is read from the network only once the batch is written: what
//! an upload holds in memory is at most the threshold, then one batch and one chunk.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use tempfile::TempPath;

use super::{Field, MultipartError};

/// How many bytes a spooled file is written in at a time: one trip to a pool thread each.
const WRITE_BATCH: usize = 256 * 1024;

/// The most [`UploadFile::read`] asks of the disk at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// A file a client uploaded — FastAPI's `UploadFile` — with its field name, file name,
/// content type and size, its contents in memory or, past the route's
/// [`spool_threshold`](super::MultipartConfig::spool_threshold), in a temporary file.
///
/// Read it with [`read`](Self::read) (the next bytes, like Starlette's `await
/// file.read(size)`), [`read_to_end`](Self::read_to_end), [`bytes`](Self::bytes) (all of it,
/// without copying one in memory), or keep it with [`persist`](Self::persist). Every read of
/// a spooled file runs on the default executor. **The temporary file is removed when the
/// `UploadFile` is dropped** — at the end of the handler, or as soon as a request fails
/// half-way — unless `persist` moved it.
///
/// The async methods run on the worker's loop (an `async` handler): a spooled file is read
/// on its default executor. An `UploadFile` is `Send`, so a `sync` handler may take one too;
/// there, read a spooled file by its [`path`](Self::path) with `std::fs`.
///
/// ```
/// use kairos_web::{App, FormData, HttpError, TestClient};
///
/// async fn upload(mut form: FormData) -> Result<String, HttpError> {
///     let mut file = form.take_file("doc")?; // 422 "missing" without one
///     let text = String::from_utf8_lossy(&file.bytes().await.map_err(|_| HttpError::internal())?)
///         .into_owned();
///     Ok(format!("{:?} {:?} {} bytes: {text}", file.filename(), file.content_type(), file.size()))
/// }
///
/// let client = TestClient::new(App::new().post("/upload", upload));
/// let body = "--XyZ\r\n\
///             Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
///             Content-Type: text/plain\r\n\r\n\
///             hello\r\n\
///             --XyZ--\r\n";
/// let response = client.post("/upload")
///     .header("content-type", "multipart/form-data; boundary=XyZ")
///     .body(body)
///     .send();
/// assert_eq!(response.text(), r#"Some("a.txt") Some("text/plain") 5 bytes: hello"#);
/// ```
pub struct UploadFile {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    headers: HeaderMap,
    size: u64,
    /// Where [`read`](Self::read) goes on from.
    position: u64,
    storage: Storage,
}

enum Storage {
    Memory(Bytes),
    /// The file is read at positions (`pread`), so a read whose future was dropped half-way
    /// leaves nothing behind to confuse the next one.
    Disk {
        file: Arc<std::fs::File>,
        path: TempFile,
    },
}

impl UploadFile {
    /// The name of the form field it came in (`<input name="...">`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file name the client gave (`filename=` of its part; `Some("")` when a form's
    /// file input was left empty). It is the client's word: never use it as a path as it
    /// is.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The part's `Content-Type`, as the client gave it (`image/png`), if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The part's headers (`Content-Disposition`, `Content-Type`, ...).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether its contents are in memory (not spooled to disk).
    pub fn is_in_memory(&self) -> bool {
        matches!(self.storage, Storage::Memory(_))
    }

    /// The temporary file holding it, when it was spooled to disk; `None` in memory. The
    /// file is removed when the `UploadFile` is dropped: to keep it, [`persist`](Self::persist).
    pub fn path(&self) -> Option<&Path> {
        match &self.storage {
            Storage::Memory(_) => None,
            Storage::Disk { path, .. } => Some(path.path()),
        }
    }

    /// Reads the next bytes into `buf` (at most 1 MiB from disk at once) and returns how
    /// many; 0 at the end. Starlette's `await file.read(size)`.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = self.position.min(self.size);
        let want = buf.len().min((self.size - start) as usize);
        let n = match &self.storage {
            Storage::Memory(bytes) => {
                let start = start as usize;
                buf[..want].copy_from_slice(&bytes[start..start + want]);
                want
            }
            Storage::Disk { file, path } => {
                let want = want.min(READ_CHUNK);
                if want == 0 {
                    return Ok(0);
                }
                let data = read_disk(file, path.path(), start, want).await?;
                buf[..data.len()].copy_from_slice(&data);
                data.len()
            }
        };
        self.position = start + n as u64;
        Ok(n)
    }

    /// Reads everything from where [`read`](Self::read) is to the end, appending it to `buf`;
    /// returns how many bytes. From disk, in one job.
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = self.position.min(self.size);
        let rest = (self.size - start) as usize;
        match &self.storage {
            Storage::Memory(bytes) => buf.extend_from_slice(&bytes[start as usize..]),
            Storage::Disk { file, path } => {
                buf.extend_from_slice(&read_disk(file, path.path(), start, rest).await?);
            }
        }
        self.position = self.size;
        Ok(rest)
    }

    /// The whole contents, wherever [`read`](Self::read) is (which stays there). In
    /// memory, a handle to the same bytes (no copy); on disk, read in one job — a large file
    /// is then in memory whole: stream it with `read`, or `persist` it, instead.
    pub async fn bytes(&self) -> io::Result<Bytes> {
        match &self.storage {
            Storage::Memory(bytes) => Ok(bytes.clone()),
            Storage::Disk { file, path } => {
                read_disk(file, path.path(), 0, self.size as usize).await.map(Bytes::from)
            }
        }
    }

    /// Moves where [`read`](Self::read) goes on from: `seek(0)` starts over (Starlette's
    /// `await file.seek(0)`). Past the end, reads return nothing.
    pub fn seek(&mut self, position: u64) {
        self.position = position;
    }

    /// Keeps the file at `path`, replacing a file that is there (`os.replace`). A spooled
    /// file is renamed (copied, then removed, when `path` is on another file system) and
    /// keeps the temporary file's permissions (`0600` on Unix: only its owner reads it); a
    /// file in memory is written there.
    pub async fn persist(mut self, path: impl AsRef<Path>) -> io::Result<()> {
        let to = path.as_ref().to_owned();
        match std::mem::replace(&mut self.storage, Storage::Memory(Bytes::new())) {
            Storage::Memory(bytes) => kairos_rt::fs::write(&to, bytes).await,
            Storage::Disk { file, path } => {
                let temp = path.keep();
                let from = temp.to_path_buf();
                let moved = kairos_rt::to_thread(move || {
                    drop(file);
                    move_to(temp, &to)
                })
                .await;
                moved
                    .unwrap_or_else(|job| Err(io::Error::other(format!("persist {from:?}: {job}"))))
            }
        }
    }
}

impl fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadFile")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("path", &self.path())
            .finish()
    }
}

/// Reads `len` bytes of `file` from `offset` (fewer at its end) on the default executor.
async fn read_disk(
    file: &Arc<std::fs::File>,
    path: &Path,
    offset: u64,
    len: usize,
) -> io::Result<Vec<u8>> {
    let file = Arc::clone(file);
    let read = kairos_rt::to_thread(move || {
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match read_at(&file, &mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    })
    .await;
    read.unwrap_or_else(|job| Err(io::Error::other(job)))
        .map_err(|e| io::Error::new(e.kind(), format!("read {}: {e}", path.display())))
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Renames `temp` to `to`, or copies it there when they are on different file systems; on
/// failure `temp` is removed (the upload is gone either way: `persist` consumed it).
fn move_to(temp: TempPath, to: &Path) -> io::Result<()> {
    let from = temp.to_path_buf();
    let error = match temp.persist(to) {
        Ok(()) => return Ok(()),
        Err(failed) if failed.error.kind() == io::ErrorKind::CrossesDevices => {
            let copied = std::fs::copy(&failed.path, to);
            drop(failed.path);
            match copied {
                Ok(_) => return Ok(()),
                Err(e) => e,
            }
        }
        Err(failed) => failed.error,
    };
    Err(io::Error::new(
        error.kind(),
        format!("persist {} to {}: {error}", from.display(), to.display()),
    ))
}

/// A temporary file's path, removed when this is dropped — off the loop when one runs here.
struct TempFile(Option<TempPath>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("a TempFile has its path until it is dropped or kept")
    }

    /// The path, no longer removed by this.
    fn keep(mut self) -> TempPath {
        self.0.take().expect("a TempFile has its path until it is dropped or kept")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        if kairos_rt::Handle::try_current().is_none() {
            // A thread of its own (a sync handler's, a test's): it may wait on the disk.
            remove(path);
            return;
        }
        // On a loop: the removal is a job on the default executor, awaited by a task of its
        // own (a `Job` dropped before it starts is cancelled). Should the loop stop first,
        // cancelling the task drops the job's closure, and with it the path, which removes
        // the file right there: it is never left behind.
        let job = kairos_rt::to_thread(move || remove(path));
        drop(kairos_rt::spawn(async move {
            let _ = job.await;
        }));
    }
}

fn remove(path: TempPath) {
    let shown = path.to_path_buf();
    if let Err(e) = path.close()
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(
            target: "kairos::web",
            "could not remove the spooled upload {}: {e}; remove it by hand",
            shown.display()
        );
    }
}

/// A file being written to disk, in batches.
struct Spill {
    file: Arc<std::fs::File>,
    path: TempFile,
    batch: Vec<u8>,
}

impl Spill {
    /// Creates a `kairos-upload-*` file in `dir`.
    async fn create(dir: PathBuf) -> io::Result<Spill> {
        let shown = dir.clone();
        let created = kairos_rt::to_thread(move || {
            tempfile::Builder::new().prefix("kairos-upload-").tempfile_in(&dir)
        })
        .await;
        let named = created.unwrap_or_else(|job| Err(io::Error::other(job))).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("create a temporary file in {}: {e}; check temp_dir", shown.display()),
            )
        })?;
        let (file, path) = named.into_parts();
        Ok(Spill { file: Arc::new(file), path: TempFile(Some(path)), batch: Vec::new() })
    }

    /// Writes `bytes` on the default executor, in one job.
    async fn write(&self, bytes: impl AsRef<[u8]> + Send + 'static) -> io::Result<()> {
        let file = Arc::clone(&self.file);
        let written = kairos_rt::to_thread(move || (&*file).write_all(bytes.as_ref())).await;
        written.unwrap_or_else(|job| Err(io::Error::other(job))).map_err(|e| {
            io::Error::new(e.kind(), format!("write {}: {e}", self.path.path().display()))
        })
    }

    /// Adds `chunk` to the batch, and writes the batch once it is full.
    async fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(chunk);
        if self.batch.len() >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let file = Arc::clone(&self.file);
        let written = kairos_rt::to_thread(move || (&*file).write_all(&batch).map(|()| batch));
        let mut batch =
            written.await.unwrap_or_else(|job| Err(io::Error::other(job))).map_err(|e| {
                io::Error::new(e.kind(), format!("write {}: {e}", self.path.path().display()))
            })?;
        batch.clear();
        self.batch = batch;
        Ok(())
    }
}

/// Reads `field` into an [`UploadFile`]: in memory while it fits the threshold, then on
/// disk. An error — a limit passed, the client gone — drops what was written, and with it
/// the file.
pub(crate) async fn spool(mut field: Field<'_>) -> Result<UploadFile, MultipartError> {
    let threshold = field.config.spool_threshold;
    let mut memory = BytesMut::new();
    let mut disk: Option<Spill> = None;
    let mut size: u64 = 0;
    while let Some(chunk) = field.chunk().await? {
        size += chunk.len() as u64;
        match &mut disk {
            Some(spill) => spill.push(&chunk).await.map_err(MultipartError::Spool)?,
            None if memory.len() + chunk.len() <= threshold => memory.extend_from_slice(&chunk),
            None => {
                let mut spill =
                    Spill::create(field.config.spool_dir()).await.map_err(MultipartError::Spool)?;
                let held = std::mem::take(&mut memory).freeze();
                if !held.is_empty() {
                    spill.write(held).await.map_err(MultipartError::Spool)?;
                }
                spill.push(&chunk).await.map_err(MultipartError::Spool)?;
                disk = Some(spill);
            }
        }
    }
    let storage = match disk {
        None => Storage::Memory(memory.freeze()),
        Some(mut spill) => {
            spill.flush().await.map_err(MultipartError::Spool)?;
            Storage::Disk { file: spill.file, path: spill.path }
        }
    };
    Ok(UploadFile {
        name: field.name().to_owned(),
        filename: field.file_name().map(str::to_owned),
        content_type: field.content_type().map(str::to_owned),
        headers: field.headers().clone(),
        size,
        position: 0,
        storage,
    })
}
