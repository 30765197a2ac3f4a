//! `timeout` and `wait_for` — asyncio's `asyncio.wait_for(aw, timeout)`.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::sleep::{far_future_or, sleep_until, Sleep};

/// Runs `future` with a time limit — asyncio's `asyncio.wait_for(aw, timeout)`.
///
/// If the limit passes first, the inner future is dropped on the spot — cancelled at the
/// `.await` where it stood, its destructors run — and the result is `Err(Elapsed)`.
///
/// A [`Task`](crate::Task) handle is a future too, but dropping a handle detaches its task
/// rather than cancelling it; to get asyncio's behaviour (the task is cancelled on timeout)
/// pass `task.cancel_on_drop()`.
///
/// # Example
/// ```
/// use std::time::Duration;
/// kairos_rt::run(async {
///     let slow = kairos_rt::sleep(Duration::from_secs(10));
///     let result = kairos_rt::timeout(Duration::from_millis(10), slow).await;
///     assert!(result.is_err());
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(far_future_or(Instant::now(), duration), duration, future.into_future())
}

/// [`timeout`] with the arguments in asyncio's order: `wait_for(future, timeout)`.
pub fn wait_for<F: IntoFuture>(future: F, duration: Duration) -> Timeout<F::IntoFuture> {
    timeout(duration, future)
}

/// [`timeout`] with an absolute deadline.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    let limit = deadline.saturating_duration_since(Instant::now());
    Timeout::new(deadline, limit, future.into_future())
}

pin_project! {
    #[project = InnerProj]
    #[project_replace = InnerReplace]
    enum Inner<F> {
        Running { #[pin] future: F },
        Done,
    }
}

pin_project! {
    /// The future returned by [`timeout`] and [`wait_for`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        inner: Inner<F>,
        sleep: Sleep,
        limit: Duration,
    }
}

impl<F> Timeout<F> {
    fn new(deadline: Instant, limit: Duration, future: F) -> Self {
        Timeout { inner: Inner::Running { future }, sleep: sleep_until(deadline), limit }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let output = match this.inner.as_mut().project() {
            InnerProj::Running { future } => future.poll(cx),
            InnerProj::Done => panic!("a kairos Timeout was polled after it completed"),
        };
        if let Poll::Ready(value) = output {
            this.inner.project_replace(Inner::Done);
            return Poll::Ready(Ok(value));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => {
                // Cancel now, not whenever the caller drops us: destructors run before the
                // error is seen, as asyncio's wait_for waits for the cancelled task to finish.
                this.inner.project_replace(Inner::Done);
                Poll::Ready(Err(Elapsed { limit: *this.limit }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The time limit of a [`timeout`] passed; the inner future was cancelled.
/// asyncio raises `TimeoutError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    limit: Duration,
}

impl Elapsed {
    /// The time limit that passed.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the operation did not finish within {:?} and was cancelled; \
             raise the limit if the work is expected to take longer",
            self.limit
        )
    }
}

impl std::error::Error for Elapsed {}
