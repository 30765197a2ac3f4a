//! gather, try_gather, the macros, race, as_completed and TaskGroup on a real loop, with the
//! seed's timings (at a tenth of the seed's scale, generous bounds).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_rt::{sleep, spawn, yield_now, ChildFailure, TaskGroup};
use kairos_sync::combinator::{as_completed, gather, race, try_gather};

async fn slow_operation(name: &str, ms: u64) -> String {
    sleep(Duration::from_millis(ms)).await;
    format!("{name} result")
}

async fn fallible(name: &str, ms: u64, fail: bool) -> Result<String, String> {
    sleep(Duration::from_millis(ms)).await;
    if fail {
        Err(format!("{name} failed"))
    } else {
        Ok(format!("{name} result"))
    }
}

#[test]
fn gather_takes_as_long_as_the_slowest_and_keeps_input_order() {
    kairos_rt::run(async {
        let started = Instant::now();
        let results =
            gather([slow_operation("A", 100), slow_operation("B", 200), slow_operation("C", 150)])
                .await;
        let elapsed = started.elapsed();
        assert_eq!(results, ["A result", "B result", "C result"]);
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(400),
            "{elapsed:?}"
        );
    });
}

#[test]
fn gather_keeps_every_error_in_its_slot() {
    kairos_rt::run(async {
        let results =
            gather([fallible("A", 10, false), fallible("B", 5, true), fallible("C", 20, false)])
                .await;
        assert_eq!(
            results,
            [Ok("A result".to_string()), Err("B failed".to_string()), Ok("C result".to_string())]
        );
    });
}

#[test]
fn try_gather_returns_the_first_error_and_cancels_the_rest() {
    kairos_rt::run(async {
        let finished = Rc::new(Cell::new(0));
        let make = |name: &'static str, ms: u64, fail: bool| {
            let finished = Rc::clone(&finished);
            async move {
                let r = fallible(name, ms, fail).await;
                finished.set(finished.get() + 1);
                r
            }
        };
        let err = try_gather([make("A", 300, false), make("B", 20, true), make("C", 300, false)])
            .await
            .unwrap_err();
        assert_eq!(err, "B failed");
        assert_eq!(finished.get(), 1, "returned on B's error, without waiting for A and C");
        sleep(Duration::from_millis(350)).await;
        assert_eq!(finished.get(), 1, "A and C were cancelled, not left running");
        assert_eq!(kairos_rt::stats().timers_pending, 0);
    });
}

#[test]
fn the_gather_macro_mixes_types() {
    kairos_rt::run(async {
        let (a, b, c) =
            kairos_sync::gather!(async { 1u8 }, slow_operation("B", 5), async { 'c' }).await;
        assert_eq!((a, b.as_str(), c), (1, "B result", 'c'));
        let failed: Result<(u8, String), String> =
            kairos_sync::try_gather!(async { Ok(1u8) }, fallible("B", 5, true)).await;
        assert_eq!(failed.unwrap_err(), "B failed");
    });
}

#[test]
fn race_and_as_completed() {
    kairos_rt::run(async {
        let (index, winner) = race([
            slow_operation("slow", 100),
            slow_operation("fast", 10),
            slow_operation("mid", 50),
        ])
        .await;
        assert_eq!((index, winner.as_str()), (1, "fast result"));
        assert_eq!(kairos_rt::stats().timers_pending, 0, "the losers were cancelled");

        // Deadlines from one base instant: the order cannot depend on how fast they start.
        let base = Instant::now();
        let at = |ms| kairos_rt::sleep_until(base + Duration::from_millis(ms));
        let mut stream = as_completed([at(30), at(10), at(20)]);
        let mut order = Vec::new();
        while let Some((i, _)) = stream.next().await {
            order.push(i);
        }
        assert_eq!(order, [1, 2, 0]);
    });
}

