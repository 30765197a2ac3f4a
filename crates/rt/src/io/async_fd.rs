//! [`Async<T>`]: any file descriptor on the current loop's reactor — async-io's `Async<T>`.
//!
//! kairos' own sockets ([`net`](crate::net)) are built on the reactor directly. `Async<T>` is
//! the same machinery offered for everything else that has a file descriptor: a pipe end, a
//! pidfd, a Unix socket, a timerfd. It registers the descriptor with the loop that is running
//! when it is made, and from then on answers "can I read?" and "can I write?" as futures.
//!
//! Readiness is remembered per direction until an operation reports `WouldBlock`. The helpers
//! ([`read_with`](Async::read_with), [`poll_read_with`](Async::poll_read_with) and their write
//! twins, and the [`AsyncRead`]/[`AsyncWrite`] impls) run the operation, and on `WouldBlock`
//! forget the readiness and wait for the next edge. Code that waits with
//! [`readable`](Async::readable) and then does its own system call must do the same with
//! [`clear_readable`](Async::clear_readable), or the next `readable()` completes at once.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::reactor::{Direction, Registration};

/// An I/O object registered with the current loop's reactor, waiting for readiness instead of
/// blocking.
///
/// `T` is anything that owns a file descriptor ([`AsFd`]): a [`std::fs::File`] made from a
/// pipe end, an [`OwnedFd`](std::os::fd::OwnedFd) from `pidfd_open`, a
/// [`UnixStream`](std::os::unix::net::UnixStream). [`Async::new`] switches the descriptor to
/// non-blocking mode and registers it; dropping the `Async` deregisters it, then drops `T`
/// (which closes it). Like every kairos I/O type it belongs to the loop that made it, and is
/// `!Send`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// use kairos_rt::io::{Async, AsyncReadExt};
///
/// kairos_rt::run(async {
///     let (a, mut b) = UnixStream::pair().unwrap();
///     let mut a = Async::new(a).unwrap();
///     let reader = kairos_rt::spawn(async move {
///         let mut text = String::new();
///         a.read_to_string(&mut text).await.unwrap(); // suspends the task, not the loop
///         text
///     });
///     b.write_all(b"ping").unwrap();
///     drop(b);
///     assert_eq!(reader.await.unwrap(), "ping");
/// });
/// ```
pub struct Async<T: AsFd> {
    // Field order is drop order: deregister first, close the descriptor after.
    reg: Registration<Fd>,
    io: T,
}

impl<T: AsFd> Async<T> {
    /// Switches `io` to non-blocking mode and registers it with the current loop's reactor.
    ///
    /// # Errors
    /// No loop runs on this thread (make it inside `kairos_rt::run`), or the descriptor cannot
    /// be made non-blocking or registered (`epoll` refuses regular files, for instance: they
    /// are always "ready"; use [`fs`](crate::fs) for those).
    pub fn new(io: T) -> io::Result<Async<T>> {
        rustix::io::ioctl_fionbio(io.as_fd(), true)?;
        let reg = Registration::new(Fd(io.as_fd().as_raw_fd()))?;
        Ok(Async { reg, io })
    }

    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The inner I/O object, mutably. Do not replace its descriptor: the reactor watches the
    /// one registered.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Deregisters the descriptor and gives the I/O object back (still non-blocking).
    pub fn into_inner(self) -> T {
        let Async { reg, io } = self;
        drop(reg);
        io
    }

    /// Ready once the descriptor is readable (or closed, or in error); otherwise the task's
    /// waker is kept and woken by the next readable edge.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(cx, Direction::Read).map(Ok)
    }

    /// Ready once the descriptor is writable (or closed, or in error).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(cx, Direction::Write).map(Ok)
    }

    /// Waits until the descriptor is readable. Stays ready until an operation hits
    /// `WouldBlock` and [`clear_readable`](Self::clear_readable) is called (the `*_with`
    /// helpers do both).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_readable(cx)).await
    }

    /// Waits until the descriptor is writable; see [`readable`](Self::readable).
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Forgets that the descriptor was readable, after an operation returned `WouldBlock`:
    /// the next [`readable`](Self::readable) waits for a new edge.
    pub fn clear_readable(&self) {
        self.reg.clear_ready(Direction::Read);
    }

    /// Forgets that the descriptor was writable; see [`clear_readable`](Self::clear_readable).
    pub fn clear_writable(&self) {
        self.reg.clear_ready(Direction::Write);
    }

    /// Runs `op` once the descriptor is readable, again after each `WouldBlock` (forgetting
    /// the readiness and waiting for the next edge), until it returns anything else.
    ///
    /// `op` need not read: a pidfd turns readable when its process exits, and its `op` is
    /// `waitpid`. Interrupted system calls are `op`'s business (retry or report).
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(cx, Direction::Read, op)
    }

    /// [`poll_read_with`](Self::poll_read_with) for the writing direction.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(cx, Direction::Write, op)
    }

    /// [`poll_read_with`](Self::poll_read_with) as a future.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// [`poll_write_with`](Self::poll_write_with) as a future.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }

    fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.reg.poll_io(cx, direction, |_| op(&self.io))
    }
}

/// Reads through `&T`, which is how `File`, `UnixStream`, `TcpStream` and pipes read without
/// `&mut`; `Interrupted` is retried.
impl<T: AsFd> AsyncRead for Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, |mut io| retry_interrupted(|| io.read(buf)))
    }
}

/// Writes through `&T`; `Interrupted` is retried. `poll_close` only flushes: the descriptor
/// closes when the `Async` is dropped.
impl<T: AsFd> AsyncWrite for Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut io| retry_interrupted(|| io.write(buf)))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_with(cx, |mut io| retry_interrupted(|| io.flush()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

fn retry_interrupted<R>(mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

/// The registered descriptor's number, as a mio source. It does not own the descriptor:
/// `Async` keeps it open for as long as this is registered (the field order above), so the
/// number always names the descriptor it was registered as. mio's `SourceFd` needs no
/// `unsafe` for this: `epoll_ctl` on a number is safe, only using a closed one would be wrong.
struct Fd(RawFd);

impl Source for Fd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0).deregister(registry)
    }
}
