//! The process pool, as a user sees it: results round-trip, crashes fail one job and the pool
//! heals, cancellation kills the worker, shutdown leaves no zombie.
//!
//! This test binary is its own pool worker: it has no libtest harness (`harness = false` in
//! Cargo.toml) so that `main` can call `worker_main` first, exactly as a user's program does.
//! The tests then run one after the other (they count this process's children, so they must
//! not overlap), and the summary line is the one `cargo test` prints.

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kairos_process::{worker_main, ProcessFn, ProcessJobError, ProcessPool};
use kairos_rt::{sleep, timeout};

// ---- the jobs -------------------------------------------------------------------------------

fn square(x: u64) -> u64 {
    x * x
}

fn label((name, n): (String, u32)) -> String {
    format!("{name}:{n}")
}

/// CPU-bound until `seconds` have passed: stoppable only by killing its process.
fn spin(seconds: f64) -> u64 {
    let started = Instant::now();
    let mut x = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

/// What `panic = "abort"` does on a panic: `SIGABRT`.
fn abort_worker(_: ()) -> u32 {
    std::process::abort()
}

fn exit_worker(code: i32) -> u32 {
    std::process::exit(code)
}

/// Dies of `SIGSEGV`. Sent, not faulted: Rust's own `SIGSEGV` handler (for stack overflows)
/// treats the first one as "not a guard page hit", restores the default action and returns,
/// so the second one is fatal.
fn segfault(_: ()) -> u32 {
    let me = rustix::process::getpid();
    loop {
        let _ = rustix::process::kill_process(me, rustix::process::Signal::SEGV);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn panic_job(message: String) -> u32 {
    panic!("{message}")
}

fn sleep_then_pid(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn touch(path: PathBuf) -> bool {
    std::fs::write(path, "this job ran").is_ok()
}

/// Prints to stdout, including bytes that would look like a frame on the reply pipe.
fn chatty(lines: u32) -> u32 {
    use std::io::Write;
    for i in 0..lines {
        println!("chatty job says {i}");
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(&[5, 0, 0, 0, 1, 2, 3, 4, 5]);
    let _ = out.flush();
    lines
}

fn byte_len(data: Vec<u8>) -> usize {
    data.len()
}

static SQUARE: ProcessFn<u64, u64> = ProcessFn::new("square", square);
static LABEL: ProcessFn<(String, u32), String> = ProcessFn::new("label", label);
static SPIN: ProcessFn<f64, u64> = ProcessFn::new("spin", spin);
static ABORT: ProcessFn<(), u32> = ProcessFn::new("abort", abort_worker);
static EXIT: ProcessFn<i32, u32> = ProcessFn::new("exit", exit_worker);
static SEGFAULT: ProcessFn<(), u32> = ProcessFn::new("segfault", segfault);
static PANIC: ProcessFn<String, u32> = ProcessFn::new("panic", panic_job);
static SLEEP: ProcessFn<u64, u32> = ProcessFn::new("sleep_then_pid", sleep_then_pid);
static PID: ProcessFn<(), u32> = ProcessFn::new("pid", pid);
static TOUCH: ProcessFn<PathBuf, bool> = ProcessFn::new("touch", touch);
static CHATTY: ProcessFn<u32, u32> = ProcessFn::new("chatty", chatty);
static BYTE_LEN: ProcessFn<Vec<u8>, usize> = ProcessFn::new("byte_len", byte_len);
/// Deliberately missing from `worker_main`'s list.
static UNLISTED: ProcessFn<u64, u64> = ProcessFn::new("unlisted", square);

// ---- the harness ----------------------------------------------------------------------------

fn main() {
    worker_main(&[
        &SQUARE, &LABEL, &SPIN, &ABORT, &EXIT, &SEGFAULT, &PANIC, &SLEEP, &PID, &TOUCH, &CHATTY,
        &BYTE_LEN,
    ]);

    let tests: &[(&str, fn())] = &[
        ("results_round_trip_through_the_pool", results_round_trip_through_the_pool),
        ("jobs_run_in_parallel_on_several_workers", jobs_run_in_parallel_on_several_workers),
        (
            "an_aborting_job_fails_alone_and_the_pool_keeps_its_size",
            an_aborting_job_fails_alone_and_the_pool_keeps_its_size,
        ),
        ("exit_codes_and_signals_are_named", exit_codes_and_signals_are_named),
        (
            "a_panicking_job_is_an_error_and_its_worker_lives_on",
            a_panicking_job_is_an_error_and_its_worker_lives_on,
        ),
        (
            "a_timed_out_cpu_bound_job_kills_its_worker_and_a_new_one_serves",
            a_timed_out_cpu_bound_job_kills_its_worker_and_a_new_one_serves,
        ),
        ("a_cancelled_queued_job_never_starts", a_cancelled_queued_job_never_starts),
        ("the_queue_is_bounded", the_queue_is_bounded),
        (
            "a_job_printing_to_stdout_does_not_corrupt_the_pipe",
            a_job_printing_to_stdout_does_not_corrupt_the_pipe,
        ),
        ("unregistered_jobs_are_refused_up_front", unregistered_jobs_are_refused_up_front),
        ("a_megabyte_of_arguments_round_trips", a_megabyte_of_arguments_round_trips),
        ("the_loop_keeps_serving_while_a_job_runs", the_loop_keeps_serving_while_a_job_runs),
        ("stats_list_the_pool_among_this_loops_pools", stats_list_the_pool_among_this_loops_pools),
        (
            "shutdown_waits_for_running_jobs_and_leaves_no_zombies",
            shutdown_waits_for_running_jobs_and_leaves_no_zombies,
        ),
        ("shutdown_kills_jobs_past_its_timeout", shutdown_kills_jobs_past_its_timeout),
        (
            "ending_the_loop_without_shutdown_leaves_no_zombies",
            ending_the_loop_without_shutdown_leaves_no_zombies,
        ),
    ];

    // The few libtest flags tools rely on: `--list` (nextest, IDEs) and `--exact`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filter = args.iter().find(|arg| !arg.starts_with('-'));
    let skip = |name: &str| match filter {
        Some(f) if exact => name != f,
        Some(f) => !name.contains(f.as_str()),
        None => false,
    };
    let started = Instant::now();
    let (mut passed, mut failed, mut filtered) = (0, 0, 0);
    println!("\nrunning {} tests", tests.len());
    for (name, test) in tests {
        if skip(name) {
            filtered += 1;
            continue;
        }
        let result = panic::catch_unwind(AssertUnwindSafe(test));
        println!("test {name} ... {}", if result.is_ok() { "ok" } else { "FAILED" });
        if result.is_ok() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; \
         {filtered} filtered out; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

// ---- helpers --------------------------------------------------------------------------------

/// Children of this process still in the process table (running, or zombies not yet reaped),
/// with their state letter.
fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(me) {
            found.push((pid, state));
        }
    }
    found
}

/// Whether `pid` is still a child of ours (alive or a zombie).
fn is_our_child(pid: u32) -> bool {
    children().iter().any(|(child, _)| *child == pid)
}

/// Waits on the loop until `condition` holds, for at most 10 s (a liveness bound, not a
/// speed check: on a healthy machine it holds within milliseconds).
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `test` on a fresh loop with a pool of `workers`, warmed up, and shuts the pool down
/// after (checking that it leaves no child behind).
fn with_pool<F, Fut>(workers: usize, test: F)
where
    F: FnOnce(ProcessPool) -> Fut,
    Fut: Future<Output = ()>,
{
    kairos_rt::run(async move {
        let pool = ProcessPool::new(workers);
        assert!(pool.wait_ready(Duration::from_secs(10)).await, "the workers started");
        test(pool.clone()).await;
        assert!(pool.shutdown(Duration::from_secs(10)).await);
        assert_eq!(children(), [], "no worker left behind");
    });
}

// ---- the specs ------------------------------------------------------------------------------

fn results_round_trip_through_the_pool() {
    with_pool(2, |pool| async move {
        assert_eq!(pool.spawn(&SQUARE, 12).await, Ok(144));
        assert_eq!(pool.spawn(&LABEL, ("answer".to_owned(), 42)).await.unwrap(), "answer:42");
        // Submitted together, awaited in any order: each gets its own result.
        let jobs: Vec<_> = (0..20u64).map(|i| pool.spawn(&SQUARE, i)).collect();
        let results = kairos_sync::combinator::gather(jobs).await;
        let squares: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(squares, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.workers, stats.busy, stats.queued), (22, 2, 0, 0));
    });
}

fn jobs_run_in_parallel_on_several_workers() {
    with_pool(2, |pool| async move {
        // Two long jobs are running at the same moment, each in its own worker process.
        let (a, b) = (pool.spawn(&SLEEP, 300), pool.spawn(&SLEEP, 300));
        eventually("both run at once", || a.worker_pid().is_some() && b.worker_pid().is_some())
            .await;
        assert_ne!(a.worker_pid(), b.worker_pid());
        assert_eq!(pool.stats().busy, 2);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(pool.worker_pids().contains(&a) && pool.worker_pids().contains(&b));
    });
}

fn an_aborting_job_fails_alone_and_the_pool_keeps_its_size() {
    with_pool(2, |pool| async move {
        let before = pool.worker_pids();
        let survivor = pool.spawn(&SLEEP, 200); // runs beside the crash, unharmed
        let crashed = pool.spawn(&ABORT, ()).await.unwrap_err();
        let ProcessJobError::Crashed { pid, status } = &crashed else {
            panic!("expected Crashed, got {crashed:?}");
        };
        assert!(before.contains(pid));
        assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGABRT));
        let message = crashed.to_string();
        assert!(message.contains("SIGABRT") && message.contains(&pid.to_string()), "{message}");

        assert!(survivor.await.is_ok(), "the job in the other worker was not affected");
        assert_eq!(pool.spawn(&SQUARE, 9).await, Ok(81), "the next job succeeds");
        assert!(pool.wait_ready(Duration::from_secs(10)).await);
        let stats = pool.stats();
        assert_eq!((stats.workers, stats.crashed, stats.restarted), (2, 1, 1), "{stats:?}");
        assert!(!pool.worker_pids().contains(pid));
        eventually("the dead worker is reaped", || !is_our_child(*pid)).await;
    });
}

fn exit_codes_and_signals_are_named() {
    with_pool(1, |pool| async move {
        let exited = pool.spawn(&EXIT, 3).await.unwrap_err();
        assert!(
            matches!(exited, ProcessJobError::Crashed { status: Some(s), .. } if s.code() == Some(3))
        );
        assert!(exited.to_string().contains("exit status: 3"), "{exited}");

        let segfault = pool.spawn(&SEGFAULT, ()).await.unwrap_err();
        assert!(segfault.to_string().contains("SIGSEGV"), "{segfault}");
        assert_eq!(pool.spawn(&SQUARE, 5).await, Ok(25));
    });
}

fn a_panicking_job_is_an_error_and_its_worker_lives_on() {
    with_pool(1, |pool| async move {
        let worker = pool.spawn(&PID, ()).await.unwrap();
        let err = pool.spawn(&PANIC, "job exploded".to_owned()).await.unwrap_err();
        assert_eq!(err, ProcessJobError::Panicked("job exploded".to_owned()));
        assert_eq!(pool.spawn(&PID, ()).await, Ok(worker), "the same worker serves on");
        assert_eq!((pool.stats().panicked, pool.stats().restarted), (1, 0));
    });
}

fn a_timed_out_cpu_bound_job_kills_its_worker_and_a_new_one_serves() {
    with_pool(1, |pool| async move {
        let worker = pool.worker_pids()[0];
        // An hour of CPU work under a 200 ms deadline: asyncio.wait_for(...) that really stops it.
        let late = timeout(Duration::from_millis(200), pool.spawn(&SPIN, 3600.0)).await;
        assert!(late.is_err());
        eventually("the worker that ran it is killed and reaped", || !is_our_child(worker)).await;

        let replacement = pool.spawn(&PID, ()).await.unwrap();
        assert_ne!(replacement, worker);
        let stats = pool.stats();
        assert_eq!((stats.cancelled, stats.restarted, stats.workers), (1, 1, 1), "{stats:?}");
    });
}

fn a_cancelled_queued_job_never_starts() {
    let marker = std::env::temp_dir().join(format!("kairos-never-ran-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    with_pool(1, |pool| async move {
        let busy = pool.spawn(&SLEEP, 200);
        eventually("the first job runs", || busy.worker_pid().is_some()).await;
        let queued = pool.spawn(&TOUCH, marker.clone());
        assert_eq!(pool.stats().queued, 1);
        drop(queued);
        assert_eq!(pool.stats().queued, 0);
        busy.await.unwrap();
        // Whatever was queued behind `busy` would have run before this one.
        assert_eq!(pool.spawn(&SQUARE, 2).await, Ok(4));
        assert!(!marker.exists(), "the cancelled job never ran");
        assert_eq!((pool.stats().cancelled, pool.stats().restarted), (1, 0));
    });
}

fn the_queue_is_bounded() {
    kairos_rt::run(async {
        let pool = ProcessPool::builder().max_workers(1).queue_limit(Some(1)).build();
        assert!(pool.wait_ready(Duration::from_secs(10)).await);
        let running = pool.spawn(&SLEEP, 100);
        let waiting = pool.spawn(&SQUARE, 3);
        let refused = pool.spawn(&SQUARE, 4);
        assert!(refused.is_finished(), "refused at once, never sent");
        assert_eq!(refused.await, Err(ProcessJobError::QueueFull));
        assert!(running.await.is_ok());
        assert_eq!(waiting.await, Ok(9));
        assert_eq!(pool.stats().rejected, 1);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn a_job_printing_to_stdout_does_not_corrupt_the_pipe() {
    with_pool(1, |pool| async move {
        assert_eq!(pool.spawn(&CHATTY, 1000).await, Ok(1000));
        assert_eq!(pool.spawn(&SQUARE, 7).await, Ok(49));
        assert_eq!(pool.stats().crashed, 0);
    });
}

fn unregistered_jobs_are_refused_up_front() {
    with_pool(1, |pool| async move {
        let refused = pool.spawn(&UNLISTED, 1);
        assert!(refused.is_finished());
        let ProcessJobError::NotRegistered(message) = refused.await.unwrap_err() else {
            panic!("expected NotRegistered");
        };
        assert!(message.contains("\"unlisted\"") && message.contains("worker_main"), "{message}");
        // Same name, other types: refused too.
        static IMPOSTOR: ProcessFn<u32, u32> = ProcessFn::new("square", |x| x);
        assert!(matches!(pool.spawn(&IMPOSTOR, 1).await, Err(ProcessJobError::NotRegistered(_))));
        assert_eq!(pool.stats().rejected, 2);
    });
}

fn a_megabyte_of_arguments_round_trips() {
    with_pool(1, |pool| async move {
        let data = vec![7u8; 1 << 20];
        assert_eq!(pool.spawn(&BYTE_LEN, data).await, Ok(1 << 20));
    });
}

fn the_loop_keeps_serving_while_a_job_runs() {
    with_pool(1, |pool| async move {
        // 300 ms of CPU in the worker; meanwhile the loop runs a 10 ms timer, over and over.
        let job = pool.spawn(&SPIN, 0.3);
        let mut ticks = 0;
        while !job.is_finished() {
            sleep(Duration::from_millis(10)).await;
            ticks += 1;
        }
        assert!(ticks >= 5, "timers fired while the worker computed ({ticks} ticks)");
        assert!(job.await.is_ok());
    });
}

fn stats_list_the_pool_among_this_loops_pools() {
    with_pool(2, |pool| async move {
        pool.spawn(&SQUARE, 1).await.unwrap();
        let stats = kairos_process::stats();
        let mine = stats.iter().find(|p| p.max_workers == 2).expect("listed");
        assert_eq!((mine.workers, mine.completed), (2, 1));
        assert_eq!(mine, &pool.stats());
    });
}

fn shutdown_waits_for_running_jobs_and_leaves_no_zombies() {
    kairos_rt::run(async {
        let pool = ProcessPool::new(2);
        assert!(pool.wait_ready(Duration::from_secs(10)).await);
        let pids = pool.worker_pids();
        let running = pool.spawn(&SLEEP, 200);
        sleep(Duration::from_millis(50)).await; // it is running
        let queued: Vec<_> = (0..3).map(|_| pool.spawn(&SLEEP, 200)).collect();

        assert!(pool.shutdown(Duration::from_secs(10)).await, "finished within the timeout");
        assert!(running.await.is_ok(), "the running job was waited for");
        // One queued job may have gone to the idle worker before the shutdown; the rest
        // were cancelled without running.
        let outcomes = kairos_sync::combinator::gather(queued).await;
        let cancelled = outcomes.iter().filter(|r| **r == Err(ProcessJobError::Cancelled)).count();
        assert!(cancelled >= 2, "{outcomes:?}");
        assert_eq!(pool.spawn(&SQUARE, 1).await, Err(ProcessJobError::Cancelled));

        assert_eq!(pool.stats().workers, 0);
        assert_eq!(children(), [], "every worker was reaped: no zombie, no orphan");
        for pid in pids {
            assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || !is_our_child(pid));
        }
    });
}

fn shutdown_kills_jobs_past_its_timeout() {
    kairos_rt::run(async {
        let pool = ProcessPool::new(1);
        assert!(pool.wait_ready(Duration::from_secs(10)).await);
        let pid = pool.worker_pids()[0];
        let endless = pool.spawn(&SPIN, 3600.0);
        sleep(Duration::from_millis(50)).await;
        assert!(!pool.shutdown(Duration::from_millis(100)).await, "it had to kill");
        assert_eq!(endless.await, Err(ProcessJobError::KilledAtShutdown { pid }));
        assert_eq!(children(), []);
    });
}

fn ending_the_loop_without_shutdown_leaves_no_zombies() {
    let pids = kairos_rt::run(async {
        let pool = ProcessPool::new(2);
        assert!(pool.wait_ready(Duration::from_secs(10)).await);
        let endless = pool.spawn(&SPIN, 3600.0);
        sleep(Duration::from_millis(50)).await;
        std::mem::forget(endless); // not even cancelled: the loop's end must clean up
        pool.worker_pids()
    });
    let started = Instant::now();
    while !children().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "children left: {:?}", children());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pids.len(), 2);
}
