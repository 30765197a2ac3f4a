//! [`FleetRateLimit`]: at most N events in any window, counted across the fleet.
//!
//! A sliding-window log: a sorted set of the allowed events' times (Redis' clock, in
//! milliseconds), one script run per decision that drops the events older than the window,
//! counts the rest, and adds this one if there is room. Exact — never more than N in *any*
//! window, where a fixed window lets 2N through around a window's edge — for the price of one
//! entry per event in the window, which suits the limits of a service (tens to thousands per
//! window, not millions).

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::{unique_id, Fleet, FleetError};

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("rate.lua")));

/// At most `limit` events in any window of `window`, across every process connected to the
/// same Redis under the same name. Made by [`Fleet::rate_limit`].
///
/// **Bursts.** After a quiet spell the whole `limit` may be used at once — N events in the
/// same millisecond — and then nothing more is allowed until the first of them is a window
/// old: a sliding window spreads nothing out, it only caps every window. A caller told
/// [`RateDecision::Limited`] is told how long until the oldest event leaves the window.
///
/// ```no_run
/// use std::time::Duration;
/// use kairos_cache::{Fleet, RateDecision};
///
/// kairos_rt::run(async {
///     let fleet = Fleet::connect("redis://127.0.0.1:6379").await?;
///     let per_second = fleet.rate_limit("upstream", 10, Duration::from_secs(1));
///     match per_second.try_acquire().await? {
///         RateDecision::Allowed { remaining } => println!("go ({remaining} left)"),
///         RateDecision::Limited { retry_after } => println!("retry after {retry_after:?}"),
///     }
///     Ok::<_, kairos_cache::FleetError>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct FleetRateLimit {
    fleet: Fleet,
    key: String,
    limit: u32,
    window: Duration,
}

/// What [`FleetRateLimit::try_acquire`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// The event counts; `remaining` more fit in the window now.
    Allowed {
        /// Events still allowed in the current window.
        remaining: u32,
    },
    /// The window is full: no event is allowed before `retry_after` has passed (when its
    /// oldest event leaves the window). HTTP's `Retry-After`, rounded up to seconds.
    Limited {
        /// How long until one more event is allowed.
        retry_after: Duration,
    },
}

impl FleetRateLimit {
    pub(super) fn new(fleet: Fleet, name: &str, limit: u32, window: Duration) -> FleetRateLimit {
        assert!(limit > 0, "a FleetRateLimit allows at least one event per window");
        assert!(window >= Duration::from_millis(1), "a FleetRateLimit's window is at least 1 ms");
        let key = fleet.shared().key(name, "rate");
        FleetRateLimit { fleet, key, limit, window }
    }

    /// The most events in any window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one event if the window has room for it: [`RateDecision::Allowed`], or
    /// [`RateDecision::Limited`] with how long until it would have room (the event is then
    /// not counted).
    ///
    /// # Errors
    ///
    /// [`FleetError::Unavailable`] if Redis does not answer: whether the event is allowed
    /// cannot be known; the caller chooses whether to fail open or closed.
    pub async fn try_acquire(&self) -> Result<RateDecision, FleetError> {
        let window = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let mut invocation = SCRIPT.key(&self.key);
        invocation.arg(self.limit).arg(window).arg(unique_id());
        let (allowed, value): (u32, u64) = self.fleet.shared().run(invocation).await?;
        Ok(if allowed == 1 {
            RateDecision::Allowed { remaining: u32::try_from(value).unwrap_or(u32::MAX) }
        } else {
            RateDecision::Limited { retry_after: Duration::from_millis(value) }
        })
    }
}
