//! # kairos-http
//!
//! HTTP for kairos: hyper 1.x over the `kairos-rt` event loop — the server (accept loop,
//! limits, timeouts, graceful shutdown, workers) and a pooled HTTP/1.1 client.
//!
//! This crate is empty so far: it is laid down with the workspace and filled by the
//! kairos-http/kairos-web issue. Until then it only re-exports the runtime it builds on.
#![forbid(unsafe_code)]

pub use kairos_rt as rt;
