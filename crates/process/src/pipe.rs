//! Pipes on the reactor: the read and write ends the pool and subprocesses talk through.
//!
//! A pipe end is a plain descriptor, held as a [`File`] (whose `&File` reads and writes), put
//! on the current loop's reactor by [`kairos_rt::io::Async`], exactly like a socket: an
//! operation that would block parks the task until `epoll` reports the pipe ready again.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use kairos_rt::io::Async;

/// The read end of a pipe, registered with the current loop.
pub(crate) struct PipeReader {
    pipe: Async<File>,
}

impl PipeReader {
    /// Registers the read end `fd` with the current loop, non-blocking (fails outside a
    /// running loop).
    pub(crate) fn new(fd: impl Into<OwnedFd>) -> io::Result<PipeReader> {
        Ok(PipeReader { pipe: Async::new(File::from(fd.into()))? })
    }

    /// Reads into `buf`; `Ok(0)` is end-of-file (every write end is closed).
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.pipe.poll_read_with(cx, |mut pipe| pipe.read(buf)) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// The write end of a pipe, registered with the current loop.
pub(crate) struct PipeWriter {
    pipe: Async<File>,
}

impl PipeWriter {
    /// Registers the write end `fd` with the current loop, non-blocking (fails outside a
    /// running loop).
    pub(crate) fn new(fd: impl Into<OwnedFd>) -> io::Result<PipeWriter> {
        Ok(PipeWriter { pipe: Async::new(File::from(fd.into()))? })
    }

    /// Writes from `buf`, returning how much went in. A closed read end is `BrokenPipe`
    /// (Rust ignores `SIGPIPE`, so it is an error, not a signal).
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.pipe.poll_write_with(cx, |mut pipe| pipe.write(buf)) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}
