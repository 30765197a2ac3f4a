//! Networking on the loop: [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`].
//!
//! Each socket is registered with the reactor of the loop it was created on and is `!Send`:
//! it belongs to that loop, as an asyncio transport belongs to its loop.
//!
//! - `tcp.rs` — listener (with back-off when out of file descriptors) and stream;
//! - `udp.rs` — datagrams;
//! - `unix.rs` — Unix domain sockets (a server behind a proxy on the same machine).

mod tcp;
mod udp;
mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
