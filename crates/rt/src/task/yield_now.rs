//! `yield_now`: give the loop a turn — asyncio's `await asyncio.sleep(0)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the loop once: the task goes to the back of the ready queue and runs again in the
/// next turn, after every task that was ready before it, and after the loop has checked sockets
/// and timers. A task that keeps yielding therefore cannot starve I/O or timers.
///
/// asyncio spells this `await asyncio.sleep(0)`.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
