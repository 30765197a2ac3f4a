//! Metrics for Prometheus: every request counted by route, method and status, each worker's
//! loop and server, and the process's thread pools — served in Prometheus' text format by
//! [`expose`].
//!
//! FastAPI users add `prometheus-fastapi-instrumentator` (`Instrumentator().instrument(app)
//! .expose(app)`); here the two steps are [`App::metrics`](crate::App::metrics), which counts
//! every request of the App, and a route of your choice for [`expose`]:
//!
//! ```
//! use kairos_web::metrics::{self, Metrics};
//! use kairos_web::{App, Path, TestClient};
//!
//! async fn item(Path(id): Path<u32>) -> String {
//!     format!("item {id}")
//! }
//!
//! let app = App::new()
//!     .metrics(Metrics::new())
//!     .get("/items/{id}", item)
//!     .get("/metrics", metrics::expose);
//! let client = TestClient::new(app);
//! client.get("/items/1").send();
//! client.get("/items/2").send();
//! client.get("/nowhere").send();
//! let scraped = client.get("/metrics").send();
//! assert_eq!(scraped.header("content-type"), Some(metrics::CONTENT_TYPE));
//! let text = scraped.text();
//! // The route's template, never the path: one series however many items there are.
//! assert!(text.contains(
//!     r#"http_requests_total{worker="0",route="/items/{id}",method="GET",status="200"} 2"#
//! ));
//! assert!(text.contains(
//!     r#"http_requests_total{worker="0",route="unmatched",method="GET",status="404"} 1"#
//! ));
//! assert!(text.contains(r#"kairos_loop_lag_seconds{worker="0"}"#));
//! ```
//!
//! # What is measured
//!
//! Per worker (every series has a `worker` label, `0..workers`):
//!
//! | family | kind | what |
//! |---|---|---|
//! | `http_requests_total` | counter | requests answered, by `route` (the template, `/items/{id}`; [`UNMATCHED_ROUTE`] for a path no route matches), `method` (one of nine, or `other`) and `status` |
//! | `http_request_duration_seconds` | histogram | from the App receiving the request (its head complete) to its response's head, by `route` and `method` ([`MetricsBuilder::buckets`]) |
//! | `http_requests_in_flight` | gauge | requests in progress: from a complete head until the body is sent |
//! | `http_connections_open` | gauge | open connections (WebSockets included) |
//! | `kairos_loop_lag_seconds` | gauge | how late the loop ran its latest heartbeat timer (every 100 ms) |
//! | `kairos_loop_heartbeat_delay_seconds` | histogram | every heartbeat's lateness (Node's `monitorEventLoopDelay`) |
//! | `kairos_loop_poll_duration_seconds` | histogram | each poll's duration, when the loop records them ([`LoopStats::poll_time`](kairos_rt::LoopStats::poll_time)) |
//! | `kairos_loop_polls_total`, `kairos_loop_slow_polls_total` | counter | polls, and those longer than the stall detector's threshold |
//! | `kairos_loop_slow_polls_by_label_total` | counter | slow polls by `label`: for requests, the route's (`GET /bad → my_app::bad`) |
//! | `kairos_loop_tasks_alive`, `kairos_loop_tasks_spawned_total` | gauge, counter | tasks |
//! | `kairos_loop_ready_queue`, `kairos_loop_timers`, `kairos_loop_io_sources` | gauge | tasks ready to run, armed timers, registered I/O sources |
//! | `kairos_loop_unobserved_panics_total` | counter | detached tasks that panicked unseen |
//! | `kairos_worker_up` | gauge | 1 if the worker answered this scrape in time, 0 if its loop was blocked (or it is gone) |
//!
//! Per process: `kairos_thread_pool_threads`, `_max_threads`, `_active`, `_queued` (gauges)
//! and `_completed_total`, `_panicked_total`, `_cancelled_total`, `_rejected_total`
//! (counters), by `pool` (the threads' name prefix; the pools that share one, such as
//! every worker's sync pool, added up). Whatever else belongs to a worker's loop — a
//! `kairos_process::ProcessPool`, a connection pool — is added by a function given to
//! [`MetricsBuilder::per_worker`], run on each worker at every scrape.
//!
//! # How a scrape gathers every worker
//!
//! A scrape lands on one worker, but each worker counts in cells of its own loop (nothing is
//! shared between threads on the request path, so counting costs no atomic and no lock). So
//! [`expose`] runs a small task on every worker's loop through its
//! [`Handle`] and awaits the snapshots — awaiting, never blocking its own
//! loop. A worker whose loop is blocked cannot answer: after [`MetricsBuilder::worker_wait`]
//! (2 s) the scrape goes on without it and says so with `kairos_worker_up{worker="N"} 0`.
//!
//! # Layout
//!
//! - `text.rs` — [`Families`], the text exposition format 0.0.4, and why it is written here;
//! - `requests.rs` — counting requests on a worker, without allocating;
//! - this file — [`Metrics`], gathering from every worker, [`expose`].

