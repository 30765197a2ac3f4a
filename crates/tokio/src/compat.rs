//! One future inside the runtime's context, for a loop that was not configured with it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::runtime::enter;

/// Wraps `future` so that each of its polls runs inside the tokio runtime's context: on any
/// executor, it may make tokio sockets and timers. On a loop made with
/// [`configure_loop`](crate::configure_loop) it is not needed.
///
/// ```
/// use std::time::Duration;
///
/// // A plain loop: without `compat`, tokio's sleep would panic (no reactor running).
/// kairos_rt::run(kairos_tokio::compat(async {
///     tokio::time::sleep(Duration::from_millis(1)).await;
/// }));
/// ```
pub fn compat<F: Future>(future: F) -> Compat<F> {
    Compat { future: Box::pin(future) }
}

/// The future [`compat`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Compat<F> {
    // Boxed so that `Compat` is `Unpin` and needs no pin projection (no unsafe here); one
    // allocation per wrapped future.
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Compat<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _context = enter();
        self.future.as_mut().poll(cx)
    }
}

impl<F> std::fmt::Debug for Compat<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compat(..)")
    }
}
