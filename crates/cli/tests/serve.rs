//! `kairos serve`, black-box: the real binary on a loopback port, each route's answer and its
//! timing shape, and every 422.
//!
//! Timing checks must hold on a loaded 2-core machine: a count or an order, a lower bound a
//! sleep guarantees, a margin of a whole step between two sleeps, or an upper bound at least
//! ten times the expected value where the bound is the point. They are not benchmarks.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Serve;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn baselines_and_the_index() {
    let serve = Serve::start(&[]);
    assert_eq!(serve.get("/plaintext").1, "Hello, World!");
    assert_eq!(serve.json("/json").0, serde_json::json!({"message": "Hello, World!"}));
    let (status, html, _) = serve.get("/");
    assert_eq!(status, 200);
    // Linked relative to the page's <base>, which carries the root path (none here).
    assert!(html.contains("<base href=\"/\">"), "{html}");
    for route in ["\"sync?ms=", "\"gather?", "\"external?", "\"debug/loop", "action=\"upload\""] {
        assert!(html.contains(route), "the index lists {route}");
    }
    // Its script, served from /static/, opens the live stream, relative to the <base> too.
    assert!(serve.get("/static/index.js").1.contains("EventSource(here('/stream"));
}

#[test]
fn async_sync_bad_and_good_answer_where_they_ran() {
    let serve = Serve::start(&[]);
    let (body, _) = serve.json("/async?ms=50");
    assert_eq!(body, serde_json::json!({"type": "async", "slept_ms": 50}));
    let (body, elapsed) = serve.json("/sync?ms=50");
    assert_eq!(body["type"], "sync");
    assert_eq!(body["slept_ms"], 50);
    assert!(body["thread"].as_str().unwrap().starts_with("kairos-sync"), "{body}");
    assert!(elapsed >= Duration::from_millis(50));
    assert_eq!(serve.json("/bad?ms=50").0["result"], "bad");
    assert_eq!(serve.json("/good?ms=50").0["result"], "good");
}

#[test]
fn the_stall_detector_counts_bad_and_not_good() {
    // asyncio's 100 ms threshold: far above how long a busy machine pauses a runnable thread,
    // far below the 300 ms the bad route blocks for.
    let serve = Serve::start(&["--slow-callback-ms", "100", "--log-level", "warn"]);
    let before = serve.json("/debug/loop").0["slow_polls"].as_u64().unwrap();
    serve.json("/good?ms=300");
    assert_eq!(serve.json("/debug/loop").0["slow_polls"].as_u64().unwrap(), before);
    serve.json("/bad?ms=300");
    let (stats, _) = serve.json("/debug/loop");
    assert!(stats["slow_polls"].as_u64().unwrap() > before, "{stats}");
    // Counted under the route and its handler, not only under the connection's task.
    const BAD: &str = "GET /bad → kairos::service::basics::bad";
    assert_eq!(stats["slow_polls_by_route"][BAD], 1, "{stats}");
    assert!(stats["slow_polls_by_route"]
        .get("GET /good → kairos::service::basics::good")
        .is_none());
    // And the warning names it, beside the task.
    let log = serve.log();
    let warning = log
        .lines()
        .find(|l| l.contains("blocked the event loop"))
        .unwrap_or_else(|| panic!("the stall was logged: {log}"));
    assert!(warning.contains(&format!("while running {BAD}")), "{warning}");
}

#[test]
fn sequential_takes_the_sum_and_concurrent_the_longest() {
    let serve = Serve::start(&[]);
    // Steps of 0.5 s (A) and 1 s (B): the sum 1.5 s, the longest 1 s.
    let (body, _) = serve.json("/sequential?scale=0.5");
    assert_eq!(body["results"], serde_json::json!(["A result", "B result"]));
    let sequential = body["elapsed_s"].as_f64().unwrap();
    // Sleeps never end early (5% for timers that round to the millisecond).
    assert!(sequential >= 0.95 * 1.5, "sequential took {sequential} s");
    let (body, _) = serve.json("/concurrent?scale=0.5");
    assert_eq!(body["results"], serde_json::json!(["A result", "B result"]));
    let concurrent = body["elapsed_s"].as_f64().unwrap();
    assert!(concurrent >= 0.95 * 1.0, "concurrent took {concurrent} s");
    // The order, with half of step A (0.25 s) as the margin a loaded machine may take.
    assert!(
        concurrent <= sequential - 0.25,
        "sequential {sequential} s, concurrent {concurrent} s"
    );
}

