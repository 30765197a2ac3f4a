//! Pipes on the reactor: the read and write ends the pool and subprocesses talk through.
//!
//! A pipe end is switched to non-blocking mode and registered with the current loop's
//! reactor, exactly like a socket: an operation that would block parks the task until
//! `epoll` reports the pipe ready again.

use std::io::{self, Read, Write};
use std::task::{Context, Poll};

use mio::unix::pipe::{Receiver, Sender};

use crate::io::reactor::{Direction, Registration};

/// The read end of a pipe, registered with the current loop.
pub(crate) struct PipeReader {
    reg: Registration<Receiver>,
}

impl PipeReader {
    /// Registers `receiver` with the current loop (fails outside a running loop).
    pub(crate) fn new(receiver: Receiver) -> io::Result<PipeReader> {
        receiver.set_nonblocking(true)?;
        Ok(PipeReader { reg: Registration::new(receiver)? })
    }

    /// Reads into `buf`; `Ok(0)` is end-of-file (every write end is closed).
    pub(crate) fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.reg.poll_io(cx, Direction::Read, |mut pipe| pipe.read(buf)) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// The write end of a pipe, registered with the current loop.
pub(crate) struct PipeWriter {
    reg: Registration<Sender>,
}

impl PipeWriter {
    /// Registers `sender` with the current loop (fails outside a running loop).
    pub(crate) fn new(sender: Sender) -> io::Result<PipeWriter> {
        sender.set_nonblocking(true)?;
        Ok(PipeWriter { reg: Registration::new(sender)? })
    }

    /// Writes from `buf`, returning how much went in. A closed read end is `BrokenPipe`
    /// (Rust ignores `SIGPIPE`, so it is an error, not a signal).
    pub(crate) fn poll_write(&self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.reg.poll_io(cx, Direction::Write, |mut pipe| pipe.write(buf)) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}
