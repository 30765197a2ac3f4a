//! [`Handle`]: giving a loop work from another thread — asyncio's `call_soon_threadsafe` and
//! `run_coroutine_threadsafe`.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;

use crate::context;
use crate::shared::{Injected, Shared};
use crate::task::TaskError;
use kairos_sync::oneshot;

/// A `Send + Sync` handle to a loop, for other threads.
///
/// Get one with [`Handle::current`] (inside the loop) or [`Runtime::handle`](crate::Runtime::handle).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the loop running on this thread.
    ///
    /// # Panics
    /// Outside a running loop.
    pub fn current() -> Handle {
        context::expect_core("kairos_rt::Handle::current", |core| {
            Handle::from_shared(Arc::clone(&core.shared))
        })
    }

    /// The handle of the loop running on this thread, or `None` outside a loop: the way to
    /// ask "is a kairos loop running here?" (asyncio: `get_running_loop()` without the
    /// `RuntimeError`).
    pub fn try_current() -> Option<Handle> {
        context::with_core(|core| Handle::from_shared(Arc::clone(&core.shared)))
    }

    /// The id of the loop this handle points at.
    pub fn loop_id(&self) -> u64 {
        self.shared.loop_id
    }

    /// Runs `f` on the loop in its next turn — asyncio's `loop.call_soon_threadsafe(f)`.
    ///
    /// Fails with [`LoopClosed`] if the loop has shut down; `f` is then dropped unrun.
    pub fn call_soon(&self, f: impl FnOnce() + Send + 'static) -> Result<(), LoopClosed> {
        self.shared.inject(Injected::Call(Box::new(f))).map_err(|_| LoopClosed)
    }

    /// Spawns `future` as a task on the loop from any thread — asyncio's
    /// `run_coroutine_threadsafe(coro, loop)`. The returned [`RemoteTask`] can be awaited on
    /// any executor, or polled from another loop.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> RemoteTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (result_tx, result_rx) = oneshot::channel();
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        let spawned_at = Location::caller();
        let start = move || {
            let guarded = async move {
                // Boxed so that `select` owns it and dropping it below drops the future.
                let work = Box::pin(std::panic::AssertUnwindSafe(future).catch_unwind());
                // The cancel signal is polled first, so a task cancelled before it started
                // never runs; on cancel, the work is dropped before the outcome is sent, so
                // its destructors have run when the awaiter hears `Cancelled`.
                let outcome = match futures_util::future::select(cancel_rx, work).await {
                    futures_util::future::Either::Left((Ok(()), work)) => {
                        drop(work);
                        Err(TaskError::Cancelled)
                    }
                    // The RemoteTask was dropped without cancelling: detached, run on.
                    futures_util::future::Either::Left((Err(_), work)) => {
                        work.await.map_err(TaskError::from_panic)
                    }
                    futures_util::future::Either::Right((done, _)) => {
                        done.map_err(TaskError::from_panic)
                    }
                };
                let _ = result_tx.send(outcome);
            };
            context::expect_core("Handle::spawn", |core| {
                core.spawn(guarded, None, spawned_at).detach();
            });
        };
        let accepted = self.call_soon(start).is_ok();
        RemoteTask { result: result_rx, cancel: Some(cancel_tx), accepted }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("loop_id", &self.shared.loop_id).finish()
    }
}

/// The loop a [`Handle`] points at has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopClosed;

impl fmt::Display for LoopClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the kairos event loop has shut down and accepts no more work")
    }
}

impl std::error::Error for LoopClosed {}

/// A task spawned through a [`Handle`]; `Send`, awaitable from anywhere.
///
/// Dropping it detaches the task, as with [`Task`](crate::Task); [`cancel`](Self::cancel)
/// cancels it. If the loop shut down before the task finished, awaiting gives
/// `Err(TaskError::Cancelled)`.
#[must_use = "a dropped RemoteTask keeps running detached; await it or cancel it"]
pub struct RemoteTask<T> {
    result: oneshot::Receiver<Result<T, TaskError>>,
    cancel: Option<oneshot::Sender<()>>,
    accepted: bool,
}

impl<T> RemoteTask<T> {
    /// Asks the loop to cancel the task (its future is dropped at its current `.await`).
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
    }
}

impl<T> Future for RemoteTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.accepted {
            return Poll::Ready(Err(TaskError::Cancelled));
        }
        match Pin::new(&mut self.result).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            // The loop dropped the task without an outcome: it shut down first.
            Poll::Ready(Err(_)) => Poll::Ready(Err(TaskError::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteTask").finish_non_exhaustive()
    }
}
