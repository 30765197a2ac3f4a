//! What a fleet-wide permit costs beside an in-process one: kairos-sync's `Semaphore` against
//! kairos-cache's `FleetSemaphore` (and `FleetRateLimit`) over a real Redis on loopback, in
//! interleaved rounds of a fixed duration, side by side in one run.
//!
//! `bash bench/fleet.sh` runs it with Redis and this process pinned to different cores; by
//! hand: `FLEET_BENCH_REDIS=redis://127.0.0.1:6379 cargo bench -p kairos-cache --bench fleet
//! -- [--seconds 5] [--rounds 3]`.
//!
//! Each round runs every case for `--seconds`, in an order that alternates between rounds,
//! and prints one line per case: operations per second and the time of one. The summary
//! gives each case's median over the rounds and its ratio to the in-process semaphore.
//!
//! - `process uncontended`: acquire then drop, one task (`kairos_sync::Semaphore`);
//! - `fleet uncontended`: `acquire().await` then `release().await`, one task — two script
//!   runs, two round trips to Redis, and the permit's renewal task spawned and cancelled;
//! - `fleet try_acquire`: `try_acquire` then `release`;
//! - `fleet contended 16 tasks / 4 permits`: 16 tasks of one process each acquiring and
//!   releasing in a loop, 4 permits: waiting, the grant's message, the handoff;
//! - `process contended 16 tasks / 4 permits`: the same with the in-process semaphore;
//! - `rate limit decision`: one `FleetRateLimit::try_acquire` (a limit never reached).
#![allow(missing_docs)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_cache::{Fleet, FleetSemaphore};

/// One case: its name and how to run it for a while; returns the operations done.
type Case = (&'static str, fn(Fleet, Duration) -> u64);

const CASES: &[Case] = &[
    ("process uncontended", process_uncontended),
    ("fleet uncontended", fleet_uncontended),
    ("fleet try_acquire", fleet_try_acquire),
    ("process contended 16 tasks / 4 permits", process_contended),
    ("fleet contended 16 tasks / 4 permits", fleet_contended),
    ("rate limit decision", rate_limit),
];

fn main() {
    let mut seconds = 5;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds N"),
            "--rounds" => rounds = args.next().and_then(|s| s.parse().ok()).expect("--rounds N"),
            _ => {} // cargo bench passes --bench
        }
    }
    let url = std::env::var("FLEET_BENCH_REDIS")
        .expect("set FLEET_BENCH_REDIS=redis://HOST:PORT (bash bench/fleet.sh starts one)");
    let fleet = kairos_rt::run(async { Fleet::connect(&url).await })
        .expect("the Redis of FLEET_BENCH_REDIS answers");
    let length = Duration::from_secs(seconds);
    let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..CASES.len()).collect()
        } else {
            (0..CASES.len()).rev().collect()
        };
        for i in order {
            let (name, case) = CASES[i];
            let started = Instant::now();
            let ops = case(fleet.clone(), length);
            let elapsed = started.elapsed().as_secs_f64();
            let micros = elapsed * 1e6 / ops as f64;
            println!(
                "round {} {name:<40} {:>10.0} ops/s {micros:>9.3} µs/op",
                round + 1,
                ops as f64 / elapsed
            );
            per_op[i].push(micros);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(&mut per_op[0].clone());
    println!("\n| case | µs per operation (median of {rounds}) | × process uncontended |");
    println!("|---|---|---|");
    for (i, (name, _)) in CASES.iter().enumerate() {
        let m = median(&mut per_op[i]);
        println!("| {name} | {m:.3} | {:.0} |", m / base);
    }
}

fn semaphore(fleet: &Fleet, name: &str, permits: u32) -> FleetSemaphore {
    fleet.semaphore(name, permits)
}

fn process_uncontended(_: Fleet, length: Duration) -> u64 {
    kairos_rt::run(async move {
        let semaphore = kairos_sync::Semaphore::new(1);
        let started = Instant::now();
        let mut ops = 0;
        while started.elapsed() < length {
            for _ in 0..1000 {
                drop(semaphore.acquire().await.unwrap());
            }
            ops += 1000;
        }
        ops
    })
}

fn fleet_uncontended(fleet: Fleet, length: Duration) -> u64 {
    kairos_rt::run(async move {
        let semaphore = semaphore(&fleet, "bench-uncontended", 1);
        let started = Instant::now();
        let mut ops = 0;
        while started.elapsed() < length {
            let permit = semaphore.acquire().await.unwrap();
            assert!(permit.release().await.unwrap());
            ops += 1;
        }
        ops
    })
}

fn fleet_try_acquire(fleet: Fleet, length: Duration) -> u64 {
    kairos_rt::run(async move {
        let semaphore = semaphore(&fleet, "bench-try", 1);
        let started = Instant::now();
        let mut ops = 0;
        while started.elapsed() < length {
            let permit = semaphore.try_acquire().await.unwrap().expect("uncontended");
            permit.release().await.unwrap();
            ops += 1;
        }
        ops
    })
}

/// 16 tasks, 4 permits, each task acquiring and releasing in a loop until the time is up.
fn contended<P, F>(length: Duration, acquire: impl Fn() -> F + Clone + 'static) -> u64
where
    F: std::future::Future<Output = P> + 'static,
    P: 'static,
{
    kairos_rt::run(async move {
        let ops = Rc::new(Cell::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (ops, acquire) = (Rc::clone(&ops), acquire.clone());
                kairos_rt::spawn(async move {
                    while started.elapsed() < length {
                        drop(acquire().await);
                        ops.set(ops.get() + 1);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        ops.get()
    })
}

fn process_contended(_: Fleet, length: Duration) -> u64 {
    let semaphore = Rc::new(kairos_sync::Semaphore::new(4));
    contended(length, move || {
        let semaphore = Rc::clone(&semaphore);
        async move {
            let permit = semaphore.acquire().await.unwrap();
            // A permit held across one turn of the loop, as a call would be.
            kairos_rt::yield_now().await;
            permit
        }
    })
}

fn fleet_contended(fleet: Fleet, length: Duration) -> u64 {
    let semaphore = semaphore(&fleet, "bench-contended", 4);
    contended(length, move || {
        let semaphore = semaphore.clone();
        async move {
            let permit = semaphore.acquire().await.unwrap();
            kairos_rt::yield_now().await;
            permit.release().await.unwrap()
        }
    })
}

fn rate_limit(fleet: Fleet, length: Duration) -> u64 {
    kairos_rt::run(async move {
        let limit = fleet.rate_limit("bench-rate", u32::MAX, Duration::from_millis(1));
        let started = Instant::now();
        let mut ops = 0;
        while started.elapsed() < length {
            limit.try_acquire().await.unwrap();
            ops += 1;
        }
        ops
    })
}
