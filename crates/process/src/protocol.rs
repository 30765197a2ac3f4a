//! The wire protocol between a [`ProcessPool`](crate::ProcessPool) and its workers.
//!
//! Each direction is one pipe carrying *frames*:
//!
//! ```text
//! | body length: u32, little-endian | body: postcard(header) ++ postcard(payload) |
//! ```
//!
//! | direction | header | payload |
//! |---|---|---|
//! | pool → worker | [`Request`] `{ id, job }` | the job's argument |
//! | worker → pool | [`Reply::Hello`] `{ protocol, pid }`, once, first | none |
//! | worker → pool | [`Reply::Done`] `{ id }` | the job's result |
//! | worker → pool | [`Reply::Panicked`] / [`Reply::Failed`] `{ id, message }` | none |
//!
//! There is no "stop" message: the pool closes the request pipe, the worker reads end-of-file
//! and exits with status 0.
//!
//! **Why postcard.** Arguments and results are serde types, so the encoding is a serde format.
//! postcard's format is specified and stable since 1.0, compact (varint integers, no field
//! names), borrows strings from the frame when decoding (a job name costs no allocation),
//! and the crate is small and maintained. bincode would do the job too, but its 1.x line is
//! frozen and 2.x changed its API; JSON would cost text conversions for numbers and bytes.
//! The header and the payload are two postcard values written back to back, so the argument
//! is serialised *directly into the frame* (one pass, no intermediate buffer) and decoded
//! straight from it.
//!
//! **Framing** is a 4-byte length rather than postcard's COBS so a reader knows how much to
//! wait for and can take a 1 MB argument with one `read_exact`. A frame is at most
//! [`MAX_FRAME`] bytes; bigger arguments are rejected before anything is sent.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Bumped when the frames change. Parent and worker are the same binary, so this only
/// guards against a process that is not a kairos worker at all writing to the pipe.
pub(super) const PROTOCOL: u32 = 0x4b41_0001; // "KA", version 1

/// The largest frame body: 1 GiB. Far above anything a process pool should carry (the
/// chapter's caution 4: every byte is copied twice), and well below `u32::MAX`.
pub(super) const MAX_FRAME: usize = 1 << 30;

/// The header of a frame from the pool to a worker: run this registered job.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Request<'a> {
    /// Echoed in the reply, as a consistency check.
    pub(super) id: u64,
    /// The [`ProcessFn`](crate::ProcessFn)'s registered name.
    pub(super) job: &'a str,
}

