//! # kairos-tokio — tokio's libraries on kairos loops
//!
//! Rust's database and network crates — sqlx, redis, reqwest, deadpool, mongodb — are written
//! for tokio: their sockets register with *a tokio runtime's* I/O driver and their timeouts
//! with its timer, found through a thread-local "current runtime". kairos is deliberately not
//! tokio. This crate lets those libraries run on kairos loops anyway, the way async-compat
//! does for other executors:
//!
//! - **One tokio runtime beside the loops** ([`runtime`]): multi-thread, so that what the
//!   libraries spawn (sqlx's connection workers, hyper's connection tasks inside reqwest)
//!   is not serialised on one thread. It is made on first use, with [`Builder`]'s settings
//!   or the defaults, and lives as long as the process.
//! - **Each loop enters its context** ([`configure_loop`], which installs [`enter`] as the
//!   loop's [`context`](kairos_rt::Builder::context)): while the loop runs, a tokio socket
//!   or sleep made by any of its tasks registers with the runtime's drivers, whose threads
//!   wake the kairos task when it is ready. The task itself — the handler, the query, the
//!   request — is still polled by the kairos loop, so **the stall detector sees every poll**:
//!   a blocking call next to a sqlx query is reported as any other.
//! - **`Send` futures can run on tokio itself** ([`spawn`]), and be awaited from a loop:
//!   for work that should not hold the loop at all (those polls are tokio's, not seen by the
//!   stall detector).
//! - **One future at a time** ([`compat`]): enters the context around each poll, for a loop
//!   that was not configured (a test's `kairos_rt::run`, a library that cannot choose).
//!
//! ```
//! use std::time::Duration;
//!
//! let waited = kairos_tokio::configure_loop(kairos_rt::Builder::new()).run(async {
//!     // A tokio timer, awaited by a kairos task.
//!     let started = std::time::Instant::now();
//!     tokio::time::sleep(Duration::from_millis(5)).await;
//!     started.elapsed()
//! });
//! assert!(waited >= Duration::from_millis(5));
//! ```
//!
//! For a server, give each worker's loop the context with
//! `ServerConfig { configure_loop: ConfigureLoop::new(kairos_tokio::configure_loop), .. }`.
//!
//! ## What works, and what does not
//!
//! | | on a loop with the context |
//! |---|---|
//! | tokio's sockets, timers, `tokio::spawn`, `tokio::sync` | yes |
//! | sqlx (PostgreSQL, SQLite, MySQL), redis (`tokio-comp`), reqwest, deadpool, mongodb | yes: they use only the above |
//! | `tokio::task::spawn_local`, `LocalSet` | no: it needs a tokio `LocalSet` — use [`kairos_rt::spawn`], which takes `!Send` futures |
//! | `tokio::task::block_in_place` | no: it panics off tokio's own threads — use [`kairos_rt::to_thread`] or a sync route |
//! | `tokio::runtime::Handle::block_on` inside a task | no: it would block the loop — `.await` instead |
//! | `#[tokio::main]`, `#[tokio::test]` | not needed: the loop is kairos' |
//!
//! A bridged round trip costs a little more than a native one: the readiness event arrives on
//! a tokio thread and crosses to the loop as a wake (`BENCHMARKS.md` has the figures).
//!
//! ## Without a bridge
//!
//! A driver that takes a caller's stream needs no tokio runtime at all. tokio-postgres's
//! `Config::connect_raw(stream, NoTls)` takes any tokio `AsyncRead + AsyncWrite`: give it a
//! kairos [`TcpStream`](kairos_rt::net::TcpStream) adapted with tokio-util's
//! `FuturesAsyncReadCompatExt::compat()`, and spawn the returned connection future with
//! [`kairos_rt::spawn`]. Its socket is then kairos' own, with no cross-thread wake.
//!
//! ## Layout
//!
//! - `runtime.rs` — the runtime beside the loops: [`Builder`], [`runtime`], [`enter`],
//!   [`configure_loop`], [`spawn`];
//! - `compat.rs` — [`Compat`], one future inside the context.

#![forbid(unsafe_code)]

mod compat;
mod runtime;

pub use compat::{compat, Compat};
pub use runtime::{configure_loop, enter, runtime, spawn, AlreadyStarted, Builder};
