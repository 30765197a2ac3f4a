//! The Redis backend: the redis crate's connection manager (one multiplexed connection,
//! reconnected by itself), its tokio futures run on kairos loops through `kairos-tokio`.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use crate::CacheError;

/// How long a command or a connection attempt may take before the cache counts Redis as
/// unavailable: a request must never hang on its cache.
const TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) struct RedisStore {
    manager: ConnectionManager,
}

fn backend(error: redis::RedisError) -> CacheError {
    CacheError::Backend(error.to_string())
}

impl RedisStore {
    pub(crate) async fn connect(url: &str) -> Result<RedisStore, CacheError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let manager = kairos_tokio::compat(ConnectionManager::new_with_config(client, config))
            .await
            .map_err(backend)?;
        Ok(RedisStore { manager })
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Arc<str>>, CacheError> {
        let mut connection = self.manager.clone();
        let text: Option<String> = kairos_tokio::compat(async move { connection.get(key).await })
            .await
            .map_err(backend)?;
        Ok(text.map(Arc::from))
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        text: Arc<str>,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let mut connection = self.manager.clone();
        kairos_tokio::compat(async move {
            match ttl {
                // Whole milliseconds, at least one: Redis refuses a zero expiry.
                Some(ttl) => {
                    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                    connection.pset_ex::<_, _, ()>(key, &*text, ms).await
                }
                None => connection.set::<_, _, ()>(key, &*text).await,
            }
        })
        .await
        .map_err(backend)
    }

    /// `INCR`, then the window's expiry if the key has none yet (`PEXPIRE ... NX`, Redis 7),
    /// then what is left of it — in one transaction, so every instance sees one count.
    pub(crate) async fn increment(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<(u64, Duration), CacheError> {
        let mut connection = self.manager.clone();
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (count, left): (u64, i64) = kairos_tokio::compat(async move {
            let (count, _, left): (u64, i64, i64) = redis::pipe()
                .atomic()
                .incr(key, 1)
                .cmd("PEXPIRE")
                .arg(key)
                .arg(ms)
                .arg("NX")
                .pttl(key)
                .query_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>((count, left))
        })
        .await
        .map_err(backend)?;
        let left = u64::try_from(left).map_or(window, Duration::from_millis);
        Ok((count, left))
    }

    pub(crate) async fn count(&self, key: &str) -> Result<Option<(u64, Duration)>, CacheError> {
        let mut connection = self.manager.clone();
        let (count, left): (Option<String>, i64) = kairos_tokio::compat(async move {
            redis::pipe().atomic().get(key).pttl(key).query_async(&mut connection).await
        })
        .await
        .map_err(backend)?;
        // PTTL is -2 for a key that is gone and -1 for one without a window: no counter.
        let left = u64::try_from(left).ok().filter(|ms| *ms > 0).map(Duration::from_millis);
        Ok(left.and_then(|left| Some((count?.parse().ok()?, left))))
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let mut connection = self.manager.clone();
        let removed: u64 = kairos_tokio::compat(async move { connection.del(key).await })
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }
}
