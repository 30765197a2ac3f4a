//! Benchmarks of the process pool (issue 4), run by `bench/process_bench.sh` beside Python's
//! `ProcessPoolExecutor` doing the same work (`bench/process_bench.py`).
//!
//! `cargo run --release -p kairos-process --example process_bench [-- --quick]`
//!
//! Prints one JSON line per measurement:
//!
//! | bench | what | Python's counterpart |
//! |---|---|---|
//! | `process_round_trip` | submit a trivial job to a 1-worker `ProcessPool` and await it, one at a time | `await loop.run_in_executor(ProcessPoolExecutor(1), noop, i)` |
//! | `thread_round_trip` | the same through a 1-thread `ThreadPool` | the same through `ThreadPoolExecutor(1)` |
//! | `args_1mb` | a job whose argument is 1 MB of bytes (`serde_bytes`), returning its length | `bytes` of 1 MB, pickled |
//! | `args_1mb_vec` | the same with a plain `Vec<u8>` (serde encodes it byte by byte) | — |
//! | `cpu_1_worker`, `cpu_2_workers` | 4 × the chapter's `cpu_intensive_task(n)` on 1 and on 2 workers, n = 10,000,000 as in the chapter | the same function in Python |
//! | `cpu_big_1_worker`, `cpu_big_2_workers` | the same with n = 400,000,000, so a job lasts about as long as Python's (the speed-up is then not blurred by start-up and scheduling noise) | — |
//!
//! Round trips report the median and 90th percentile of many sequential samples; the CPU
//! runs report wall time (and the speed-up is their ratio).

use std::time::{Duration, Instant};

use kairos_process::{worker_main, ProcessFn, ProcessPool};
use kairos_rt::executor::ThreadPool;
use kairos_sync::combinator::gather;
use serde_bytes::ByteBuf;

fn noop(i: u64) -> u64 {
    i
}

fn byte_len(data: ByteBuf) -> usize {
    data.len()
}

fn vec_len(data: Vec<u8>) -> usize {
    data.len()
}

/// The chapter's `cpu_intensive_task`: `sum(i * i for i in range(n))`, exact (u128, as
/// Python's integers are). `black_box` keeps the compiler from replacing the loop with a
/// closed formula, so the CPU does the same n multiplications and additions as Python.
fn cpu_intensive_task(n: u64) -> u128 {
    (0..n).map(|i| std::hint::black_box(i as u128) * i as u128).sum()
}

static NOOP: ProcessFn<u64, u64> = ProcessFn::new("noop", noop);
static BYTE_LEN: ProcessFn<ByteBuf, usize> = ProcessFn::new("byte_len", byte_len);
static VEC_LEN: ProcessFn<Vec<u8>, usize> = ProcessFn::new("vec_len", vec_len);
static CPU_TASK: ProcessFn<u64, u128> = ProcessFn::new("cpu_intensive_task", cpu_intensive_task);

fn main() {
    worker_main(&[&NOOP, &BYTE_LEN, &VEC_LEN, &CPU_TASK]);

    let quick = std::env::args().any(|a| a == "--quick");
    let round_trips = if quick { 300 } else { 3000 };
    let big = if quick { 30 } else { 200 };
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
    };
    let cpu_n = env("CPU_N", 10_000_000);
    let cpu_n_big = env("CPU_N_BIG", if quick { 100_000_000 } else { 400_000_000 });
    let cpu_jobs = 4;

    kairos_rt::run(async move {
        let pool = ProcessPool::new(1);
        assert!(pool.wait_ready(Duration::from_secs(30)).await);

        // Trivial job through the process pool.
        let samples = measure(round_trips, |i| {
            let job = pool.spawn(&NOOP, i as u64);
            async move { assert_eq!(job.await.unwrap(), i as u64) }
        })
        .await;
        report_latency("process_round_trip", &samples);

        // Trivial job through a thread pool.
        let threads = ThreadPool::new(1);
        let samples = measure(round_trips, |i| {
            let job = threads.spawn(move || i as u64);
            async move { assert_eq!(job.await.unwrap(), i as u64) }
        })
        .await;
        report_latency("thread_round_trip", &samples);
        threads.shutdown(Duration::from_secs(1));

        // 1 MB of arguments (caution 4), borrowed: only its encoding travels.
        let data = ByteBuf::from(vec![7u8; 1 << 20]);
        let samples = measure(big, |_| {
            let job = pool.spawn_ref(&BYTE_LEN, &data);
            async move { assert_eq!(job.await.unwrap(), 1 << 20) }
        })
        .await;
        report_latency("args_1mb", &samples);
        let data = data.into_vec();
        let samples = measure(big, |_| {
            let job = pool.spawn_ref(&VEC_LEN, &data);
            async move { assert_eq!(job.await.unwrap(), 1 << 20) }
        })
        .await;
        report_latency("args_1mb_vec", &samples);
        pool.shutdown(Duration::from_secs(5)).await;

        // CPU-bound jobs on 1 and on 2 workers.
        for (bench, workers, cpu_n) in [
            ("cpu_1_worker", 1, cpu_n),
            ("cpu_2_workers", 2, cpu_n),
            ("cpu_big_1_worker", 1, cpu_n_big),
            ("cpu_big_2_workers", 2, cpu_n_big),
        ] {
            let m = cpu_n as u128; // sum of i² for i < m, in closed form
            let expected = m.saturating_sub(1) * m * (2 * m).saturating_sub(1) / 6;
            let pool = ProcessPool::new(workers);
            assert!(pool.wait_ready(Duration::from_secs(30)).await);
            let started = Instant::now();
            let results = gather((0..cpu_jobs).map(|_| pool.spawn(&CPU_TASK, cpu_n))).await;
            let elapsed = started.elapsed();
            assert!(results.into_iter().all(|r| r == Ok(expected)));
            println!(
                r#"{{"impl":"kairos","bench":"{bench}","seconds":{:.4},"jobs":{cpu_jobs},"n":{cpu_n}}}"#,
                elapsed.as_secs_f64()
            );
            pool.shutdown(Duration::from_secs(5)).await;
        }
    });
}

/// Runs `count` round trips one after the other (after a tenth as many to warm up) and
/// returns each one's duration.
async fn measure<F, Fut>(count: usize, mut one: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..count / 10 {
        one(i).await;
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        one(i).await;
        samples.push(started.elapsed());
    }
    samples
}

fn report_latency(bench: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        r#"{{"impl":"kairos","bench":"{bench}","median_us":{:.2},"p90_us":{:.2},"n":{}}}"#,
        at(0.5),
        at(0.9),
        sorted.len()
    );
}
