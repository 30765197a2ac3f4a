//! `kairos serve --workers 2`'s `/metrics`, read by a parser nobody here wrote: the official
//! Prometheus Python client's (`prometheus_client.parser`, from PyPI, in a virtual environment
//! under `target/` made on first use; `prometheus_parse.py`). Every family must parse, every
//! per-worker series name both workers, and the counters must move as requests are served.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;

mod support;
use support::Serve;

/// The pinned parser, from PyPI.
const PROMETHEUS_CLIENT: &str = "prometheus-client==0.21.1";

/// The Python of a virtual environment with [`PROMETHEUS_CLIENT`], made once per test run
/// (with `python3 -m venv` and pip, which needs PyPI once) unless it is there already.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| support::python_with(PROMETHEUS_CLIENT))
}

/// A family as the parser read it.
#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    help: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// One scrape, parsed.
struct Scrape(Vec<Family>);

impl Scrape {
    /// Every sample named `name` (a family's own, or a histogram's `_bucket`, `_sum`, `_count`).
    fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().flat_map(|f| &f.samples).filter(move |s| s.name == name)
    }

    /// The sum of the samples named `name` whose labels include every pair of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name)
            .filter(|s| labels.iter().all(|(k, v)| s.label(k) == *v))
            .map(|s| s.value)
            .sum()
    }
}

/// GETs `/metrics`, checks its content type and parses its body with the Python parser.
fn scrape(serve: &Serve) -> Scrape {
    let (status, head, body) = serve.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let mut parser = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/prometheus_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    parser.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the body:\n{}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    Scrape(serde_json::from_slice(&out.stdout).expect("the script prints JSON"))
}

/// The families that belong to the process, not to a worker: the only ones without a
/// `worker` label.
const PROCESS_WIDE: &str = "kairos_thread_pool_";

#[test]
fn every_family_parses_and_every_per_worker_series_names_both_workers() {
    let serve = Serve::start(&["--workers", "2"]);
    // One request of a process pool's, so that its families are there too.
    assert_eq!(serve.get("/cpu?n=1000&pool=process").0, 200);
    let scrape = scrape(&serve);
    let names: BTreeSet<&str> = scrape.0.iter().map(|f| f.name.as_str()).collect();
    for family in &scrape.0 {
        assert!(!family.help.is_empty(), "{} has no HELP", family.name);
        assert!(!family.samples.is_empty(), "{} has no sample", family.name);
        let workers: BTreeSet<&str> = family.samples.iter().map(|s| s.label("worker")).collect();
        if family.name.starts_with(PROCESS_WIDE) {
            assert_eq!(workers, BTreeSet::from([""]), "{} is the process's", family.name);
            continue;
        }
        assert!(
            workers.iter().all(|w| ["0", "1"].contains(w)),
            "{}: every sample has worker 0 or 1, not {workers:?}",
            family.name
        );
    }
    // The families of every worker's loop and server: both workers in each.
    for name in [
        "kairos_worker_up",
        "http_requests_in_flight",
        "http_connections_open",
        "kairos_loop_lag_seconds",
        "kairos_loop_heartbeat_delay_seconds",
        "kairos_loop_polls",
        "kairos_loop_slow_polls",
        "kairos_loop_tasks_alive",
        "kairos_loop_tasks_spawned",
        "kairos_loop_ready_queue",
        "kairos_loop_timers",
        "kairos_loop_io_sources",
        "kairos_loop_unobserved_panics",
    ] {
        let family = scrape.0.iter().find(|f| f.name == name);
        let family = family.unwrap_or_else(|| panic!("no family {name} in {names:?}"));
        let workers: BTreeSet<&str> = family.samples.iter().map(|s| s.label("worker")).collect();
        assert_eq!(workers, BTreeSet::from(["0", "1"]), "{name}");
    }
    for worker in ["0", "1"] {
        assert_eq!(scrape.sum("kairos_worker_up", &[("worker", worker)]), 1.0);
    }
    let kinds: BTreeMap<&str, &str> =
        scrape.0.iter().map(|f| (f.name.as_str(), f.kind.as_str())).collect();
    assert_eq!(kinds["http_requests"], "counter");
    assert_eq!(kinds["http_request_duration_seconds"], "histogram");
    assert_eq!(kinds["kairos_loop_lag_seconds"], "gauge");
    assert_eq!(kinds["kairos_thread_pool_completed"], "counter");
    assert_eq!(kinds["kairos_process_pool_completed"], "counter");
    assert_eq!(scrape.sum("kairos_process_pool_completed_total", &[]), 1.0);
    // The scrape itself is in flight while it gathers.
    assert!(scrape.sum("http_requests_in_flight", &[]) >= 1.0);
    assert!(scrape.sum("http_connections_open", &[]) >= 1.0);
}