/// The header of a frame from a worker to the pool.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) enum Reply<'a> {
    /// Sent once, when the worker is ready for jobs.
    Hello { protocol: u32, pid: u32 },
    /// The job returned; the payload is its result.
    Done { id: u64 },
    /// The job panicked (the worker caught the unwind and lives on).
    Panicked { id: u64, message: &'a str },
    /// The job could not run: unknown name, or an argument/result that did not (de)serialise.
    Failed { id: u64, message: &'a str },
}

/// Why a frame could not be built.
#[derive(Debug)]
pub(super) enum EncodeError {
    Serialize(postcard::Error),
    TooLarge(usize),
}

/// Builds a frame: a header, then whatever `payload` appends (usually one postcard value).
pub(super) fn encode(
    header: &impl Serialize,
    payload: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, postcard::Error>,
) -> Result<Vec<u8>, EncodeError> {
    finish(payload(start(header)?).map_err(EncodeError::Serialize)?)
}

/// The first half of a frame: room for the length, then the header. Append the payload,
/// then call [`finish`].
pub(super) fn start(header: &impl Serialize) -> Result<Vec<u8>, EncodeError> {
    start_in(Vec::with_capacity(64), header)
}

/// [`start`], reusing `buffer`'s allocation (a big argument's frame is a big allocation, and
/// a fresh one costs a page fault per 4 KiB every time).
pub(super) fn start_in(
    mut buffer: Vec<u8>,
    header: &impl Serialize,
) -> Result<Vec<u8>, EncodeError> {
    buffer.clear();
    buffer.extend_from_slice(&[0; 4]);
    postcard::to_extend(header, buffer).map_err(EncodeError::Serialize)
}

/// Writes the length prefix of a frame made by [`start`] and a payload.
pub(super) fn finish(mut frame: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    let body = checked_len(frame.len() - 4)?;
    frame[..4].copy_from_slice(&body.to_le_bytes());
    Ok(frame)
}

/// A body length as the 4-byte prefix, if it is within [`MAX_FRAME`].
fn checked_len(body: usize) -> Result<u32, EncodeError> {
    if body > MAX_FRAME {
        return Err(EncodeError::TooLarge(body));
    }
    Ok(body as u32)
}

/// A frame whose payload is one postcard value.
#[cfg(test)]
pub(super) fn encode_with<T: Serialize + ?Sized>(
    header: &impl Serialize,
    payload: &T,
) -> Result<Vec<u8>, EncodeError> {
    encode(header, |frame| postcard::to_extend(payload, frame))
}

/// Splits a frame body into its header and the payload bytes after it.
pub(super) fn split<'a, H: Deserialize<'a>>(body: &'a [u8]) -> postcard::Result<(H, &'a [u8])> {
    postcard::take_from_bytes(body)
}

/// Reads one frame body into `body` (blocking; the worker side). `Ok(false)` is a clean
/// end-of-file between frames: the pool closed the pipe.
pub(super) fn read_frame(input: &mut impl Read, body: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    body.clear();
    body.resize(len, 0);
    input.read_exact(body)?;
    Ok(true)
}

/// Writes a whole frame (blocking; the worker side).
pub(super) fn write_frame(output: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    output.write_all(frame)
}

/// Accumulates bytes read from a pipe until a whole frame is there (the pool side, which
/// reads without blocking and so may get a frame in pieces).
#[derive(Default)]
pub(super) struct FrameBuffer {
    buf: Vec<u8>,
    filled: usize,
}

/// Buffers above this size are given back after use, so one big result does not pin memory.
const KEEP_CAPACITY: usize = 1 << 20;

impl FrameBuffer {
    /// The length of the complete frame at the front (prefix included), if there is one.
    pub(super) fn complete(&self) -> io::Result<Option<usize>> {
        if self.filled < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a worker sent a frame of {len} bytes, over the 1 GiB limit"),
            ));
        }
        Ok((self.filled >= 4 + len).then_some(4 + len))
    }

    /// The free space to read into: at least 4 KiB, or the rest of the frame being received.
    pub(super) fn spare(&mut self) -> &mut [u8] {
        let want = if self.filled >= 4 {
            4 + u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize
        } else {
            0
        }
        .max(self.filled + 4096);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into [`spare`](Self::spare).
    pub(super) fn filled(&mut self, n: usize) {
        self.filled += n;
    }

    /// Whether part of a frame is buffered (an end-of-file now would cut it).
    pub(super) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// The body of the complete frame of `len` bytes at the front.
    pub(super) fn body(&self, len: usize) -> &[u8] {
        &self.buf[4..len]
    }

    /// Drops the frame of `len` bytes at the front.
    pub(super) fn consume(&mut self, len: usize) {
        self.buf.copy_within(len..self.filled, 0);
        self.filled -= len;
        if self.buf.len() > KEEP_CAPACITY && self.filled < KEEP_CAPACITY {
            self.buf.truncate(KEEP_CAPACITY);
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_through_a_frame() {
        let frame = encode_with(&Request { id: 7, job: "square" }, &12u64).unwrap();
        assert_eq!(u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize, frame.len() - 4);
        let mut body = Vec::new();
        assert!(read_frame(&mut &frame[..], &mut body).unwrap());
        let (header, rest): (Request<'_>, _) = split(&body).unwrap();
        assert_eq!(header, Request { id: 7, job: "square" });
        assert_eq!(postcard::from_bytes::<u64>(rest).unwrap(), 12);
    }

    #[test]
    fn end_of_file_between_frames_is_clean_and_inside_one_is_an_error() {
        let mut body = Vec::new();
        assert!(!read_frame(&mut &[][..], &mut body).unwrap());
        let frame = encode(&Reply::Done { id: 1 }, Ok).unwrap();
        let cut = &frame[..frame.len() - 1];
        assert!(read_frame(&mut &cut[..2], &mut body).is_err());
        assert!(read_frame(&mut &cut[..], &mut body).is_err());
    }

    #[test]
    fn a_frame_buffer_assembles_frames_from_pieces() {
        let one = encode_with(&Reply::Done { id: 1 }, "first").unwrap();
        let two = encode(&Reply::Panicked { id: 2, message: "boom" }, Ok).unwrap();
        let stream: Vec<u8> = one.iter().chain(&two).copied().collect();
        let mut buffer = FrameBuffer::default();
        let mut frames = Vec::new();
        for byte in stream {
            buffer.spare()[0] = byte;
            buffer.filled(1);
            while let Some(len) = buffer.complete().unwrap() {
                frames.push(buffer.body(len).to_vec());
                buffer.consume(len);
            }
        }
        assert!(buffer.is_empty());
        let (first, rest): (Reply<'_>, _) = split(&frames[0]).unwrap();
        assert_eq!(first, Reply::Done { id: 1 });
        assert_eq!(postcard::from_bytes::<&str>(rest).unwrap(), "first");
        let (second, _): (Reply<'_>, _) = split(&frames[1]).unwrap();
        assert_eq!(second, Reply::Panicked { id: 2, message: "boom" });
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_on_both_sides() {
        assert_eq!(checked_len(MAX_FRAME).unwrap(), 1 << 30);
        assert!(
            matches!(checked_len(MAX_FRAME + 1), Err(EncodeError::TooLarge(n)) if n > MAX_FRAME)
        );
        let mut buffer = FrameBuffer::default();
        buffer.spare()[..4].copy_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        buffer.filled(4);
        assert!(buffer.complete().is_err());
    }
}
