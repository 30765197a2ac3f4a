//! Executors seen from the loop: blocking work leaves the loop free, panics come back as
//! errors, cancelled awaiters discard results, and every pool shows up in the loop's stats.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kairos_rt::executor::{JobError, ThreadPool};
use kairos_rt::{run_in_executor, sleep, spawn, timeout, to_thread};

#[test]
fn blocking_work_on_a_pool_does_not_stall_the_loop() {
    kairos_rt::run(async {
        // Seed 3.1's good_endpoint: time.sleep(0.2) through run_in_executor(None, ...).
        let done = Rc::new(Cell::new(false));
        let blocking = {
            let done = Rc::clone(&done);
            let job = to_thread(|| std::thread::sleep(Duration::from_millis(200)));
            spawn(async move {
                job.await.unwrap();
                done.set(true);
            })
        };
        // Meanwhile the loop keeps ticking: had the sleep run on the loop, no tick could happen
        // before it ended.
        let mut ticks = 0;
        while !done.get() {
            sleep(Duration::from_millis(10)).await;
            ticks += 1;
        }
        blocking.await.unwrap();
        assert!(ticks >= 2, "the loop ran timers while the pool slept ({ticks} ticks)");
    });
}

#[test]
fn run_in_executor_on_a_named_pool_uses_its_threads() {
    kairos_rt::run(async {
        let cpu_pool = ThreadPool::builder().max_workers(4).thread_name_prefix("cpu").build();
        let data: Vec<u64> = (0..1_000_000).collect();
        let (sum, thread) = run_in_executor(&cpu_pool, move || {
            let sum: u64 = data.iter().map(|x| x * x).sum();
            (sum, std::thread::current().name().unwrap().to_owned())
        })
        .await
        .unwrap();
        assert_eq!(sum, (0..1_000_000u64).map(|x| x * x).sum::<u64>());
        assert!(thread.starts_with("cpu_"), "{thread}");
    });
}

#[test]
fn a_panicking_job_is_an_error_and_the_pool_keeps_its_size() {
    kairos_rt::run(async {
        let pool = ThreadPool::new(2);
        let warmup: Vec<_> =
            (0..2).map(|_| pool.spawn(|| std::thread::sleep(Duration::from_millis(20)))).collect();
        for job in warmup {
            job.await.unwrap();
        }
        let threads = pool.stats().threads;
        let err = pool.spawn(|| -> u32 { panic!("job exploded") }).await.unwrap_err();
        assert_eq!(err, JobError::Panicked("job exploded".into()));
        assert_eq!(pool.spawn(|| 7).await, Ok(7));
        assert_eq!(pool.stats().threads, threads);
        assert_eq!(pool.stats().panicked, 1);
    });
}

#[test]
fn cancelling_the_awaiter_discards_the_result_but_the_job_finishes() {
    kairos_rt::run(async {
        let pool = ThreadPool::new(1);
        let finished = Arc::new(AtomicUsize::new(0));
        let flag = Arc::clone(&finished);
        let job = pool.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.fetch_add(1, Ordering::SeqCst);
        });
        assert!(timeout(Duration::from_millis(5), job).await.is_err());
        // The thread could not be interrupted: the job still runs to its end.
        pool.spawn(|| ()).await.unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn pool_stats_list_every_live_pool() {
    kairos_rt::run(async {
        let pool = ThreadPool::builder().max_workers(3).thread_name_prefix("statspool").build();
        pool.spawn(|| ()).await.unwrap();
        to_thread(|| ()).await.unwrap();
        let pools = kairos_rt::executor::pool_stats();
        let mine = pools.iter().find(|p| p.name_prefix == "statspool").expect("listed");
        assert_eq!(mine.max_workers, 3);
        assert_eq!(mine.completed, 1);
        assert!(pools.iter().any(|p| p.name_prefix == "kairos-default"));
    });
}

#[test]
fn the_default_executor_has_pythons_size() {
    let expected =
        std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_add(4).min(32);
    assert_eq!(kairos_rt::executor::default_workers(), expected);
    kairos_rt::run(async {
        assert_eq!(kairos_rt::executor::default_executor().stats().max_workers, expected);
    });
}
