//! The body of a file answer: pieces of bytes made here (a multipart body's part heads) and
//! slices of the file, streamed from a [`kairos_rt::fs::File`] in chunks of [`CHUNK`]
//! bytes — never the file whole in memory, and only the slices asked for.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use kairos_http::Body;
use kairos_rt::fs::{AsyncSeekExt, File};
use kairos_rt::io::AsyncReadExt;

/// How much one read takes from the file (one trip to a pool thread), as tower-http's
/// `ServeDir` reads: large enough that the trips cost little beside the copying, small
/// enough that thousands of downloads at once hold little memory.
const CHUNK: u64 = 64 * 1024;

/// A piece of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// Bytes made here.
    Bytes(Bytes),
    /// A slice of the file (end exclusive).
    File(Range<u64>),
}

/// The body of `pieces`, read from `file` (opened, at offset 0) as the client takes them.
/// A read that fails, or a file that turns out shorter than it was, ends the stream with an
/// error — the connection is cut, so the client cannot take a short body for a whole one —
/// and is logged with `path`.
pub(super) fn stream(file: std::fs::File, path: PathBuf, pieces: Vec<Piece>) -> Body {
    let sender = Sender {
        file: File::from_std(file, path),
        position: 0,
        pieces: pieces.into_iter(),
        slice: None,
    };
    Body::from_stream(stream::try_unfold(sender, |mut sender| async move {
        match sender.next().await {
            Ok(Some(bytes)) => Ok(Some((bytes, sender))),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(
                    target: "kairos::web",
                    "static files: sending {} failed: {e}",
                    sender.file.path().display()
                );
                Err(e)
            }
        }
    }))
}

/// The state of a body being sent.
struct Sender {
    file: File,
    /// Where the file's position is.
    position: u64,
    pieces: std::vec::IntoIter<Piece>,
    /// What is left of the slice being sent.
    slice: Option<Range<u64>>,
}

impl Sender {
    /// The next chunk, or `None` at the end.
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(slice) = self.slice.take() {
                if slice.is_empty() {
                    continue;
                }
                if self.position != slice.start {
                    self.file.seek(SeekFrom::Start(slice.start)).await?;
                    self.position = slice.start;
                }
                let want = (slice.end - slice.start).min(CHUNK);
                let chunk = self.read(want as usize).await?;
                self.position += want;
                self.slice = Some(slice.start + want..slice.end);
                return Ok(Some(chunk));
            }
            match self.pieces.next() {
                None => return Ok(None),
                Some(Piece::Bytes(bytes)) => return Ok(Some(bytes)),
                Some(Piece::File(slice)) => self.slice = Some(slice),
            }
        }
    }

    /// Exactly `want` bytes from the file's position.
    async fn read(&mut self, want: usize) -> io::Result<Bytes> {
        let mut chunk = BytesMut::zeroed(want);
        let mut filled = 0;
        while filled < want {
            match self.file.read(&mut chunk[filled..]).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file became shorter while it was being sent",
                    ))
                }
                n => filled += n,
            }
        }
        Ok(chunk.freeze())
    }
}
