//! The stall detector: slow polls are reported with task name and spawn site; fast ones are
//! not; a poll that has not returned is reported while it still runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kairos_rt::{sleep, spawn_named, Builder, Diagnostic, StallReport};

fn recording_builder(threshold_ms: u64) -> (Builder, Arc<Mutex<Vec<StallReport>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let builder = Builder::new()
        .slow_callback_duration(Some(Duration::from_millis(threshold_ms)))
        .debug(false)
        .on_diagnostic(move |d| {
            if let Diagnostic::SlowPoll(r) = d {
                sink.lock().unwrap().push(r.clone());
            }
        });
    (builder, reports)
}

#[test]
fn a_300ms_blocking_poll_is_reported_and_a_5ms_one_is_not() {
    // The threshold sits 40x above the fine poll and 1.5x below the slow one: preemption on a
    // loaded machine stretches a poll by milliseconds, not by the 195 ms it would take to
    // report the fine one.
    let (builder, reports) = recording_builder(200);
    let (line, slow_polls) = builder.run(async {
        let fine = spawn_named("fine", async {
            std::thread::sleep(Duration::from_millis(5));
        });
        fine.await.unwrap();
        sleep(Duration::from_millis(50)).await;
        let line = line!() + 1;
        let bad = spawn_named("bad_endpoint", async {
            std::thread::sleep(Duration::from_millis(300));
        });
        bad.await.unwrap();
        (line, kairos_rt::stats().slow_polls)
    });
    let reports = reports.lock().unwrap();
    assert!(!reports.is_empty(), "the 300 ms poll was reported");
    assert_eq!(slow_polls, 1, "one slow poll is counted once, however often it was sampled");
    for r in reports.iter() {
        assert_eq!(r.task.name.as_deref(), Some("bad_endpoint"), "only the slow task: {r}");
        assert_eq!(r.task.spawned_at.line(), line);
        assert_eq!(r.task.spawned_at.file(), file!());
    }
    let end = reports.iter().find(|r| !r.still_running).expect("the end of the poll is reported");
    assert!(
        end.duration >= Duration::from_millis(200) && end.duration < Duration::from_secs(60),
        "{end}"
    );
    assert!(end.to_string().contains("bad_endpoint"), "{end}");
}

