//! [`Cache`]: the API, whatever the backend.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::flight::{Flights, Role};
use crate::memory::{MemoryOptions, MemoryStore};
use crate::stats::{CacheStats, Counters};
use crate::{CacheError, Load, LoadError};

/// A stored text starts with its kind: a value (JSON) or a cached failure (its message).
const VALUE: char = 'v';
const FAILURE: char = 'e';

/// A cache of serde values over memory or Redis, with one loader per key at a time; see the
/// crate docs. Cheap to clone, `Send + Sync`: one cache is shared by every worker (put it in
/// the App's state).
#[derive(Clone)]
pub struct Cache {
    shared: Arc<Shared>,
    /// Prefix of every key (`"users:"`), empty for the root.
    prefix: Arc<str>,
}

struct Shared {
    backend: Backend,
    default_ttl: Option<Duration>,
    flights: Arc<Flights>,
    counters: Counters,
}

enum Backend {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisStore),
}

/// What a read found.
enum Found {
    /// A value: the stored text as it is, its tag included (a hit copies nothing).
    Value(Arc<str>),
    Failure(Arc<str>),
    Nothing,
}

/// A stored value's JSON: its text after the tag.
fn json(stored: &str) -> &str {
    &stored[VALUE.len_utf8()..]
}

impl Cache {
    /// A cache in this process's memory.
    pub fn memory(options: MemoryOptions) -> Cache {
        Cache::with(Backend::Memory(MemoryStore::new(options)), options.default_ttl)
    }