mod requests;
mod text;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use kairos_rt::{Handle, LoopStats};

pub use requests::UNMATCHED_ROUTE;
pub(crate) use requests::{Counted, RequestCounts};
pub use text::{Families, Histogram, Kind};

use crate::extract::State;
use crate::openapi::Operation;
use crate::response::IntoResponse;
use crate::Response;

/// The `Content-Type` of Prometheus' text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The default latency buckets' upper bounds: Prometheus' client defaults (5 ms to 10 s)
/// with 1 ms and 2.5 ms below them, since most requests to an async server end there.
pub const DEFAULT_BUCKETS: [Duration; 13] = [
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_micros(2_500_000),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// How long a scrape waits for a worker's loop to answer, by default.
pub const DEFAULT_WORKER_WAIT: Duration = Duration::from_secs(2);

/// A function that adds a worker's own metrics at each scrape; see
/// [`MetricsBuilder::per_worker`].
type PerWorker = Arc<dyn Fn(&mut Families) + Send + Sync>;

/// The metrics of one App: give it to [`App::metrics`](crate::App::metrics), which counts
/// every request, and serve [`expose`] on a route. Cheap to clone (an `Arc`).
///
/// One `Metrics` belongs to one App: the workers of the App that serves it register with it
/// as they start.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this registry's request counts apart on a thread (see `COUNTS`).
    id: u64,
    buckets: Arc<[Duration]>,
    per_worker: Vec<PerWorker>,
    worker_wait: Duration,
    /// Each worker's loop, by index; a replacement worker takes its slot.
    workers: Mutex<Vec<Option<Handle>>>,
}

/// Ids of registries, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The request counts of the worker running on this thread, by registry id.
    static COUNTS: RefCell<Vec<(u64, Weak<RequestCounts>)>> = const { RefCell::new(Vec::new()) };
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics with the default latency buckets ([`DEFAULT_BUCKETS`]) and nothing added per
    /// worker; [`Metrics::builder`] for others.
    pub fn new() -> Metrics {
        Metrics::builder().build()
    }

    /// Metrics to configure.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder {
            buckets: DEFAULT_BUCKETS.to_vec(),
            per_worker: Vec::new(),
            worker_wait: DEFAULT_WORKER_WAIT,
        }
    }

    /// The request-latency buckets' upper bounds.
    pub(crate) fn buckets(&self) -> Arc<[Duration]> {
        Arc::clone(&self.inner.buckets)
    }

    /// Registers the worker `index` running on this thread's loop, which counts its requests
    /// in `counts`.
    pub(crate) fn worker_started(&self, index: usize, counts: &Rc<RequestCounts>) {
        COUNTS.with(|table| {
            let mut table = table.borrow_mut();
            table.retain(|(id, counts)| *id != self.inner.id && counts.strong_count() > 0);
            table.push((self.inner.id, Rc::downgrade(counts)));
        });
        let mut workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        if workers.len() <= index {
            workers.resize(index + 1, None);
        }
        workers[index] = Some(Handle::current());
    }

    /// Gathers every worker's metrics and the process's: what [`expose`] serves.
    ///
    /// Runs a task on each worker's loop and awaits them all, [`MetricsBuilder::worker_wait`]
    /// at most; a worker that did not answer in time is `kairos_worker_up 0`.
    ///
    /// # Panics
    /// Outside a kairos loop (it awaits the workers on the loop's clock).
    pub async fn gather(&self) -> Families {
        let workers: Vec<(usize, Handle)> = {
            let workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
            workers
                .iter()
                .enumerate()
                .filter_map(|(index, handle)| Some((index, handle.clone()?)))
                .collect()
        };
        // Every worker's task is started before any is awaited: they run at once.
        let tasks: Vec<_> = workers
            .into_iter()
            .map(|(index, handle)| {
                let inner = Arc::clone(&self.inner);
                (index, handle.spawn(async move { collect_worker(&inner, index) }))
            })
            .collect();
        let deadline = Instant::now() + self.inner.worker_wait;
        let mut families = Families::new();
        let mut up = Vec::with_capacity(tasks.len());
        for (index, mut task) in tasks {
            let answered = match kairos_rt::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(worker)) => {
                    families.merge(worker);
                    true
                }
                // The worker's loop has stopped (a replacement will take its slot).
                Ok(Err(_)) => false,
                Err(_late) => {
                    task.cancel();
                    false
                }
            };
            up.push((index, answered));
        }
        for (index, answered) in up {
            families.gauge(
                "kairos_worker_up",
                "1 if the worker's loop answered this scrape in time; 0 if it did not (a \
                 blocked loop: see kairos_loop_lag_seconds on the next scrape) or has stopped.",
                &[("worker", &index.to_string())],
                if answered { 1.0 } else { 0.0 },
            );
        }
        thread_pools(&mut families);
        families
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("buckets", &self.inner.buckets)
            .field("per_worker", &self.inner.per_worker.len())
            .field("worker_wait", &self.inner.worker_wait)
            .finish_non_exhaustive()
    }
}

