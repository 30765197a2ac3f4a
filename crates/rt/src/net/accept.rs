//! What a listener does when `accept` fails for lack of resources: pause before the next one.
//!
//! Out of file descriptors (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`), the
//! pending connection stays in the backlog and the listening socket stays readable, so an
//! accept loop that simply retries would spin the CPU until something closes. The error is
//! returned to the caller; the listener's next `accept` first waits a pause that starts at
//! 5 ms and doubles up to 500 ms while the errors continue, and a successful accept resets it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time::{sleep, Sleep};

/// The first pause after `accept` fails for lack of resources; it doubles up to the maximum.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// A listener's accept back-off: the pause under way, if any, and the length of the last one.
#[derive(Default)]
pub(super) struct AcceptBackoff {
    last: Cell<Option<Duration>>,
    pause: RefCell<Option<Sleep>>,
}

impl AcceptBackoff {
    /// `Pending` while a pause is under way; `Ready` once there is none (any more).
    pub(super) fn poll_pause(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut pause = self.pause.borrow_mut();
        if let Some(sleep) = pause.as_mut() {
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            *pause = None;
        }
        Poll::Ready(())
    }

    /// Takes note of what an `accept` gave: a connection ends the back-off, running out of
    /// resources starts (or lengthens) the pause the next `accept` waits out, and any other
    /// error leaves it as it is.
    pub(super) fn after<T>(&self, accepted: &io::Result<T>) {
        match accepted {
            Ok(_) => self.last.set(None),
            Err(e) if is_resource_exhaustion(e) => {
                let next = match self.last.get() {
                    None => ACCEPT_BACKOFF_START,
                    Some(last) => (last * 2).min(ACCEPT_BACKOFF_MAX),
                };
                self.last.set(Some(next));
                *self.pause.borrow_mut() = Some(sleep(next));
            }
            Err(_) => {}
        }
    }
}

/// Errors that say "the process or system is out of something", not "this connection failed".
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}
