//! Running a server on N worker threads, supervised — uvicorn's `--workers N`, with threads
//! instead of processes (Rust has no GIL to escape).
//!
//! Each worker thread runs its own kairos loop and accepts from the server's one listening
//! socket (see `listener.rs` for why one): whichever loop is free takes the next connection,
//! so a worker whose loop is blocked leaves new connections to the others. A supervisor thread
//! keeps a descriptor of the socket and watches the workers: one whose thread ended while the
//! server was not shutting down (its loop died) is replaced with a fresh loop on the same
//! socket — connections that came meanwhile wait in its queue — and one whose loop stops turning —
//! its heartbeat, written by a task on that very loop every 100 ms, goes stale for a second —
//! is reported (a thread cannot be killed; the stall detector names the culprit task). Each
//! beat also measures how late it ran, the loop's lag (`worker_stats.rs`).
//!
//! Starting is in two steps. Every worker first runs its startup (`lifespan.rs`) on its loop
//! and reports the result to [`start`]; only when all have succeeded does `start` open the
//! gate that lets them accept. A failure closes the server instead: the workers that started
//! run their shutdown without having accepted anything. A replacement worker finds the gate
//! open; its startup's failure is logged, and the supervisor tries again with a growing wait.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use futures_util::FutureExt as _;

use super::accept::serve_worker;
use super::health::{ServerHealth, HEARTBEAT_EVERY, STUCK_AFTER as STALE_AFTER};
use super::lifespan::{panic_message, StartError, WorkerService};
use super::listener::{bind, bind_unix, Bound};
use super::worker_stats::Probe;
use super::{ErrorRenderer, ServerConfig, Shutdown};
use crate::{Body, BoxError, Request};

const SUPERVISE_EVERY: Duration = Duration::from_millis(50);
/// The wait before starting again a replacement worker whose startup failed, doubled after
/// each failure in a row up to [`RETRY_AT_MOST`]: a database that is down for a while is
/// not hammered, one that is back soon is used soon.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_AT_MOST: Duration = Duration::from_secs(10);

/// What [`Server::on_stop`](super::Server::on_stop) registered.
#[derive(Clone, Default)]
pub(crate) struct StopHook(pub(crate) Option<Arc<dyn Fn() + Send + Sync>>);

impl fmt::Debug for StopHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "StopHook(..)" } else { "StopHook(none)" })
    }
}

/// A worker's startup result, as the first workers report it to [`start`].
type Report = (usize, Result<(), BoxError>);

/// A server running on its worker threads; see [`Server::start`](super::Server::start).
/// Dropping it shuts the server down and waits for it.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: Shutdown,
    supervisor: Option<JoinHandle<()>>,
    shared: Arc<Supervision>,
    health: ServerHealth,
    uds: Option<std::path::PathBuf>,
}

/// What the supervisor and the workers share.
#[derive(Default)]
struct Supervision {
    restarts: AtomicUsize,
    alive: AtomicUsize,
    /// Test hook: workers asked to let their loop die.
    crash_requests: Mutex<Vec<usize>>,
}

impl RunningServer {
    /// The address the server listens on (with the real port when bound to port 0). For a
    /// server on a Unix socket ([`ServerConfig::uds`]), the configured `bind`, which it does
    /// not listen on: see [`uds`](RunningServer::uds).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The Unix socket the server listens on, if it listens on one ([`ServerConfig::uds`]).
    pub fn uds(&self) -> Option<&std::path::Path> {
        self.uds.as_deref()
    }

