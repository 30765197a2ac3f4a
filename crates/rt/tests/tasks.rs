//! Tasks: results, cancellation, panics, detaching, shutdown and remote spawning.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kairos_rt::{sleep, spawn, spawn_named, yield_now, Builder, Diagnostic, TaskError};

/// Counts its drops: the way to observe that a cancelled future's destructors ran.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_task_returns_its_value() {
    assert_eq!(kairos_rt::run(async { spawn(async { 40 + 2 }).await }), Ok(42));
}

#[test]
fn cancel_drops_the_future_at_its_await_and_yields_cancelled() {
    kairos_rt::run(async {
        let drops = Rc::new(Cell::new(0));
        let reached_end = Rc::new(Cell::new(false));
        let task = {
            let guard = DropCounter(Rc::clone(&drops));
            let reached_end = Rc::clone(&reached_end);
            spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(60)).await;
                reached_end.set(true);
            })
        };
        yield_now().await; // the task starts and parks on its sleep
        assert!(task.cancel());
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 1, "destructors ran");
        assert!(!reached_end.get());
        assert_eq!(kairos_rt::stats().timers_pending, 0, "its sleep was disarmed");
    });
}

#[test]
fn cancel_before_the_first_poll_never_runs_the_future() {
    kairos_rt::run(async {
        let ran = Rc::new(Cell::new(false));
        let task = {
            let ran = Rc::clone(&ran);
            spawn(async move { ran.set(true) })
        };
        assert!(task.cancel());
        assert_eq!(task.await, Err(TaskError::Cancelled));
        assert!(!ran.get());
    });
}

#[test]
fn cancel_after_completion_keeps_the_result() {
    kairos_rt::run(async {
        let task = spawn(async { 5 });
        yield_now().await;
        yield_now().await;
        assert!(task.is_finished());
        assert!(!task.cancel(), "nothing to cancel");
        assert_eq!(task.await, Ok(5));
    });
}

#[test]
fn a_panicking_task_gives_an_error_and_the_loop_lives_on() {
    kairos_rt::run(async {
        let bad = spawn(async {
            yield_now().await;
            panic!("boom in a task");
        });
        let good = spawn(async {
            sleep(Duration::from_millis(5)).await;
            "still here"
        });
        match bad.await {
            Err(TaskError::Panicked { message }) => assert_eq!(message, "boom in a task"),
            other => panic!("expected a panic error, got {other:?}"),
        }
        assert_eq!(good.await, Ok("still here"));
    });
}

#[test]
fn a_detached_task_that_panics_is_reported_with_its_name_and_spawn_site() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let line = Builder::new()
        .on_diagnostic(move |d| {
            if let Diagnostic::UnobservedPanic(r) = d {
                sink.lock().unwrap().push(r.clone());
            }
        })
        .run(async {
            let line = line!() + 1;
            spawn_named("doomed", async { panic!("nobody listens") }).detach();
            sleep(Duration::from_millis(5)).await;
            assert_eq!(kairos_rt::stats().unobserved_panics, 1);
            line
        });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].message, "nobody listens");
    assert_eq!(reports[0].task.name.as_deref(), Some("doomed"));
    assert_eq!(reports[0].task.spawned_at.file(), file!());
    assert_eq!(reports[0].task.spawned_at.line(), line);
}

#[test]
fn a_handle_dropped_after_the_panic_reports_it_too() {
    let count = Arc::new(AtomicUsize::new(0));
    let sink = Arc::clone(&count);
    Builder::new()
        .on_diagnostic(move |d| {
            if matches!(d, Diagnostic::UnobservedPanic(_)) {
                sink.fetch_add(1, Ordering::SeqCst);
            }
        })
        .run(async {
            let task = spawn(async { panic!("seen by nobody") });
            sleep(Duration::from_millis(5)).await;
            assert!(task.is_finished());
            drop(task);
        });
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn a_detached_task_keeps_running_to_completion() {
    let done = kairos_rt::run(async {
        let done = Rc::new(Cell::new(false));
        {
            let done = Rc::clone(&done);
            drop(spawn(async move {
                sleep(Duration::from_millis(10)).await;
                done.set(true);
            }));
        }
        sleep(Duration::from_millis(50)).await;
        done.get()
    });
    assert!(done, "caution 3 of the chapter cannot happen: the loop owns the task");
}

#[test]
fn tasks_left_when_run_returns_are_cancelled_and_their_destructors_run() {
    let drops = Rc::new(Cell::new(0));
    let observed = Rc::clone(&drops);
    kairos_rt::run(async move {
        for _ in 0..3 {
            let guard = DropCounter(Rc::clone(&drops));
            spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            })
            .detach();
        }
        // A task nothing will ever wake is still owned by the loop.
        let guard = DropCounter(Rc::clone(&drops));
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .detach();
        yield_now().await;
        assert_eq!(kairos_rt::stats().tasks_alive, 4);
    });
    assert_eq!(observed.get(), 4);
}

#[test]
#[allow(clippy::async_yields_async)] // returning the handle out of block_on is the point
fn the_handle_of_a_task_cancelled_at_shutdown_says_cancelled() {
    let runtime = Builder::new().build().unwrap();
    let task = runtime.block_on(async { spawn(std::future::pending::<()>()) });
    drop(runtime);
    let result = futures::executor::block_on(task);
    assert_eq!(result, Err(TaskError::Cancelled));
}