/// Configures [`Metrics`]; from [`Metrics::builder`].
pub struct MetricsBuilder {
    buckets: Vec<Duration>,
    per_worker: Vec<PerWorker>,
    worker_wait: Duration,
}

impl MetricsBuilder {
    /// The upper bounds of `http_request_duration_seconds`' buckets ([`DEFAULT_BUCKETS`]
    /// by default). Each bucket is a series per route and method on every worker: a dozen
    /// is plenty.
    ///
    /// # Panics
    /// If `bounds` is empty or not strictly ascending.
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = Duration>) -> MetricsBuilder {
        let bounds: Vec<Duration> = bounds.into_iter().collect();
        assert!(
            !bounds.is_empty() && bounds.windows(2).all(|pair| pair[0] < pair[1]),
            "the latency buckets' bounds must be given in strictly ascending order: {bounds:?}"
        );
        self.buckets = bounds;
        self
    }

    /// Adds `collect`, run on every worker's loop at each scrape, to add what belongs to that
    /// worker (a process pool of its loop, say); each sample it records gets the worker's
    /// `worker` label first. It runs on the loop, so it must be quick and never block.
    ///
    /// ```
    /// use kairos_web::metrics::Metrics;
    ///
    /// let metrics = Metrics::builder()
    ///     .per_worker(|families| {
    ///         let cached = 3.0; // read from this worker's cache, say
    ///         families.gauge("my_cache_entries", "Entries in this worker's cache.", &[], cached);
    ///     })
    ///     .build();
    /// # let _ = metrics;
    /// ```
    pub fn per_worker(
        mut self,
        collect: impl Fn(&mut Families) + Send + Sync + 'static,
    ) -> MetricsBuilder {
        self.per_worker.push(Arc::new(collect));
        self
    }

    /// How long a scrape waits for the workers' loops to answer (2 s by default; keep it
    /// under Prometheus' `scrape_timeout`, 10 s by default).
    pub fn worker_wait(mut self, wait: Duration) -> MetricsBuilder {
        self.worker_wait = wait;
        self
    }

    /// The [`Metrics`].
    pub fn build(self) -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                buckets: self.buckets.into(),
                per_worker: self.per_worker,
                worker_wait: self.worker_wait,
                workers: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsBuilder")
            .field("buckets", &self.buckets)
            .field("per_worker", &self.per_worker.len())
            .field("worker_wait", &self.worker_wait)
            .finish()
    }
}

/// The handler that serves the App's metrics in Prometheus' text format: mount it on the
/// route Prometheus scrapes, `.get("/metrics", metrics::expose)`, in an App given
/// [`App::metrics`](crate::App::metrics) (without it, the state it reads is missing: 500).
pub async fn expose(State(metrics): State<Metrics>) -> Exposition {
    Exposition(metrics.gather().await.encode())
}

/// Metrics in Prometheus' text format, answered with its [`CONTENT_TYPE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposition(pub String);

impl IntoResponse for Exposition {
    fn into_response(self) -> Response {
        let mut response = Response::new(self.0.into());
        response.headers_mut().insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
        response
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.success(Some(("text/plain", serde_json::json!({"type": "string"}))));
    }
}

/// What worker `index` reports, on its own loop.
fn collect_worker(inner: &Inner, index: usize) -> Families {
    let mut families = Families::new().with_label("worker", &index.to_string());
    let counts = COUNTS.with(|table| {
        let table = table.borrow();
        table.iter().find(|(id, _)| *id == inner.id).and_then(|(_, counts)| counts.upgrade())
    });
    if let Some(counts) = counts {
        counts.collect(&mut families);
    }
    if let Some(server) = kairos_http::server::worker_stats() {
        families.gauge(
            "http_requests_in_flight",
            "Requests in progress: from a complete head until the response's body is sent.",
            &[],
            server.requests_in_flight as f64,
        );
        families.gauge(
            "http_connections_open",
            "Connections open (WebSockets included).",
            &[],
            server.connections as f64,
        );
        let lag = &server.loop_lag;
        families.gauge(
            "kairos_loop_lag_seconds",
            "How late the loop ran its latest heartbeat timer (one every 100 ms): a blocked \
             or overloaded loop runs its timers late.",
            &[],
            lag.latest.as_secs_f64(),
        );
        families.histogram(
            "kairos_loop_heartbeat_delay_seconds",
            "How late the loop ran each heartbeat timer (one every 100 ms).",
            &[],
            Histogram::of_durations(lag.bounds, &lag.counts, lag.sum),
        );
    }
    loop_stats(&mut families, &kairos_rt::stats());
    for collect in &inner.per_worker {
        collect(&mut families);
    }
    families
}

