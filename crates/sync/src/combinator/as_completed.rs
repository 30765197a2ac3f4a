//! [`as_completed()`]: outputs one by one, in the order the futures finish.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use super::running::Running;

/// Runs every future concurrently and yields each output as soon as it is ready, tagged with
/// its input index.
///
/// asyncio counterpart: `for aw in asyncio.as_completed(aws): result = await aw`. asyncio hands
/// out anonymous awaitables, so the caller cannot tell which input finished; here every item is
/// `(index, output)`. Handle results as they arrive — show the fastest first, stop early —
/// rather than waiting for the slowest as [`gather()`](super::gather()) does.
///
/// The returned [`AsCompleted`] is a [`Stream`] and also has an inherent
/// [`next`](AsCompleted::next), so no extension trait is needed. Dropping it cancels every
/// future that has not completed yet — which is how to stop early.
///
/// # Examples
///
/// ```
/// use futures::channel::oneshot;
/// use kairos_sync::combinator::as_completed;
///
/// # futures::executor::block_on(async {
/// let (a_tx, a) = oneshot::channel::<&str>();
/// let (b_tx, b) = oneshot::channel::<&str>();
/// let mut done = as_completed([a, b]);
///
/// b_tx.send("b").unwrap();
/// assert_eq!(done.next().await, Some((1, Ok("b"))));
/// a_tx.send("a").unwrap();
/// assert_eq!(done.next().await, Some((0, Ok("a"))));
/// assert_eq!(done.next().await, None);
/// # });
/// ```
pub fn as_completed<I, F>(futures: I) -> AsCompleted<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    AsCompleted { running: Running::new(futures) }
}

/// The stream returned by [`as_completed()`]: yields `(index, output)` in completion order, then
/// `None` for good.
///
/// It is `Unpin` whatever the futures are and implements [`FusedStream`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    running: Running<F>,
}

impl<F: Future> AsCompleted<F> {
    /// Waits for the next future to complete and returns its input index and output, or `None`
    /// when every future has been yielded.
    ///
    /// Cancel-safe: an output leaves the set only in the poll that returns it, so dropping this
    /// future (say, because a timeout won a race against it) loses nothing; the next call picks
    /// up where this one stopped.
    pub async fn next(&mut self) -> Option<(usize, F::Output)> {
        core::future::poll_fn(|cx| self.running.poll_next(cx)).await
    }

    /// How many futures are still running: not yet yielded, not cancelled.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether every future has been yielded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = (usize, F::Output);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().running.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.running.is_terminated()
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted").field("running", &self.running.len()).finish()
    }
}
