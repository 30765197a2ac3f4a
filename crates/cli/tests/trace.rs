//! `kairos serve`'s recording, black-box: `/debug/trace` and the file `--trace` writes at
//! shutdown are Trace Event Format files (checked by the shared checker) that show what the
//! chapter's routes did — requests by route and status, the stall `/bad` causes, the sync
//! pool's and the process pool's jobs on their threads and processes, both workers.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use kairos_fixtures::trace_format::validate;
use serde_json::Value;
use support::Serve;

fn names(events: &[Value], metadata: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == metadata)
        .map(|e| e["args"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The checks both traces must pass: what the test's requests did is in them.
fn check_routes(events: &[Value]) {
    let processes = names(events, "process_name");
    for wanted in ["kairos-worker-0", "kairos-worker-1", "thread pool 'kairos-sync'"] {
        assert!(processes.iter().any(|p| p == wanted), "no {wanted} in {processes:?}");
    }
    assert!(
        processes.iter().any(|p| p.starts_with("process pool")),
        "the process pool's job is in the trace: {processes:?}"
    );
    let requests: HashSet<(String, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "b" && e["cat"] == "request")
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["args"]["status"].as_u64().unwrap()))
        .collect();
    for route in ["GET /concurrent", "GET /sync", "GET /bad", "GET /cpu"] {
        assert!(
            requests.iter().any(|(name, status)| name.starts_with(route) && *status == 200),
            "no 200 request slice for {route}: {requests:?}"
        );
    }
    assert!(requests.contains(&("request".to_owned(), 404)), "a 404 has no route: {requests:?}");
    // (Other polls may be stalls too: on a loaded machine any poll can be preempted.)
    let stall = events
        .iter()
        .find(|e| {
            e["ph"] == "X"
                && e["cat"] == "stall"
                && e["args"]["label"].as_str().is_some_and(|l| l.starts_with("GET /bad"))
        })
        .expect("/bad's blocking poll is a stall named by its route");
    assert!(stall["dur"].as_f64().unwrap() >= 150_000.0, "a sleep never ends early: {stall}");
    let sync_job = events
        .iter()
        .find(|e| {
            e["cat"] == "job"
                && e["args"]["label"].as_str().is_some_and(|l| l.starts_with("GET /sync"))
        })
        .expect("the /sync handler ran as a job of the sync pool");
    assert!(sync_job["dur"].as_f64().unwrap() >= 100_000.0, "{sync_job}");
    // Wakes are arrows: at least the timers of /concurrent's sleeps.
    assert!(events.iter().any(|e| e["ph"] == "f" && e["cat"] == "wake"));
}

fn exercise(serve: &Serve) {
    serve.json("/concurrent?scale=0.2");
    serve.json("/sync?ms=100");
    serve.json("/bad?ms=150");
    serve.json("/cpu?pool=process&n=100000");
    assert_eq!(serve.get("/no/such/route").0, 404);
}

#[test]
fn debug_trace_and_the_trace_file_show_what_the_routes_did() {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-trace-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut serve = Serve::start(&[
        "--workers",
        "2",
        "--slow-callback-ms",
        "50",
        "--trace",
        file.to_str().unwrap(),
    ]);
    // Both workers serve: HTTP/1.0 connections are spread over them by the shared listener,
    // so repeat the routes until each worker's loop has a request slice.
    for _ in 0..4 {
        exercise(&serve);
    }
    let (trace, _) = serve.json("/debug/trace?seconds=60");
    let events = validate(&trace);
    check_routes(&events);

    // A follow-up from the last answer's end holds only what happened after it.
    let end = trace["otherData"]["end_us"].as_f64().unwrap();
    assert_eq!(serve.get("/plaintext").0, 200);
    let (later, _) = serve.json(&format!("/debug/trace?since_us={end}"));
    let later_events = validate(&later);
    assert!(later["otherData"]["start_us"].as_f64().unwrap() >= end);
    assert!(
        later_events
            .iter()
            .filter(|e| e["ph"] == "X")
            .all(|e| e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap() >= end),
        "a follow-up repeats nothing that ended before it"
    );
    // (Not "no stall in it": on a loaded machine any poll may be preempted past 50 ms.)

    // Out-of-range windows are refused by the route's declared validation.
    assert_eq!(serve.get("/debug/trace?seconds=0").0, 422);
    assert_eq!(serve.get("/debug/trace?seconds=3600").0, 422);

    serve.terminate();
    let status = serve.wait_exit(Duration::from_secs(60)).expect("the server exits on SIGTERM");
    assert!(status.success(), "{status:?}: {}", serve.log());
    let written = std::fs::read_to_string(&file).expect("--trace wrote the file at shutdown");
    let events = validate(&serde_json::from_str(&written).expect("the file is JSON"));
    check_routes(&events);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn without_recording_the_trace_route_says_how_to_turn_it_on() {
    let serve = Serve::start(&["--record-events", "0"]);
    let (status, body, _) = serve.get("/debug/trace");
    assert_eq!(status, 503);
    assert!(body.contains("--record-events"), "{body}");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--record-events", "0", "--trace", "/dev/null"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--record-events 0"));
}
