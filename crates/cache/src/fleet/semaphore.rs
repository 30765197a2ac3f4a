//! [`FleetSemaphore`]: `asyncio.Semaphore(n)` for every process of a fleet at once.
//!
//! The state is Redis' "fair semaphore": a sorted set of holders scored by the end of their
//! lease, a sorted set of waiters scored by a ticket from a counter (their order of arrival),
//! and a sorted set of the waiters' check-in deadlines. Each step (acquire, try, release,
//! renew) is one run of `semaphore.lua`, which first removes the dead (expired leases,
//! waiters that stopped checking in), then does the step, then hands every free permit to
//! the head of the line and publishes the new holder's id. So a permit is *handed* to the
//! first waiter, never raced for: FIFO across the fleet, and a newcomer never takes what a
//! waiter is owed.
//!
//! Waiting is a subscription, not a poll: the waiter sleeps until its id is published or
//! its re-check comes (one second by default), whichever is first. The re-check covers a
//! lost message (the subscription reconnecting) and is the waiter's check-in, which keeps
//! its place in line: a waiter whose process died misses three check-ins and leaves the
//! line. A holder's lease is renewed by a task on its loop every third of the lease; a
//! holder whose process died keeps its permit until the lease ends, then the next waiter
//! gets it.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::{unique_id, Fleet, FleetError};

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("semaphore.lua")));

/// N permits shared by every process connected to the same Redis under the same name: at
/// most N holders in the whole fleet at once. Made by [`Fleet::semaphore`].
///
/// - **FIFO across the fleet.** Waiters get permits in the order they asked, whatever their
///   process; [`try_acquire`](FleetSemaphore::try_acquire) does not jump the line.
/// - **Cancel-safe.** Dropping a waiting [`acquire`](FleetSemaphore::acquire) (a timeout, a
///   cancelled task, a client that left) removes its place in line; a permit handed to it in
///   that instant is released. Dropping a [`FleetPermit`] releases it.
/// - **Leases.** A held permit expires unless renewed; its holder renews it every third of
///   the lease (10 s by default) from a task on its loop. If the process dies, its permits
///   come back when their leases end, and its waiters leave the line after three missed
///   re-checks.
/// - **Never a hang on Redis.** Each step fails with [`FleetError::Unavailable`] within a few
///   seconds when Redis does not answer — also while waiting.
///
/// Cheap to clone, `Send + Sync`. Permits are `!Send`: each belongs to the loop whose task
/// renews it.
#[derive(Clone, Debug)]
pub struct FleetSemaphore {
    fleet: Fleet,
    keys: Arc<[String; 4]>,
    permits: u32,
    lease: Duration,
    recheck: Duration,
}

/// How many permits are held and how many waiters are in line, fleet-wide, right now
/// ([`FleetSemaphore::snapshot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetSnapshot {
    /// Permits held by live leases.
    pub held: u32,
    /// Waiters in line.
    pub waiting: u32,
}

impl FleetSemaphore {
    pub(super) fn new(fleet: Fleet, name: &str, permits: u32) -> FleetSemaphore {
        assert!(permits > 0, "a FleetSemaphore needs at least one permit");
        let shared = fleet.shared();
        let keys = ["holders", "queue", "alive", "tickets"].map(|kind| shared.key(name, kind));
        FleetSemaphore {
            fleet,
            keys: Arc::new(keys),
            permits,
            lease: Duration::from_secs(10),
            recheck: Duration::from_secs(1),
        }
    }

    /// How long a permit lasts without renewal (10 s by default). Its holder renews it every
    /// third of that; a dead holder's permits come back after at most this long. Shorter
    /// frees a dead process's permits sooner; a lease must outlast the longest a loop may be
    /// blocked, or a live holder loses its permit ([`FleetPermit::lease_lost`]).
    ///
    /// # Panics
    ///
    /// If `lease` is under 30 ms.
    pub fn lease(mut self, lease: Duration) -> FleetSemaphore {
        assert!(lease >= Duration::from_millis(30), "a lease must be at least 30 ms");
        self.lease = lease;
        self
    }

    /// How often a waiter checks its place in line even though nobody told it of a permit
    /// (1 s by default): the bound on the delay a lost message can cause, and the waiter's
    /// check-in — one that misses three is presumed dead and leaves the line.
    ///
    /// # Panics
    ///
    /// If `recheck` is under 10 ms.
    pub fn recheck(mut self, recheck: Duration) -> FleetSemaphore {
        assert!(recheck >= Duration::from_millis(10), "a re-check must be at least 10 ms");
        self.recheck = recheck;
        self
    }

    /// The number of permits.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// Waits for a permit, in line behind every earlier waiter of the fleet.
    ///
    /// Must be awaited on a kairos loop (the lease's renewal is a task on it). Dropping the
    /// future while it waits leaves no trace: its place in line is removed (by a command sent
    /// as it drops; if the process dies instead, by the missed check-ins).
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis does not answer, at the start or while waiting.
    pub async fn acquire(&self) -> Result<FleetPermit, FleetError> {
        let shared = self.fleet.shared();
        let id = unique_id();
        let mut waiting = Waiting { semaphore: self, id: Some(id.clone()) };
        loop {
            // Registered before the step: a grant published right after it is not missed.
            let granted = shared.waiters().register(&id);
            shared.ensure_listener();
            let place: u64 = shared.run(self.step("acquire", &id)).await?;
            if place == 0 {
                shared.waiters().forget(&id);
                waiting.id = None;
                return Ok(FleetPermit::new(self.clone(), id));
            }
            // Told, or not told in time: either way the next step says where it stands.
            let _ = kairos_rt::timeout(self.recheck, granted).await;
        }
    }

