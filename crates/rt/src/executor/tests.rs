//! The executor's behaviour, as tests. Jobs that must be "in progress" block on a channel
//! rather than sleep, so the tests say exactly which job is where; no test asserts a time.
//! Jobs are awaited with [`wait`], `block_on` with a deadline, so a lost wake-up fails a test
//! instead of hanging it.

use std::future::Future;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use futures::task::ArcWake;

use super::{default_workers, run_in_executor, Job, JobError, ThreadPool};

/// Long enough never to fire on a healthy run; a failing test ends instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// Submits a job that signals it started, then blocks until the returned sender is used or
/// dropped. Returns once the job is running, so it occupies one thread.
fn blocker(pool: &ThreadPool) -> (Job<()>, Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = pool.spawn(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv_timeout(PATIENCE).expect("the blocking job never started");
    (job, release_tx)
}

/// Awaits `job` with `block_on` on a helper thread, and hands back the receiver of its result.
fn await_in_background<T: Send + 'static>(job: Job<T>) -> Receiver<Result<T, JobError>> {
    let (result_tx, result_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = result_tx.send(block_on(job));
    });
    result_rx
}

/// `wait(job)`, but a job that never completes fails the test after [`PATIENCE`].
fn wait<T: Send + 'static>(job: Job<T>) -> Result<T, JobError> {
    await_in_background(job)
        .recv_timeout(PATIENCE)
        .expect("the job never completed: its waker was not woken, or the pool is stuck")
}

/// Counts its drops, to see when a closure's captures or a result are freed.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_job_round_trips_its_value() {
    let pool = ThreadPool::new(2);
    assert_eq!(wait(pool.spawn(|| 40 + 2)), Ok(42));
    assert_eq!(wait(run_in_executor(&pool, || "hi".to_owned())), Ok("hi".to_owned()));
}

#[test]
fn many_jobs_each_get_their_own_result() {
    let pool = ThreadPool::new(4);
    let jobs: Vec<Job<usize>> = (0..1000).map(|i| pool.spawn(move || i * 3)).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(wait(job), Ok(i * 3));
    }
    assert_eq!(pool.stats().completed, 1000);
}

