//! # kairos
//!
//! The facade of kairos — FastAPI's execution model on an asyncio-style event loop written
//! in Rust. Depend on this crate; it re-exports the parts:
//!
//! - [`rt`] — the event loop (`kairos-rt`): tasks, timers, sockets, gather, executors,
//!   semaphores and the stall detector;
//! - [`http`] — the server (uvicorn's limits, graceful shutdown, supervised workers) and a
//!   pooled client;
//! - [`web`] — the framework: routes, extractors, async/sync/pool handlers, SSE, a test client.
//!
//! The `kairos` command (`kairos serve`, `kairos tour`) is a package of its own,
//! `kairos-cli`, so that depending on this crate compiles no CLI, logging or error crates.
#![forbid(unsafe_code)]

pub use kairos_http as http;
pub use kairos_rt as rt;
pub use kairos_web as web;