    /// The server's shutdown switch (to trigger from a signal handler, a test, a route...).
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        self.shutdown.trigger();
    }

    /// The server's liveness and readiness, as its health checks read them.
    pub fn health(&self) -> ServerHealth {
        self.health.clone()
    }

    /// Workers replaced since the start because their loop died.
    pub fn restarts(&self) -> usize {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// Worker threads alive now.
    pub fn workers_alive(&self) -> usize {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// Blocks until the server has shut down and every worker thread has ended.
    pub fn wait(mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
    }

    /// Makes worker `index`'s loop die (its main future panics), to test supervision.
    #[doc(hidden)]
    pub fn crash_worker_for_test(&self, index: usize) {
        self.shared.crash_requests.lock().unwrap_or_else(|e| e.into_inner()).push(index);
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
    }
}

/// Binds, starts `config.workers` workers and waits for their startups; then opens the gate
/// and starts the supervisor. Returns once all are listening, or with the first failure.
pub(crate) fn start<F, StartFut, E, S, Fut>(
    config: ServerConfig,
    render_error: ErrorRenderer,
    on_stop: StopHook,
    startup: F,
) -> Result<RunningServer, StartError>
where
    F: Fn(usize) -> StartFut + Send + Sync + 'static,
    StartFut: Future<Output = Result<WorkerService<S>, E>> + 'static,
    E: Into<BoxError>,
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let workers = config.workers.max(1);
    let (listener, local_addr) = match &config.uds {
        Some(path) => {
            if config.tls.is_some() {
                return Err(StartError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "TLS is not served over a Unix socket: let the proxy in front terminate \
                     it, or listen on TCP",
                )));
            }
            (Bound::Unix(bind_unix(path, config.backlog)?), config.bind)
        }
        None => {
            let listener = bind(config.bind, config.backlog)?;
            let local_addr = listener.local_addr()?;
            (Bound::Tcp(listener), local_addr)
        }
    };
    let uds = config.uds.clone();
    let config = Arc::new(ServerConfig { bind: local_addr, ..config });
    let shutdown = Shutdown::new();
    let health = ServerHealth::new(workers, shutdown.clone());
    let launcher = Arc::new(Launcher {
        config,
        render_error,
        health: health.clone(),
        shutdown,
        gate: Shutdown::new(),
        shared: Arc::new(Supervision::default()),
        startup,
    });
    let (reports, results) = mpsc::channel::<Report>();
    let mut threads = Vec::with_capacity(workers);
    let mut failure = None;
    for index in 0..workers {
        let launched = listener.try_clone().and_then(|listener| {
            Arc::clone(&launcher).launch(index, listener, Some(reports.clone()))
        });
        match launched {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                failure = Some(StartError::Io(e));
                break;
            }
        }
    }
    drop(reports);
    // Every launched worker reports once: its reporter sends even if the startup panicked.
    for _ in 0..threads.len() {
        match results.recv() {
            Ok((_, Ok(()))) => {}
            Ok((worker, Err(error))) => {
                failure.get_or_insert(StartError::WorkerStartup { worker, error });
            }
            Err(mpsc::RecvError) => break,
        }
    }
    if let Some(failure) = failure {
        // The gate stays closed: the workers that started stop without accepting, after
        // running their shutdown.
        launcher.shutdown.trigger();
        for worker in threads {
            let _ = worker.thread.join();
        }
        return Err(failure);
    }
    let shutdown = launcher.shutdown.clone();
    let gate = launcher.gate.clone();
    let shared = Arc::clone(&launcher.shared);
    let supervisor =
        std::thread::Builder::new().name("kairos-supervisor".into()).spawn(move || {
            supervise(launcher, listener, threads);
            if let Some(on_stop) = on_stop.0 {
                on_stop();
            }
        });
    let supervisor = match supervisor {
        Ok(supervisor) => supervisor,
        Err(e) => {
            // The gate stays closed: the workers stop without accepting.
            shutdown.trigger();
            return Err(StartError::Io(e));
        }
    };
    gate.trigger();
    health.set_started();
    Ok(RunningServer { local_addr, shutdown, supervisor: Some(supervisor), shared, health, uds })
}

/// Everything needed to (re)start a worker.
struct Launcher<F> {
    config: Arc<ServerConfig>,
    render_error: ErrorRenderer,
    /// The heartbeats (one slot per worker index, reused by a replacement) and the phase.
    health: ServerHealth,
    shutdown: Shutdown,
    /// Opened once every first worker's startup has succeeded: until then none accepts.
    gate: Shutdown,
    shared: Arc<Supervision>,
    startup: F,
}

struct WorkerThread {
    thread: JoinHandle<()>,
    stale_reported: bool,
    /// Set once the worker's startup has succeeded: a thread that ends without it failed to
    /// start (and is retried with a wait), one that ends with it had its loop die.
    started: Arc<AtomicBool>,
    /// Startups that failed in a row in this slot, and when to try the next.
    failures: u32,
    retry_at: Option<Instant>,
}