/// The loop's own counters.
fn loop_stats(families: &mut Families, stats: &LoopStats) {
    if let Some(polls) = poll_histogram(stats) {
        families.histogram(
            "kairos_loop_poll_duration_seconds",
            "How long each poll of a task took: the loop runs nothing else meanwhile.",
            &[],
            polls,
        );
    }
    families.counter("kairos_loop_polls_total", "Polls of tasks.", &[], stats.polls);
    families.counter(
        "kairos_loop_slow_polls_total",
        "Polls that blocked the loop longer than its slow-callback threshold (the stall \
         detector's reports).",
        &[],
        stats.slow_polls,
    );
    for (label, count) in &stats.slow_polls_by_label {
        families.counter(
            "kairos_loop_slow_polls_by_label_total",
            "Slow polls by the label of the code that ran: for a request, its route and handler.",
            &[("label", label)],
            *count,
        );
    }
    let alive = stats.tasks_alive as f64;
    families.gauge("kairos_loop_tasks_alive", "Tasks spawned and not finished.", &[], alive);
    families.counter("kairos_loop_tasks_spawned_total", "Tasks spawned.", &[], stats.tasks_spawned);
    families.gauge(
        "kairos_loop_ready_queue",
        "Tasks ready to run, waiting for their turn.",
        &[],
        stats.ready_queue as f64,
    );
    families.gauge("kairos_loop_timers", "Timers armed.", &[], stats.timers_pending as f64);
    families.gauge(
        "kairos_loop_io_sources",
        "I/O sources (sockets, pipes) registered with the loop's reactor.",
        &[],
        stats.io_sources as f64,
    );
    families.counter(
        "kairos_loop_unobserved_panics_total",
        "Detached tasks that panicked with nobody awaiting them.",
        &[],
        stats.unobserved_panics,
    );
}

/// The loop's poll-duration histogram, when the loop records one.
fn poll_histogram(stats: &LoopStats) -> Option<Histogram> {
    let polls = stats.poll_time.as_ref()?;
    Some(Histogram::of_durations(&polls.bounds, &polls.counts, polls.sum))
}

/// The process's thread pools, by name prefix (pools that share one added up).
fn thread_pools(families: &mut Families) {
    let mut by_prefix: BTreeMap<String, [u64; 8]> = BTreeMap::new();
    for pool in kairos_rt::executor::pool_stats() {
        let sums = by_prefix.entry(pool.name_prefix.clone()).or_default();
        let values = [
            pool.threads as u64,
            pool.max_workers as u64,
            pool.active as u64,
            pool.queued as u64,
            pool.completed,
            pool.panicked,
            pool.cancelled,
            pool.rejected,
        ];
        for (sum, value) in sums.iter_mut().zip(values) {
            *sum += value;
        }
    }
    const GAUGES: [(&str, &str); 4] = [
        ("kairos_thread_pool_threads", "Threads alive in the pools."),
        ("kairos_thread_pool_max_threads", "The most threads the pools may run."),
        ("kairos_thread_pool_active", "Threads running a job."),
        ("kairos_thread_pool_queued", "Jobs waiting for a thread."),
    ];
    const COUNTERS: [(&str, &str); 4] = [
        ("kairos_thread_pool_completed_total", "Jobs that ran and returned."),
        ("kairos_thread_pool_panicked_total", "Jobs that panicked."),
        ("kairos_thread_pool_cancelled_total", "Jobs dropped or shut down before they ran."),
        ("kairos_thread_pool_rejected_total", "Jobs refused by a full queue."),
    ];
    for (i, (name, help)) in GAUGES.iter().enumerate() {
        for (pool, sums) in &by_prefix {
            families.gauge(name, help, &[("pool", pool)], sums[i] as f64);
        }
    }
    for (i, (name, help)) in COUNTERS.iter().enumerate() {
        for (pool, sums) in &by_prefix {
            families.counter(name, help, &[("pool", pool)], sums[GAUGES.len() + i]);
        }
    }
}
