//! I/O traits, the reactor, and [`Async<T>`] for any file descriptor.
//!
//! kairos sockets implement the `futures-io` traits ([`AsyncRead`], [`AsyncWrite`]), the
//! ecosystem's runtime-neutral standard; the extension traits with `read`, `read_exact`,
//! `write_all`, `copy` and friends are re-exported from `futures-util` here.
//!
//! - `reactor.rs` — the loop's epoll (via mio): readiness per source, wakers per direction.
//! - `async_fd.rs` — [`Async<T>`]: the reactor's readiness for any [`AsFd`](std::os::fd::AsFd)
//!   (pipes, pidfds, Unix sockets), as async-io offers it; what other crates build on.

mod async_fd;
pub(crate) mod reactor;

pub use async_fd::Async;

pub use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
pub use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