/// Sends a first worker's startup result to [`start`] exactly once: a startup that panicked
/// (and so skipped the send) is reported when the reporter is dropped.
struct Reporter {
    index: usize,
    reports: Option<mpsc::Sender<Report>>,
}

impl Reporter {
    /// Reports `result`; for a replacement (nobody waits for it), logs a failure instead.
    fn report(&mut self, result: Result<(), BoxError>) {
        match (self.reports.take(), result) {
            (Some(reports), result) => {
                let _ = reports.send((self.index, result));
            }
            (None, Ok(())) => {}
            (None, Err(error)) => tracing::error!(
                target: "kairos::server",
                "worker {}: startup failed: {error}", self.index
            ),
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if self.reports.is_some() {
            self.report(Err("the worker's loop ended before its startup did".into()));
        }
    }
}

impl<F, StartFut, E, S, Fut> Launcher<F>
where
    F: Fn(usize) -> StartFut + Send + Sync + 'static,
    StartFut: Future<Output = Result<WorkerService<S>, E>> + 'static,
    E: Into<BoxError>,
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    fn launch(
        self: Arc<Self>,
        index: usize,
        listener: Bound,
        reports: Option<mpsc::Sender<Report>>,
    ) -> std::io::Result<WorkerThread> {
        // A fresh worker has not turned yet, but is not stuck either.
        self.health.beat(index);
        let started = Arc::new(AtomicBool::new(false));
        let reporter = Reporter { index, reports };
        let started_flag = Arc::clone(&started);
        let thread = std::thread::Builder::new()
            .name(format!("kairos-worker-{index}"))
            .spawn(move || self.run_worker(index, listener, reporter, started_flag))?;
        Ok(WorkerThread { thread, stale_reported: false, started, failures: 0, retry_at: None })
    }

