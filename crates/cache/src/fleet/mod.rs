//! Limits that hold across a fleet of processes, kept in Redis: [`Fleet`], the connection
//! they share, and its errors.
//!
//! `asyncio.Semaphore(5)` limits one process; three instances behind a balancer make fifteen
//! calls at once. What every instance must agree on lives where every instance can see it, in
//! Redis, and each change to it is one Lua script: Redis runs a script alone, so a step reads
//! and writes a consistent state without locks or retries. Every time in that state is
//! Redis' own clock (`TIME`), so the processes' clocks need not agree.
//!
//! - `semaphore.rs` — [`FleetSemaphore`], [`FleetPermit`]: N permits, FIFO, leases;
//! - `rate.rs` — [`FleetRateLimit`]: N events per window, a sliding log;
//! - `semaphore.lua`, `rate.lua` — the scripts.

mod rate;
mod semaphore;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use rate::{FleetRateLimit, RateDecision};
pub use semaphore::{FleetPermit, FleetSemaphore, FleetSnapshot};

/// The longest a step may wait for Redis (the connection manager's own one-second timeout,
/// its one retry, and slack): past it the step fails with [`FleetError::Unavailable`], so a
/// caller never hangs on an absent Redis.
const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// Redis did not answer, or answered with an error: nothing was acquired, and what the fleet
/// holds cannot be known until it answers again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// Redis at `url` could not be reached, timed out, or refused the step (`detail`).
    Unavailable {
        /// The Redis URL the fleet was connected to.
        url: String,
        /// What failed, as the redis client or the timeout said it.
        detail: String,
    },
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Unavailable { url, detail } => write!(
                f,
                "the fleet's Redis at {url} is unavailable ({detail}): the fleet-wide limits \
                 live there, so nothing was acquired; check that redis-server runs and is \
                 reachable at that URL, then retry"
            ),
        }
    }
}

impl std::error::Error for FleetError {}

/// One process's connection to the fleet's Redis: makes the [`FleetSemaphore`]s and
/// [`FleetRateLimit`]s that every process connected to the same Redis shares by name.
///
/// Cheap to clone and `Send + Sync`: make one per process at startup and share it with every
/// worker. It holds two connections: one multiplexed for the scripts (the redis crate's
/// connection manager, which reconnects by itself), and one subscribed to the channel on
/// which a waiter is told that a permit was handed to it. Both are tokio's, driven on the
/// kairos loops through `kairos-tokio`; awaiting a step must happen on a kairos loop.
///
/// ```no_run
/// use kairos_cache::Fleet;
///
/// kairos_rt::run(async {
///     let fleet = Fleet::connect("redis://127.0.0.1:6379").await?;
///     // Five calls at once across every process, FIFO.
///     let upstream = fleet.semaphore("upstream", 5);
///     let permit = upstream.acquire().await?;
///     // ... call the upstream ...
///     permit.release().await?;
///     Ok::<_, kairos_cache::FleetError>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Fleet {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    url: String,
    client: redis::Client,
    pub(crate) manager: ConnectionManager,
    /// Every key and the channel start with this (`kairos:fleet:`).
    prefix: String,
    /// The waiters of this process, by id: told when a permit is handed to them.
    waiters: Arc<Waiters>,
    /// The task that reads the channel; restarted by the next waiter when it has ended
    /// (its connection dropped).
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Waiters of this process: one sender per waiting acquire, keyed by its id.
#[derive(Default)]
pub(crate) struct Waiters(Mutex<HashMap<String, kairos_sync::oneshot::Sender<()>>>);

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, kairos_sync::oneshot::Sender<()>>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `id` anew; the receiver completes when a permit is handed to it.
    pub(crate) fn register(&self, id: &str) -> kairos_sync::oneshot::Receiver<()> {
        let (sender, receiver) = kairos_sync::oneshot::channel();
        self.lock().insert(id.to_owned(), sender);
        receiver
    }

    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn notify(&self, id: &str) {
        if let Some(sender) = self.lock().remove(id) {
            let _ = sender.send(());
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.get_mut().ok().and_then(Option::take) {
            listener.abort();
        }
    }
}

fn unavailable(url: &str, detail: impl fmt::Display) -> FleetError {
    FleetError::Unavailable { url: url.to_owned(), detail: detail.to_string() }
}

impl Fleet {
    /// Connects to Redis at `url` (`redis://HOST:PORT[/DB]`) and subscribes to the channel
    /// on which waiters are told of their permits.
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis cannot be reached within a few seconds.
    pub async fn connect(url: &str) -> Result<Fleet, FleetError> {
        Fleet::connect_with_prefix(url, "kairos:fleet:").await
    }

