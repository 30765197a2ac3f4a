//! I/O traits and the reactor.
//!
//! kairos sockets implement the `futures-io` traits ([`AsyncRead`], [`AsyncWrite`]), the
//! ecosystem's runtime-neutral standard; the extension traits with `read`, `read_exact`,
//! `write_all`, `copy` and friends are re-exported from `futures-util` here.
//!
//! - `reactor.rs` — the loop's epoll (via mio): readiness per source, wakers per direction.

pub(crate) mod reactor;

pub use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
pub use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
