//! # kairos
//!
//! The facade of kairos — FastAPI's execution model on an asyncio-style event loop written
//! in Rust. Depend on this crate; it re-exports the parts:
//!
//! - [`rt`] — the event loop (`kairos-rt`): tasks, timers, sockets, executors and the stall
//!   detector;
//! - [`sync`] — what needs no loop (`kairos-sync`): `Semaphore`, `Lock`, `Event`, `Queue`,
//!   `oneshot`, and `gather`, `try_gather`, `race`, `as_completed`, `gather!`;
//! - [`process`] — the process pool and subprocesses (`kairos-process`): isolated, killable
//!   jobs, and `Command`/`Child` on the loop;
//! - [`http`] — the server (uvicorn's limits, graceful shutdown, supervised workers) and a
//!   pooled client;
//! - [`web`] — the framework: routes, extractors, async/sync/pool handlers, SSE, a test client;
//! - `tokio` (with the `tokio` feature) — the bridge that runs tokio's libraries (sqlx,
//!   redis, reqwest) on kairos loops (`kairos-tokio`).
//!
//! The `kairos` command (`kairos serve`, `kairos tour`) is a package of its own,
//! `kairos-cli`, so that depending on this crate compiles no CLI, logging or error crates.
#![forbid(unsafe_code)]

pub use kairos_http as http;
pub use kairos_process as process;
pub use kairos_rt as rt;
pub use kairos_sync as sync;
#[cfg(feature = "tokio")]
pub use kairos_tokio as tokio;
pub use kairos_web as web;

// The README's Rust example, compiled as a doctest so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
