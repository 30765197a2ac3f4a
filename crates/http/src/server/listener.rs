//! Listening sockets with the options std does not expose: backlog and `SO_REUSEPORT`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a listening socket. With `reuse_port`, several sockets (one per worker) share the
/// address and the kernel spreads new connections among them.
pub(crate) fn bind(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
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

/// Binds the first socket of a server: like [`bind`] with `SO_REUSEPORT`, but first makes
/// sure nobody else listens there. With `SO_REUSEPORT` alone, a second server started on the
/// same port by the same user would bind without error and silently share the traffic.
pub(crate) fn bind_first(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    if addr.port() != 0 {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr}: {e} (is another server using it?)"),
            )
        })?;
        // Dropped without listening: the port is free for the worker group.
    }
    bind(addr, backlog, true)
}
