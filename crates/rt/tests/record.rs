//! The recording: what a loop did, exported as a Trace Event Format trace — every poll with
//! what woke it, wakes as flow arrows, stalls marked, pool jobs on their threads, requests as
//! async slices — and a ring that stays bounded however long the loop runs.
//!
//! Tests in this file share one process, so each looks only at its own loop (the trace's
//! `pid` is the loop's id).

use std::collections::HashMap;
use std::time::Duration;

use kairos_fixtures::trace_format::validate;
use kairos_rt::record::{self, RequestSpan, Window};
use kairos_rt::task::Label;
use kairos_rt::{sleep, spawn, spawn_named, to_thread, yield_now, Builder};
use serde_json::Value;

fn parse(trace: &str) -> Value {
    serde_json::from_str(trace).unwrap_or_else(|e| panic!("the trace is not JSON ({e}): {trace}"))
}

fn of_loop(events: &[Value], loop_id: u64) -> Vec<Value> {
    events.iter().filter(|e| e["pid"] == loop_id).cloned().collect()
}

#[test]
fn polls_are_recorded_with_what_woke_them_and_the_trace_is_well_formed() {
    let (loop_id, trace) = Builder::new().record(100_000).run(async {
        let from = record::now_micros();
        // A timer wake, a wake by another task, a wake from a pool thread.
        let sleeper = spawn_named("sleeper", async { sleep(Duration::from_millis(5)).await });
        let (tx, rx) = kairos_sync::oneshot::channel::<u32>();
        let waiter = spawn_named("waiter", async move { rx.await.unwrap() });
        let sender = spawn_named("sender", async move {
            yield_now().await;
            tx.send(7).unwrap();
        });
        // The job outlasts the task's first poll (a sleep never ends early), so its result
        // comes back as a wake from the pool's thread.
        let pooled = spawn_named("pooled", async {
            to_thread(|| {
                std::thread::sleep(Duration::from_millis(20));
                6 * 7
            })
            .await
            .unwrap()
        });
        sleeper.await.unwrap();
        assert_eq!(waiter.await.unwrap(), 7);
        sender.await.unwrap();
        assert_eq!(pooled.await.unwrap(), 42);
        let trace = record::chrome_trace(Window::between(from, record::now_micros()));
        (kairos_rt::stats().loop_id, trace)
    });
    let trace = parse(&trace);
    let events = validate(&trace);
    let mine = of_loop(&events, loop_id);
    let task_named = |name: &str| -> u64 {
        let track = mine
            .iter()
            .find(|e| {
                e["name"] == "thread_name" && e["args"]["name"].as_str().unwrap().contains(name)
            })
            .unwrap_or_else(|| panic!("no track for {name}"));
        assert!(
            track["args"]["name"].as_str().unwrap().contains("tests/record.rs:"),
            "the track names the spawn site: {track}"
        );
        track["tid"].as_u64().unwrap()
    };
    let woken_by = |tid: u64| -> Vec<String> {
        mine.iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == "poll" && e["tid"] == tid)
            .map(|e| e["args"]["woken_by"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(woken_by(task_named("sleeper")), ["spawn", "timer"]);
    assert_eq!(woken_by(task_named("waiter")), ["spawn", "task"]);
    assert_eq!(woken_by(task_named("sender")), ["spawn", "task"], "yield_now wakes itself");
    assert_eq!(woken_by(task_named("pooled")), ["spawn", "remote"]);
    // The waiter's second poll has an arrow from a poll of the sender.
    let sender = task_named("sender");
    let waiter = task_named("waiter");
    let starts: HashMap<u64, &Value> =
        mine.iter().filter(|e| e["ph"] == "s").map(|e| (e["id"].as_u64().unwrap(), e)).collect();
    let from_sender = mine
        .iter()
        .filter(|e| e["ph"] == "f" && e["tid"] == waiter)
        .filter_map(|e| starts.get(&e["id"].as_u64().unwrap()))
        .any(|s| s["tid"] == sender);
    assert!(from_sender, "no wake arrow from the sender to the waiter");
    // The pool job is on a thread of the default executor's pool.
    let job = events
        .iter()
        .find(|e| e["cat"] == "job" && e["pid"].as_u64().unwrap() >= 1_000_000)
        .expect("the pool job is in the trace");
    assert!(job["args"]["queued_us"].as_f64().unwrap() <= job["ts"].as_f64().unwrap());
}

#[test]
fn a_poll_over_the_threshold_is_a_stall_with_its_label() {
    let (loop_id, trace) = Builder::new()
        .record(10_000)
        .slow_callback_duration(Some(Duration::from_millis(20)))
        .on_diagnostic(|_| {})
        .run(async {
            let label = Label::new("GET /bad → bad_endpoint (record test)");
            let bad = spawn(label.scope(async { std::thread::sleep(Duration::from_millis(60)) }));
            bad.await.unwrap();
            (kairos_rt::stats().loop_id, record::chrome_trace(Window::all()))
        });
    let events = validate(&parse(&trace));
    let mine = of_loop(&events, loop_id);
    // Found by its label: on a loaded machine another poll may be preempted past 20 ms too.
    let stall = mine
        .iter()
        .find(|e| e["ph"] == "X" && e["cat"] == "stall" && e["args"]["label"].is_string())
        .expect("the blocking poll is marked as a stall");
    assert!(stall["dur"].as_f64().unwrap() >= 60_000.0, "a sleep never ends early: {stall}");
    assert_eq!(stall["args"]["label"], "GET /bad → bad_endpoint (record test)");
    assert!(mine
        .iter()
        .any(|e| e["ph"] == "i" && e["name"] == "stall" && e["tid"] == stall["tid"]));
}

#[test]
fn a_request_span_is_an_async_slice_named_by_its_route() {
    let (loop_id, trace, stats) = Builder::new().record(10_000).run(async {
        let label = Label::new("GET /items/{item_id} (record test)");
        let served = spawn(async move {
            let span = RequestSpan::start().expect("the loop records");
            sleep(Duration::from_millis(2)).await;
            span.finish(Some(label), 200);
        });
        served.await.unwrap();
        (kairos_rt::stats().loop_id, record::chrome_trace(Window::all()), kairos_rt::stats())
    });
    let events = validate(&parse(&trace));
    let mine = of_loop(&events, loop_id);
    let begin = mine.iter().find(|e| e["ph"] == "b").expect("a request begins");
    let end = mine.iter().find(|e| e["ph"] == "e").expect("and ends");
    assert_eq!(begin["name"], "GET /items/{item_id} (record test)");
    assert_eq!(begin["args"]["status"], 200);
    assert!(end["ts"].as_f64().unwrap() - begin["ts"].as_f64().unwrap() >= 2_000.0);
    // The histogram counted every poll.
    let histogram = stats.poll_time.expect("a recording loop times its polls");
    assert_eq!(histogram.counts.len(), histogram.bounds.len() + 1);
    assert!(histogram.bounds.windows(2).all(|w| w[0] < w[1]));
    assert!(histogram.counts.iter().sum::<u64>() >= 3, "{histogram:?}");
}

#[test]
fn without_recording_nothing_is_recorded() {
    Builder::new().record(0).run(async {
        assert!(RequestSpan::start().is_none());
        assert!(kairos_rt::stats().poll_time.is_none());
        let loop_id = kairos_rt::stats().loop_id;
        spawn(async { yield_now().await }).await.unwrap();
        let events = validate(&parse(&record::chrome_trace(Window::all())));
        assert!(of_loop(&events, loop_id).is_empty());
    });
}

#[test]
fn the_ring_stays_bounded_under_a_million_polls() {
    const CAPACITY: usize = 4096;
    let (loop_id, trace) = Builder::new().record(CAPACITY).run(async {
        let players: Vec<_> = (0..2)
            .map(|_| {
                spawn(async {
                    for _ in 0..500_000 {
                        yield_now().await;
                    }
                })
            })
            .collect();
        for player in players {
            player.await.unwrap();
        }
        (kairos_rt::stats().loop_id, record::chrome_trace(Window::all()))
    });
    let trace = parse(&trace);
    let events = validate(&trace);
    let polls = of_loop(&events, loop_id).iter().filter(|e| e["ph"] == "X").count();
    assert!(polls > 0 && polls <= CAPACITY, "{polls} slices from a ring of {CAPACITY}");
    let dropped = trace["otherData"]["dropped_events"].as_u64().unwrap();
    assert!(dropped >= 1_000_000 - CAPACITY as u64, "only {dropped} events overwritten");
}
