//! A channel for exactly one value, which may come from another thread.
//!
//! In asyncio, handing a result from a worker thread to the loop means creating a `Future` on
//! the loop and having the thread call `loop.call_soon_threadsafe(fut.set_result, value)`.
//! Here the thread gets a [`Sender`], the task awaits the [`Receiver`], and the wake goes
//! through the task's `Waker` (which kairos routes through the loop's injection queue).
//!
//! Unlike the rest of this crate, this is thread-safe: its state sits behind a
//! `std::sync::Mutex`. The lock is held only to move a value or a waker in or out, never while
//! waking or dropping a user's value, so it cannot deadlock and is barely contended.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Creates a connected [`Sender`] and [`Receiver`] for one value.
///
/// Both halves are `Send` when `T: Send`, so either can move to another thread.
///
/// ```
/// use futures::executor::block_on;
/// use kairos_sync::oneshot;
///
/// let (tx, rx) = oneshot::channel();
/// std::thread::spawn(move || {
///     let answer = 6 * 7; // blocking or CPU-heavy work, off the loop
///     let _ = tx.send(answer); // Err only if nobody waits for it any more
/// });
/// assert_eq!(block_on(rx), Ok(42));
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { value: None, waker: None, sender_gone: false, closed: false }),
    });
    (Sender { shared: Arc::clone(&shared) }, Receiver { shared })
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    /// The receiving task, to wake when a value arrives or the sender goes away.
    waker: Option<Waker>,
    /// The `Sender` was consumed by `send` or dropped: no (further) value can come.
    sender_gone: bool,
    /// The `Receiver` was closed or dropped: `send` must fail.
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic cannot leave `State` half-updated (each update is a plain field write), so
        // a poisoned lock holds a consistent state and is safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending half: delivers one value with [`send`](Self::send).
///
/// Dropping it without sending tells the receiver, which then gets [`RecvError`].
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends the value and wakes the receiver (asyncio: `fut.set_result(value)`).
    ///
    /// Fails, handing the value back, if the receiver was dropped or closed: nobody would
    /// ever read it.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(value);
            }
            st.value = Some(value);
            st.waker.take()
        };
        // Wake outside the lock: the receiver's loop may poll it (and lock) right away.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// True if the receiver was dropped or closed, so a `send` would fail.
    ///
    /// A worker can check this to give up on work whose result nobody wants any more.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.shared.lock();
            st.sender_gone = true;
            st.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("is_closed", &self.is_closed()).finish()
    }
}

/// The receiving half: a future that resolves to the sent value.
///
/// Resolves to `Ok(value)`, or `Err(RecvError)` if the sender was dropped without sending.
/// Polling it again after that returns `Err(RecvError)`: the value was already taken.
/// Dropping it makes the sender's `send` fail (and drops a value already sent).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    ///
    /// Fails with [`TryRecvError::Empty`] if it may still come, [`TryRecvError::Closed`] if
    /// it never will (the sender is gone or the receiver was closed, and no value is waiting).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.shared.lock();
        match st.value.take() {
            Some(value) => Ok(value),
            None if st.sender_gone || st.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses the value from now on: a later `send` fails and hands its value back.
    ///
    /// A value sent before `close` can still be taken with [`try_recv`](Self::try_recv) or by
    /// awaiting; with none there, awaiting returns `Err(RecvError)` at once instead of hanging.
    pub fn close(&mut self) {
        self.shared.lock().closed = true;
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.shared.lock();
        if let Some(value) = st.value.take() {
            return Poll::Ready(Ok(value));
        }
        if st.sender_gone || st.closed {
            return Poll::Ready(Err(RecvError));
        }
        match &st.waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, waker) = {
            let mut st = self.shared.lock();
            st.closed = true;
            (st.value.take(), st.waker.take())
        };
        // The value's destructor is user code: run it outside the lock.
        drop(value);
        drop(waker);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Receiver")
            .field("has_value", &st.value.is_some())
            .field("sender_gone", &st.sender_gone)
            .field("closed", &st.closed)
            .finish()
    }
}

/// The sender was dropped without sending a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "oneshot sender dropped without sending a value: the producing side failed, \
             panicked or was cancelled; check it for the cause",
        )
    }
}

impl Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; it may still come.
    Empty,
    /// No value will come: the sender is gone, or the receiver was closed.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no value yet: await the receiver to wait for it",
            TryRecvError::Closed => {
                "no value will come: the sender was dropped without sending, \
                 or the receiver was closed"
            }
        })
    }
}

impl Error for TryRecvError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Probe;
    use futures::executor::block_on;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    #[test]
    fn both_halves_are_send_when_the_value_is() {
        fn assert_send<S: Send>() {}
        assert_send::<Sender<String>>();
        assert_send::<Receiver<String>>();
    }

    #[test]
    fn a_value_sent_from_another_thread_reaches_the_receiver() {
        let (tx, rx) = channel();
        let worker = thread::spawn(move || tx.send(String::from("done")));
        assert_eq!(block_on(rx), Ok(String::from("done")));
        assert_eq!(worker.join().unwrap(), Ok(()));
    }

    #[test]
    fn a_waiting_receiver_is_woken_exactly_once_by_a_send_from_another_thread() {
        let (tx, mut rx) = channel();
        let probe = Probe::new();
        assert!(probe.poll(Pin::new(&mut rx)).is_pending());
        thread::spawn(move || tx.send(42).unwrap()).join().unwrap();
        assert_eq!(probe.wakes(), 1, "send wakes; the sender's drop after it must not");
        assert_eq!(probe.poll(Pin::new(&mut rx)), Poll::Ready(Ok(42)));
    }

    #[test]
    fn a_sender_dropped_without_sending_wakes_the_receiver_with_an_error() {
        let (tx, mut rx) = channel::<u8>();
        let probe = Probe::new();
        assert!(probe.poll(Pin::new(&mut rx)).is_pending());
        thread::spawn(move || drop(tx)).join().unwrap();
        assert_eq!(probe.wakes(), 1);
        assert_eq!(probe.poll(Pin::new(&mut rx)), Poll::Ready(Err(RecvError)));

        let (tx, rx) = channel::<u8>();
        thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), Err(RecvError));
    }

    #[test]
    fn send_fails_and_gives_the_value_back_once_the_receiver_is_dropped() {
        let (tx, rx) = channel();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(vec![1, 2]), Err(vec![1, 2]));
    }

    #[test]
    fn dropping_the_receiver_drops_a_value_already_sent() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = channel();
        assert!(tx.send(Counted(Arc::clone(&drops))).is_ok());
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn try_recv_reports_empty_then_the_value_then_closed() {
        let (tx, mut rx) = channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send('v').unwrap();
        assert_eq!(rx.try_recv(), Ok('v'));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(block_on(&mut rx), Err(RecvError));
    }

    #[test]
    fn close_refuses_later_sends_but_keeps_an_earlier_value() {
        let (tx, mut rx) = channel::<i32>();
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
        assert_eq!(block_on(&mut rx), Err(RecvError), "closed and empty: no hang");

        let (tx, mut rx) = channel::<i32>();
        tx.send(2).unwrap();
        rx.close();
        assert_eq!(block_on(rx), Ok(2));
    }

    #[test]
    fn errors_say_what_happened() {
        assert!(RecvError.to_string().contains("dropped without sending"));
        assert!(TryRecvError::Empty.to_string().contains("no value yet"));
    }
}
