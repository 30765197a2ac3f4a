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

/// An entry: the stored text and when it expires.
#[derive(Clone)]
struct Entry {
    text: Arc<str>,
    deadline: Option<Instant>,
}

/// Each entry expires at its own deadline (a `set` gives a new one; a counter's increments
/// keep the window's).
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        entry.deadline.map(|deadline| deadline.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        entry.deadline.map(|deadline| deadline.saturating_duration_since(now))
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
        let deadline = ttl.map(|ttl| Instant::now() + ttl);
        self.entries.insert(key.to_owned(), Entry { text, deadline }).await;
    }

    /// One more in the counter under `key`: its count and the time left in its window (see
    /// [`Cache::increment`](crate::Cache::increment)). moka runs the update under the key's
    /// lock, so concurrent increments all count.
    pub(crate) async fn increment(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let entry = self
            .entries
            .entry(key.to_owned())
            .and_upsert_with(|existing| {
                let counted = existing.map(|entry| entry.into_value()).and_then(|entry| {
                    let deadline = entry.deadline.filter(|deadline| *deadline > now)?;
                    let count = entry.text.parse::<u64>().ok()?;
                    Some((count, deadline))
                });
                let (count, deadline) = counted.unwrap_or((0, now + window));
                let text: Arc<str> = Arc::from((count + 1).to_string());
                std::future::ready(Entry { text, deadline: Some(deadline) })
            })
            .await
            .into_value();
        let count = entry.text.parse().unwrap_or(1);
        let left =
            entry.deadline.map_or(window, |deadline| deadline.saturating_duration_since(now));
        (count, left)
    }

    /// The counter under `key`, uncounted: its count and the time left in its window, or
    /// `None` if it has none (never counted, or its window ended).
    pub(crate) async fn count(&self, key: &str) -> Option<(u64, Duration)> {
        let now = Instant::now();
        let entry = self.entries.get(key).await?;
        let left = entry.deadline?.checked_duration_since(now).filter(|left| !left.is_zero())?;
        Some((entry.text.parse().ok()?, left))
    }

    pub(crate) async fn delete(&self, key: &str) -> bool {
        self.entries.remove(key).await.is_some()
    }
}