#[test]
fn jobs_start_in_submission_order() {
    let pool = ThreadPool::new(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let jobs: Vec<Job<()>> = (0..100)
        .map(|i| {
            let order = Arc::clone(&order);
            pool.spawn(move || order.lock().unwrap().push(i))
        })
        .collect();
    for job in jobs {
        wait(job).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn concurrency_never_exceeds_max_workers() {
    let pool = ThreadPool::new(4);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<Job<()>> = (0..50)
        .map(|_| {
            let (in_flight, max_seen) = (Arc::clone(&in_flight), Arc::clone(&max_seen));
            pool.spawn(move || {
                let now = in_flight.fetch_add(1, SeqCst) + 1;
                max_seen.fetch_max(now, SeqCst);
                thread::sleep(Duration::from_millis(20));
                in_flight.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    for job in jobs {
        wait(job).unwrap();
    }
    assert_eq!(max_seen.load(SeqCst), 4);
    assert_eq!(pool.stats().threads, 4);
}

#[test]
fn concurrent_submitters_never_strand_a_job() {
    // Bursts from several threads make workers sleep, wake and finish jobs in every order: a
    // lost wake-up would leave a job queued while a thread sleeps, and a submitter stuck.
    let pool = ThreadPool::new(3);
    let (done_tx, done_rx) = mpsc::channel();
    for submitter in 0..4 {
        let (pool, done_tx) = (pool.clone(), done_tx.clone());
        thread::spawn(move || {
            for _ in 0..50 {
                let jobs: Vec<Job<usize>> = (0..40).map(|i| pool.spawn(move || i)).collect();
                let sum: usize = jobs.into_iter().map(|job| block_on(job).unwrap()).sum();
                assert_eq!(sum, (0..40).sum::<usize>());
            }
            done_tx.send(submitter).unwrap();
        });
    }
    for _ in 0..4 {
        done_rx.recv_timeout(PATIENCE).expect("a submitter never got all its results");
    }
    assert_eq!(pool.stats().completed, 4 * 50 * 40);
}

#[test]
fn threads_start_lazily_and_an_idle_one_is_reused() {
    let pool = ThreadPool::new(4);
    assert_eq!(pool.stats().threads, 0, "a new pool has no threads");
    for i in 0..50 {
        assert_eq!(wait(pool.spawn(move || i)), Ok(i));
    }
    // Each job found the previous one's thread idle (it marks itself idle before waking the
    // awaiter), so one thread did all the work.
    assert_eq!(pool.stats().threads, 1);
}

#[test]
fn threads_are_named_with_the_prefix() {
    let name = || thread::current().name().map(str::to_owned);
    let cpu = ThreadPool::builder().max_workers(2).thread_name_prefix("cpu").build();
    assert_eq!(wait(cpu.spawn(name)), Ok(Some("cpu_0".to_owned())));

    let default = ThreadPool::new(1);
    assert_eq!(wait(default.spawn(name)), Ok(Some("kairos-pool_0".to_owned())));
    assert_eq!(default.stats().name_prefix, "kairos-pool");

    let empty = ThreadPool::builder().max_workers(1).thread_name_prefix("").build();
    assert_eq!(wait(empty.spawn(name)), Ok(Some("kairos-pool_0".to_owned())));
}

#[test]
fn a_panicking_job_gives_panicked_and_the_pool_lives_on() {
    let pool = ThreadPool::new(1);
    wait(pool.spawn(|| ())).unwrap();
    assert_eq!(pool.stats().threads, 1);

    let result = wait(pool.spawn(|| -> u32 { panic!("boom {}", 7) }));
    assert_eq!(result, Err(JobError::Panicked("boom 7".to_owned())));
    assert_eq!(
        wait(pool.spawn(|| -> u32 { panic!("static boom") })).unwrap_err(),
        JobError::Panicked("static boom".to_owned())
    );

    assert_eq!(pool.stats().threads, 1, "the thread survived the panics");
    assert_eq!(wait(pool.spawn(|| 5)), Ok(5));
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.panicked), (2, 2));
}

#[test]
fn a_non_string_panic_gets_a_placeholder_message() {
    let pool = ThreadPool::new(1);
    let result = wait(pool.spawn(|| std::panic::panic_any(17_u8)));
    assert!(matches!(result, Err(JobError::Panicked(m)) if m.contains("not a string")));
}

#[test]
fn a_job_dropped_before_it_starts_never_runs() {
    let pool = ThreadPool::new(1);
    let (first, release) = blocker(&pool);

    let ran = Arc::new(AtomicBool::new(false));
    let captured_drops = Arc::new(AtomicUsize::new(0));
    let second = {
        let ran = Arc::clone(&ran);
        let captured = DropCounter(Arc::clone(&captured_drops));
        pool.spawn(move || {
            let _captured = &captured;
            ran.store(true, SeqCst);
        })
    };
    assert_eq!(pool.stats().queued, 1);
    drop(second);
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.queued), (1, 0));
    assert_eq!(captured_drops.load(SeqCst), 1, "the unrun closure is freed at once");

    release.send(()).unwrap();
    wait(first).unwrap();
    // One thread, FIFO: once a later job has run, the dropped one has been passed over.
    wait(pool.spawn(|| ())).unwrap();
    assert!(!ran.load(SeqCst), "a job whose Job was dropped before it started ran anyway");
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (2, 1));
}

#[test]
fn dropping_a_running_job_discards_its_result() {
    let pool = ThreadPool::new(1);
    let result_drops = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let running = {
        let result_drops = Arc::clone(&result_drops);
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
            DropCounter(result_drops)
        })
    };
    started_rx.recv_timeout(PATIENCE).unwrap();
    drop(running);
    assert_eq!(pool.stats().cancelled, 0, "a running job cannot be cancelled");

    release_tx.send(()).unwrap();
    wait(pool.spawn(|| ())).unwrap();
    assert_eq!(result_drops.load(SeqCst), 1, "the result was dropped, once");
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled, stats.threads), (2, 0, 1));
}

