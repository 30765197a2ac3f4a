//! [`gather()`] waits for every future; [`try_gather()`] waits for every success or the first
//! failure.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use futures_core::future::{FusedFuture, TryFuture};
use futures_util::future::{IntoFuture, TryFutureExt};

use super::running::Running;

/// Runs every future concurrently and collects all their outputs, in input order.
///
/// asyncio counterpart: `await asyncio.gather(*aws, return_exceptions=True)`. Every future runs
/// to the end and every output comes back — when the output is a `Result`, each slot holds its
/// own `Ok` or `Err`, so one failure neither hides the other results nor stops the other work.
/// To stop at the first error instead, use [`try_gather()`]; for a fixed set of futures of
/// different types, [`gather!`](crate::gather!).
///
/// The futures run inside the awaiting task (nothing is spawned), so they may borrow local data
/// and need not be `Send` or `'static`. An empty input completes at once with an empty `Vec`.
/// Dropping the returned [`Gather`] before it completes cancels every future still running.
///
/// # Examples
///
/// ```
/// use kairos_sync::combinator::gather;
///
/// async fn fetch(id: u32) -> Result<u32, String> {
///     if id == 2 { Err(format!("{id} is down")) } else { Ok(id * 10) }
/// }
///
/// # futures::executor::block_on(async {
/// let results = gather((1..=3).map(fetch)).await;
/// assert_eq!(results, vec![Ok(10), Err("2 is down".to_string()), Ok(30)]);
/// # });
/// ```
///
/// Borrowed, non-`Send` futures are fine: they never leave the awaiting task.
///
/// ```
/// use std::rc::Rc;
/// use kairos_sync::combinator::gather;
///
/// # futures::executor::block_on(async {
/// let names = vec![Rc::new("ada".to_string()), Rc::new("grace".to_string())];
/// let lengths = gather(names.iter().map(|name| async move { name.len() })).await;
/// assert_eq!(lengths, vec![3, 5]);
/// # });
/// ```
pub fn gather<I, F>(futures: I) -> Gather<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let running = Running::new(futures);
    let slots = core::iter::repeat_with(|| None).take(running.len()).collect();
    Gather { running, slots, done: false }
}

/// The future returned by [`gather()`]: resolves to every output, in input order.
///
/// It is `Unpin` whatever the futures are (each is pinned in its own heap node), implements
/// [`FusedFuture`], and panics if polled again after it completed.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Gather<F: Future> {
    running: Running<F>,
    /// `slots[i]` holds the output of future `i` once it has completed.
    slots: Vec<Option<F::Output>>,
    done: bool,
}

// The outputs in `slots` are never pinned and the futures live in `Running`'s heap nodes, so
// moving a `Gather` moves nothing that is pinned.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`Gather` polled after completion");
        while let Some((index, output)) = ready!(this.running.poll_next(cx)) {
            this.slots[index] = Some(output);
        }
        this.done = true;
        let slots = core::mem::take(&mut this.slots);
        Poll::Ready(slots.into_iter().map(|slot| slot.expect("every future completed")).collect())
    }
}

impl<F: Future> FusedFuture for Gather<F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("running", &self.running.len())
            .field("done", &self.done)
            .finish()
    }
}

/// Runs every fallible future concurrently and collects their values in input order, or stops
/// at the first error.
///
/// The first `Err` — first in *completion* order — is returned at once, and every future still
/// running is dropped (cancelled) before `try_gather` returns: each stops at its current `await`
/// and its destructors run. Values already produced are discarded. With no error, the result is
/// `Ok` with every value in input order; an empty input completes at once with `Ok(vec![])`.
/// For futures of different types, use [`try_gather!`](crate::try_gather!).
///
/// # Not quite asyncio: the others are cancelled
///
/// asyncio counterpart: `await asyncio.gather(*aws)`, *without* `return_exceptions`. It, too,
/// propagates the first exception at once — but it leaves the other awaitables running:
///
/// ```python
/// async def main():
///     try:
///         await asyncio.gather(fails_now(), sends_email_in_10s())
///     except ValueError:
///         ...  # sends_email_in_10s() is still running, and the email still goes out
/// ```
///
/// The Python docs say so ("other awaitables in the aws sequence won't be cancelled and will
/// continue to run"); the chapter's caution 2, which says they are cancelled, is wrong.
/// kairos cancels them, because a result nobody can receive is wasted work and a leaked task.
/// Anyone who wants the others to run on uses [`gather()`] and looks at every slot. (Spawned
/// tasks are the exception: dropping a task handle detaches its task, so to stop those, cancel
/// them through their handles or use a task group.)
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use kairos_sync::combinator::try_gather;
///
/// /// Counts the futures whose destructors ran before they finished.
/// struct CountOnDrop<'a>(&'a Cell<u32>);
/// impl Drop for CountOnDrop<'_> {
///     fn drop(&mut self) { self.0.set(self.0.get() + 1) }
/// }
///
/// async fn fetch(id: u32, cancelled: &Cell<u32>) -> Result<u32, String> {
///     if id == 3 {
///         return Err(format!("{id} is down"));
///     }
///     let _guard = CountOnDrop(cancelled);
///     std::future::pending::<()>().await; // the others would never finish on their own
///     Ok(id)
/// }
///
/// # futures::executor::block_on(async {
/// let cancelled = Cell::new(0);
/// let result = try_gather((1..=3).map(|id| fetch(id, &cancelled))).await;
/// assert_eq!(result, Err("3 is down".to_string()));
/// assert_eq!(cancelled.get(), 2); // fetch(1) and fetch(2) were dropped, not left running
/// # });
/// ```
pub fn try_gather<I, F, T, E>(futures: I) -> TryGather<F>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let running = Running::new(futures.into_iter().map(TryFutureExt::into_future));
    let slots = core::iter::repeat_with(|| None).take(running.len()).collect();
    TryGather { running, slots, done: false }
}

/// The future returned by [`try_gather()`]: resolves to every value in input order, or to the
/// first error after cancelling the rest.
///
/// It is `Unpin` whatever the futures are, implements [`FusedFuture`], and panics if polled
/// again after it completed.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryGather<F: TryFuture> {
    running: Running<IntoFuture<F>>,
    /// `slots[i]` holds the value of future `i` once it has succeeded.
    slots: Vec<Option<F::Ok>>,
    done: bool,
}

// As for `Gather`: nothing pinned lives inline.
impl<F: TryFuture> Unpin for TryGather<F> {}

impl<F: TryFuture> Future for TryGather<F> {
    type Output = Result<Vec<F::Ok>, F::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`TryGather` polled after completion");
        while let Some((index, result)) = ready!(this.running.poll_next(cx)) {
            match result {
                Ok(value) => this.slots[index] = Some(value),
                Err(error) => {
                    this.done = true;
                    // Cancel the rest now, not whenever the caller drops this future.
                    this.running.cancel_all();
                    this.slots = Vec::new();
                    return Poll::Ready(Err(error));
                }
            }
        }
        this.done = true;
        let slots = core::mem::take(&mut this.slots);
        Poll::Ready(Ok(slots
            .into_iter()
            .map(|slot| slot.expect("every future succeeded"))
            .collect()))
    }
}

impl<F: TryFuture> FusedFuture for TryGather<F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F: TryFuture> fmt::Debug for TryGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("running", &self.running.len())
            .field("done", &self.done)
            .finish()
    }
}
