//! [`Load`]: what a load's result is cached as.

use std::time::Duration;

/// How [`Cache::get_or_load`](crate::Cache::get_or_load) caches what its loader returns.
///
/// The default: the cache's default TTL, a `None` not cached (the next request loads again,
/// as aiocache users usually want for "not found yet"), a failure never cached.
///
/// ```
/// use std::time::Duration;
/// use kairos_cache::Load;
///
/// let load = Load::ttl(Duration::from_secs(30))
///     .cache_none(true)                               // "no such user" is an answer too
///     .cache_failures_for(Duration::from_secs(1));    // and a failing database is not hammered
/// # let _ = load;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub(crate) ttl: Option<Duration>,
    pub(crate) cache_none: bool,
    pub(crate) failure_ttl: Option<Duration>,
}

impl Load {
    /// A value lives this long (instead of the cache's default).
    pub fn ttl(ttl: Duration) -> Load {
        Load { ttl: Some(ttl), ..Load::default() }
    }

    /// Whether a result that serialises to JSON `null` (a `None`) is cached.
    pub fn cache_none(mut self, cache: bool) -> Load {
        self.cache_none = cache;
        self
    }

    /// Remember a failed load's message for `ttl`: requests meanwhile get
    /// [`LoadError::CachedFailure`](crate::LoadError::CachedFailure) at once, without running
    /// the loader. Off by default: a failure is never cached.
    pub fn cache_failures_for(mut self, ttl: Duration) -> Load {
        self.failure_ttl = Some(ttl);
        self
    }
}
