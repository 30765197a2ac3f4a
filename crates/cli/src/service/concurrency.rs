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

use super::{in_range, MAX_MS};

/// The largest `scale`: the longest step (B, 2 s) then takes 10 s.
const MAX_SCALE: f64 = 5.0;
/// The most tasks `/counter` spawns.
const MAX_TASKS: u64 = 100_000;

/// `?scale=`, 0..=5, default 1: every step's duration is multiplied by it.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Scale {
    scale: Option<f64>,
}

fn scale(q: &Scale) -> Result<f64, HttpError> {
    in_range("scale", q.scale.unwrap_or(1.0), 0.0, MAX_SCALE)
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
pub(crate) async fn sequential(Query(q): Query<Scale>) -> Result<Json<Value>, HttpError> {
    let scale = scale(&q)?;
    let started = Instant::now();
    let a = step("A", scale, false).await.map_err(internal)?;
    let b = step("B", 2.0 * scale, false).await.map_err(internal)?;
    Ok(Json(json!({"results": [a, b], "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// The same two steps as tasks started together: 2 s, the longer one (2.1).
pub(crate) async fn concurrent(Query(q): Query<Scale>) -> Result<Json<Value>, HttpError> {
    let scale = scale(&q)?;
    let started = Instant::now();
    let a = kairos::rt::spawn_named("A", step("A", scale, false));
    let b = kairos::rt::spawn_named("B", step("B", 2.0 * scale, false));
    let a = a.await.map_err(|e| internal(e.to_string()))?.map_err(internal)?;
    let b = b.await.map_err(|e| internal(e.to_string()))?.map_err(internal)?;
    Ok(Json(json!({"results": [a, b], "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// `/gather` parameters.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct GatherQuery {
    scale: Option<f64>,
    fail: Option<String>,
    return_exceptions: Option<bool>,
}

/// gather(A 1 s, B 2 s, C 1.5 s) = 2 s (2.2). With `fail=X`, step X fails: with
/// `return_exceptions=true` its slot holds `{"error": ...}`; without, the answer is 500 with
/// the error as `detail` and the other steps are cancelled (2.3).
pub(crate) async fn gather(Query(q): Query<GatherQuery>) -> Result<Json<Value>, HttpError> {
    let scale = scale(&Scale { scale: q.scale })?;
    let fail = match q.fail.as_deref().unwrap_or("") {
        "" => None,
        name @ ("A" | "B" | "C") => Some(name.to_owned()),
        _ => {
            return Err(HttpError::validation(
                vec!["query".into(), "fail".into()],
                "Input should be '', 'A', 'B' or 'C'",
                "literal_error",
            ))
        }
    };
    let steps = [("A", 1.0), ("B", 2.0), ("C", 1.5)];
    let fails = |name: &str| fail.as_deref() == Some(name);
    let futures = steps.iter().map(|&(name, secs)| step(name, secs * scale, fails(name)));
    let started = Instant::now();
    let results: Vec<Value> = if q.return_exceptions.unwrap_or(false) {
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

/// `/wait_for` parameters, both 0..=10 000 ms.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct WaitForQuery {
    work_ms: Option<u64>,
    timeout_ms: Option<u64>,
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
pub(crate) async fn wait_for(Query(q): Query<WaitForQuery>) -> Result<Json<Value>, HttpError> {
    let work_ms = in_range("work_ms", q.work_ms.unwrap_or(3000), 0, MAX_MS)?;
    let timeout_ms = in_range("timeout_ms", q.timeout_ms.unwrap_or(1000), 0, MAX_MS)?;
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
    Ok(Json(match outcome {
        Ok(result) => json!({"status": "done", "result": result, "elapsed_s": elapsed_s,
                             "work_ms": work_ms, "timeout_ms": timeout_ms}),
        Err(_) => json!({"status": "timeout",
                         "cancelled": dropped.get() && !finished.get(),
                         "elapsed_s": elapsed_s, "work_ms": work_ms, "timeout_ms": timeout_ms}),
    }))
}

/// `/counter` parameters: `tasks` 1..=100 000, `await_between` a boolean.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct CounterQuery {
    tasks: Option<u64>,
    await_between: Option<bool>,
}

/// The race of 1.3: `tasks` tasks each read a shared counter and write it back plus one.
/// Without an await between read and write no task can interleave (one thread), so the
/// count is exact; with one, every task reads the same old value and updates are lost.
pub(crate) async fn counter(Query(q): Query<CounterQuery>) -> Result<Json<Value>, HttpError> {
    let tasks = in_range("tasks", q.tasks.unwrap_or(1000), 1, MAX_TASKS)?;
    let await_between = q.await_between.unwrap_or(false);
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
