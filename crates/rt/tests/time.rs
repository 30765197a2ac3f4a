//! Timers: order, removal on drop, timeouts that cancel, intervals, and a million timers.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use kairos_rt::{interval, sleep, spawn, timeout, wait_for, yield_now};

#[test]
fn timers_fire_in_deadline_order() {
    let order = kairos_rt::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        // Deadlines from one base instant, so the order cannot depend on how fast tasks start.
        let base = Instant::now();
        let tasks: Vec<_> = [30u64, 10, 20, 0, 10]
            .into_iter()
            .enumerate()
            .map(|(i, ms)| {
                let order = Rc::clone(&order);
                spawn(async move {
                    kairos_rt::sleep_until(base + Duration::from_millis(ms)).await;
                    order.borrow_mut().push((ms, i));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Rc::try_unwrap(order).unwrap().into_inner()
    });
    assert_eq!(order, [(0, 3), (10, 1), (10, 4), (20, 2), (30, 0)]);
}

#[test]
fn a_sleep_lasts_at_least_its_duration() {
    kairos_rt::run(async {
        let started = Instant::now();
        sleep(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn a_dropped_sleep_leaves_nothing_behind() {
    kairos_rt::run(async {
        let mut s = Box::pin(sleep(Duration::from_secs(60)));
        poll_fn(|cx| {
            assert!(s.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(kairos_rt::stats().timers_pending, 1);
        drop(s);
        assert_eq!(kairos_rt::stats().timers_pending, 0);
    });
}

#[test]
fn a_million_pending_timers_are_ordinary() {
    kairos_rt::run(async {
        let started = Instant::now();
        let mut sleeps: Vec<_> =
            (0..1_000_000u64).map(|i| sleep(Duration::from_secs(60 + i % 1000))).collect();
        poll_fn(|cx| {
            for s in sleeps.iter_mut() {
                assert!(Pin::new(s).poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(kairos_rt::stats().timers_pending, 1_000_000);
        sleeps.truncate(1);
        assert_eq!(kairos_rt::stats().timers_pending, 1);
        drop(sleeps);
        assert_eq!(kairos_rt::stats().timers_pending, 0);
        // Generous: this is a sanity bound (no quadratic behaviour), not a benchmark.
        assert!(started.elapsed() < Duration::from_secs(30));
    });
}

#[test]
fn timeout_cancels_the_inner_future_and_returns_elapsed() {
    kairos_rt::run(async {
        let dropped = Rc::new(Cell::new(false));
        struct SetOnDrop(Rc<Cell<bool>>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let guard = SetOnDrop(Rc::clone(&dropped));
        let slow = async move {
            let _guard = guard;
            sleep(Duration::from_secs(60)).await;
            "too late"
        };
        let started = Instant::now();
        let result = timeout(Duration::from_millis(20), slow).await;
        let err = result.unwrap_err();
        assert_eq!(err.limit(), Duration::from_millis(20));
        assert!(dropped.get(), "the inner future was dropped before the error came back");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("did not finish within"));
    });
}

#[test]
fn timeout_passes_a_fast_result_through() {
    kairos_rt::run(async {
        assert_eq!(timeout(Duration::from_secs(5), async { 3 }).await, Ok(3));
    });
}

#[test]
fn wait_for_a_task_with_cancel_on_drop_cancels_it_on_timeout() {
    kairos_rt::run(async {
        let finished = Rc::new(Cell::new(false));
        let task = {
            let finished = Rc::clone(&finished);
            spawn(async move {
                sleep(Duration::from_secs(3)).await;
                finished.set(true);
            })
        };
        let probe = task.abort_handle();
        assert!(wait_for(task.cancel_on_drop(), Duration::from_millis(10)).await.is_err());
        yield_now().await;
        assert!(probe.is_finished(), "the task was cancelled, as asyncio's wait_for does");
        assert!(!finished.get());
    });
}

#[test]
fn interval_ticks_on_a_steady_grid() {
    kairos_rt::run(async {
        let mut ticker = interval(Duration::from_millis(10));
        let first = ticker.tick().await;
        let mut last = first;
        for _ in 0..5 {
            last = ticker.tick().await;
        }
        // On the grid: a whole number of periods apart (more than five if the loop was slow
        // enough to skip some).
        let apart = (last - first).as_nanos();
        assert_eq!(apart % Duration::from_millis(10).as_nanos(), 0, "ticks stay on the grid");
        assert!(apart >= Duration::from_millis(50).as_nanos());
        assert!(Instant::now() >= first + Duration::from_millis(50));
    });
}

#[test]
fn interval_skips_missed_ticks_instead_of_bursting() {
    kairos_rt::run(async {
        let mut ticker = interval(Duration::from_millis(10));
        let first = ticker.tick().await;
        std::thread::sleep(Duration::from_millis(35)); // the loop falls behind
        let late = ticker.tick().await;
        let next = ticker.tick().await;
        assert_eq!(late, first + Duration::from_millis(10));
        assert!(next >= first + Duration::from_millis(40), "missed ticks were skipped");
    });
}

#[test]
fn reset_keeps_an_armed_sleep_waking_its_task_at_the_new_deadline() {
    kairos_rt::run(async {
        let started = Instant::now();
        let mut s = Box::pin(sleep(Duration::from_secs(60)));
        let mut polls = 0;
        // Poll the sleep once, move its deadline to 20 ms, and never poll it again: only the
        // re-armed timer can wake this future.
        let woke = poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                assert!(s.as_mut().poll(cx).is_pending());
                s.as_mut().reset(Instant::now() + Duration::from_millis(20));
                Poll::Pending
            } else {
                Poll::Ready(started.elapsed())
            }
        });
        let elapsed =
            timeout(Duration::from_secs(5), woke).await.expect("woken by the reset timer");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    });
}
