//! TCP: [`TcpListener`] and [`TcpStream`] on the loop's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{ready, Context, Poll};

use super::accept::AcceptBackoff;
use crate::io::reactor::{Direction, Registration};

/// A listening TCP socket — what asyncio's `loop.create_server` sits on.
///
/// [`bind`](Self::bind) uses mio's defaults (`SO_REUSEADDR`, backlog 1024). For other options
/// (SO_REUSEPORT, another backlog), build a `std::net::TcpListener` with `socket2` and pass it
/// to [`from_std`](Self::from_std).
///
/// **Running out of file descriptors.** When `accept` fails with `EMFILE`, `ENFILE`,
/// `ENOBUFS` or `ENOMEM`, the error is returned to the caller, and the next `accept` first waits
/// a pause that starts at 5 ms and doubles up to 500 ms while the errors continue. A server
/// loop that simply retries therefore does not spin the CPU while the process is out of
/// descriptors, and recovers by itself once some are closed.
pub struct TcpListener {
    reg: Registration<mio::net::TcpListener>,
    backoff: AcceptBackoff,
}

impl TcpListener {
    /// Binds to `addr` and listens.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::from_mio(mio::net::TcpListener::bind(addr)?)
    }

    /// Adopts a listening std socket (switching it to non-blocking mode).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener { reg: Registration::new(listener)?, backoff: AcceptBackoff::default() })
    }

    /// The address this listener is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reg.source().local_addr()
    }

    /// Accepts a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (for implementing accept loops by hand).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        ready!(self.backoff.poll_pause(cx));
        let accepted = ready!(self.reg.poll_io(cx, Direction::Read, |listener| listener.accept()));
        self.backoff.after(&accepted);
        Poll::Ready(accepted.and_then(|(stream, peer)| Ok((TcpStream::from_mio(stream)?, peer))))
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("local_addr", &self.local_addr().ok()).finish()
    }
}

/// A TCP connection — asyncio's `StreamReader`/`StreamWriter` pair in one value.
///
/// Implements [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`]; bring
/// [`AsyncReadExt`](crate::io::AsyncReadExt) and [`AsyncWriteExt`](crate::io::AsyncWriteExt)
/// into scope for `read`, `read_exact`, `write_all` and friends.
pub struct TcpStream {
    reg: Registration<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` without blocking the loop.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        // A non-blocking connect completes when the socket turns writable; the outcome is
        // then in SO_ERROR (or, if that is clear, peer_addr tells whether we are connected).
        poll_fn(|cx| stream.reg.poll_ready(cx, Direction::Write)).await;
        if let Some(e) = stream.reg.source().take_error()? {
            return Err(e);
        }
        match stream.reg.source().peer_addr() {
            Ok(_) => Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"))
            }
            Err(e) => Err(e),
        }
    }

    /// Adopts a connected std stream (switching it to non-blocking mode).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { reg: Registration::new(stream)? })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.reg.source().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reg.source().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go out at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.reg.source().set_nodelay(nodelay)
    }
}

super::byte_stream!(TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
