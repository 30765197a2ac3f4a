//! `/cached`: aiocache's role (the chapter's next steps) — a loader that takes `ms` runs once
//! per key however many requests miss it at once, and the answer says how many times it ran.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kairos::web::http::StatusCode;
use kairos::web::{HttpError, Json, Query, State};
use kairos_cache::{Cache, Load, LoadError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{int, MAX_MS};

/// How long a loaded value stays cached.
const TTL: Duration = Duration::from_secs(30);

/// `?key=&ms=`: the key (1 to 100 characters) and how long its loader takes (0..=10 000 ms,
/// 200 by default).
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Lookup {
    #[schemars(length(min = 1, max = 100))]
    key: String,
    #[serde(default = "int::<200>")]
    #[schemars(range(max = MAX_MS))]
    ms: u64,
}

/// Keys whose loads are counted at once.
const MAX_COUNTED_KEYS: usize = 10_000;

/// How many times the loader ran, per key, since the server started (all workers; the counts
/// start again past 10,000 keys).
#[derive(Default)]
pub(crate) struct Loads(Mutex<HashMap<String, u64>>);

impl Loads {
    fn count(&self, key: &str) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied().unwrap_or(0)
    }

    fn add(&self, key: &str) {
        let mut loads = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded like the cache: a client asking for endless new keys must not grow it
        // forever. Past the bound the counts start again.
        if loads.len() >= MAX_COUNTED_KEYS && !loads.contains_key(key) {
            loads.clear();
        }
        *loads.entry(key.to_owned()).or_default() += 1;
    }
}

/// What the loader makes: the key, and when.
#[derive(Serialize, Deserialize)]
struct Loaded {
    key: String,
    loaded_at_unix_ms: u128,
}

/// `GET /cached?key=&ms=`: the key's value from the cache, or from a loader that sleeps `ms`
/// (one per key at a time); `"loads"` is how many times that loader has run.
pub(crate) async fn cached(
    State(cache): State<Cache>,
    State(loads): State<Loads>,
    Query(Lookup { key, ms }): Query<Lookup>,
) -> Result<Json<Value>, HttpError> {
    let loaded = cache
        .get_or_load(&key, Load::ttl(TTL), || async {
            loads.add(&key);
            kairos::rt::sleep(Duration::from_millis(ms)).await;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            Ok::<_, String>(Loaded {
                key: key.clone(),
                loaded_at_unix_ms: now.map_or(0, |d| d.as_millis()),
            })
        })
        .await
        .map_err(|e: LoadError<String>| {
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        })?;
    let stats = cache.stats();
    Ok(Json(json!({
        "key": loaded.key,
        "loaded_at_unix_ms": loaded.loaded_at_unix_ms,
        "loads": loads.count(&key),
        "cache": {
            "hits": stats.hits,
            "misses": stats.misses,
            "shared_loads": stats.shared_loads,
            "backend_errors": stats.backend_errors,
        },
    })))
}
