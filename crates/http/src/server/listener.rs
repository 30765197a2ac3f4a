//! The listening socket, with the options std does not expose (the backlog).
//!
//! A server has one listening socket, shared by all its workers: each worker's loop watches
//! its own descriptor of it (a `dup`), and whichever loop is free takes the next connection.
//!
//! Why not a socket per worker with `SO_REUSEPORT`: the kernel hashes each new connection to
//! one of those sockets whether or not its loop is turning, so a worker whose loop is blocked
//! (a handler that blocks it, by mistake or on purpose) would strand its share of new
//! connections until the block ends. With one shared queue a blocked loop is simply not there
//! to take a connection, and another loop takes it (uvicorn's workers share their socket the
//! same way). What it costs: every idle worker is woken for a new connection and all but one
//! find nothing to accept — an `EAGAIN` each, cheap next to a connection's life; and the
//! kernel no longer balances connections among workers, the loops' race does, which the accept
//! loop keeps fair by taking one connection per turn (`accept.rs`). `EPOLLEXCLUSIVE` would
//! wake one loop only, but always the first idle one in the kernel's wait-queue order, so a
//! lightly loaded server would pile its connections on one worker; not worth an `unsafe`
//! registration in kairos-rt for a herd the size of the worker count.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds the listening socket. No `SO_REUSEPORT`: binding fails, with a message that says
/// so, when another server listens on the address.
pub(crate) fn bind(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?; // inherited by accepted sockets on Linux
    socket.bind(&addr.into()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e} (is another server using it?)"),
        )
    })?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