#[test]
fn a_poll_that_does_not_return_is_reported_while_it_runs() {
    let (builder, reports) = recording_builder(50);
    let seen_while_blocked = Arc::new(AtomicBool::new(false));
    let reported = Arc::clone(&seen_while_blocked);
    let builder = {
        let reports = Arc::clone(&reports);
        builder.on_diagnostic(move |d| {
            if let Diagnostic::SlowPoll(r) = d {
                if r.still_running {
                    reported.store(true, Ordering::SeqCst);
                }
                reports.lock().unwrap().push(r.clone());
            }
        })
    };
    builder.run(async move {
        spawn_named("stuck", async move {
            // Blocks the loop until the watchdog has reported it (or gives up after 10 s):
            // the report can only come from outside while this poll is still running.
            let started = Instant::now();
            while !seen_while_blocked.load(Ordering::SeqCst)
                && started.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .await
        .unwrap();
    });
    let reports = reports.lock().unwrap();
    let live = reports.iter().find(|r| r.still_running).expect("reported while running");
    assert_eq!(live.task.name.as_deref(), Some("stuck"));
    assert!(live.duration >= Duration::from_millis(50));
}

#[test]
fn an_idle_loop_is_not_a_stalled_loop() {
    // 100 ms, asyncio's default: a poll of microseconds preempted on a loaded machine is not
    // reported either.
    let (builder, reports) = recording_builder(100);
    builder.run(async {
        sleep(Duration::from_millis(200)).await; // parked in epoll: idle, not stalled
    });
    assert!(reports.lock().unwrap().is_empty());
}

#[test]
fn the_main_future_is_watched_too() {
    let (builder, reports) = recording_builder(30);
    builder.debug(true).run(async {
        std::thread::sleep(Duration::from_millis(60));
    });
    let reports = reports.lock().unwrap();
    let end = reports.iter().find(|r| !r.still_running).expect("reported");
    assert_eq!(end.task.id.as_u64(), 0);
    assert_eq!(end.task.name.as_deref(), Some("main"));
    assert!(end.exact);
}

#[test]
fn detection_can_be_turned_off() {
    let (builder, reports) = recording_builder(20);
    builder.slow_callback_duration(None).run(async {
        std::thread::sleep(Duration::from_millis(60));
    });
    assert!(reports.lock().unwrap().is_empty());
}

#[test]
fn a_blocking_call_soon_callback_is_blamed_on_the_loop_not_on_a_task() {
    let (builder, reports) = recording_builder(100);
    builder.run(async {
        let handle = kairos_rt::Handle::current();
        std::thread::spawn(move || {
            handle.call_soon(|| std::thread::sleep(Duration::from_millis(300))).unwrap();
        })
        .join()
        .unwrap();
        sleep(Duration::from_millis(500)).await;
    });
    let reports = reports.lock().unwrap();
    assert!(!reports.is_empty(), "the blocking callback was reported");
    for r in reports.iter() {
        assert_eq!(r.task.id, kairos_rt::TaskId::LOOP, "{r}");
        assert!(r.to_string().contains("the event loop's own work"), "{r}");
    }
}

#[test]
fn a_panicking_diagnostic_hook_does_not_take_the_loop_down() {
    let finished = Builder::new()
        .slow_callback_duration(Some(Duration::from_millis(20)))
        .debug(true)
        .on_diagnostic(|_| panic!("the hook is buggy"))
        .run(async {
            kairos_rt::spawn(async { panic!("detached and panicking") }).detach();
            std::thread::sleep(Duration::from_millis(40)); // a slow poll: reported
            sleep(Duration::from_millis(10)).await;
            "the loop lived on"
        });
    assert_eq!(finished, "the loop lived on");
}

#[test]
fn a_stall_inside_a_label_scope_names_the_label_and_is_counted_under_it() {
    use kairos_rt::task::Label;
    let (builder, reports) = recording_builder(100);
    let by_label = builder.run(async {
        let route = Label::new("GET /bad → bad_endpoint");
        let inner = Label::new("GET /bad → bad_endpoint → load_config");
        // A connection-like task: one labelled request that blocks, then an unlabelled poll
        // that blocks too (the label does not leak into the task's next poll).
        spawn_named("connection", async move {
            route
                .scope(async {
                    inner.scope(async {}).await; // a nested scope gives the label back
                    std::thread::sleep(Duration::from_millis(300));
                })
                .await;
            kairos_rt::yield_now().await;
            std::thread::sleep(Duration::from_millis(300));
        })
        .await
        .unwrap();
        kairos_rt::stats().slow_polls_by_label
    });
    let reports = reports.lock().unwrap();
    let labelled: Vec<_> = reports.iter().filter(|r| r.label.is_some()).collect();
    assert!(!labelled.is_empty(), "the labelled stall was reported: {reports:?}");
    for r in &labelled {
        assert_eq!(r.label.as_deref(), Some("GET /bad → bad_endpoint"), "{r}");
        assert_eq!(r.task.name.as_deref(), Some("connection"), "{r}");
        assert!(r.to_string().contains("'connection'"), "{r}");
        assert!(r.to_string().contains("while running GET /bad → bad_endpoint"), "{r}");
    }
    assert!(
        reports.iter().any(|r| r.label.is_none() && r.task.name.as_deref() == Some("connection")),
        "the unlabelled stall was reported without a label: {reports:?}"
    );
    assert_eq!(by_label.len(), 1, "{by_label:?}");
    assert_eq!(&*by_label[0].0, "GET /bad → bad_endpoint");
    assert_eq!(by_label[0].1, 1, "one slow poll under the route, counted once");
}

#[test]
fn a_label_is_interned_and_a_scope_outside_a_loop_just_polls() {
    use kairos_rt::task::Label;
    let a = Label::new("POST /items → create_item");
    assert_eq!(a, Label::new(String::from("POST /items → create_item")));
    assert_ne!(a, Label::new("GET /items → list_items"));
    assert_eq!(&*a.text(), "POST /items → create_item");
    assert_eq!(a.to_string(), "POST /items → create_item");
    assert_eq!(futures::executor::block_on(a.scope(async { 7 })), 7);
}

#[test]
fn debug_mode_names_the_label_of_a_slow_poll_too() {
    use kairos_rt::task::Label;
    let (builder, reports) = recording_builder(50);
    builder.debug(true).run(async {
        spawn_named("connection", async {
            Label::new("GET /slow → slow_handler")
                .scope(async { std::thread::sleep(Duration::from_millis(120)) })
                .await;
        })
        .await
        .unwrap();
    });
    let reports = reports.lock().unwrap();
    let end = reports.iter().find(|r| !r.still_running).expect("the end of the poll is reported");
    assert!(end.exact, "{end}");
    assert_eq!(end.label.as_deref(), Some("GET /slow → slow_handler"), "{end}");
}
