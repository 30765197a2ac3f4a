//! Seed 2.1 and 2.2: awaiting coroutines one by one vs running them as tasks or with gather.
//!
//! `cargo run --release -p kairos-rt --example sequential_vs_concurrent`

use std::time::{Duration, Instant};

use kairos_rt::{sleep, spawn};
use kairos_sync::combinator::gather;

async fn slow_operation(name: &str, seconds: f64) -> String {
    println!("  {name}: start");
    sleep(Duration::from_secs_f64(seconds)).await;
    println!("  {name}: done");
    format!("{name} result")
}

fn main() {
    kairos_rt::run(async {
        println!("sequential: await A (1 s), then await B (2 s)");
        let started = Instant::now();
        let a = slow_operation("A", 1.0).await;
        let b = slow_operation("B", 2.0).await;
        report(&[a, b], started, 3.0);

        println!("concurrent: create_task(A), create_task(B), then await both");
        let started = Instant::now();
        let task_a = spawn(slow_operation("A", 1.0));
        let task_b = spawn(slow_operation("B", 2.0));
        let results = [task_a.await.unwrap(), task_b.await.unwrap()];
        report(&results, started, 2.0);

        println!("gather(A 1 s, B 2 s, C 1.5 s)");
        let started = Instant::now();
        let results =
            gather([slow_operation("A", 1.0), slow_operation("B", 2.0), slow_operation("C", 1.5)])
                .await;
        report(&results, started, 2.0);
    });
}

fn report(results: &[String], started: Instant, expected: f64) {
    let measured = started.elapsed().as_secs_f64();
    println!("  results {results:?}: expected ~{expected:.1} s, measured {measured:.3} s\n");
}
