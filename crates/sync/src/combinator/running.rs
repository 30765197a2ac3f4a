//! The engine under [`gather()`](super::gather()), [`try_gather()`](super::try_gather()),
//! [`race()`](super::race()) and [`as_completed()`](super::as_completed()): a set of futures
//! running concurrently, each tagged with its position in the input.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use futures_util::future::{join, ready, Join, Ready};
use futures_util::stream::FuturesUnordered;

/// A future tagged with its input index. `join(future, ready(index))` completes exactly when
/// `future` does (`ready` is done on its first poll) and hands back `(output, index)`: a tag
/// without `unsafe` pin projection, an extra dependency or an extra allocation.
type Indexed<F> = Join<F, Ready<usize>>;

/// Futures running concurrently inside the task that polls this set.
///
/// `FuturesUnordered` is the engine: it keeps a queue of the futures whose wakers fired and polls
/// only those, so running n futures costs their own polls and no more — gather over 100,000
/// futures is linear, not quadratic. Each future is pinned in its own heap node, which is why the
/// set (and everything built on it) is `Unpin` whatever the futures are.
pub(super) struct Running<F: Future> {
    set: FuturesUnordered<Indexed<F>>,
}

impl<F: Future> Running<F> {
    /// Takes ownership of every future, in input order. Nothing is polled yet.
    pub(super) fn new<I: IntoIterator<Item = F>>(futures: I) -> Self {
        let set = futures.into_iter().enumerate().map(|(index, f)| join(f, ready(index))).collect();
        Self { set }
    }

    /// How many futures have not completed (nor been cancelled) yet.
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    /// Polls the futures that were woken and returns the next one to complete with its input
    /// index; `Ready(None)` once none is left.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        Pin::new(&mut self.set)
            .poll_next(cx)
            .map(|next| next.map(|(output, index)| (index, output)))
    }

    /// Whether [`poll_next`](Self::poll_next) has returned `Ready(None)`.
    pub(super) fn is_terminated(&self) -> bool {
        self.set.is_terminated()
    }

    /// Drops every future still running, now: each stops at its current `await` and its
    /// destructors run.
    pub(super) fn cancel_all(&mut self) {
        self.set.clear();
    }
}
