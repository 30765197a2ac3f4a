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
use std::path::Path;

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

/// Binds a Unix domain socket at `path` for `--uds`, readable and writable by everyone (as
/// uvicorn leaves it: restrict who may connect with the directory's permissions). A socket
/// file left by a server that is gone (nothing accepts on it) is replaced; one a live server
/// listens on, or a file that is not a socket, is an error that says so.
pub(crate) fn bind_unix(path: &Path, backlog: u32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        let in_use = || {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("cannot listen on {}: another server listens on it", path.display()),
            )
        };
        if !metadata.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "cannot listen on {}: it exists and is not a socket (remove it, or choose \
                     another path)",
                    path.display()
                ),
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(in_use()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on {}: {e}", path.display()))
    })?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(socket.into())
}

/// The listening socket as bound, before a worker's loop adopts its copy.
pub(crate) enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Bound {
    /// Another descriptor of the same socket, for another worker.
    pub(crate) fn try_clone(&self) -> io::Result<Bound> {
        Ok(match self {
            Bound::Tcp(tcp) => Bound::Tcp(tcp.try_clone()?),
            Bound::Unix(unix) => Bound::Unix(unix.try_clone()?),
        })
    }

    /// The socket registered with the current loop.
    pub(crate) fn into_loop(self) -> io::Result<Listener> {
        Ok(match self {
            Bound::Tcp(tcp) => Listener::Tcp(kairos_rt::net::TcpListener::from_std(tcp)?),
            Bound::Unix(unix) => Listener::Unix(kairos_rt::net::UnixListener::from_std(unix)?),
        })
    }
}

/// A worker's listening socket, on its loop.
pub(crate) enum Listener {
    Tcp(kairos_rt::net::TcpListener),
    Unix(kairos_rt::net::UnixListener),
}

/// An accepted connection's socket.
pub(crate) enum Stream {
    Tcp(kairos_rt::net::TcpStream),
    Unix(kairos_rt::net::UnixStream),
}

impl Listener {
    /// The next connection, and its peer's address (none for a Unix socket's).
    pub(crate) async fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(tcp) => tcp.accept().await.map(|(s, peer)| (Stream::Tcp(s), Some(peer))),
            Listener::Unix(unix) => unix.accept().await.map(|s| (Stream::Unix(s), None)),
        }
    }
}
