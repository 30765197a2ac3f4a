//! What a health check asks of a running server ([`ServerHealth`]): is every worker's loop
//! turning (liveness), and should a load balancer send it requests (readiness)?
//!
//! Liveness is read from the heartbeats the supervisor already keeps: a task on each worker's
//! loop writes its worker's slot every 100 ms, so a slot that has not moved for a second
//! names a loop that something blocks. Any worker can read every slot, which is the point: a
//! blocked loop cannot answer anything itself, so the check is answered by another worker and
//! names the stuck one. Readiness is the server's phase: not ready until every worker's
//! startup has succeeded, ready while serving, and not ready again from the moment a graceful
//! shutdown begins — before the listening socket closes (see
//! [`ServerConfig::shutdown_delay`](super::ServerConfig::shutdown_delay)), so that a proxy
//! polling it stops sending new requests while the requests in progress finish.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shutdown;

/// How long a worker's loop may be silent before it counts as stuck: ten missed heartbeats.
/// The supervisor logs a stuck worker at this age; [`ServerHealth::stuck_workers`] takes it.
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// How often each worker's loop writes its heartbeat.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);

/// The health of a running server, shared by its workers and its supervisor; cheap to clone.
///
/// A handler reaches the server it runs under with [`ServerHealth::current`];
/// [`RunningServer::health`](super::RunningServer::health) gives it to the program that
/// started the server.
#[derive(Clone)]
pub struct ServerHealth(Arc<State>);

struct State {
    /// Per worker slot: milliseconds since [`epoch`] when its loop last turned.
    heartbeats: Box<[AtomicU64]>,
    /// Set once every first worker's startup has succeeded (the server accepts).
    started: AtomicBool,
    shutdown: Shutdown,
}

/// Why a server is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The workers' startups have not all finished: nothing is accepted yet.
    Starting,
    /// A graceful shutdown has begun: requests in progress finish, new ones should go
    /// elsewhere.
    ShuttingDown,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotReady::Starting => "the server is starting: its workers' startups have not finished",
            NotReady::ShuttingDown => {
                "the server is shutting down: requests in progress finish, send new ones elsewhere"
            }
        })
    }
}

/// A worker whose loop has not turned for a while: something blocks it (the stall
/// detector's log names the task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckWorker {
    /// The worker's index (0-based, as the logs and `kairos-worker-N` threads name it).
    pub worker: usize,
    /// How long its loop has been silent.
    pub silent: Duration,
}

impl fmt::Display for StuckWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worker {}'s event loop has not turned for {} ms: something blocks it (the stall \
             detector's log names the task)",
            self.worker,
            self.silent.as_millis()
        )
    }
}

thread_local! {
    /// The health of the server whose worker runs on this thread.
    static CURRENT: RefCell<Option<ServerHealth>> = const { RefCell::new(None) };
}

impl ServerHealth {
    pub(crate) fn new(workers: usize, shutdown: Shutdown) -> ServerHealth {
        let now = now_ms();
        ServerHealth(Arc::new(State {
            heartbeats: (0..workers).map(|_| AtomicU64::new(now)).collect(),
            started: AtomicBool::new(false),
            shutdown,
        }))
    }

    /// The health of the server whose worker is running this code (a handler, a
    /// middleware), or `None` off a worker thread — and for a server embedded with
    /// [`Server::serve`](super::Server::serve), which has no supervisor.
    pub fn current() -> Option<ServerHealth> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Makes this the health [`current`](ServerHealth::current) returns on this thread.
    pub(crate) fn enter(&self) {
        CURRENT.with(|current| *current.borrow_mut() = Some(self.clone()));
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.0.heartbeats.len()
    }

    /// The workers whose loops have been silent for `after` or longer (none: every loop is
    /// turning). The supervisor's own report uses one second.
    pub fn stuck_workers(&self, after: Duration) -> Vec<StuckWorker> {
        let now = now_ms();
        self.0
            .heartbeats
            .iter()
            .enumerate()
            .filter_map(|(worker, beat)| {
                let silent =
                    Duration::from_millis(now.saturating_sub(beat.load(Ordering::Relaxed)));
                (silent >= after).then_some(StuckWorker { worker, silent })
            })
            .collect()
    }

    /// `Ok` while the server should get new requests; else why not.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.0.shutdown.is_triggered() {
            Err(NotReady::ShuttingDown)
        } else if !self.0.started.load(Ordering::SeqCst) {
            Err(NotReady::Starting)
        } else {
            Ok(())
        }
    }

    pub(crate) fn set_started(&self) {
        self.0.started.store(true, Ordering::SeqCst);
    }

    /// Records that `worker`'s loop turned now.
    pub(crate) fn beat(&self, worker: usize) {
        self.0.heartbeats[worker].store(now_ms(), Ordering::Relaxed);
    }

    /// How long `worker`'s loop has been silent.
    pub(crate) fn silent(&self, worker: usize) -> Duration {
        let beat = self.0.heartbeats[worker].load(Ordering::Relaxed);
        Duration::from_millis(now_ms().saturating_sub(beat))
    }
}

impl fmt::Debug for ServerHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHealth")
            .field("workers", &self.workers())
            .field("readiness", &self.readiness())
            .finish()
    }
}

/// Milliseconds since the first call in this process: the heartbeats' clock.
fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}
