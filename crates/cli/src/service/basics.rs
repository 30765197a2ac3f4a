//! The baselines and the three places a route can run (sections 3.1 and 4.1): on the loop
//! awaiting, on the sync pool blocking, and on the loop blocking — the mistake.

use std::time::{Duration, Instant};

use kairos::web::{HttpError, Json, Query};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{int, MAX_MS};

/// `?ms=` of `/async` and `/sync`: 0..=10 000, 1000 by default.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Sleep {
    /// How long to sleep, in milliseconds.
    #[serde(default = "int::<1000>")]
    #[schemars(range(max = MAX_MS))]
    ms: u64,
}

/// `?ms=` of `/bad` and `/good`: 0..=10 000, 2000 by default.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Block {
    /// How long to block, in milliseconds.
    #[serde(default = "int::<2000>")]
    #[schemars(range(max = MAX_MS))]
    ms: u64,
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
pub(crate) async fn async_sleep(Query(Sleep { ms }): Query<Sleep>) -> Json<Value> {
    kairos::rt::sleep(Duration::from_millis(ms)).await;
    Json(json!({"type": "async", "slept_ms": ms}))
}

/// `def`: blocks a thread of the sync pool, whose name is in the answer to show where it ran.
pub(crate) fn sync_sleep(Query(Sleep { ms }): Query<Sleep>) -> Json<Value> {
    std::thread::sleep(Duration::from_millis(ms));
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    Json(json!({"type": "sync", "slept_ms": ms, "thread": thread}))
}

/// `time.sleep` inside `async def`: blocks the whole loop on purpose, so the stall detector
/// reports it and every other request on this worker waits.
pub(crate) async fn bad(Query(Block { ms }): Query<Block>) -> Json<Value> {
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    Json(json!({"result": "bad", "elapsed_s": started.elapsed().as_secs_f64()}))
}

/// The same blocking sleep through `run_in_executor` (the default executor): the loop stays
/// free.
pub(crate) async fn good(Query(Block { ms }): Query<Block>) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    kairos::rt::to_thread(move || std::thread::sleep(Duration::from_millis(ms))).await.map_err(
        |e| HttpError::new(kairos::web::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    )?;
    Ok(Json(json!({"result": "good", "elapsed_s": started.elapsed().as_secs_f64()})))
}