#[test]
fn racing_task_handles_leaves_the_losers_running() {
    // asyncio.wait(return_when=FIRST_COMPLETED): the pending tasks go on.
    kairos_rt::run(async {
        let mut tasks = vec![spawn(slow_operation("x", 40)), spawn(slow_operation("y", 10))];
        let (index, first) = race(tasks.iter_mut()).await;
        assert_eq!((index, first.unwrap().as_str()), (1, "y result"));
        let rest = tasks.remove(0);
        assert_eq!(rest.await.unwrap(), "x result");
    });
}

#[test]
fn task_group_success_gives_every_value() {
    kairos_rt::run(async {
        let group = TaskGroup::<String>::new();
        let a = group.spawn(fallible("A", 10, false));
        let b = group.spawn(fallible("B", 20, false));
        assert_eq!(group.len(), 2);
        group.join().await.unwrap();
        assert_eq!(a.await.unwrap(), "A result");
        assert_eq!(b.await.unwrap(), "B result");
    });
}

#[test]
fn task_group_first_failure_cancels_the_others_and_all_errors_come_back() {
    kairos_rt::run(async {
        let group = TaskGroup::<String>::new();
        let slow = group.spawn(fallible("slow", 5_000, false));
        group.spawn(fallible("B", 10, true)).detach();
        group.spawn(fallible("C", 10, true)).detach();
        group
            .spawn::<(), _>(async {
                yield_now().await;
                panic!("D panicked")
            })
            .detach();
        let err = group.join().await.unwrap_err();
        assert!(slow.await.unwrap_err().is_cancelled(), "the slow child was cancelled");
        // D panics on the second turn, before B and C wake from their sleeps; its failure
        // cancels B and C, and a cancelled child cannot fail any more.
        assert_eq!(err.failures(), [ChildFailure::Panic("D panicked".into())]);
        assert!(err.errors().is_empty());
        assert_eq!(kairos_rt::stats().tasks_alive, 0);
    });
}

#[test]
fn dropping_a_task_group_cancels_its_children() {
    kairos_rt::run(async {
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let flag = Flag(Rc::clone(&dropped));
        {
            let group = TaskGroup::<()>::new();
            group
                .spawn(async move {
                    let _flag = flag;
                    sleep(Duration::from_secs(60)).await;
                    Ok(())
                })
                .detach();
            yield_now().await;
        }
        yield_now().await;
        assert!(dropped.get());
    });
}

#[test]
fn semaphore_limits_concurrency_to_five_of_twenty() {
    // Seed 6.3: Semaphore(5) around 20 outbound calls.
    kairos_rt::run(async {
        let semaphore = kairos_sync::Semaphore::new(5);
        let in_flight = Rc::new(Cell::new(0));
        let max_seen = Rc::new(Cell::new(0));
        let started = Instant::now();
        let calls = (0..20).map(|_| {
            let semaphore = semaphore.clone();
            let in_flight = Rc::clone(&in_flight);
            let max_seen = Rc::clone(&max_seen);
            async move {
                let _permit = semaphore.acquire().await.unwrap();
                in_flight.set(in_flight.get() + 1);
                max_seen.set(max_seen.get().max(in_flight.get()));
                sleep(Duration::from_millis(20)).await;
                in_flight.set(in_flight.get() - 1);
            }
        });
        gather(calls).await;
        assert_eq!(max_seen.get(), 5);
        // Four waves of 20 ms.
        assert!(started.elapsed() >= Duration::from_millis(80));
        assert_eq!(semaphore.available_permits(), 5);
    });
}

#[test]
fn a_panicking_child_is_reported_once_through_its_group() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let unobserved = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&unobserved);
    kairos_rt::Builder::new()
        .on_diagnostic(move |d| {
            if matches!(d, kairos_rt::Diagnostic::UnobservedPanic(_)) {
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .run(async {
            let group = TaskGroup::<()>::new();
            let child = group.spawn::<(), _>(async { panic!("child panicked") });
            let probe = child.abort_handle();
            child.detach();
            let err = group.join().await.unwrap_err();
            assert_eq!(err.failures(), [ChildFailure::Panic("child panicked".into())]);
            assert!(probe.is_finished());
        });
    assert_eq!(unobserved.load(Ordering::SeqCst), 0, "the group already reported it");
}