    /// A cache in Redis at `url` (`redis://HOST:PORT[/DB]`), shared with every process that
    /// uses the same server and keys. Values without a TTL live until deleted.
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if Redis cannot be reached now (within a second).
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str) -> Result<Cache, CacheError> {
        let store = crate::redis::RedisStore::connect(url).await?;
        Ok(Cache::with(Backend::Redis(store), None))
    }

    /// The cache a URL names: `memory://` (the defaults of [`MemoryOptions`]) or
    /// `redis://...`/`rediss://...` (with the `redis` feature).
    ///
    /// # Errors
    ///
    /// [`CacheError::UnsupportedUrl`] for another scheme; [`CacheError::Backend`] if Redis
    /// cannot be reached.
    pub async fn from_url(url: &str) -> Result<Cache, CacheError> {
        if url == "memory://" || url == "memory" {
            return Ok(Cache::memory(MemoryOptions::default()));
        }
        #[cfg(feature = "redis")]
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Cache::redis(url).await;
        }
        Err(CacheError::UnsupportedUrl(url.to_owned()))
    }

    fn with(backend: Backend, default_ttl: Option<Duration>) -> Cache {
        let shared = Shared {
            backend,
            default_ttl,
            flights: Arc::new(Flights::default()),
            counters: Counters::default(),
        };
        Cache { shared: Arc::new(shared), prefix: Arc::from("") }
    }

    /// The same cache, its keys prefixed with `namespace:` (nested namespaces join:
    /// `a:b:key`). Namespaces share the backend and the counters.
    pub fn namespace(&self, namespace: &str) -> Cache {
        Cache {
            shared: Arc::clone(&self.shared),
            prefix: Arc::from(format!("{}{namespace}:", self.prefix)),
        }
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }

    /// The value under `key`, if one is cached and reads as a `T`.
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if the backend failed.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.read(&self.key(key)).await? {
            Found::Value(stored) => Ok(self.decode(json(&stored))),
            Found::Failure(_) | Found::Nothing => {
                Counters::add(&self.shared.counters.misses);
                Ok(None)
            }
        }
    }

    /// Caches `value` under `key` for `ttl` (or the cache's default).
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if the backend failed; a value serde cannot write as JSON is a
    /// backend error too (nothing is stored).
    pub async fn set<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let json = serde_json::to_string(value).map_err(|e| {
            CacheError::Backend(format!("the value cannot be written as JSON: {e}"))
        })?;
        self.write(&self.key(key), tagged(VALUE, &json), ttl.or(self.shared.default_ttl)).await
    }

    /// Adds one to the counter under `key`; returns the count and the time left in its
    /// window. The first increment starts a window of `window`, which later ones do not
    /// extend; when it ends, the counter is gone and the next increment starts again from 1
    /// — a fixed-window counter, the kind a rate limit or a brute-force limit keeps. Over
    /// Redis the count is one for every instance sharing it.
    ///
    /// A counter's key holds a number, not a cached value: read it with `increment` or
    /// [`count`](Self::count) only.
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if the backend failed.
    pub async fn increment(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<(u64, Duration), CacheError> {
        let key = self.key(key);
        let result = match &self.shared.backend {
            Backend::Memory(store) => Ok(store.increment(&key, window).await),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.increment(&key, window).await,
        };
        self.count_failure(result)
    }

    /// The counter under `key` as [`increment`](Self::increment) left it — its count and the
    /// time left in its window — without counting; `None` if there is none (never counted,
    /// or its window ended). For a limit that counts only some outcomes: look before the
    /// work, count after it when the outcome is one that counts (a failed login, say). Two
    /// such requests at once may both pass the look; the overshoot is at most the requests
    /// in flight.
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if the backend failed.
    pub async fn count(&self, key: &str) -> Result<Option<(u64, Duration)>, CacheError> {
        let key = self.key(key);
        let result = match &self.shared.backend {
            Backend::Memory(store) => Ok(store.count(&key).await),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.count(&key).await,
        };
        self.count_failure(result)
    }

    /// Removes `key`; whether it was there.
    ///
    /// # Errors
    ///
    /// [`CacheError::Backend`] if the backend failed.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        let result = match &self.shared.backend {
            Backend::Memory(store) => Ok(store.delete(&key).await),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.delete(&key).await,
        };
        self.count_failure(result)
    }

    /// The value under `key`; on a miss, `load`'s, cached as `options` say. When many
    /// requests miss the same key at once, **one** runs its loader and the others wait for
    /// and share its outcome — its value, or its failure as
    /// [`LoadError::FailedElsewhere`]. A backend that fails is skipped: the loader runs and
    /// its value is returned (the failure is counted and logged).
    ///
    /// # Errors
    ///
    /// The loader's failure ([`LoadError::Failed`]), a concurrent one's, or a cached one.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        options: Load,
        load: F,
    ) -> Result<T, LoadError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.key(key);
        let counters = &self.shared.counters;
        let mut load = Some(load);
        loop {
            let first = self.read(&key).await;
            let reachable = first.is_ok();
            match first {
                Ok(Found::Value(stored)) => {
                    if let Some(value) = self.decode(json(&stored)) {
                        return Ok(value);
                    }
                }
                Ok(Found::Failure(message)) => {
                    Counters::add(&counters.hits);
                    return Err(LoadError::CachedFailure(message));
                }
                Ok(Found::Nothing) => Counters::add(&counters.misses),
                Err(_) => {} // counted and logged by `read`: load without the cache
            }
            let leader = match self.shared.flights.join(&key) {
                Role::Leader(leader) => leader,
                Role::Waiter(wait) => match wait.await {
                    Some(outcome) => {
                        Counters::add(&counters.shared_loads);
                        return match outcome {
                            Ok(json) => serde_json::from_str(&json).map_err(|e| {
                                LoadError::FailedElsewhere(Arc::from(format!(
                                    "the value loaded for this key does not read as the type \
                                     asked for: {e}"
                                )))
                            }),
                            Err(message) => Err(LoadError::FailedElsewhere(message)),
                        };
                    }
                    None => continue, // its leader was cancelled: look again, maybe lead
                },
            };
            // A load that finished between this caller's read and its joining left its value:
            // look once more before loading again (not when the backend just failed: a second
            // timeout would only delay the load).
            if reachable {
                if let Ok(Found::Value(stored)) = self.read(&key).await {
                    if let Some(value) = self.decode(json(&stored)) {
                        leader.finish(Ok(Arc::from(json(&stored))));
                        return Ok(value);
                    }
                }
            }
            Counters::add(&counters.loads);
            let Some(load) = load.take() else { unreachable!("only a leader loads, once") };
            return match load().await {
                Ok(value) => {
                    match serde_json::to_string(&value) {
                        Ok(json) => {
                            if json != "null" || options.cache_none {
                                let ttl = options.ttl.or(self.shared.default_ttl);
                                let _ = self.write(&key, tagged(VALUE, &json), ttl).await;
                            }
                            leader.finish(Ok(Arc::from(json)));
                        }
                        Err(e) => leader.finish(Err(Arc::from(format!(
                            "the loaded value cannot be written as JSON: {e}"
                        )))),
                    }
                    Ok(value)
                }
                Err(error) => {
                    Counters::add(&counters.failed_loads);
                    let message: Arc<str> = Arc::from(error.to_string());
                    if let Some(ttl) = options.failure_ttl {
                        let _ = self.write(&key, tagged(FAILURE, &message), Some(ttl)).await;
                    }
                    leader.finish(Err(message));
                    Err(LoadError::Failed(error))
                }
            };
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Reads a stored text; a hit is counted here, a miss by the caller.
    async fn read(&self, key: &str) -> Result<Found, CacheError> {
        let text = match &self.shared.backend {
            Backend::Memory(store) => Ok(store.get(key).await),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.get(key).await,
        };
        let found = match self.count_failure(text)? {
            None => Found::Nothing,
            Some(text) => match text.chars().next() {
                Some(VALUE) => Found::Value(text),
                Some(FAILURE) => Found::Failure(Arc::from(&text[1..])),
                // Not written by this crate: as good as nothing.
                _ => Found::Nothing,
            },
        };
        Ok(found)
    }

    async fn write(
        &self,
        key: &str,
        text: Arc<str>,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let written = match &self.shared.backend {
            Backend::Memory(store) => {
                store.set(key, text, ttl).await;
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.set(key, text, ttl).await,
        };
        self.count_failure(written)
    }

    /// A value read as `T`: a hit, or — if it does not read as `T` (its type changed since it
    /// was stored) — a miss, counted as one.
    fn decode<T: DeserializeOwned>(&self, json: &str) -> Option<T> {
        match serde_json::from_str(json) {
            Ok(value) => {
                Counters::add(&self.shared.counters.hits);
                Some(value)
            }
            Err(e) => {
                Counters::add(&self.shared.counters.misses);
                tracing::debug!(target: "kairos::cache", "a cached value did not read back: {e}");
                None
            }
        }
    }

    fn count_failure<T>(&self, result: Result<T, CacheError>) -> Result<T, CacheError> {
        if let Err(error) = &result {
            Counters::add(&self.shared.counters.backend_errors);
            tracing::warn!(target: "kairos::cache", "{error}");
        }
        result
    }
}

fn tagged(kind: char, text: &str) -> Arc<str> {
    let mut tagged = String::with_capacity(text.len() + 1);
    tagged.push(kind);
    tagged.push_str(text);
    Arc::from(tagged)
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.shared.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("Cache")
            .field("backend", &backend)
            .field("namespace", &self.prefix)
            .field("stats", &self.stats())
            .finish()
    }
}