#[test]
fn counters_move_as_requests_are_served() {
    let serve = Serve::start(&["--workers", "2", "--slow-callback-ms", "100"]);
    let before = scrape(&serve);
    let served = |route: &str, status: &str, scrape: &Scrape| {
        let labels = [("route", route), ("method", "GET"), ("status", status)];
        scrape.sum("http_requests_total", &labels)
    };

    const K: usize = 9;
    for _ in 0..K {
        assert_eq!(serve.get("/async?ms=0").0, 200);
    }
    assert_eq!(serve.get("/async?ms=not-a-number").0, 422);
    for path in ["/no/such/route", "/items/1/2/3", "/nope"] {
        assert_eq!(serve.get(path).0, 404);
    }
    for _ in 0..3 {
        assert_eq!(serve.get("/sync?ms=0").0, 200);
    }
    // Blocks a worker's loop for 300 ms: a slow poll (over 100 ms) under /bad's label, and a
    // heartbeat that runs late.
    assert_eq!(serve.get("/bad?ms=300").0, 200);
    // The late heartbeat is polled after the blocking poll returns, possibly after a scrape
    // that reached the worker first: give it two beats' time (a wait, not a verdict).
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = scrape(&serve);

    let grew =
        |route: &str, status: &str| served(route, status, &after) - served(route, status, &before);
    assert_eq!(grew("/async", "200"), K as f64, "K requests to /async, summed over the workers");
    assert_eq!(grew("/async", "422"), 1.0);
    assert_eq!(grew("unmatched", "404"), 3.0, "three unknown paths, one label value");
    assert_eq!(grew("/sync", "200"), 3.0);
    assert_eq!(grew("/bad", "200"), 1.0);
    assert!(
        after.samples("http_requests_total").all(|s| !s.label("route").starts_with("/no")),
        "a raw path is never a label"
    );

    // Each histogram: cumulative buckets ending at +Inf = _count = the counter's requests of
    // the same worker, route and method (all statuses).
    let mut series = BTreeSet::new();
    for sample in after.samples("http_request_duration_seconds_count") {
        series.insert((
            sample.label("worker").to_owned(),
            sample.label("route").to_owned(),
            sample.label("method").to_owned(),
        ));
    }
    assert!(series.iter().any(|(_, route, _)| route == "/async"), "{series:?}");
    for (worker, route, method) in &series {
        let labels = [("worker", worker.as_str()), ("route", route), ("method", method)];
        let matching = |s: &&Sample| labels.iter().all(|(k, v)| s.label(k) == *v);
        let buckets: Vec<(f64, f64)> = after
            .samples("http_request_duration_seconds_bucket")
            .filter(matching)
            .map(|s| (s.label("le").parse::<f64>().unwrap(), s.value))
            .collect();
        assert!(buckets.len() > 1, "{labels:?}");
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{buckets:?}");
        assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
        let count = after.sum("http_request_duration_seconds_count", &labels);
        assert_eq!(buckets.last().unwrap().1, count, "{labels:?}");
        assert_eq!(after.sum("http_requests_total", &labels), count, "{labels:?}");
    }

    // The stall detector counted /bad, in all and under its route's label.
    let slow = |scrape: &Scrape| scrape.sum("kairos_loop_slow_polls_total", &[]);
    assert!(slow(&after) - slow(&before) >= 1.0);
    let bad: f64 = after
        .samples("kairos_loop_slow_polls_by_label_total")
        .filter(|s| s.label("label").starts_with("GET /bad"))
        .map(|s| s.value)
        .sum();
    assert!(bad >= 1.0, "no slow poll under GET /bad's label");
    // The heartbeat due while /bad blocked ran more than 100 ms late.
    let late = |scrape: &Scrape| {
        scrape.sum("kairos_loop_heartbeat_delay_seconds_count", &[])
            - scrape.sum("kairos_loop_heartbeat_delay_seconds_bucket", &[("le", "0.1")])
    };
    assert!(late(&after) - late(&before) >= 1.0, "no heartbeat ran late while /bad blocked");

    // Three /sync requests ran on the workers' sync pools.
    let completed = |scrape: &Scrape| {
        scrape.sum("kairos_thread_pool_completed_total", &[("pool", "kairos-sync")])
    };
    assert!(completed(&after) - completed(&before) >= 3.0);
}
