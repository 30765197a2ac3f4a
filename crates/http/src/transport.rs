//! The byte stream under a connection: plain TCP, a Unix domain socket, or TLS over TCP (rustls, driven by
//! futures-rustls over the kairos socket's `futures-io` traits).
//!
//! One enum rather than a generic parameter: every layer above (the request gate, the write
//! coalescer, hyper's adapter, an upgraded connection) is written once and compiled once,
//! and a plain connection pays one branch per read or write for the choice.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use kairos_rt::net::{TcpStream, UnixStream};

/// A connection's byte stream, as the server and the client use it.
pub(crate) enum Transport {
    Tcp(TcpStream),
    /// A Unix domain socket's connection (a server behind a proxy on the same machine).
    Unix(UnixStream),
    /// The server's side of a TLS connection (boxed: rustls' state is a few KiB, and a plain
    /// connection should not carry that size).
    TlsServer(Box<futures_rustls::server::TlsStream<TcpStream>>),
    /// The client's side of a TLS connection (boxed for the same reason).
    TlsClient(Box<futures_rustls::client::TlsStream<TcpStream>>),
    /// The stream was handed on (a connection that switched protocols); nothing is left.
    Taken,
}

fn taken() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection's stream was handed on")
}

impl Transport {
    /// The protocol the TLS handshake chose by ALPN (`h2`, `http/1.1`), if any.
    pub(crate) fn alpn(&self) -> Option<&[u8]> {
        match self {
            Transport::TlsServer(tls) => tls.get_ref().1.alpn_protocol(),
            Transport::TlsClient(tls) => tls.get_ref().1.alpn_protocol(),
            Transport::Tcp(_) | Transport::Unix(_) | Transport::Taken => None,
        }
    }

    /// Polls a read into `buf`; `Ok(0)` means the peer closed its side.
    pub(crate) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Transport::Tcp(tcp) => tcp.poll_read_buf(cx, buf),
            Transport::Unix(unix) => unix.poll_read_buf(cx, buf),
            Transport::TlsServer(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
            Transport::TlsClient(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
            Transport::Taken => Poll::Ready(Err(taken())),
        }
    }

    /// Polls a write of `buf`, returning how much was taken. Over TLS, what was taken may
    /// wait in rustls' buffer until [`poll_flush`](Transport::poll_flush).
    pub(crate) fn poll_write_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Transport::Tcp(tcp) => tcp.poll_write_buf(cx, buf),
            Transport::Unix(unix) => unix.poll_write_buf(cx, buf),
            Transport::TlsServer(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
            Transport::TlsClient(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
            Transport::Taken => Poll::Ready(Err(taken())),
        }
    }

    /// Polls a vectored write: several buffers in one system call over TCP.
    pub(crate) fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            Transport::Tcp(tcp) => tcp.poll_write_bufs(cx, bufs),
            Transport::Unix(unix) => unix.poll_write_bufs(cx, bufs),
            Transport::TlsServer(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
            Transport::TlsClient(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
            Transport::Taken => Poll::Ready(Err(taken())),
        }
    }

    /// Pushes out what TLS holds (records not yet written); nothing to do over plain TCP.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Tcp(_) | Transport::Unix(_) => Poll::Ready(Ok(())),
            Transport::TlsServer(tls) => Pin::new(&mut **tls).poll_flush(cx),
            Transport::TlsClient(tls) => Pin::new(&mut **tls).poll_flush(cx),
            Transport::Taken => Poll::Ready(Err(taken())),
        }
    }

    /// Ends the sending side: over TLS a `close_notify` first, then the TCP write half is
    /// shut (a peer that already left is not an error).
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = match self {
            Transport::Tcp(tcp) => tcp.shutdown(Shutdown::Write),
            Transport::Unix(unix) => unix.shutdown(Shutdown::Write),
            Transport::TlsServer(tls) => std::task::ready!(Pin::new(&mut **tls).poll_close(cx)),
            Transport::TlsClient(tls) => std::task::ready!(Pin::new(&mut **tls).poll_close(cx)),
            Transport::Taken => Ok(()),
        };
        Poll::Ready(match result {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}

impl From<TcpStream> for Transport {
    fn from(tcp: TcpStream) -> Self {
        Transport::Tcp(tcp)
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_bufs(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close(cx)
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Transport::Tcp(_) => "tcp",
            Transport::Unix(_) => "unix",
            Transport::TlsServer(_) => "tls (server)",
            Transport::TlsClient(_) => "tls (client)",
            Transport::Taken => "taken",
        };
        f.debug_tuple("Transport").field(&kind).finish()
    }
}
