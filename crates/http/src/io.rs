//! The socket as hyper sees it: hyper 1.x's own `Read`/`Write` traits over a kairos
//! [`TcpStream`].
//!
//! Reads go through a buffer owned by the loop's thread and [`ReadBufCursor::put_slice`], the
//! safe way to fill hyper's possibly-uninitialised buffer: one `memcpy` of what was read (a
//! few hundred bytes for a typical request) in exchange for no `unsafe` in this crate.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::rt::{Read, ReadBufCursor, Write};
use kairos_rt::net::TcpStream;

/// The most one read takes from the socket.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    /// One read buffer per loop thread: reads never overlap within a loop.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// A connection's socket, adapted to hyper. Also records when bytes last arrived, which the
/// server's keep-alive timer reads.
pub struct HyperIo {
    stream: TcpStream,
    activity: Option<Rc<Activity>>,
}

/// What the server's per-connection timer needs to know, kept up to date by reads and by
/// the request handler: when bytes last came, whether a request head is being read (and
/// since when), and how many requests are in progress.
#[derive(Debug)]
pub(crate) struct Activity {
    pub(crate) last_read: Cell<Instant>,
    /// When the first bytes of the next request head arrived (or the connection opened);
    /// `None` between requests and while one is in progress.
    pub(crate) head_started: Cell<Option<Instant>>,
    pub(crate) in_flight: Cell<usize>,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Activity {
        Activity {
            last_read: Cell::new(now),
            head_started: Cell::new(Some(now)),
            in_flight: Cell::new(0),
        }
    }
}

impl HyperIo {
    /// Wraps a stream for hyper.
    pub fn new(stream: TcpStream) -> Self {
        HyperIo { stream, activity: None }
    }

    pub(crate) fn with_activity(stream: TcpStream, activity: Rc<Activity>) -> Self {
        HyperIo { stream, activity: Some(activity) }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Read for HyperIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(SCRATCH);
        let polled = SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            match self.stream.poll_read_buf(cx, &mut scratch[..want]) {
                Poll::Ready(Ok(n)) => {
                    buf.put_slice(&scratch[..n]);
                    Poll::Ready(Ok(n))
                }
                other => other,
            }
        });
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    if let Some(activity) = &self.activity {
                        let now = Instant::now();
                        activity.last_read.set(now);
                        if activity.in_flight.get() == 0 && activity.head_started.get().is_none() {
                            activity.head_started.set(Some(now));
                        }
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Write for HyperIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_bufs(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // no user-space buffer: writes go to the kernel
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