#[test]
fn gather_takes_the_longest_and_fails_both_ways() {
    let serve = Serve::start(&[]);
    let (body, _) = serve.json("/gather?scale=0.5");
    assert_eq!(body["results"], serde_json::json!(["A result", "B result", "C result"]));
    let elapsed = body["elapsed_s"].as_f64().unwrap();
    // The longest step (B, 1 s), at least; short of the sum (2.25 s) by more than a step.
    assert!(elapsed >= 0.95 * 1.0, "gather took {elapsed} s");
    assert!(elapsed < 2.25 - 0.5, "gather took {elapsed} s, as long as the steps in turn");

    let (body, _) = serve.json("/gather?scale=0.1&fail=B&return_exceptions=true");
    assert_eq!(body["results"], serde_json::json!(["A result", {"error": "B failed"}, "C result"]));

    let (status, body, _) = serve.get("/gather?scale=0.1&fail=B&return_exceptions=false");
    assert_eq!(status, 500);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["detail"], "B failed");
}

#[test]
fn wait_for_times_out_and_cancels_or_returns() {
    let serve = Serve::start(&[]);
    let (body, elapsed) = serve.json("/wait_for?work_ms=5000&timeout_ms=100");
    assert_eq!(body["status"], "timeout");
    assert_eq!(body["cancelled"], true);
    // The answer comes at the timeout (0.1 s), not after the work (5 s): the bound is the
    // point, and it is 25 times the expected value.
    assert!(secs(elapsed) < 2.5, "the timeout did not cut the work: {elapsed:?}");
    let (body, _) = serve.json("/wait_for?work_ms=10&timeout_ms=1000");
    assert_eq!(body["status"], "done");
}

#[test]
fn the_counter_is_exact_without_an_await_and_short_with_one() {
    let serve = Serve::start(&[]);
    let (body, _) = serve.json("/counter?tasks=1000&await_between=false");
    assert_eq!(body["expected"], 1000);
    assert_eq!(body["final"], 1000);
    let (body, _) = serve.json("/counter?tasks=1000&await_between=true");
    assert!(body["final"].as_u64().unwrap() < 1000, "{body}");
}

#[test]
fn cpu_gives_the_same_sum_on_every_pool() {
    let serve = Serve::start(&["--process-pool", "1", "--cpu-pool", "2"]);
    // sum of i*i for i < 1000 = 999 * 1000 * 1999 / 6
    for pool in ["process", "thread", "inline"] {
        let (body, _) = serve.json(&format!("/cpu?n=1000&pool={pool}"));
        assert_eq!(body["result"], 332_833_500, "{pool}");
        assert_eq!(body["pool"], pool);
        assert!(body["elapsed_s"].is_f64());
    }
    let stats = serve.json("/debug/loop").0;
    assert_eq!(stats["process_pools"][0]["completed"], 1, "{stats}");
}

