//! Unix domain sockets: [`UnixListener`] and [`UnixStream`] on the loop's reactor — what a
//! server listens on when only a proxy on the same machine talks to it (uvicorn's `--uds`):
//! no port to allocate or firewall, and file permissions say who may connect.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::task::{ready, Context, Poll};

use super::accept::AcceptBackoff;
use crate::io::reactor::{Direction, Registration};

/// A listening Unix domain socket — asyncio's `loop.create_unix_server`.
///
/// Running out of file descriptors is handled as [`TcpListener`](super::TcpListener) does:
/// the error is returned, and the next `accept` first pauses (5 ms, doubling up to 500 ms).
pub struct UnixListener {
    reg: Registration<mio::net::UnixListener>,
    backoff: AcceptBackoff,
}

impl UnixListener {
    /// Binds to `path` (which must not exist) and listens, with the kernel's default backlog.
    /// For another backlog, build a `std::os::unix::net::UnixListener` with `socket2` and
    /// pass it to [`from_std`](Self::from_std).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_mio(mio::net::UnixListener::bind(path)?)
    }

    /// Adopts a listening std socket (switching it to non-blocking mode).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        UnixListener::from_mio(mio::net::UnixListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener { reg: Registration::new(listener)?, backoff: AcceptBackoff::default() })
    }

    /// The path this listener is bound to, if it has one.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        let addr = self.reg.source().local_addr().ok()?;
        addr.as_pathname().map(Path::to_path_buf)
    }

    /// Accepts a connection. A Unix socket's peer has no address to report (a client's
    /// socket is rarely bound to a path), so none is returned.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (for implementing accept loops by hand).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        ready!(self.backoff.poll_pause(cx));
        let accepted = ready!(self.reg.poll_io(cx, Direction::Read, |listener| listener.accept()));
        self.backoff.after(&accepted);
        Poll::Ready(accepted.and_then(|(stream, _peer)| UnixStream::from_mio(stream)))
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener").field("path", &self.local_path()).finish()
    }
}

/// A Unix domain socket connection: [`TcpStream`](super::TcpStream)'s counterpart, with the
/// same `AsyncRead`/`AsyncWrite` implementations.
pub struct UnixStream {
    reg: Registration<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path` without blocking the loop.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?)?;
        poll_fn(|cx| stream.reg.poll_ready(cx, Direction::Write)).await;
        if let Some(e) = stream.reg.source().take_error()? {
            return Err(e);
        }
        Ok(stream)
    }

    /// Adopts a connected std stream (switching it to non-blocking mode).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream { reg: Registration::new(stream)? })
    }
}

super::byte_stream!(UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn a_connection_over_a_unix_socket_carries_bytes_both_ways() {
        let dir = std::env::temp_dir().join(format!("kairos-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("echo.sock");
        let _ = std::fs::remove_file(&path);
        crate::run(async {
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(listener.local_path().as_deref(), Some(path.as_path()));
            let server = crate::spawn(async move {
                let mut stream = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                stream.read_exact(&mut buf).await.unwrap();
                stream.write_all(&buf).await.unwrap();
            });
            let mut client = UnixStream::connect(&path).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut back = [0u8; 5];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");
            server.await.unwrap();
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