#[test]
fn completion_wakes_the_awaiters_waker_from_the_pool_thread() {
    struct NotifyWaker(Mutex<Sender<Option<String>>>);
    impl ArcWake for NotifyWaker {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            let name = thread::current().name().map(str::to_owned);
            let _ = arc_self.0.lock().unwrap().send(name);
        }
    }

    let pool = ThreadPool::new(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx): (Sender<()>, Receiver<()>) = mpsc::channel();
    let mut job = pool.spawn(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
        7
    });
    started_rx.recv_timeout(PATIENCE).unwrap();

    let (woken_tx, woken_rx) = mpsc::channel();
    let waker = futures::task::waker(Arc::new(NotifyWaker(Mutex::new(woken_tx))));
    let mut cx = Context::from_waker(&waker);
    assert_eq!(std::pin::Pin::new(&mut job).poll(&mut cx), Poll::Pending);
    assert!(!job.is_finished());

    release_tx.send(()).unwrap();
    let woken_on = woken_rx.recv_timeout(PATIENCE).expect("the waker was never woken");
    assert_eq!(woken_on.as_deref(), Some("kairos-pool_0"));
    assert!(job.is_finished());
    assert_eq!(std::pin::Pin::new(&mut job).poll(&mut cx), Poll::Ready(Ok(7)));
    assert!(woken_rx.try_recv().is_err(), "woken exactly once");
}

#[test]
fn a_full_queue_rejects_at_once() {
    let pool = ThreadPool::builder().max_workers(1).queue_limit(Some(1)).build();
    let (first, release) = blocker(&pool);
    let waiting = pool.spawn(|| 2);
    let refused = pool.spawn(|| 3);
    assert!(!waiting.is_finished());
    assert!(refused.is_finished(), "a refused job is failed before anyone awaits it");
    assert_eq!(wait(refused), Err(JobError::QueueFull));
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.rejected), (1, 1));

    release.send(()).unwrap();
    wait(first).unwrap();
    assert_eq!(wait(waiting), Ok(2));
}

#[test]
fn a_queue_limit_of_zero_means_run_now_or_refuse() {
    let pool = ThreadPool::builder().max_workers(1).queue_limit(Some(0)).build();
    // No thread yet, but the pool may start one: accepted.
    assert_eq!(wait(pool.spawn(|| 1)), Ok(1));
    let (first, release) = blocker(&pool);
    let refused = pool.spawn(|| 2);
    assert!(refused.is_finished(), "no thread is free, so the job must be refused");
    assert_eq!(wait(refused), Err(JobError::QueueFull));
    release.send(()).unwrap();
    wait(first).unwrap();
    // The thread is idle again: accepted.
    assert_eq!(wait(pool.spawn(|| 3)), Ok(3));
}

#[test]
fn shutdown_waits_for_the_running_job_and_cancels_the_queued_ones() {
    let pool = ThreadPool::new(1);
    let finished = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let running = {
        let finished = Arc::clone(&finished);
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(50));
            finished.store(true, SeqCst);
        })
    };
    started_rx.recv_timeout(PATIENCE).unwrap();
    let queued = pool.spawn(|| 2);

    assert!(pool.shutdown(PATIENCE), "every thread exits once the running job returns");
    assert!(finished.load(SeqCst), "shutdown returned before the running job finished");
    assert_eq!(wait(running), Ok(()));
    assert_eq!(wait(queued), Err(JobError::Cancelled));

    let late = pool.spawn(|| 3);
    assert!(late.is_finished());
    assert_eq!(wait(late), Err(JobError::Cancelled));
    let stats = pool.stats();
    assert_eq!((stats.threads, stats.completed, stats.cancelled), (0, 1, 2));
}

