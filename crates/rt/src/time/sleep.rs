//! `sleep` and `sleep_until` — asyncio's `await asyncio.sleep(seconds)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::queue::TimerKey;
use crate::context;

/// Waits until `duration` has passed, without blocking the loop — asyncio's
/// `await asyncio.sleep(seconds)`. Never use `std::thread::sleep` in a task: it stops the whole
/// loop (the stall detector will say so).
///
/// The timer is armed on first poll and disarmed when the `Sleep` is dropped, so a sleep that
/// loses a race (or a cancelled task's sleep) leaves nothing behind.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(far_future_or(Instant::now(), duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, armed: None }
}

/// `now + duration`, saturating at roughly thirty years for absurd durations.
pub(crate) fn far_future_or(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// `Send + Sync` (hyper's timer interface asks for it), though it is meant to be polled on one
/// loop; polled on another, it re-arms itself there.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    armed: Option<Armed>,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    loop_id: u64,
    key: TimerKey,
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later), keeping the same `Sleep`. An armed sleep stays
    /// armed with the waker it had, so its task is woken at the new deadline even if it does
    /// not poll the sleep again first.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        let Some(armed) = self.armed.take() else { return };
        self.armed = context::with_core(|core| {
            if core.loop_id() != armed.loop_id {
                return None;
            }
            let mut timers = core.timers.borrow_mut();
            let waker = timers.take(armed.key)?;
            Some(Armed { loop_id: armed.loop_id, key: timers.insert(deadline, waker) })
        })
        .flatten();
    }

    fn disarm(&mut self) {
        if let Some(armed) = self.armed.take() {
            context::with_core(|core| {
                if core.loop_id() == armed.loop_id {
                    core.timers.borrow_mut().remove(armed.key);
                }
            });
            // On another thread (or after the loop ended) the entry fires harmlessly later.
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        context::expect_core("kairos_rt::sleep", |core| {
            let mut timers = core.timers.borrow_mut();
            if let Some(armed) = this.armed {
                if armed.loop_id == core.loop_id() {
                    if timers.update_waker(armed.key, cx.waker()) {
                        return Poll::Pending;
                    }
                    // The timer fired (its key went stale): the deadline has passed.
                    this.armed = None;
                    return Poll::Ready(());
                }
                this.armed = None; // armed on another loop: arm again here
            }
            if this.deadline <= core.now() {
                return Poll::Ready(());
            }
            let key = timers.insert(this.deadline, cx.waker().clone());
            this.armed = Some(Armed { loop_id: core.loop_id(), key });
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}
