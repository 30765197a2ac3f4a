//! Issue 13's service routes: `GET /items/{id}` through sqlx's `Any` driver (SQLite or
//! PostgreSQL, by `DATABASE_URL`, as kairos serve's `--database-url`), and `GET /cached` over
//! moka, the crate behind kairos-cache's memory backend.
//!
//! The same pool as kairos serve (sqlx `Any`, 5 connections, 2 s to acquire one), the same
//! query, the same JSON (`{"id","name","price","description"}`) and the same 404 body
//! (`{"detail":"no item N"}`). `/cached` answers kairos' shape: the value (key, when it was
//! loaded), how many times its loader ran, and the cache's hit and miss counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// kairos serve's `--database-pool` default.
const POOL_SIZE: u32 = 5;
/// kairos' cached values live 30 s.
const TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Data {
    pool: Option<AnyPool>,
    cache: moka::future::Cache<String, Arc<Loaded>>,
    loads: Arc<Mutex<HashMap<String, u64>>>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

#[derive(Serialize)]
struct Item {
    id: i64,
    name: String,
    price: f64,
    description: Option<String>,
}

struct Loaded {
    key: String,
    loaded_at_unix_ms: u128,
}

impl Data {
    /// The pool for `$DATABASE_URL` (none without it: /items then answers 503).
    pub async fn open() -> Data {
        let pool = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                sqlx::any::install_default_drivers();
                Some(
                    AnyPoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(Duration::from_secs(2))
                        .connect(&url)
                        .await
                        .unwrap_or_else(|e| panic!("cannot open {url}: {e}")),
                )
            }
            _ => None,
        };
        Data {
            pool,
            cache: moka::future::Cache::builder().time_to_live(TTL).max_capacity(10_000).build(),
            loads: Arc::default(),
            hits: Arc::default(),
            misses: Arc::default(),
        }
    }
}

fn detail(status: StatusCode, detail: String) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

async fn read(State(data): State<Data>, Path(id): Path<u64>) -> Response {
    let Some(pool) = &data.pool else {
        return detail(StatusCode::SERVICE_UNAVAILABLE, "no DATABASE_URL".into());
    };
    let Ok(id) = i64::try_from(id) else {
        return detail(StatusCode::NOT_FOUND, format!("no item {}", i64::MAX));
    };
    let row = sqlx::query("SELECT id, name, price, description FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await;
    let item = |row: &sqlx::any::AnyRow| -> Result<Item, sqlx::Error> {
        Ok(Item {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            price: row.try_get("price")?,
            description: row.try_get("description")?,
        })
    };
    match row.and_then(|row| row.as_ref().map(item).transpose()) {
        Ok(Some(item)) => Json(item).into_response(),
        Ok(None) => detail(StatusCode::NOT_FOUND, format!("no item {id}")),
        Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `?key=&ms=` (axum's `Query` needs its `query` feature, off here: parsed by hand; the keys
/// benchmarked need no percent-decoding).
fn lookup(uri: &Uri) -> Option<(String, u64)> {
    let (mut key, mut ms) = (None, Some(200));
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("key", value)) => key = Some(value.to_owned()),
            Some(("ms", value)) => ms = value.parse().ok(),
            _ => {}
        }
    }
    Some((key?, ms?))
}

async fn cached(State(data): State<Data>, uri: Uri) -> Response {
    let Some((key, ms)) = lookup(&uri) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "bad key or ms".into());
    };
    if key.is_empty() || key.len() > 100 || ms > 10_000 {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "bad key or ms".into());
    }
    // One loader per key at a time (moka's entry API), as kairos-cache's get_or_load.
    let entry = data
        .cache
        .entry_by_ref(key.as_str())
        .or_insert_with(async {
            *data.loads.lock().unwrap().entry(key.clone()).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            Arc::new(Loaded {
                key: key.clone(),
                loaded_at_unix_ms: now.map_or(0, |d| d.as_millis()),
            })
        })
        .await;
    if entry.is_fresh() { &data.misses } else { &data.hits }.fetch_add(1, Ordering::Relaxed);
    let loaded = entry.into_value();
    let loads = data.loads.lock().unwrap().get(&key).copied().unwrap_or(0);
    Json(json!({
        "key": loaded.key,
        "loaded_at_unix_ms": loaded.loaded_at_unix_ms,
        "loads": loads,
        "cache": {
            "hits": data.hits.load(Ordering::Relaxed),
            "misses": data.misses.load(Ordering::Relaxed),
        },
    }))
    .into_response()
}

/// `/items/{id}` and `/cached`, with their own state.
pub fn routes<S>(data: Data) -> Router<S> {
    Router::new().route("/items/{id}", get(read)).route("/cached", get(cached)).with_state(data)
}
