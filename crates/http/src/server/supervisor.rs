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
//! is reported (a thread cannot be killed; the stall detector names the culprit task).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};

use super::accept::serve_worker;
use super::listener::bind;
use super::{ErrorRenderer, ServerConfig, Shutdown};
use crate::{Body, Request};

const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
const STALE_AFTER: Duration = Duration::from_secs(1);
const SUPERVISE_EVERY: Duration = Duration::from_millis(50);

/// A server running on its worker threads; see [`Server::start`](super::Server::start).
/// Dropping it shuts the server down and waits for it.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: Shutdown,
    supervisor: Option<JoinHandle<()>>,
    shared: Arc<Supervision>,
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
    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's shutdown switch (to trigger from a signal handler, a test, a route...).
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        self.shutdown.trigger();
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

/// Starts `config.workers` workers and their supervisor; returns once all are listening.
pub(crate) fn start<F, S, Fut>(
    config: ServerConfig,
    render_error: ErrorRenderer,
    make_service: F,
) -> io::Result<RunningServer>
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    let workers = config.workers.max(1);
    let listener = bind(config.bind, config.backlog)?;
    let local_addr = listener.local_addr()?;
    let config = Arc::new(ServerConfig { bind: local_addr, ..config });
    let launcher = Arc::new(Launcher {
        config,
        render_error,
        shutdown: Shutdown::new(),
        shared: Arc::new(Supervision::default()),
        make_service,
    });
    let mut threads = Vec::with_capacity(workers);
    for index in 0..workers {
        threads.push(Arc::clone(&launcher).launch(index, listener.try_clone()?)?);
    }
    let shutdown = launcher.shutdown.clone();
    let shared = Arc::clone(&launcher.shared);
    let supervisor = std::thread::Builder::new()
        .name("kairos-supervisor".into())
        .spawn(move || supervise(launcher, listener, threads))?;
    Ok(RunningServer { local_addr, shutdown, supervisor: Some(supervisor), shared })
}

/// Everything needed to (re)start a worker.
struct Launcher<F> {
    config: Arc<ServerConfig>,
    render_error: ErrorRenderer,
    shutdown: Shutdown,
    shared: Arc<Supervision>,
    make_service: F,
}

struct WorkerThread {
    thread: JoinHandle<()>,
    heartbeat: Arc<AtomicU64>,
    stale_reported: bool,
}

impl<F, S, Fut> Launcher<F>
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = http::Response<Body>> + 'static,
{
    fn launch(
        self: Arc<Self>,
        index: usize,
        listener: std::net::TcpListener,
    ) -> io::Result<WorkerThread> {
        let heartbeat = Arc::new(AtomicU64::new(now_ms()));
        let beat = Arc::clone(&heartbeat);
        let thread = std::thread::Builder::new()
            .name(format!("kairos-worker-{index}"))
            .spawn(move || self.run_worker(index, listener, beat))?;
        Ok(WorkerThread { thread, heartbeat, stale_reported: false })
    }

    fn run_worker(&self, index: usize, listener: std::net::TcpListener, beat: Arc<AtomicU64>) {
        self.shared.alive.fetch_add(1, Ordering::SeqCst);
        let _alive = AliveGuard(Arc::clone(&self.shared));
        self.config.loop_builder().run(async {
            let listener = match kairos_rt::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::error!(target: "kairos::server", "worker {index}: cannot use its socket: {e}");
                    return;
                }
            };
            let heartbeat = kairos_rt::spawn_named(
                "heartbeat",
                heartbeat(beat, Arc::clone(&self.shared), index),
            );
            let serving = pin!(serve_worker(
                listener,
                (self.make_service)(),
                Arc::clone(&self.config),
                self.render_error.clone(),
                self.shutdown.clone(),
            ));
            match select(serving, heartbeat).await {
                Either::Left((Err(e), _)) => {
                    tracing::error!(target: "kairos::server", "worker {index} stopped: {e}");
                }
                Either::Left((Ok(()), _)) => {}
                Either::Right(_) => panic!("worker {index}: its loop was asked to die (test hook)"),
            }
        });
    }
}

/// Writes the heartbeat from the worker's own loop; returns only when a test asks the worker
/// to die.
async fn heartbeat(beat: Arc<AtomicU64>, shared: Arc<Supervision>, index: usize) {
    let mut ticks = kairos_rt::interval(HEARTBEAT_EVERY);
    loop {
        ticks.tick().await;
        beat.store(now_ms(), Ordering::Relaxed);
        let mut requests = shared.crash_requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = requests.iter().position(|&i| i == index) {
            requests.remove(at);
            return;
        }
    }
}

/// The supervisor's loop: replace dead workers (on `listener`, the shared socket), report
/// stuck ones, wait for all at shutdown.
fn supervise<F, S, Fut>(
    launcher: Arc<Launcher<F>>,
    listener: std::net::TcpListener,
    mut threads: Vec<WorkerThread>,
) where
    F: Fn() -> S + Send + Sync + 'static,
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
                tracing::error!(target: "kairos::server", "worker {index}'s loop died; starting a new one");
                let replacement = listener
                    .try_clone()
                    .and_then(|listener| Arc::clone(&launcher).launch(index, listener));
                match replacement {
                    Ok(fresh) => {
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
            let silent = now_ms().saturating_sub(worker.heartbeat.load(Ordering::Relaxed));
            if silent >= STALE_AFTER.as_millis() as u64 && !worker.stale_reported {
                worker.stale_reported = true;
                tracing::error!(
                    target: "kairos::server",
                    "worker {index}'s event loop has not turned for {silent} ms: something blocks it \
                     (see the stall detector's report for the task)"
                );
            } else if silent < STALE_AFTER.as_millis() as u64 {
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
}

fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

struct AliveGuard(Arc<Supervision>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}
