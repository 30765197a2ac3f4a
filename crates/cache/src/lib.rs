//! # kairos-cache — aiocache's role for kairos
//!
//! The chapter's next steps name `aiocache`: a cache that async routes await, in memory or in
//! Redis, behind one API. This crate is that:
//!
//! - **One [`Cache`], two backends**: [`Cache::memory`] (moka: a TTL per entry, a bound on
//!   the bytes held, TinyLFU eviction) and, with the `redis` feature, `Cache::redis` (the
//!   redis crate's connection manager, which reconnects by itself, run on kairos loops through
//!   `kairos-tokio`). [`Cache::from_url`] picks one from `memory://` or `redis://...` — the
//!   service's `--cache-url`.
//! - **Values are serde types**, stored as JSON, under **namespaced** keys
//!   ([`Cache::namespace`]).
//! - **[`get_or_load`](Cache::get_or_load) runs one loader per key** when many requests miss
//!   at once (aiocache's `cached_stampede`): the first runs it, the others wait for its result
//!   and share it — its value or its failure. If the first is cancelled (its client left), one
//!   of the waiters takes over. The coordination is per process, across its worker threads.
//! - **What is cached is a choice** ([`Load`]): a value's TTL, whether a `None` (JSON `null`)
//!   is cached, and whether a failed load is remembered for a while (negative caching) or —
//!   the default — never.
//! - **The cache is an optimisation, never a dependency**: a backend that fails (Redis gone)
//!   makes `get_or_load` call the loader directly, and the failure is counted and logged,
//!   never a request's error. [`Cache::get`] and [`Cache::set`] say it ([`CacheError`]).
//! - **Counters** ([`Cache::stats`]): hits, misses, loads, failed loads, shared loads, backend
//!   errors.
//! - **Limits across a fleet of processes** (with the `redis` feature): `Fleet` connects
//!   to the Redis every instance shares, and makes a `FleetSemaphore` — the chapter's
//!   `Semaphore(5)` for every instance at once: FIFO across the fleet, cancel-safe, each
//!   permit a lease that a dead process cannot keep — and a `FleetRateLimit` (N per window,
//!   a sliding log). Unlike the cache, these are not optional: Redis away is an error
//!   (`FleetError`), within seconds, never a hang.
//!
//! ```
//! use std::time::Duration;
//! use kairos_cache::{Cache, Load};
//!
//! kairos_rt::run(async {
//!     let cache = Cache::memory(Default::default()).namespace("users");
//!     let load = || async { Ok::<_, std::io::Error>(vec!["ada".to_string(), "grace".into()]) };
//!     let names: Vec<String> =
//!         cache.get_or_load("all", Load::ttl(Duration::from_secs(60)), load).await.unwrap();
//!     assert_eq!(names, ["ada", "grace"]);
//!     // The second time, it is a hit: the loader does not run.
//!     let again: Vec<String> =
//!         cache.get_or_load("all", Load::default(), || async { unreachable!() as Result<_, std::io::Error> }).await.unwrap();
//!     assert_eq!(again, names);
//!     assert_eq!((cache.stats().hits, cache.stats().loads), (1, 1));
//! });
//! ```
//!
//! ## Layout
//!
//! - `cache.rs` — [`Cache`]: get, set, delete, get_or_load, namespaces;
//! - `load.rs` — [`Load`], what a load's result is cached as;
//! - `flight.rs` — one load per key at a time, shared with the requests that wait;
//! - `memory.rs`, `redis.rs` — the backends;
//! - `stats.rs` — [`CacheStats`]; `error.rs` — [`CacheError`], [`LoadError`];
//! - `fleet/` — `Fleet`, `FleetSemaphore`, `FleetRateLimit` (the `redis` feature).

#![forbid(unsafe_code)]

mod cache;
mod error;
#[cfg(feature = "redis")]
mod fleet;
mod flight;
mod load;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod stats;

pub use cache::Cache;
pub use error::{CacheError, LoadError};
#[cfg(feature = "redis")]
pub use fleet::{
    Fleet, FleetError, FleetPermit, FleetRateLimit, FleetSemaphore, FleetSnapshot, RateDecision,
};
pub use load::Load;
pub use memory::MemoryOptions;
pub use stats::CacheStats;