    /// A permit if one is free and nobody is waiting for it, now; `None` otherwise.
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis does not answer.
    pub async fn try_acquire(&self) -> Result<Option<FleetPermit>, FleetError> {
        let id = unique_id();
        let held: u32 = self.fleet.shared().run(self.step("try", &id)).await?;
        Ok((held == 1).then(|| FleetPermit::new(self.clone(), id)))
    }

    /// Permits held and waiters in line across the fleet, the dead left out (and removed).
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis does not answer.
    pub async fn snapshot(&self) -> Result<FleetSnapshot, FleetError> {
        let (held, waiting) = self.fleet.shared().run(self.step("count", "")).await?;
        Ok(FleetSnapshot { held, waiting })
    }

    /// One run of the script: `step` for `id`.
    fn step(&self, step: &str, id: &str) -> redis::ScriptInvocation<'static> {
        let mut invocation = SCRIPT.prepare_invoke();
        for key in self.keys.iter() {
            invocation.key(key);
        }
        invocation
            .arg(step)
            .arg(id)
            .arg(self.permits)
            .arg(millis(self.lease))
            .arg(millis(self.recheck * 3))
            .arg(self.fleet.shared().channel());
        invocation
    }

    /// Releases `id`'s permit or place in line from a task of the tokio runtime, for a drop,
    /// which cannot wait: it is sent at once, after any step of `id` already sent on the
    /// shared connection, so it also undoes a grant whose reply never arrived.
    fn release_in_background(&self, id: String) {
        let invocation = self.step("release", &id);
        let mut connection = self.fleet.shared().manager.clone();
        let _detached = kairos_tokio::spawn(async move {
            let _: redis::RedisResult<u32> = invocation.invoke_async(&mut connection).await;
        });
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An `acquire` in progress: its place in line is released if it is dropped before a permit
/// is returned.
struct Waiting<'a> {
    semaphore: &'a FleetSemaphore,
    /// `None` once the permit is handed over.
    id: Option<String>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.semaphore.fleet.shared().waiters().forget(&id);
            self.semaphore.release_in_background(id);
        }
    }
}

/// One of a [`FleetSemaphore`]'s permits, held until it is released or dropped; its lease is
/// renewed meanwhile by a task on the loop that acquired it.
///
/// Dropping it releases it (a command sent as it drops; the lease's end if the process dies
/// first); [`release`](FleetPermit::release) does the same and waits for Redis' answer.
#[must_use = "a permit is released as soon as it is dropped"]
pub struct FleetPermit {
    semaphore: FleetSemaphore,
    /// `None` once released.
    id: Option<String>,
    renewal: Option<kairos_rt::Task<()>>,
    lost: Rc<Cell<bool>>,
}

impl FleetPermit {
    fn new(semaphore: FleetSemaphore, id: String) -> FleetPermit {
        let lost = Rc::new(Cell::new(false));
        let renewal = kairos_rt::spawn_named(
            "kairos-cache: fleet lease renewal",
            renew(semaphore.clone(), id.clone(), Rc::clone(&lost)),
        );
        FleetPermit { semaphore, id: Some(id), renewal: Some(renewal), lost }
    }

    /// Whether the lease ran out before a renewal reached Redis (the loop was blocked past
    /// the lease, or Redis was away that long): the fleet counts the permit as free again,
    /// and another holder may have it.
    pub fn lease_lost(&self) -> bool {
        self.lost.get()
    }

    /// Releases the permit and waits for Redis to confirm it; `Ok(false)` if its lease had
    /// already run out ([`lease_lost`](FleetPermit::lease_lost)).
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis does not answer; the lease then ends by itself.
    pub async fn release(mut self) -> Result<bool, FleetError> {
        self.stop_renewal();
        let id = self.id.take().unwrap_or_default();
        let released: u32 =
            self.semaphore.fleet.shared().run(self.semaphore.step("release", &id)).await?;
        Ok(released == 1)
    }

    fn stop_renewal(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.cancel();
        }
    }
}

impl Drop for FleetPermit {
    fn drop(&mut self) {
        self.stop_renewal();
        if let Some(id) = self.id.take() {
            self.semaphore.release_in_background(id);
        }
    }
}

impl std::fmt::Debug for FleetPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetPermit")
            .field("id", &self.id)
            .field("lease_lost", &self.lost.get())
            .finish_non_exhaustive()
    }
}

/// Renews `id`'s lease every third of it until cancelled (the permit's release) or the lease
/// is found lost. A failed renewal (Redis away a moment) is retried at the next turn: two
/// more chances before the lease ends.
async fn renew(semaphore: FleetSemaphore, id: String, lost: Rc<Cell<bool>>) {
    let every = semaphore.lease / 3;
    loop {
        kairos_rt::sleep(every).await;
        match semaphore.fleet.shared().run::<u32>(semaphore.step("renew", &id)).await {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(
                    target: "kairos::cache::fleet",
                    "a fleet permit's lease ran out before it was renewed (the loop blocked, \
                     or Redis was away, for {:?}): another holder may have it now",
                    semaphore.lease
                );
                lost.set(true);
                return;
            }
            Err(error) => {
                tracing::warn!(target: "kairos::cache::fleet", "cannot renew a fleet permit's lease: {error}");
            }
        }
    }
}
