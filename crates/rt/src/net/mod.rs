//! Networking on the loop: [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`].
//!
//! Each socket is registered with the reactor of the loop it was created on and is `!Send`:
//! it belongs to that loop, as an asyncio transport belongs to its loop.
//!
//! - `accept.rs` — the pause a listener takes when `accept` runs out of file descriptors;
//! - `tcp.rs` — listener and stream;
//! - `udp.rs` — datagrams;
//! - `unix.rs` — Unix domain sockets (a server behind a proxy on the same machine).

/// What [`TcpStream`] and [`UnixStream`] share, written once: shutdown, the reads and writes
/// on their reactor registration (`self.reg`), and the futures-io traits on top.
macro_rules! byte_stream {
    ($stream:ident) => {
        impl $stream {
            /// Shuts down the read half, the write half, or both. Non-blocking.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.reg.source().shutdown(how)
            }

            /// Polls a read into `buf`; `Ok(0)` means the peer closed its side.
            pub fn poll_read_buf(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use crate::io::reactor::Direction;
                let asked = buf.len();
                let polled =
                    self.reg.poll_io(cx, Direction::Read, |mut s| std::io::Read::read(&mut s, buf));
                if let std::task::Poll::Ready(Ok(n)) = polled {
                    if n > 0 && n < asked {
                        // A short read drained the socket: the next read waits for an edge
                        // instead of making a system call that would only say WouldBlock.
                        self.reg.clear_available(Direction::Read);
                    }
                }
                polled
            }

            /// Polls a write of `buf`, returning how much was written.
            pub fn poll_write_buf(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.reg.poll_io(cx, crate::io::reactor::Direction::Write, |mut s| {
                    std::io::Write::write(&mut s, buf)
                })
            }

            /// Polls a vectored write (`writev`): several buffers in one system call.
            pub fn poll_write_bufs(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.reg.poll_io(cx, crate::io::reactor::Direction::Write, |mut s| {
                    std::io::Write::write_vectored(&mut s, bufs)
                })
            }
        }

        impl futures_io::AsyncRead for $stream {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_buf(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $stream {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_buf(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_bufs(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Writes go straight to the kernel; there is no user-space buffer.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.shutdown(std::net::Shutdown::Write) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotConnected => {
                        std::task::Poll::Ready(Err(e))
                    }
                    _ => std::task::Poll::Ready(Ok(())),
                }
            }
        }
    };
}
use byte_stream;

mod accept;
mod tcp;
mod udp;
mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