#[test]
fn cpu_is_exact_past_64_bits_on_every_pool() {
    // Regression: the sum used to wrap modulo 2^64 (Python's is exact). For n = 10^7 it is
    // (n-1)·n·(2n-1)/6 = 333333283333335000000, past u64::MAX (18446744073709551615); read
    // from the raw body, since serde_json::Value would round it to an f64.
    let serve = Serve::start(&["--process-pool", "1", "--cpu-pool", "2"]);
    for pool in ["process", "thread", "inline"] {
        let (status, body, _) = serve.get(&format!("/cpu?n=10000000&pool={pool}"));
        assert_eq!(status, 200, "{pool}: {body}");
        assert!(body.contains(r#""result":333333283333335000000"#), "{pool}: {body}");
    }
}

#[test]
fn external_never_exceeds_its_limit() {
    let serve = Serve::start(&[]);
    let (body, _) = serve.json("/external?n=10&limit=3&ms=50");
    assert_eq!(body["n"], 10);
    assert_eq!(body["limit"], 3);
    let max = body["max_in_flight"].as_u64().unwrap();
    assert!((1..=3).contains(&max), "{body}");
    // 10 calls of 50 ms, 3 at a time: at least 4 waves.
    assert!(body["elapsed_s"].as_f64().unwrap() >= 0.19, "{body}");
}

#[test]
fn external_to_a_dead_upstream_is_a_502_not_a_hang() {
    // An upstream that hangs up on every call (a port merely closed could be taken by
    // another process meanwhile).
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", dead.local_addr().unwrap());
    std::thread::spawn(move || {
        for connection in dead.incoming() {
            drop(connection);
        }
    });
    let serve = Serve::start(&["--upstream", &upstream]);
    let (status, _, elapsed) = serve.get("/external?n=2&limit=1&ms=0");
    assert_eq!(status, 502);
    assert!(secs(elapsed) < 10.0);
}

#[test]
fn serve_on_port_0_reports_the_port_it_got_and_calls_itself_there() {
    // `/external` calls this very server by default: the address it learnt after the bind.
    let serve = Serve::start(&[]);
    assert_ne!(serve.addr.port(), 0);
    let (body, _) = serve.json("/external?n=2&limit=2&ms=0");
    assert_eq!(body["n"], 2, "{body}");
}

#[test]
fn stream_sends_each_event() {
    let serve = Serve::start(&[]);
    let (status, body, elapsed) = serve.get("/stream?n=5&interval_ms=20");
    assert_eq!(status, 200);
    let data: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data, ["0", "1", "2", "3", "4"]);
    assert!(elapsed >= Duration::from_millis(80), "{elapsed:?}");
}

#[test]
fn stream_sends_the_first_event_before_the_last_is_made() {
    // Events 5 s apart: the first is due at once, the second cannot exist before 5 s. A
    // server that buffered the stream would send nothing for 10 s, then everything.
    let serve = Serve::start(&[]);
    let started = Instant::now();
    let mut stream = TcpStream::connect(serve.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET /stream?n=3&interval_ms=5000 HTTP/1.0\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while !String::from_utf8_lossy(&seen).contains("data: 0") {
        let read = stream.read(&mut buf).unwrap();
        assert!(read > 0, "closed before the first event");
        seen.extend_from_slice(&buf[..read]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(!text.contains("data: 1"), "the first event came with the second:\n{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn debug_loop_reports_the_loop_and_its_pools() {
    let serve = Serve::start(&[]);
    serve.json("/sync?ms=1");
    let (stats, _) = serve.json("/debug/loop");
    for field in ["loop_id", "tasks_alive", "tasks_spawned", "polls", "slow_polls"] {
        assert!(stats[field].is_u64(), "{field} in {stats}");
    }
    let pools = stats["pools"].as_array().unwrap();
    let sync = pools.iter().find(|p| p["name_prefix"] == "kairos-sync").expect("the sync pool");
    assert_eq!(sync["max_workers"], 40);
    assert!(sync["active"].is_u64() && sync["queued"].is_u64());
}

#[test]
fn every_out_of_range_or_non_number_parameter_is_a_422() {
    let serve = Serve::start(&[]);
    let cases: &[(&str, &str, &str)] = &[
        ("/async?ms=soon", "ms", "int_parsing"),
        ("/async?ms=10001", "ms", "less_than_equal"),
        // A number, below the range (FastAPI's ge=0), not a failed parse.
        ("/async?ms=-1", "ms", "greater_than_equal"),
        // pydantic's unbounded int: past 64 bits, still above the range.
        ("/async?ms=99999999999999999999999", "ms", "less_than_equal"),
        ("/sync?ms=10001", "ms", "less_than_equal"),
        ("/bad?ms=10001", "ms", "less_than_equal"),
        ("/good?ms=x", "ms", "int_parsing"),
        ("/sequential?scale=-0.5", "scale", "greater_than_equal"),
        ("/concurrent?scale=6", "scale", "less_than_equal"),
        ("/concurrent?scale=fast", "scale", "float_parsing"),
        // pydantic compares a NaN with le first.
        ("/gather?scale=nan", "scale", "less_than_equal"),
        ("/gather?scale=inf", "scale", "less_than_equal"),
        ("/gather?fail=D", "fail", "literal_error"),
        ("/gather?return_exceptions=maybe", "return_exceptions", "bool_parsing"),
        ("/wait_for?work_ms=10001", "work_ms", "less_than_equal"),
        ("/wait_for?timeout_ms=x", "timeout_ms", "int_parsing"),
        ("/counter?tasks=0", "tasks", "greater_than_equal"),
        ("/counter?tasks=100001", "tasks", "less_than_equal"),
        ("/counter?await_between=2", "await_between", "bool_parsing"),
        ("/cpu?n=5000000001", "n", "less_than_equal"),
        ("/cpu?pool=gpu", "pool", "literal_error"),
        ("/external?n=0", "n", "greater_than_equal"),
        ("/external?n=101", "n", "less_than_equal"),
        ("/external?limit=0", "limit", "greater_than_equal"),
        ("/external?ms=10001", "ms", "less_than_equal"),
        ("/stream?n=0", "n", "greater_than_equal"),
        ("/stream?n=10001", "n", "less_than_equal"),
        // Each parameter in range, but together hours long: refused as a whole.
        ("/stream?n=10000&interval_ms=10000", "interval_ms", "value_error"),
        ("/external?n=100&limit=1&ms=10000", "ms", "value_error"),
        ("/stream?interval_ms=x", "interval_ms", "int_parsing"),
    ];
    for &(path, field, kind) in cases {
        let (status, body, _) = serve.get(path);
        assert_eq!(status, 422, "GET {path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let item = &body["detail"][0];
        assert_eq!(item["loc"], serde_json::json!(["query", field]), "GET {path}: {body}");
        assert_eq!(item["type"], kind, "GET {path}: {body}");
        assert!(!item["msg"].as_str().unwrap().is_empty());
    }
    // Every bad parameter of a request is listed, in the route's order of parameters.
    let (status, body, _) = serve.get("/external?ms=x&limit=0&n=101");
    assert_eq!(status, 422, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<(&str, &str)> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["loc"][1].as_str().unwrap(), i["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("n", "less_than_equal"), ("limit", "greater_than_equal"), ("ms", "int_parsing")]
    );
    // pydantic's lax integers: "1.0" and "1_0" are numbers, as FastAPI reads them.
    for (path, slept) in [("/async?ms=1.0", 1), ("/async?ms=1_0", 10), ("/async?ms=%2B5", 5)] {
        let (status, body, _) = serve.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["slept_ms"], slept, "{path}");
    }
}

#[test]
fn invalid_flags_are_usage_errors() {
    for args in [
        &["serve", "--workers", "many"][..],
        &["serve", "--bind", "nowhere"],
        &["serve", "--sync-pool", "0"],
        &["serve", "--log-level", "loud"],
        &["serve", "--upstream", "ftp://example.com"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kairos")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"), "{args:?}");
    }
}

#[test]
fn help_still_lists_the_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos")).arg("help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--example sequential_vs_concurrent"));
    assert!(text.contains("serve"));
}

/// The robustness corpus's hand cases (RFC 9112 and request smuggling, `bench/robustness/`)
/// against the real binary: every case answered as the RFC and the strict defaults say. The
/// runner is Python's standard library only; generous per-case timeouts keep a loaded
/// machine from reading a slow close as a kept-open connection.
#[test]
fn the_rfc_9112_and_smuggling_hand_cases_are_answered_as_the_rfc_says() {
    // HTTP/1.1 only: with HTTP/2 on, the corpus's "h2 preface on HTTP/1" case opens an h2c
    // connection, as it should (crates/http/tests/protocols.rs checks that side).
    let serve = Serve::start(&["--no-http2"]);
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/robustness/cases.py");
    let output = Command::new("python3")
        .arg(cases)
        .arg(serve.addr.to_string())
        .args(["--timeout", "5", "--jobs", "4"])
        .output()
        .expect("python3 runs the hand cases");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cases that failed:\n{}",
        report.lines().filter(|line| line.contains("FAIL")).collect::<Vec<_>>().join("\n")
    );
}
#[test]
fn the_openapi_document_passes_openapi_spec_validator_and_lists_every_route() {
    let serve = Serve::start(&[]);
    let (status, body, _) = serve.get("/openapi.json");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();

    support::validate_openapi(&body);

    assert_eq!(doc["openapi"], "3.1.0");
    let routes = [
        "/",
        "/plaintext",
        "/json",
        "/async",
        "/sync",
        "/bad",
        "/good",
        "/sequential",
        "/concurrent",
        "/gather",
        "/wait_for",
        "/counter",
        "/cpu",
        "/external",
        "/stream",
        "/debug/loop",
        "/debug/trace",
        "/debug/timeline",
        "/fanout",
        "/metrics",
        "/items",
        "/items/{id}",
        "/cached",
        "/db/async",
        "/db/sync",
        "/db/bad",
        "/contract",
        "/upload",
        "/users",
        "/token",
        "/users/me",
        "/login/bad",
        "/debug/request",
        "/healthz",
        "/readyz",
    ];
    let paths = doc["paths"].as_object().unwrap();
    let listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut expected = routes.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected, "every route, and only the routes");
    for route in routes {
        let get = &doc["paths"][route]["get"];
        if get.is_null() {
            continue; // /items/{id} and /items have other methods; checked below
        }
        assert!(get["summary"].as_str().is_some_and(|s| !s.is_empty()), "{route}: {get:#}");
        assert!(get["tags"][0].is_string(), "{route} has a tag");
        assert!(get["responses"]["200"].is_object(), "{route} answers 200");
    }

    // The database routes: a validated body by reference, their statuses.
    let post = &doc["paths"]["/items"]["post"];
    assert!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(),
        "{post:#}"
    );
    assert!(
        post["responses"]["201"].is_object() && post["responses"]["422"].is_object(),
        "{post:#}"
    );
    let delete = &doc["paths"]["/items/{id}"]["delete"];
    assert!(
        delete["responses"]["404"].is_object() && delete["responses"]["503"].is_object(),
        "{delete:#}"
    );

    // Each parameter with its range and default, from the query types' declarations.
    let cases: &[(&str, &str, Value, Value, Value)] = &[
        ("/async", "ms", json!(0), json!(10_000), json!(1000)),
        ("/sync", "ms", json!(0), json!(10_000), json!(1000)),
        ("/bad", "ms", json!(0), json!(10_000), json!(2000)),
        ("/good", "ms", json!(0), json!(10_000), json!(2000)),
        ("/sequential", "scale", json!(0.0), json!(5.0), json!(1.0)),
        ("/gather", "scale", json!(0.0), json!(5.0), json!(1.0)),
        ("/wait_for", "work_ms", json!(0), json!(10_000), json!(3000)),
        ("/wait_for", "timeout_ms", json!(0), json!(10_000), json!(1000)),
        ("/counter", "tasks", json!(1), json!(100_000), json!(1000)),
        ("/cpu", "n", json!(0), json!(5_000_000_000u64), json!(10_000_000)),
        ("/external", "n", json!(1), json!(100), json!(20)),
        ("/external", "limit", json!(1), json!(100), json!(5)),
        ("/external", "ms", json!(0), json!(10_000), json!(200)),
        ("/external", "rate", json!(0), json!(1000), json!(0)),
        ("/stream", "n", json!(1), json!(10_000), json!(100)),
        ("/stream", "interval_ms", json!(0), json!(10_000), json!(100)),
    ];
    for (route, name, minimum, maximum, default) in cases {
        let get = &doc["paths"][route]["get"];
        let param = get["parameters"]
            .as_array()
            .and_then(|params| params.iter().find(|p| p["name"] == *name))
            .unwrap_or_else(|| panic!("{route} has no parameter {name}: {get:#}"));
        let schema = &param["schema"];
        assert_eq!(param["in"], "query", "{route} {name}");
        assert_eq!(param["required"], false, "{route} {name} has a default");
        assert!(param["description"].is_string(), "{route} {name} is described");
        assert_eq!(
            (&schema["minimum"], &schema["maximum"], &schema["default"]),
            (minimum, maximum, default),
            "{route} {name}"
        );
        assert_eq!(
            get["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/HTTPValidationError",
            "{route} answers 422"
        );
    }
    let fail = &doc["paths"]["/gather"]["get"]["parameters"][1];
    assert_eq!(
        (&fail["name"], &fail["schema"]["enum"]),
        (&json!("fail"), &json!(["", "A", "B", "C"]))
    );
    let pool = &doc["paths"]["/cpu"]["get"]["parameters"][1]["schema"]["enum"];
    assert_eq!(pool, &json!(["process", "thread", "inline"]));
    let cpu = &doc["paths"]["/cpu"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(cpu["schema"]["$ref"], "#/components/schemas/CpuAnswer");
    assert_eq!(
        doc["paths"]["/external"]["get"]["responses"]["502"]["description"],
        "A call to the upstream failed"
    );
}

#[test]
fn docs_pages_are_served_and_linked_from_the_index() {
    let serve = Serve::start(&[]);
    let (status, index, _) = serve.get("/");
    assert_eq!(status, 200);
    assert!(index.contains("href=\"docs\"") && index.contains("href=\"redoc\""), "{index}");
    for (page, asset) in
        [("/docs", "/docs/swagger-ui-bundle.js"), ("/redoc", "/redoc/redoc.standalone.js")]
    {
        let (status, html, _) = serve.get(page);
        assert_eq!(status, 200, "{page}");
        assert!(html.contains(asset) && !html.contains("://"), "{page}: {html}");
        assert_eq!(serve.get(asset).0, 200, "{asset}");
    }
}

/// `curl` with `args` against the server; its stdout.
fn curl(serve: &Serve, args: &[&str], path: &str) -> String {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .arg(format!("http://{}{path}", serve.addr))
        .output()
        .expect("curl runs (bash scripts/test.sh installs it)");
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_service_names_each_request_serves_its_assets_compresses_and_takes_uploads() {
    let serve = Serve::start(&["--log-level", "info"]);

    // A request id: the client's kept, or one made (a UUID), and the access log names it.
    let head =
        curl(&serve, &["-D", "-", "-o", "/dev/null", "-H", "x-request-id: trace-42"], "/json");
    assert!(head.to_ascii_lowercase().contains("x-request-id: trace-42"), "{head}");
    let made = curl(&serve, &["-D", "-", "-o", "/dev/null"], "/plaintext").to_ascii_lowercase();
    let id = made.lines().find_map(|l| l.strip_prefix("x-request-id: ")).unwrap().trim().to_owned();
    assert_eq!(id.len(), 36, "{made}");
    let logged =
        |log: &str| log.lines().any(|l| l.contains("\"GET /plaintext\" 200") && l.contains(&id));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !logged(&serve.log()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(logged(&serve.log()), "{}", serve.log());

    // The page's assets, with validators: a second fetch with the ETag is a 304.
    let css = curl(&serve, &["-D", "-"], "/static/index.css");
    assert!(css.starts_with("HTTP/1.1 200"), "{css}");
    assert!(css.contains("text/css"), "{css}");
    let etag = css.lines().find_map(|l| l.strip_prefix("etag: ")).unwrap().trim().to_owned();
    let again = curl(
        &serve,
        &["-D", "-", "-o", "/dev/null", "-H", &format!("if-none-match: {etag}")],
        "/static/index.css",
    );
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    assert!(curl(&serve, &["-D", "-", "-o", "/dev/null"], "/static/../Cargo.toml").contains(" 404"));

    // Compression, negotiated: the OpenAPI document (tens of KB) in br, decoded by curl.
    let compressed =
        curl(&serve, &["-D", "-", "-o", "/dev/null", "-H", "accept-encoding: br"], "/openapi.json");
    assert!(compressed.contains("content-encoding: br"), "{compressed}");
    let decoded = curl(&serve, &["--compressed"], "/openapi.json");
    assert!(serde_json::from_str::<serde_json::Value>(&decoded).unwrap()["paths"]["/upload"]
        .is_object());

    // An upload, as a browser's form sends it: its size and SHA-256.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("upload-{}.txt", std::process::id()));
    std::fs::write(&file, "hello, kairos\n").unwrap();
    let answer = curl(&serve, &["-F", &format!("file=@{}", file.display())], "/upload");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["size"], 14);
    assert_eq!(
        answer["sha256"],
        "b7a7dd42eb0593f675e409e205885f80ec18eae317c89ecd0f2e18db252d7bcf"
    );
    assert_eq!(answer["spooled_to_disk"], false);
    let _ = std::fs::remove_file(&file);
}
