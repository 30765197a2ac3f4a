//! [`race()`]: the first future to complete wins; the others are dropped.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use futures_core::future::FusedFuture;

use super::running::Running;

/// Runs every future concurrently and returns the input index and output of the first to
/// complete; every other future is dropped (cancelled) before `race` returns.
///
/// asyncio counterpart: `asyncio.wait(aws, return_when=FIRST_COMPLETED)`, reduced to its usual
/// purpose — "whichever answers first". Which future wins when several complete during the same
/// wake is unspecified. All futures have one type; to race futures of different types, box them
/// (`Pin<Box<dyn Future<Output = T> + '_>>`) or wrap them in `futures_util::future::Either`.
///
/// # Keeping the losers: race over `&mut`
///
/// asyncio's `wait` hands back the still-pending awaitables so they can be awaited later. To do
/// the same, race *borrows* of the futures: `&mut f` is a future whenever `f` is an `Unpin`
/// future (a task handle, a channel receiver, a `Pin<Box<_>>`), and dropping a borrow cancels
/// nothing, so the losers stay pending and can be raced or awaited again.
///
/// ```
/// use futures::channel::oneshot;
/// use kairos_sync::combinator::race;
///
/// # futures::executor::block_on(async {
/// // Two receivers stand in for two task handles.
/// let (fast_tx, mut fast) = oneshot::channel::<&str>();
/// let (slow_tx, mut slow) = oneshot::channel::<&str>();
///
/// fast_tx.send("fast").unwrap();
/// let (winner, output) = race([&mut slow, &mut fast]).await;
/// assert_eq!((winner, output), (1, Ok("fast")));
///
/// // `slow` lost but was only borrowed: it is still pending and can be awaited now.
/// slow_tx.send("slow").unwrap();
/// assert_eq!(slow.await, Ok("slow"));
/// # });
/// ```
///
/// Passed by value, the losers are cancelled: their destructors run as soon as the winner is
/// known. That is the usual way to write "the first replica to answer". (A task handle passed by
/// value is dropped too, but dropping a handle detaches its task rather than cancelling it:
/// cancel spawned losers through their handles.)
///
/// # Panics
///
/// Panics if `futures` is empty: with nothing to run there is no winner, and waiting forever
/// would hide the mistake.
#[track_caller]
pub fn race<I, F>(futures: I) -> Race<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let running = Running::new(futures);
    assert!(running.len() > 0, "race() needs at least one future: with none, nothing can win");
    Race { running, done: false }
}

/// The future returned by [`race()`]: resolves to `(index, output)` of the first future to
/// complete.
///
/// It is `Unpin` whatever the futures are, implements [`FusedFuture`], and panics if polled
/// again after it completed.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Race<F: Future> {
    running: Running<F>,
    done: bool,
}

impl<F: Future> Future for Race<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`Race` polled after completion");
        let Some(winner) = ready!(this.running.poll_next(cx)) else {
            unreachable!("race() refuses an empty input, and the set shrinks only when one wins")
        };
        this.done = true;
        // Cancel the losers now, not whenever the caller drops this future.
        this.running.cancel_all();
        Poll::Ready(winner)
    }
}

impl<F: Future> FusedFuture for Race<F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F: Future> fmt::Debug for Race<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("running", &self.running.len())
            .field("done", &self.done)
            .finish()
    }
}
