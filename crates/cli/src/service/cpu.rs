//! CPU-bound work (section 6.2): the same sum of squares on a process pool, a thread pool, or
//! inline on the loop — the last one to show the harm (the loop answers nothing meanwhile).

use std::cell::OnceCell;
use std::time::Instant;

use kairos::process::{ProcessFn, ProcessPool};
use kairos::rt::ThreadPool;
use kairos::web::http::StatusCode;
use kairos::web::{HttpError, Json, Query, State, WorkerState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{int, Settings};

/// The largest `n`: a few seconds of work inline on a 2020s core (about half a nanosecond a
/// term), so that `pool=inline` can hold the loop long enough for anyone to see it stall.
pub(crate) const MAX_N: u64 = 5_000_000_000;

/// The sum of `i * i` for `i` below `n`, exact, as Python's is.
///
/// Why `u128` cannot overflow for `n <= MAX_N`: the sum is (n-1)·n·(2n-1)/6 < n³/3, which for
/// n = 5·10⁹ is under 4.2·10²⁸ < 2⁹⁶ ≈ 7.9·10²⁸, far below u128's 2¹²⁸ ≈ 3.4·10³⁸; each term
/// i² < 2.5·10¹⁹ already exceeds u64 (1.8·10¹⁹), hence the `u128` from the first multiply.
/// `tests::the_largest_sum_fits` checks the same with the closed form.
// One copy of the loop for every pool: inlined into the thread pool's closure it compiled
// to code 1.7x slower than the same loop called from the loop or a process-pool worker
// (126 ms against 75 ms for n = 200,000,000, measured by bench/run.sh).
#[inline(never)]
pub(crate) fn sum_of_squares(n: u64) -> u128 {
    // `black_box` on the running sum: without it a release build folds the loop into the
    // closed form n(n-1)(2n-1)/6 and `/cpu` does no work at all, which is not the lesson.
    (0..n).map(|i| u128::from(i) * u128::from(i)).fold(0, |sum, x| std::hint::black_box(sum + x))
}

/// [`sum_of_squares`] as a process-pool job; `main` lists it in `worker_main`.
pub(crate) static CPU_TASK: ProcessFn<u64, u128> = ProcessFn::new("sum_of_squares", sum_of_squares);

/// The shared CPU thread pool, as app state.
pub(crate) struct CpuPool(pub(crate) ThreadPool);

/// A worker's process pool, as worker state: a process pool belongs to the loop that made it
/// (its pipes are on that loop's reactor), so each worker makes its own, on the first
/// `/cpu?pool=process`.
#[derive(Default)]
pub(crate) struct WorkerProcessPool(OnceCell<ProcessPool>);

/// Where `/cpu` runs its work — FastAPI's `Literal["process", "thread", "inline"]` (values on
/// the field, hence `inline`: a bad one is a `literal_error`).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum Pool {
    #[default]
    Process,
    Thread,
    Inline,
}

/// `/cpu` parameters: `n` 0..=5 000 000 000 (10 000 000 by default), `pool`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct CpuQuery {
    /// The sum is of the squares of 0..n.
    #[serde(default = "int::<10_000_000>")]
    #[schemars(range(max = MAX_N))]
    n: u64,
    /// Where the work runs: a process pool, the CPU thread pool, or the loop itself.
    #[serde(default)]
    pool: Pool,
}

fn internal(e: impl ToString) -> HttpError {
    HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `/cpu`'s answer. A struct rather than `json!`: a `serde_json::Value` holds no integer past
/// u64, while the serializer writes a `u128` as its exact digits. Fields in alphabetical
/// order, the order `json!`'s map gives every other answer.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CpuAnswer {
    elapsed_s: f64,
    n: u64,
    pool: Pool,
    result: u128,
}

/// Sum of squares below `n` on the chosen pool: `{"elapsed_s", "n", "pool", "result"}`.
pub(crate) async fn cpu(
    Query(q): Query<CpuQuery>,
    State(settings): State<Settings>,
    State(cpu_pool): State<CpuPool>,
    WorkerState(process_pool): WorkerState<WorkerProcessPool>,
) -> Result<Json<CpuAnswer>, HttpError> {
    let CpuQuery { n, pool } = q;
    let started = Instant::now();
    let result = match pool {
        Pool::Process => {
            let pool = process_pool.0.get_or_init(|| ProcessPool::new(settings.process_pool));
            pool.spawn(&CPU_TASK, n).await.map_err(internal)?
        }
        Pool::Thread => kairos::rt::run_in_executor(&cpu_pool.0, move || sum_of_squares(n))
            .await
            .map_err(internal)?,
        Pool::Inline => sum_of_squares(n),
    };
    Ok(Json(CpuAnswer { elapsed_s: started.elapsed().as_secs_f64(), n, pool, result }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed form (n-1)·n·(2n-1)/6, in u128 (its largest product, 2·MAX_N³ = 2.5·10²⁹,
    /// fits too).
    fn closed_form(n: u64) -> u128 {
        let n = u128::from(n);
        n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6
    }

    #[test]
    fn the_loop_agrees_with_the_closed_form() {
        for n in [0, 1, 2, 3, 4, 1000, 100_000] {
            assert_eq!(sum_of_squares(n), closed_form(n), "n = {n}");
        }
        assert_eq!(sum_of_squares(1000), 332_833_500);
    }

    #[test]
    fn the_largest_sum_fits() {
        // Every partial sum is below the last, so the last fitting proves the loop never
        // overflows; and it is past u64, which is why the sum is a u128.
        let largest = closed_form(MAX_N);
        assert!(largest < 1 << 96, "{largest}");
        assert!(largest > u128::from(u64::MAX));
        let last_term = u128::from(MAX_N - 1) * u128::from(MAX_N - 1);
        assert!(last_term > u128::from(u64::MAX), "a term alone needs more than 64 bits");
    }
}
