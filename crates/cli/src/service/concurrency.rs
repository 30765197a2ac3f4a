//! Tasks, gather, wait_for and the single-thread race (sections 1.3, 2.1–2.3).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos::sync::combinator::{gather as gather_all, try_gather};
use kairos::web::http::StatusCode;
use kairos::web::{HttpError, Json, Query};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{int, MAX_MS};

/// The largest `scale`: the longest step (B, 2 s) then takes 10 s.
const MAX_SCALE: f64 = 5.0;
/// The most tasks `/counter` spawns.
const MAX_TASKS: u64 = 100_000;

fn one() -> f64 {
    1.0
}

/// `?scale=`, 0..=5, default 1: every step's duration is multiplied by it.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Scale {
    /// Every step's duration is multiplied by this (0 makes them instant).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = MAX_SCALE))]
    scale: f64,
}

/// One step of the chapter's examples: sleeps `secs`, then answers `"<name> result"`, or
/// fails with `"<name> failed"` when asked to.
async fn step(name: &'static str, secs: f64, fail: bool) -> Result<String, String> {
    kairos::rt::sleep(Duration::from_secs_f64(secs)).await;
    if fail {
        Err(format!("{name} failed"))
    } else {
        Ok(format!("{name} result"))
    }
}

fn internal(detail: impl Into<Value>) -> HttpError {
    HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
}

/// A 1 s then B 2 s, each awaited in turn: 3 s (2.1).
pub(crate) async fn sequential(
    Query(Scale { scale }): Query<Scale>,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let a = step("A", scale, false).await.map_err(internal)?;
    let b = step("B", 2.0 * scale, false).await.map_err(internal)?;
    Ok(Json(json!({"results": [a, b], "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// The same two steps as tasks started together: 2 s, the longer one (2.1).
pub(crate) async fn concurrent(
    Query(Scale { scale }): Query<Scale>,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let a = kairos::rt::spawn_named("A", step("A", scale, false));
    let b = kairos::rt::spawn_named("B", step("B", 2.0 * scale, false));
    let a = a.await.map_err(|e| internal(e.to_string()))?.map_err(internal)?;
    let b = b.await.map_err(|e| internal(e.to_string()))?.map_err(internal)?;
    Ok(Json(json!({"results": [a, b], "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// `/gather`'s `fail`: which step fails, if any — FastAPI's `Literal["", "A", "B", "C"]`
/// (values on the field, hence `inline`: a bad one is a `literal_error`).
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[schemars(inline)]
pub(crate) enum Fail {
    #[default]
    #[serde(rename = "")]
    None,
    A,
    B,
    C,
}

/// `/gather` parameters: `scale` 0..=5, default 1; `fail` ""/A/B/C; `return_exceptions`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct GatherQuery {
    /// Every step's duration is multiplied by this (0 makes them instant).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = MAX_SCALE))]
    scale: f64,
    /// The step that fails, if any.
    #[serde(default)]
    fail: Fail,
    /// `gather(..., return_exceptions=True)`: a failure is a result, not the answer.
    #[serde(default)]
    return_exceptions: bool,
}

/// gather(A 1 s, B 2 s, C 1.5 s) = 2 s (2.2). With `fail=X`, step X fails: with
/// `return_exceptions=true` its slot holds `{"error": ...}`; without, the answer is 500 with
/// the error as `detail` and the other steps are cancelled (2.3).
pub(crate) async fn gather(Query(q): Query<GatherQuery>) -> Result<Json<Value>, HttpError> {
    let scale = q.scale;
    let fail = match q.fail {
        Fail::None => None,
        Fail::A => Some("A"),
        Fail::B => Some("B"),
        Fail::C => Some("C"),
    };
    let steps = [("A", 1.0), ("B", 2.0), ("C", 1.5)];
    let fails = |name: &str| fail == Some(name);
    let futures = steps.iter().map(|&(name, secs)| step(name, secs * scale, fails(name)));
    let started = Instant::now();
    let results: Vec<Value> = if q.return_exceptions {
        gather_all(futures)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(value) => Value::String(value),
                Err(error) => json!({"error": error}),
            })
            .collect()
    } else {
        try_gather(futures).await.map_err(internal)?.into_iter().map(Value::String).collect()
    };
    Ok(Json(json!({"results": results, "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// `/wait_for` parameters, both 0..=10 000 ms: 3000 ms of work, a timeout of 1000.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct WaitForQuery {
    /// How long the task works, in milliseconds.
    #[serde(default = "int::<3000>")]
    #[schemars(range(max = MAX_MS))]
    work_ms: u64,
    /// How long `wait_for` waits for it, in milliseconds.
    #[serde(default = "int::<1000>")]
    #[schemars(range(max = MAX_MS))]
    timeout_ms: u64,
}

/// Drops a flag when the work is dropped: how the answer knows the task was cancelled (its
/// `finally` ran).
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A task of `work_ms` under `wait_for(timeout_ms)` (2.3): on timeout the task is cancelled,
/// and the answer says so from the task's own cleanup.
pub(crate) async fn wait_for(
    Query(WaitForQuery { work_ms, timeout_ms }): Query<WaitForQuery>,
) -> Json<Value> {
    let dropped = Rc::new(Cell::new(false));
    let finished = Rc::new(Cell::new(false));
    let work = {
        let guard = SetOnDrop(Rc::clone(&dropped));
        let finished = Rc::clone(&finished);
        async move {
            let _guard = guard;
            kairos::rt::sleep(Duration::from_millis(work_ms)).await;
            finished.set(true);
            "work result"
        }
    };
    let started = Instant::now();
    let outcome = kairos::rt::wait_for(work, Duration::from_millis(timeout_ms)).await;
    let elapsed_s = started.elapsed().as_secs_f64();
    Json(match outcome {
        Ok(result) => json!({"status": "done", "result": result, "elapsed_s": elapsed_s,
                             "work_ms": work_ms, "timeout_ms": timeout_ms}),
        Err(_) => json!({"status": "timeout",
                         "cancelled": dropped.get() && !finished.get(),
                         "elapsed_s": elapsed_s, "work_ms": work_ms, "timeout_ms": timeout_ms}),
    })
}

/// `/counter` parameters: `tasks` 1..=100 000 (1000 by default), `await_between` a boolean.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct CounterQuery {
    /// How many tasks increment the counter.
    #[serde(default = "int::<1000>")]
    #[schemars(range(min = 1, max = MAX_TASKS))]
    tasks: u64,
    /// Whether each task awaits between reading the counter and writing it.
    #[serde(default)]
    await_between: bool,
}

/// The race of 1.3: `tasks` tasks each read a shared counter and write it back plus one.
/// Without an await between read and write no task can interleave (one thread), so the
/// count is exact; with one, every task reads the same old value and updates are lost.
pub(crate) async fn counter(Query(q): Query<CounterQuery>) -> Result<Json<Value>, HttpError> {
    let CounterQuery { tasks, await_between } = q;
    let count = Rc::new(Cell::new(0u64));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let count = Rc::clone(&count);
            kairos::rt::spawn(async move {
                let read = count.get();
                if await_between {
                    kairos::rt::yield_now().await;
                }
                count.set(read + 1);
            })
        })
        .collect();
    for handle in handles {
        handle.await.map_err(|e| internal(e.to_string()))?;
    }
    Ok(Json(json!({"expected": tasks, "final": count.get(), "await_between": await_between})))
}
