//! # kairos
//!
//! The facade of kairos — FastAPI's execution model on an asyncio-style event loop written
//! in Rust. Depend on this crate; it re-exports the parts:
//!
//! - [`rt`] — the event loop (`kairos-rt`): tasks, timers, sockets, gather, executors,
//!   semaphores and the stall detector;
//! - [`http`] and [`web`] — the server and the framework (being built).
#![forbid(unsafe_code)]

pub use kairos_http as http;
pub use kairos_rt as rt;
pub use kairos_web as web;
