//! UDP: [`UdpSocket`] on the loop's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;

use crate::io::reactor::{Direction, Registration};

/// A UDP socket — asyncio's `loop.create_datagram_endpoint`, as plain async methods.
pub struct UdpSocket {
    reg: Registration<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        Ok(UdpSocket { reg: Registration::new(mio::net::UdpSocket::bind(addr)?)? })
    }

    /// Adopts a bound std socket (switching it to non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { reg: Registration::new(mio::net::UdpSocket::from_std(socket))? })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reg.source().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.reg.source().peer_addr()
    }

    /// Sets the default peer for [`send`](Self::send) and filters [`recv`](Self::recv) to it.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.reg.source().connect(addr)
    }

    /// Sends one datagram to `target`; returns the bytes sent.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.reg.poll_io(cx, Direction::Write, |s| s.send_to(buf, target))).await
    }

    /// Receives one datagram; returns its length and sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.reg.poll_io(cx, Direction::Read, |s| s.recv_from(buf))).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.reg.poll_io(cx, Direction::Write, |s| s.send(buf))).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.reg.poll_io(cx, Direction::Read, |s| s.recv(buf))).await
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("local_addr", &self.local_addr().ok()).finish()
    }
}