#[test]
fn another_thread_can_spawn_send_futures_and_call_soon() {
    kairos_rt::run(async {
        let handle = kairos_rt::Handle::current();
        let (tx, rx) = kairos_sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let remote = handle.spawn(async {
                sleep(Duration::from_millis(5)).await;
                std::thread::current().name().map(str::to_owned)
            });
            handle.call_soon(move || tx.send("called").unwrap()).unwrap();
            futures::executor::block_on(remote)
        });
        assert_eq!(rx.await.unwrap(), "called");
        let ran_on = kairos_rt::to_thread(move || thread.join().unwrap()).await.unwrap();
        // The remote future ran on the loop's thread, not the spawning one.
        assert_eq!(ran_on.unwrap(), std::thread::current().name().map(str::to_owned));
    });
}

#[test]
fn a_remote_task_can_be_cancelled() {
    kairos_rt::run(async {
        let handle = kairos_rt::Handle::current();
        let mut remote = std::thread::spawn(move || {
            handle.spawn(async {
                sleep(Duration::from_secs(60)).await;
            })
        })
        .join()
        .unwrap();
        yield_now().await;
        remote.cancel();
        assert_eq!(remote.await, Err(TaskError::Cancelled));
    });
}

#[test]
fn a_closed_loop_refuses_remote_work() {
    let runtime = Builder::new().build().unwrap();
    let handle = runtime.handle();
    drop(runtime);
    assert!(handle.call_soon(|| {}).is_err());
    let result = futures::executor::block_on(handle.spawn(async { 1 }));
    assert_eq!(result, Err(TaskError::Cancelled));
}

/// Regression: `complete` once moved the finished or cancelled future out of the task cell
/// (`mem::replace`) before dropping it, breaking `Pin`'s drop-in-place guarantee — a future
/// with an intrusive waiter node would leave a dangling pointer behind.
#[test]
fn a_pinned_future_is_dropped_where_it_was_polled_when_cancelled_or_finished() {
    use std::marker::PhantomPinned;
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll};

    static MOVED: AtomicBool = AtomicBool::new(false);

    /// Remembers its address when polled; on drop, flags if it is no longer there.
    struct AddressBound {
        polled_at: usize,
        ready: bool,
        _pin: PhantomPinned,
    }

    impl std::future::Future for AddressBound {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            // SAFETY: the fields are plain data; nothing is moved out of the pinned value.
            let this = unsafe { self.get_unchecked_mut() };
            this.polled_at = this as *const Self as usize;
            if this.ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    impl Drop for AddressBound {
        fn drop(&mut self) {
            if self.polled_at != 0 && self.polled_at != self as *const Self as usize {
                MOVED.store(true, Ordering::SeqCst);
            }
        }
    }

    let bound = |ready| AddressBound { polled_at: 0, ready, _pin: PhantomPinned };
    kairos_rt::run(async move {
        let cancelled = spawn(bound(false));
        let finished = spawn(bound(true));
        let left_for_shutdown = spawn(bound(false));
        yield_now().await;
        cancelled.cancel();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        finished.await.unwrap();
        left_for_shutdown.detach();
    });
    assert!(!MOVED.load(Ordering::SeqCst), "a pinned future was moved before being dropped");
}

#[test]
fn a_remote_task_cancelled_before_it_starts_never_runs() {
    let ran = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&ran);
    kairos_rt::run(async move {
        let handle = kairos_rt::Handle::current();
        // Spawned and cancelled from another thread before the loop's next turn.
        let remote = std::thread::spawn(move || {
            let mut remote = handle.spawn(async move {
                flag.fetch_add(1, Ordering::SeqCst);
            });
            remote.cancel();
            remote
        })
        .join()
        .unwrap();
        assert_eq!(remote.await, Err(TaskError::Cancelled));
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

/// A task still alive when the loop ends is cancelled inside the loop's context
/// (`Builder::context`): its destructor may need it as much as its polls did (a pooled
/// database connection handing itself back with its library's spawn).
#[test]
fn leftover_tasks_are_dropped_inside_the_loops_context() {
    use std::cell::Cell;
    use std::rc::Rc;

    thread_local!(static INSIDE: Cell<bool> = const { Cell::new(false) });
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            INSIDE.with(|inside| inside.set(false));
        }
    }
    /// Records, when dropped, whether the context was entered.
    struct Probe(Rc<Cell<Option<bool>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(Some(INSIDE.with(Cell::get)));
        }
    }

    let seen = Rc::new(Cell::new(None));
    let probe = Probe(Rc::clone(&seen));
    kairos_rt::Builder::new()
        .context(|| {
            INSIDE.with(|inside| inside.set(true));
            Box::new(Inside)
        })
        .run(async move {
            // Never finishes: cancelled when the loop shuts down.
            drop(kairos_rt::spawn(async move {
                let _probe = probe;
                std::future::pending::<()>().await;
            }));
            kairos_rt::sleep(std::time::Duration::from_millis(1)).await;
        });
    assert_eq!(seen.get(), Some(true), "the leftover task was dropped outside the context");
    assert!(!INSIDE.with(Cell::get));
}
