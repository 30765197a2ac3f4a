//! [`CacheStats`]: what the cache counted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a cache since it was made, shared by all its namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads that found a value.
    pub hits: u64,
    /// Reads that found none (or an unreadable one).
    pub misses: u64,
    /// Loaders run by `get_or_load`.
    pub loads: u64,
    /// Loaders that failed.
    pub failed_loads: u64,
    /// `get_or_load` calls that waited for another's load of the same key and took its result.
    pub shared_loads: u64,
    /// Backend operations that failed (each also logged at WARN).
    pub backend_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) failed_loads: AtomicU64,
    pub(crate) shared_loads: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&self.hits),
            misses: get(&self.misses),
            loads: get(&self.loads),
            failed_loads: get(&self.failed_loads),
            shared_loads: get(&self.shared_loads),
            backend_errors: get(&self.backend_errors),
        }
    }
}
