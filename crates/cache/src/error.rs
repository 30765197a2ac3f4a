//! What can go wrong: the backend ([`CacheError`]) and a load ([`LoadError`]).

use std::fmt;
use std::sync::Arc;

/// The backend failed (Redis unreachable, a timeout), or a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend did not answer or refused the command: the cache is unavailable for now.
    Backend(String),
    /// A URL [`Cache::from_url`](crate::Cache::from_url) does not know.
    UnsupportedUrl(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Backend(e) => write!(f, "the cache backend failed: {e}"),
            CacheError::UnsupportedUrl(url) => write!(
                f,
                "unsupported cache URL {url:?}: use memory:// or redis://HOST:PORT \
                 (Redis needs kairos-cache's `redis` feature)"
            ),
        }
    }
}

impl std::error::Error for CacheError {}

/// Why [`Cache::get_or_load`](crate::Cache::get_or_load) has no value.
#[derive(Debug)]
pub enum LoadError<E> {
    /// This caller's loader failed, with its own error.
    Failed(E),
    /// Another request's load of the same key, which this one waited for, failed: its
    /// message.
    FailedElsewhere(Arc<str>),
    /// A load of this key failed a moment ago and its failure is cached
    /// ([`Load::cache_failures_for`](crate::Load::cache_failures_for)): its message.
    CachedFailure(Arc<str>),
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Failed(e) => write!(f, "{e}"),
            LoadError::FailedElsewhere(m) => write!(f, "{m} (a concurrent load of this key)"),
            LoadError::CachedFailure(m) => write!(f, "{m} (a recent failure, cached)"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for LoadError<E> {}
