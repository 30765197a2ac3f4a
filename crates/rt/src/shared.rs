//! The half of a loop that other threads may touch: the injection queue and the unpark signal.
//!
//! A thread-pool job finishing, a timer on another loop, or [`Handle::call_soon`]
//! (`call_soon_threadsafe`) all end here. The loop drains the queue once per turn. While the
//! loop is parked in `epoll_wait`, the first injection also writes to a `mio::Waker` (an
//! eventfd) to wake it; while it runs, injections cost a mutex and no system call.
//!
//! [`Handle::call_soon`]: crate::Handle::call_soon

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::diagnostic::{Diagnostic, PanicReport, Reporter};
use crate::task::{Header, TaskRef};

/// Something handed to a loop from outside its thread.
pub(crate) enum Injected {
    /// A task woken from another thread.
    Task(TaskRef),
    /// A closure to run on the loop (`call_soon_threadsafe`).
    Call(Box<dyn FnOnce() + Send>),
    /// The main future of `block_on`, woken from another thread.
    Main,
}

struct Queue {
    items: Vec<Injected>,
    closed: bool,
}

/// The cross-thread part of a loop.
pub(crate) struct Shared {
    pub(crate) loop_id: u64,
    queue: Mutex<Queue>,
    /// Set after a push, cleared by the loop before it drains: a lock-free "anything there?".
    has_injected: AtomicBool,
    /// The loop is (about to be) blocked in the reactor and needs an explicit wake.
    parked: AtomicBool,
    unpark: mio::Waker,
    /// Where this loop's diagnostics go; here so that a task handle dropped anywhere reports
    /// to its own loop.
    reporter: Reporter,
    unobserved_panics: AtomicU64,
}

impl Shared {
    pub(crate) fn new(loop_id: u64, unpark: mio::Waker, reporter: Reporter) -> Self {
        Shared {
            loop_id,
            queue: Mutex::new(Queue { items: Vec::new(), closed: false }),
            has_injected: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            unpark,
            reporter,
            unobserved_panics: AtomicU64::new(0),
        }
    }

    /// A detached task of this loop panicked: count it and report it.
    pub(crate) fn report_unobserved_panic(&self, header: &Header, message: String) {
        self.unobserved_panics.fetch_add(1, Ordering::Relaxed);
        self.reporter.report(Diagnostic::UnobservedPanic(PanicReport {
            loop_id: self.loop_id,
            task: header.info(),
            message,
        }));
    }

    pub(crate) fn unobserved_panics(&self) -> u64 {
        self.unobserved_panics.load(Ordering::Relaxed)
    }

    /// Queues `item` for the loop; gives it back if the loop has shut down.
    pub(crate) fn inject(&self, item: Injected) -> Result<(), Injected> {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.closed {
                return Err(item);
            }
            queue.items.push(item);
        }
        // SeqCst store then SeqCst load, mirrored in `park`: either the loop sees our item
        // before it blocks, or we see that it is parked and wake it.
        self.has_injected.store(true, Ordering::SeqCst);
        if self.parked.swap(false, Ordering::SeqCst) {
            // An error here means the eventfd is gone, i.e. the loop is being torn down.
            let _ = self.unpark.wake();
        }
        Ok(())
    }

    /// Whether anything was injected since the last [`take`](Self::take).
    pub(crate) fn has_injected(&self) -> bool {
        self.has_injected.load(Ordering::Acquire)
    }

    /// Moves everything injected so far, in order, into `buffer` (empty on entry), which
    /// the loop reuses turn after turn so that draining does not allocate under the lock.
    pub(crate) fn take_into(&self, buffer: &mut Vec<Injected>) {
        self.has_injected.store(false, Ordering::SeqCst);
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut queue.items, buffer);
    }

    /// Announces that the loop is about to block; `false` if it must not (work was injected).
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if self.has_injected.load(Ordering::SeqCst) {
            self.parked.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The loop is running again.
    pub(crate) fn unparked(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// Refuses further injections and returns what is still queued.
    pub(crate) fn close(&self) -> Vec<Injected> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.closed = true;
        std::mem::take(&mut queue.items)
    }
}
