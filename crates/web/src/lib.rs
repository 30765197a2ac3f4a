//! # kairos-web
//!
//! The framework of kairos: a router, handlers of each kind (async on the loop, sync on a
//! bounded pool), extractors, responses and server-sent events, on `kairos-http`.
//!
//! This crate is empty so far: it is laid down with the workspace and filled by the
//! kairos-http/kairos-web issue. Until then it only re-exports the crates it builds on.
#![forbid(unsafe_code)]

pub use kairos_http as http;
pub use kairos_rt as rt;
