//! `/db/async`, `/db/sync`, `/db/bad`: the chapter's lesson (sections 3.1 and 5.1) on a
//! database. The same query — SQLite counting to `n` with a recursive CTE, CPU work inside
//! the database — three ways:
//!
//! - `/db/async`: sqlx, the async driver, awaited on the loop: the query runs on sqlx's own
//!   thread and the loop serves others meanwhile;
//! - `/db/sync`: rusqlite, a blocking driver, in a `sync` route: it blocks a thread of the
//!   sync pool, which is what that pool is for;
//! - `/db/bad`: the same blocking driver inside an `async` route: it blocks the loop, and the
//!   stall detector names the route.

use std::time::Instant;

use kairos::web::{HttpError, Json, Query, State};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::SqlitePool;

use super::database::DataError;
use super::int;

/// The query: how many rows a recursive CTE makes counting to `n` (that is, `n`).
const COUNT_TO_N: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) \
                          SELECT count(*) FROM c";

/// `?n=`: 1..=20 000 000 rows to count (about a second per 10 million here), 2 000 000 by
/// default.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Count {
    #[serde(default = "int::<2_000_000>")]
    #[schemars(range(min = 1, max = 20_000_000))]
    n: u64,
}

/// The async driver's pool: SQLite in memory (the query needs no table).
#[derive(Debug, Clone)]
pub(crate) struct LessonDb(pub(crate) SqlitePool);

impl LessonDb {
    pub(crate) async fn open() -> Result<LessonDb, sqlx::Error> {
        Ok(LessonDb(SqlitePool::connect("sqlite::memory:").await?))
    }
}

fn answer(route: &str, driver: &str, n: u64, count: i64, started: Instant) -> Json<Value> {
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    Json(json!({
        "route": route,
        "driver": driver,
        "n": n,
        "count": count,
        "elapsed_s": started.elapsed().as_secs_f64(),
        "answered_on": thread,
    }))
}

/// With rusqlite, blocking: an in-memory database of its own (opening one costs microseconds).
fn count_blocking(n: u64) -> Result<i64, HttpError> {
    let failed = |e: rusqlite::Error| {
        tracing::error!(target: "kairos::serve", "rusqlite: {e}");
        HttpError::internal()
    };
    let connection = rusqlite::Connection::open_in_memory().map_err(failed)?;
    connection.query_row(COUNT_TO_N, [n as i64], |row| row.get(0)).map_err(failed)
}

/// `GET /db/async?n=`: the async driver, awaited; the loop is free meanwhile.
pub(crate) async fn db_async(
    State(db): State<LessonDb>,
    Query(Count { n }): Query<Count>,
) -> Result<Json<Value>, DataError> {
    let started = Instant::now();
    let (count,): (i64,) = sqlx::query_as(COUNT_TO_N).bind(n as i64).fetch_one(&db.0).await?;
    Ok(answer("/db/async", "sqlx (async)", n, count, started))
}

/// `GET /db/sync?n=`: the blocking driver in a `sync` route, on the sync pool.
pub(crate) fn db_sync(Query(Count { n }): Query<Count>) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let count = count_blocking(n)?;
    Ok(answer("/db/sync", "rusqlite (blocking)", n, count, started))
}

/// `GET /db/bad?n=`: the blocking driver inside an `async` route — the mistake: the loop waits
/// for the query, and every other request on this worker with it.
pub(crate) async fn db_bad(Query(Count { n }): Query<Count>) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let count = count_blocking(n)?;
    Ok(answer("/db/bad", "rusqlite (blocking)", n, count, started))
}
