//! The memory backend: moka's concurrent cache, one per [`Cache`](crate::Cache) and shared by
//! every worker thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::Expiry;

/// Settings of [`Cache::memory`](crate::Cache::memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOptions {
    /// The most bytes of keys and values held; past it, the least useful entries go
    /// (moka's TinyLFU). Default 64 MiB.
    pub max_bytes: u64,
    /// How long a value lives when its [`Load`](crate::Load) or `set` gives no TTL. Default:
    /// until evicted.
    pub default_ttl: Option<Duration>,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions { max_bytes: 64 * 1024 * 1024, default_ttl: None }
    }
}

/// An entry: the stored text and how long it lives.
#[derive(Clone)]
struct Entry {
    text: Arc<str>,
    ttl: Option<Duration>,
}

/// Each entry expires after its own TTL.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        entry.ttl
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        entry.ttl
    }
}

pub(crate) struct MemoryStore {
    entries: Moka<String, Entry>,
}

impl MemoryStore {
    pub(crate) fn new(options: MemoryOptions) -> MemoryStore {
        let entries = Moka::builder()
            .max_capacity(options.max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.text.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        MemoryStore { entries }
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Arc<str>> {
        self.entries.get(key).await.map(|entry| entry.text)
    }

    pub(crate) async fn set(&self, key: &str, text: Arc<str>, ttl: Option<Duration>) {
        self.entries.insert(key.to_owned(), Entry { text, ttl }).await;
    }

    pub(crate) async fn delete(&self, key: &str) -> bool {
        self.entries.remove(key).await.is_some()
    }
}