#[test]
fn shutdown_returns_false_when_a_job_outlives_the_timeout() {
    let pool = ThreadPool::new(1);
    let (running, release) = blocker(&pool);
    assert!(!pool.shutdown(Duration::from_millis(50)));
    assert_eq!(pool.stats().threads, 1, "the busy thread was left running");

    // The detached thread still finishes its job and delivers the result; a second shutdown
    // waits for it anew.
    release.send(()).unwrap();
    assert_eq!(wait(running), Ok(()));
    assert!(pool.shutdown(PATIENCE));
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn dropping_the_last_clone_cancels_queued_jobs_without_waiting() {
    let pool = ThreadPool::new(1);
    let (running, release) = blocker(&pool);
    let queued = pool.spawn(|| 2);
    // An awaiter already parked on another thread must be woken by the cancellation.
    let awaiter = await_in_background(queued);
    thread::sleep(Duration::from_millis(20)); // let it park (not needed for correctness)

    let clone = pool.clone();
    drop(pool);
    assert_eq!(clone.stats().cancelled, 0, "a clone keeps the pool open");
    drop(clone); // must not wait for the running job, which is still blocked

    assert_eq!(awaiter.recv_timeout(PATIENCE), Ok(Err(JobError::Cancelled)));
    release.send(()).unwrap();
    assert_eq!(wait(running), Ok(()), "the running job still delivers its result");
}

#[test]
fn shutdown_from_inside_a_job_does_not_wait_for_its_own_thread() {
    let pool = ThreadPool::new(1);
    let handle = pool.clone();
    let result = wait(pool.spawn(move || handle.shutdown(PATIENCE)));
    assert_eq!(result, Ok(true));
    assert!(pool.shutdown(PATIENCE));
}

#[test]
fn stats_count_threads_queue_and_outcomes() {
    let pool = ThreadPool::builder().max_workers(1).thread_name_prefix("stats").build();
    let (first, release) = blocker(&pool);
    let jobs = vec![pool.spawn(|| ()), pool.spawn(|| panic!("counted")), pool.spawn(|| ())];
    let stats = pool.stats();
    assert_eq!(stats.name_prefix, "stats");
    assert_eq!(stats.max_workers, 1);
    assert_eq!((stats.threads, stats.active, stats.idle, stats.queued), (1, 1, 0, 3));

    release.send(()).unwrap();
    wait(first).unwrap();
    let results: Vec<_> = jobs.into_iter().map(wait).collect();
    assert!(matches!(results[1], Err(JobError::Panicked(_))));
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.completed, stats.panicked, stats.cancelled), (0, 3, 1, 0));
    assert_eq!((stats.threads, stats.idle, stats.active), (1, 1, 0));
}

#[test]
#[should_panic(expected = "max_workers >= 1")]
fn a_pool_without_workers_is_refused() {
    let _ = ThreadPool::new(0);
}

#[test]
fn default_workers_is_pythons_formula() {
    let cores = thread::available_parallelism().unwrap().get();
    assert_eq!(default_workers(), (cores + 4).min(32));
    assert_eq!(ThreadPool::builder().build().stats().max_workers, default_workers());
}

#[test]
fn handles_cross_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Job<String>>();
    send_sync::<ThreadPool>();
    send_sync::<JobError>();
}

#[test]
fn errors_say_what_happened_and_what_to_do() {
    let panicked = JobError::Panicked("disk on fire".to_owned()).to_string();
    assert!(panicked.contains("panicked") && panicked.contains("disk on fire"));
    assert!(JobError::Cancelled.to_string().contains("shut down"));
    assert!(JobError::QueueFull.to_string().contains("queue_limit"));
}
