//! The baselines and the three places a route can run (sections 3.1 and 4.1): on the loop
//! awaiting, on the sync pool blocking, and on the loop blocking — the mistake.

use std::time::{Duration, Instant};

use kairos::web::{HttpError, Json, Query};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{in_range, MAX_MS};

/// `?ms=`, 0..=10 000; each route has its own default, as the table shows.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Ms {
    ms: Option<u64>,
}

impl Ms {
    fn get(&self, default: u64) -> Result<u64, HttpError> {
        in_range("ms", self.ms.unwrap_or(default), 0, MAX_MS)
    }
}

/// `Hello, World!` as text: the benchmark baseline.
pub(crate) async fn plaintext() -> &'static str {
    "Hello, World!"
}

/// `{"message":"Hello, World!"}`: the JSON benchmark baseline.
pub(crate) async fn json() -> Json<Value> {
    Json(json!({"message": "Hello, World!"}))
}

/// `async def`: sleeps on the loop, so other requests run meanwhile.
pub(crate) async fn async_sleep(Query(q): Query<Ms>) -> Result<Json<Value>, HttpError> {
    let ms = q.get(1000)?;
    kairos::rt::sleep(Duration::from_millis(ms)).await;
    Ok(Json(json!({"type": "async", "slept_ms": ms})))
}

/// `def`: blocks a thread of the sync pool, whose name is in the answer to show where it ran.
pub(crate) fn sync_sleep(Query(q): Query<Ms>) -> Result<Json<Value>, HttpError> {
    let ms = q.get(1000)?;
    std::thread::sleep(Duration::from_millis(ms));
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    Ok(Json(json!({"type": "sync", "slept_ms": ms, "thread": thread})))
}

/// `time.sleep` inside `async def`: blocks the whole loop on purpose, so the stall detector
/// reports it and every other request on this worker waits.
pub(crate) async fn bad(Query(q): Query<Ms>) -> Result<Json<Value>, HttpError> {
    let ms = q.get(2000)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    Ok(Json(json!({"result": "bad", "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// The same blocking sleep through `run_in_executor` (the default executor): the loop stays
/// free.
pub(crate) async fn good(Query(q): Query<Ms>) -> Result<Json<Value>, HttpError> {
    let ms = q.get(2000)?;
    let started = Instant::now();
    kairos::rt::to_thread(move || std::thread::sleep(Duration::from_millis(ms))).await.map_err(
        |e| HttpError::new(kairos::web::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    )?;
    Ok(Json(json!({"result": "good", "elapsed_s": started.elapsed().as_secs_f64()})))
}