    /// [`connect`](Fleet::connect), with every key and the channel under `prefix` instead
    /// of `kairos:fleet:`: fleets that must not share limits, on one Redis.
    ///
    /// # Errors
    ///
    /// As [`connect`](Fleet::connect).
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Fleet, FleetError> {
        let client = redis::Client::open(url).map_err(|e| unavailable(url, e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connecting = ConnectionManager::new_with_config(client.clone(), config);
        let manager = within(url, kairos_tokio::compat(connecting)).await?;
        let shared = Arc::new(Shared {
            url: url.to_owned(),
            client,
            manager,
            prefix: prefix.to_owned(),
            waiters: Arc::default(),
            listener: Mutex::new(None),
        });
        // Subscribed before the first waiter waits, so that no grant is missed at the start;
        // later, a dropped subscription costs a waiter at most one re-check's delay.
        let subscribed = kairos_tokio::spawn(subscribe(shared.client.clone(), shared.channel()));
        let stream = within(url, async {
            subscribed.await.map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?
        })
        .await?;
        let waiters = Arc::clone(&shared.waiters);
        *shared.listener.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(kairos_tokio::spawn(listen(stream, waiters)));
        Ok(Fleet { shared })
    }

    /// A semaphore of `permits` permits named `name`, shared with every process of the fleet
    /// that uses the same name; its lease and re-check are
    /// [`FleetSemaphore::lease`]'s and [`FleetSemaphore::recheck`]'s defaults.
    ///
    /// Every process must give the same `permits` for a name: each step uses its caller's
    /// number. Derive the name from the number (`"upstream:5"`) where it may vary.
    ///
    /// # Panics
    ///
    /// If `permits` is 0.
    pub fn semaphore(&self, name: &str, permits: u32) -> FleetSemaphore {
        FleetSemaphore::new(self.clone(), name, permits)
    }

    /// At most `limit` events in any window of `window`, across the fleet, for `name`.
    ///
    /// # Panics
    ///
    /// If `limit` is 0 or `window` is under a millisecond.
    pub fn rate_limit(&self, name: &str, limit: u32, window: Duration) -> FleetRateLimit {
        FleetRateLimit::new(self.clone(), name, limit, window)
    }

    /// The Redis URL this fleet is connected to.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.shared.url)
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `prefix` + `kind` + `{name}`: the braces are a Redis Cluster hash tag, so every key
    /// of one limit lands on one node, as a script needs.
    pub(crate) fn key(&self, name: &str, kind: &str) -> String {
        format!("{}{{{name}}}:{kind}", self.prefix)
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}granted", self.prefix)
    }

    pub(crate) fn waiters(&self) -> &Waiters {
        &self.waiters
    }

    /// Runs `invocation` on the shared connection, on this loop, within [`STEP_TIMEOUT`].
    pub(crate) async fn run<T>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, FleetError>
    where
        T: redis::FromRedisValue,
    {
        let mut connection = self.manager.clone();
        within(&self.url, kairos_tokio::compat(invocation.invoke_async(&mut connection))).await
    }

    /// Starts the channel's listener again if it has ended (its connection dropped). The
    /// new subscription takes a moment: a grant published meanwhile is found by the
    /// waiter's next re-check.
    pub(crate) fn ensure_listener(&self) {
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let (client, channel, waiters) =
            (self.client.clone(), self.channel(), Arc::clone(&self.waiters));
        *listener = Some(kairos_tokio::spawn(async move {
            if let Ok(stream) = subscribe(client, channel).await {
                listen(stream, waiters).await;
            }
        }));
    }
}

/// `future` (a redis call), bounded by [`STEP_TIMEOUT`] on the kairos loop's clock.
async fn within<T>(
    url: &str,
    future: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, FleetError> {
    match kairos_rt::timeout(STEP_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(unavailable(url, error)),
        Err(_elapsed) => Err(unavailable(url, format!("no answer within {STEP_TIMEOUT:?}"))),
    }
}

/// A connection subscribed to `channel`, as a stream of its messages.
async fn subscribe(
    client: redis::Client,
    channel: String,
) -> redis::RedisResult<redis::aio::PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channel).await?;
    Ok(pubsub.into_on_message())
}

/// Tells each waiter of this process named on the channel that it holds a permit; ends when
/// the connection does.
async fn listen(mut stream: redis::aio::PubSubStream, waiters: Arc<Waiters>) {
    while let Some(message) = stream.next().await {
        if let Ok(id) = std::str::from_utf8(message.get_payload_bytes()) {
            waiters.notify(id);
        }
    }
}

/// An id no other caller in the fleet uses: this process's random tag and a counter.
pub(crate) fn unique_id() -> String {
    static TAG: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tag = TAG.get_or_init(|| {
        // std's hasher keys are random per process: a random tag with no extra crate.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    format!("{tag:016x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
