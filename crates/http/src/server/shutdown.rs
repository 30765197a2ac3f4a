//! Graceful shutdown: a switch any thread can flip, and the signals that flip it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A cross-thread "please stop" for a server and all its workers.
///
/// Flipping it ([`trigger`](Shutdown::trigger)) makes every worker stop accepting, finish the
/// requests in progress (streams are ended), close idle connections, and return once its
/// connections are gone or `graceful_shutdown_timeout` has passed.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Shutdown {
    /// A switch not yet flipped.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Starts the graceful shutdown (idempotent).
    pub fn trigger(&self) {
        if !self.inner.triggered.swap(true, Ordering::SeqCst) {
            let waiters =
                std::mem::take(&mut *self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner()));
            for waker in waiters {
                waker.wake();
            }
        }
    }

    /// Whether shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown is triggered. Each worker has one task waiting on this; its
    /// connections wait on a loop-local event instead, so the list stays short.
    pub fn triggered(&self) -> Triggered {
        Triggered { shutdown: self.clone(), registered: false }
    }

    /// Triggers this switch on the first SIGINT or SIGTERM; a second one exits the process at
    /// once (status 130), as uvicorn does. The signals are read by a thread of their own.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let shutdown = self.clone();
        std::thread::Builder::new().name("kairos-signals".into()).spawn(move || {
            for signal in signals.forever() {
                if shutdown.is_triggered() {
                    tracing::warn!(target: "kairos::server", "second signal ({signal}): exiting now");
                    std::process::exit(130);
                }
                tracing::info!(target: "kairos::server", "signal {signal}: shutting down gracefully (send it again to force)");
                shutdown.trigger();
            }
        })?;
        Ok(())
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown").field("triggered", &self.is_triggered()).finish()
    }
}

/// The future of [`Shutdown::triggered`].
#[must_use = "futures do nothing unless awaited"]
pub struct Triggered {
    shutdown: Shutdown,
    registered: bool,
}

impl Future for Triggered {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        let mut waiters = this.shutdown.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock: `trigger` takes the list under it after setting the flag.
        if this.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        if !this.registered || !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
            this.registered = true;
        }
        Poll::Pending
    }
}
