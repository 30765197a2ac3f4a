//! `interval`: a steady tick, for periodic work on the loop.

use std::future::{poll_fn, Future as _};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep};

/// Ticks every `period`, the first tick at once.
///
/// When the loop falls behind (a tick is late by more than a period), the missed ticks are
/// skipped rather than fired in a burst: the next tick comes at the next multiple of `period`
/// from the start. asyncio has no interval; the usual Python spelling is a `while` loop around
/// `asyncio.sleep`, which drifts — this does not.
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "kairos_rt::interval needs a non-zero period");
    let start = Instant::now();
    Interval { period, next: start, sleep: sleep_until(start), started: false }
}

/// A periodic timer; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Sleep,
    /// Whether the first tick (due at once, without waiting for the timer) was given.
    started: bool,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.started && Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.started = true;
        let tick = self.next;
        let now = Instant::now();
        let mut next = tick + self.period;
        if next <= now {
            // Skip the ticks we missed, staying on the original grid.
            let periods = now.duration_since(tick).as_nanos() / self.period.as_nanos() + 1;
            let skip = self.period.as_nanos().saturating_mul(periods);
            next = tick + Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
        }
        self.next = next;
        self.sleep.reset(next);
        Poll::Ready(tick)
    }

    /// The tick period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
