//! `App::metrics` and `metrics::expose` over loopback: what a request is counted under, the
//! workers a scrape gathers, and a scrape that does not wait for a blocked worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kairos_web::http::Method;
use kairos_web::kairos_http::ServerConfig;
use kairos_web::metrics::{self, Metrics};
use kairos_web::{App, Path, TestClient};

async fn item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn config(workers: usize) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers,
        access_log: false,
        ..ServerConfig::default()
    }
}

/// The value of the sample written exactly as `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn requests_are_counted_under_their_template_method_and_status() {
    let app = App::new()
        .metrics(Metrics::new())
        .get("/items/{id}", item)
        .post("/items/{id}", item)
        .get("/metrics", metrics::expose);
    let client = TestClient::new(app);
    for id in 0..5 {
        assert_eq!(client.get(&format!("/items/{id}")).send().status(), 200);
    }
    assert_eq!(client.get("/items/not-a-number").send().status(), 422);
    assert_eq!(client.delete("/items/1").send().status(), 405);
    assert_eq!(
        client.request(Method::from_bytes(b"BREW").unwrap(), "/items/1").send().status(),
        405
    );
    for path in ["/a", "/b/c", "/items/1/2"] {
        assert_eq!(client.get(path).send().status(), 404);
    }
    let text = client.get("/metrics").send().text();
    let counted = |labels: &str| {
        sample(&text, &format!("http_requests_total{{worker=\"0\",{labels}}}"))
            .unwrap_or_else(|| panic!("no http_requests_total{{{labels}}} in:\n{text}"))
    };
    assert_eq!(counted(r#"route="/items/{id}",method="GET",status="200""#), 5.0);
    assert_eq!(counted(r#"route="/items/{id}",method="GET",status="422""#), 1.0);
    assert_eq!(counted(r#"route="/items/{id}",method="DELETE",status="405""#), 1.0);
    assert_eq!(counted(r#"route="/items/{id}",method="other",status="405""#), 1.0);
    // Three paths no route matches: one label value, so one series.
    assert_eq!(counted(r#"route="unmatched",method="GET",status="404""#), 3.0);
    assert!(!text.contains("/items/1"), "a raw path is never a label:\n{text}");
    let latency =
        r#"http_request_duration_seconds_count{worker="0",route="/items/{id}",method="GET"}"#;
    assert_eq!(sample(&text, latency), Some(6.0), "{text}");
}

#[test]
fn a_scrape_gathers_every_worker() {
    let app = App::new().metrics(Metrics::new()).get("/metrics", metrics::expose);
    let client = TestClient::with_config(app, config(3));
    let text = client.get("/metrics").send().text();
    for worker in 0..3 {
        assert_eq!(sample(&text, &format!("kairos_worker_up{{worker=\"{worker}\"}}")), Some(1.0));
        for family in
            ["kairos_loop_polls_total", "kairos_loop_lag_seconds", "http_connections_open"]
        {
            let series = format!("{family}{{worker=\"{worker}\"}}");
            assert!(sample(&text, &series).is_some(), "no {series} in:\n{text}");
        }
    }
    // The scrape's own connection and request, on whichever worker took it.
    let open: f64 = (0..3)
        .filter_map(|w| sample(&text, &format!("http_connections_open{{worker=\"{w}\"}}")))
        .sum();
    assert!(open >= 1.0, "{text}");
}

/// A worker whose loop is blocked cannot answer the scrape: the others' metrics come back
/// after `worker_wait`, with the blocked one marked down, instead of the scrape hanging.
#[test]
fn a_blocked_worker_is_reported_down_not_waited_for() {
    let blocking = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&blocking);
    let metrics = Metrics::builder().worker_wait(Duration::from_millis(500)).build();
    let app =
        App::new().metrics(metrics).get("/metrics", metrics::expose).get("/block", move || {
            flag.store(true, Ordering::SeqCst);
            // Blocks the loop on purpose, as a blocking call in an async route would.
            std::thread::sleep(Duration::from_secs(4));
            async { "unblocked" }
        });
    let client = Arc::new(TestClient::with_config(app, config(2)));
    let blocked = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || client.get("/block").send().status())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blocking.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the blocking request never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let text = client.get("/metrics").send().text();
    let up: Vec<f64> = (0..2)
        .map(|w| sample(&text, &format!("kairos_worker_up{{worker=\"{w}\"}}")).unwrap())
        .collect();
    assert!(up == [1.0, 0.0] || up == [0.0, 1.0], "one worker up, the blocked one down: {up:?}");
    assert_eq!(blocked.join().unwrap(), 200);
}