    fn run_worker(
        &self,
        index: usize,
        listener: Bound,
        mut reporter: Reporter,
        started: Arc<AtomicBool>,
    ) {
        self.shared.alive.fetch_add(1, Ordering::SeqCst);
        let _alive = AliveGuard(Arc::clone(&self.shared));
        self.health.enter();
        let probe = Probe::install(index);
        self.config.loop_builder().run(async {
            let listener = match listener.into_loop() {
                Ok(listener) => listener,
                Err(e) => {
                    reporter.report(Err(format!("cannot use the listening socket: {e}").into()));
                    return;
                }
            };
            let heartbeat = kairos_rt::spawn_named(
                "heartbeat",
                heartbeat(
                    self.health.clone(),
                    Rc::clone(probe.probe()),
                    Arc::clone(&self.shared),
                    index,
                ),
            );
            // A panic in the startup is its failure, reported like an error; the loop lives.
            let made = match std::panic::catch_unwind(AssertUnwindSafe(|| (self.startup)(index))) {
                Ok(startup) => AssertUnwindSafe(startup).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            let worker = match made {
                Ok(Ok(worker)) => worker,
                Ok(Err(error)) => return reporter.report(Err(error.into())),
                Err(panic) => {
                    let message = panic_message(&*panic);
                    return reporter.report(Err(format!("it panicked: {message}").into()));
                }
            };
            started.store(true, Ordering::SeqCst);
            reporter.report(Ok(()));
            let (service, on_shutdown) = worker.into_parts();
            // Accept only once every first worker has started, or not at all if one failed.
            select(pin!(self.gate.triggered()), pin!(self.shutdown.triggered())).await;
            if !self.shutdown.is_triggered() {
                let serving = pin!(serve_worker(
                    listener,
                    service,
                    Arc::clone(&self.config),
                    self.render_error.clone(),
                    self.shutdown.clone(),
                ));
                match select(serving, heartbeat).await {
                    Either::Left((Err(e), _)) => {
                        tracing::error!(target: "kairos::server", "worker {index} stopped: {e}");
                    }
                    Either::Left((Ok(()), _)) => {}
                    Either::Right(_) => {
                        panic!("worker {index}: its loop was asked to die (test hook)")
                    }
                }
            } else {
                drop((listener, service));
            }
            if let Some(on_shutdown) = on_shutdown {
                on_shutdown().await;
            }
        });
    }
}

/// Writes the heartbeat from the worker's own loop, and records how late each beat came (the
/// loop's lag, for [`worker_stats`](super::worker_stats)); returns only when a test asks the
/// worker to die.
async fn heartbeat(health: ServerHealth, probe: Rc<Probe>, shared: Arc<Supervision>, index: usize) {
    let mut ticks = kairos_rt::interval(HEARTBEAT_EVERY);
    loop {
        let due = ticks.tick().await;
        probe.beat(Instant::now().saturating_duration_since(due));
        health.beat(index);
        let mut requests = shared.crash_requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = requests.iter().position(|&i| i == index) {
            requests.remove(at);
            return;
        }
    }
}

/// The supervisor's loop: replace dead workers (on `listener`, the shared socket), retry
/// the ones whose startup failed, report stuck ones, wait for all at shutdown.
fn supervise<F, StartFut, E, S, Fut>(
    launcher: Arc<Launcher<F>>,
    listener: Bound,
    mut threads: Vec<WorkerThread>,
) where
    F: Fn(usize) -> StartFut + Send + Sync + 'static,
    StartFut: Future<Output = Result<WorkerService<S>, E>> + 'static,
    E: Into<BoxError>,
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    while !launcher.shutdown.is_triggered() {
        std::thread::sleep(SUPERVISE_EVERY);
        for (index, worker) in threads.iter_mut().enumerate() {
            if worker.thread.is_finished() {
                if launcher.shutdown.is_triggered() {
                    break;
                }
                let mut failures = 0;
                if worker.started.load(Ordering::SeqCst) {
                    tracing::error!(target: "kairos::server", "worker {index}'s loop died; starting a new one");
                } else {
                    // Its startup failed (the worker logged why): wait before the next try.
                    let now = Instant::now();
                    match worker.retry_at {
                        None => {
                            worker.failures += 1;
                            let wait = retry_wait(worker.failures);
                            worker.retry_at = Some(now + wait);
                            tracing::warn!(
                                target: "kairos::server",
                                "worker {index}: trying its startup again in {wait:?}"
                            );
                            continue;
                        }
                        Some(at) if now < at => continue,
                        Some(_) => failures = worker.failures,
                    }
                }
                let replacement = listener
                    .try_clone()
                    .and_then(|listener| Arc::clone(&launcher).launch(index, listener, None));
                match replacement {
                    Ok(mut fresh) => {
                        fresh.failures = failures;
                        let dead = std::mem::replace(worker, fresh);
                        let _ = dead.thread.join();
                        launcher.shared.restarts.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        tracing::error!(target: "kairos::server", "cannot restart worker {index}: {e}")
                    }
                }
                continue;
            }
            if worker.failures > 0 && worker.started.load(Ordering::SeqCst) {
                worker.failures = 0; // a retry succeeded: the next failure waits 100 ms again
            }
            let silent = launcher.health.silent(index).as_millis();
            if silent >= STALE_AFTER.as_millis() && !worker.stale_reported {
                worker.stale_reported = true;
                tracing::error!(
                    target: "kairos::server",
                    "worker {index}'s event loop has not turned for {silent} ms: something blocks it \
                     (see the stall detector's report for the task)"
                );
            } else if silent < STALE_AFTER.as_millis() {
                worker.stale_reported = false;
            }
        }
    }
    // The socket stops listening when its last descriptor closes: this one now, the workers'
    // as each stops accepting.
    drop(listener);
    for worker in threads {
        let _ = worker.thread.join();
    }
    // A Unix socket's file outlives the socket: remove it, so the next start finds none.
    if let Some(path) = &launcher.config.uds {
        let _ = std::fs::remove_file(path);
    }
}

/// The wait before the `failures`-th retry of a startup: 100 ms, doubled each time, 10 s
/// at most.
fn retry_wait(failures: u32) -> Duration {
    RETRY_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(RETRY_AT_MOST)
}

struct AliveGuard(Arc<Supervision>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}
