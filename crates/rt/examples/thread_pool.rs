//! Seed 3.2: a dedicated pool, `ThreadPoolExecutor(max_workers=4, thread_name_prefix="cpu")`,
//! and CPU-bound work that runs in parallel on it while the loop stays free.
//!
//! `cargo run --release -p kairos-rt --example thread_pool`

use std::time::{Duration, Instant};

use kairos_rt::executor::ThreadPool;
use kairos_rt::{run_in_executor, sleep, spawn};
use kairos_sync::combinator::gather;

/// The chapter's `sum(x ** 2 for x in data)`; `black_box` keeps the compiler from replacing
/// the loop with a closed formula, so the CPU really works.
fn heavy_computation(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, x| acc.wrapping_add(std::hint::black_box(x).wrapping_mul(x)))
}

fn main() {
    kairos_rt::run(async {
        let cpu_pool = ThreadPool::builder().max_workers(4).thread_name_prefix("cpu").build();
        let n = 300_000_000;
        let started = Instant::now();
        heavy_computation(std::hint::black_box(n));
        let one = started.elapsed();

        let heartbeat = spawn(async {
            let mut beats = 0;
            for _ in 0..1000 {
                sleep(Duration::from_millis(10)).await;
                beats += 1;
            }
            beats
        });
        let started = Instant::now();
        let jobs = (0..2).map(|_| run_in_executor(&cpu_pool, move || heavy_computation(n)));
        let results = gather(jobs).await;
        let two = started.elapsed();
        heartbeat.cancel();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        println!(
            "one job inline: {:.3} s; two jobs on the pool: {:.3} s (expected about the same \
             on {cores}+ cores: threads run in parallel, there is no GIL); results agree: {}",
            one.as_secs_f64(),
            two.as_secs_f64(),
            results.iter().all(|r| r.as_ref().ok() == results[0].as_ref().ok())
        );
        println!("pool stats: {:?}", cpu_pool.stats());
    });
}
