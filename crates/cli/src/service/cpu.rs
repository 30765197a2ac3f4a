//! CPU-bound work (section 6.2): the same sum of squares on a process pool, a thread pool, or
//! inline on the loop — the last one to show the harm (the loop answers nothing meanwhile).

use std::cell::OnceCell;
use std::time::Instant;

use kairos::rt::process::{ProcessFn, ProcessPool};
use kairos::rt::ThreadPool;
use kairos::web::http::StatusCode;
use kairos::web::{HttpError, Json, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{in_range, Settings};

/// The largest `n`: about a second of work inline on a modern core.
const MAX_N: u64 = 200_000_000;

/// The sum of `i * i` for `i` below `n`, wrapping (the point is the work, not the number).
// One copy of the loop for every pool: inlined into the thread pool's closure it compiled
// to code 1.7x slower than the same loop called from the loop or a process-pool worker
// (126 ms against 75 ms for n = 200,000,000, measured by bench/run.sh).
#[inline(never)]
pub(crate) fn sum_of_squares(n: u64) -> u64 {
    // `black_box` on the running sum: without it a release build folds the loop into the
    // closed form n(n-1)(2n-1)/6 and `/cpu` does no work at all, which is not the lesson.
    (0..n).map(|i| i.wrapping_mul(i)).fold(0, |sum, x| std::hint::black_box(sum.wrapping_add(x)))
}

/// [`sum_of_squares`] as a process-pool job; `main` lists it in `worker_main`.
pub(crate) static CPU_TASK: ProcessFn<u64, u64> = ProcessFn::new("sum_of_squares", sum_of_squares);

/// The shared CPU thread pool, as app state.
pub(crate) struct CpuPool(pub(crate) ThreadPool);

thread_local! {
    // A process pool belongs to the loop that made it (its pipes are on that loop's reactor),
    // so each worker thread makes its own, on the first `/cpu?pool=process`.
    static PROCESS_POOL: OnceCell<ProcessPool> = const { OnceCell::new() };
}

/// `/cpu` parameters: `n` 0..=200 000 000, `pool` one of `process`, `thread`, `inline`.
#[derive(Deserialize)]
pub(crate) struct CpuQuery {
    n: Option<u64>,
    pool: Option<String>,
}

fn internal(e: impl ToString) -> HttpError {
    HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Sum of squares below `n` on the chosen pool: `{"result", "pool", "elapsed_s"}`.
pub(crate) async fn cpu(
    Query(q): Query<CpuQuery>,
    State(settings): State<Settings>,
    State(cpu_pool): State<CpuPool>,
) -> Result<Json<Value>, HttpError> {
    let n = in_range("n", q.n.unwrap_or(10_000_000), 0, MAX_N)?;
    let pool = q.pool.unwrap_or_else(|| "process".to_owned());
    let started = Instant::now();
    let result = match pool.as_str() {
        "process" => {
            let pool = PROCESS_POOL
                .with(|cell| cell.get_or_init(|| ProcessPool::new(settings.process_pool)).clone());
            pool.spawn(&CPU_TASK, n).await.map_err(internal)?
        }
        "thread" => kairos::rt::run_in_executor(&cpu_pool.0, move || sum_of_squares(n))
            .await
            .map_err(internal)?,
        "inline" => sum_of_squares(n),
        _ => {
            return Err(HttpError::validation(
                vec!["query".into(), "pool".into()],
                "Input should be 'process', 'thread' or 'inline'",
                "literal_error",
            ))
        }
    };
    Ok(Json(json!({"result": result, "pool": pool, "n": n,
                   "elapsed_s": started.elapsed().as_secs_f64()})))
}
