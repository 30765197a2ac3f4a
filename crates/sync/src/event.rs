//! [`Event`]: asyncio's `Event`, a flag that tasks can wait for.
//!
//! The state is a flag, a *generation* counter bumped by every `set()` that changes the flag,
//! and the wakers of the waiting tasks. A waiter remembers the generation it started waiting
//! in and completes once the generation moved on, so a `set()` that woke it still counts even
//! if `clear()` ran before the waiter got its turn to run (asyncio behaves the same way).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A flag that tasks can wait for: asyncio's `Event`.
///
/// [`set`](Self::set) raises the flag and wakes every waiter; [`clear`](Self::clear) lowers
/// it; [`wait`](Self::wait) completes at once if the flag is up, or else when it is next set.
/// A waiter woken by `set()` completes even if the flag was cleared again before the waiter
/// ran: it saw the event happen.
///
/// `Event` is a cheap handle: `clone()` shares the same flag. It belongs to one event loop
/// (it is `!Send`).
///
/// ```
/// use futures::executor::block_on;
/// use futures::join;
/// use kairos_sync::Event;
///
/// let ready = Event::new();
/// let waiter = async {
///     ready.wait().await;
///     "started"
/// };
/// let setter = async { ready.set() };
/// let (said, ()) = block_on(async { join!(waiter, setter) });
/// assert_eq!(said, "started");
/// assert!(ready.is_set());
/// ```
#[derive(Clone, Default)]
pub struct Event {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    is_set: bool,
    /// Bumped by each `set()` that raises the flag.
    generation: u64,
    /// One slot per waiting `Wait`; the slot's waker is taken when it is woken or dropped.
    waiters: Vec<Rc<Slot>>,
    /// Sweep dropped waiters out of `waiters` when it grows past this.
    sweep_at: usize,
}

type Slot = Cell<Option<Waker>>;

impl Event {
    /// Creates an event whose flag is down.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag and wakes every task waiting for it (asyncio: `event.set()`).
    ///
    /// Setting an event that is already set does nothing.
    pub fn set(&self) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            if st.is_set {
                return;
            }
            st.is_set = true;
            st.generation += 1;
            st.sweep_at = 0;
            std::mem::take(&mut st.waiters)
        };
        // Wake outside the borrow: a waker may run arbitrary code, even touch this event.
        for slot in waiters {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
    }

    /// Lowers the flag (asyncio: `event.clear()`). Tasks already woken by `set()` still
    /// complete; later `wait()`s wait for the next `set()`.
    pub fn clear(&self) {
        self.state.borrow_mut().is_set = false;
    }

    /// True while the flag is up (asyncio: `event.is_set()`).
    pub fn is_set(&self) -> bool {
        self.state.borrow().is_set
    }

    /// Waits until the flag is up (asyncio: `await event.wait()`).
    ///
    /// Completes at once if it is up when first polled. Dropping the future while it waits is
    /// safe and frees its place.
    pub fn wait(&self) -> Wait {
        Wait { event: self.clone(), waiting: None }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        let waiting = st.waiters.iter().filter(|slot| Rc::strong_count(slot) > 1).count();
        f.debug_struct("Event").field("is_set", &st.is_set).field("waiting", &waiting).finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// Owns a handle to the event, so it has no lifetime and can be moved into a task.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait {
    event: Event,
    /// Once waiting: the generation it started in, and its slot in the event's waiter list.
    waiting: Option<(u64, Rc<Slot>)>,
}

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.event.state.borrow_mut();
        match &this.waiting {
            None if st.is_set => Poll::Ready(()),
            None => {
                let slot = Rc::new(Cell::new(Some(cx.waker().clone())));
                st.waiters.push(Rc::clone(&slot));
                if st.waiters.len() > st.sweep_at {
                    // A dropped `Wait` leaves its slot behind (strong count 1); sweeping only
                    // when the list doubled keeps the cost amortised O(1) per waiter.
                    st.waiters.retain(|slot| Rc::strong_count(slot) > 1);
                    st.sweep_at = 2 * st.waiters.len() + 8;
                }
                this.waiting = Some((st.generation, slot));
                Poll::Pending
            }
            // Any `set()` since we started waiting counts, even if `clear()` followed it.
            Some((generation, _)) if st.generation != *generation => Poll::Ready(()),
            Some((_, slot)) => {
                // Still waiting (a spurious poll): keep the newest waker.
                let waker = match slot.take() {
                    Some(old) if old.will_wake(cx.waker()) => old,
                    _ => cx.waker().clone(),
                };
                slot.set(Some(waker));
                Poll::Pending
            }
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        // Drop our waker now; the empty slot itself is swept out by a later `wait()`.
        if let Some((_, slot)) = self.waiting.take() {
            slot.take();
        }
    }
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("waiting", &self.waiting.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Probe;
    use std::pin::pin;

    #[test]
    fn wait_completes_at_once_when_the_flag_is_up() {
        let event = Event::new();
        event.set();
        assert!(event.is_set());
        assert_eq!(Probe::new().poll(pin!(event.wait())), Poll::Ready(()));
    }

    #[test]
    fn set_wakes_every_waiter_exactly_once() {
        let event = Event::new();
        let probes = [Probe::new(), Probe::new(), Probe::new()];
        let mut waits: Vec<Wait> = probes.iter().map(|_| event.wait()).collect();
        for (w, p) in waits.iter_mut().zip(&probes) {
            assert!(p.poll(Pin::new(w)).is_pending());
        }
        event.set();
        event.set(); // already set: no second wake
        for (w, p) in waits.iter_mut().zip(&probes) {
            assert_eq!(p.wakes(), 1);
            assert_eq!(p.poll(Pin::new(w)), Poll::Ready(()));
        }
    }

    #[test]
    fn a_waiter_woken_by_set_completes_even_if_clear_ran_first() {
        let event = Event::new();
        let probe = Probe::new();
        let mut woken = event.wait();
        assert!(probe.poll(Pin::new(&mut woken)).is_pending());
        event.set();
        event.clear();
        assert!(!event.is_set());
        assert_eq!(probe.poll(Pin::new(&mut woken)), Poll::Ready(()));

        // A wait that starts after the clear waits for the next set.
        let later = Probe::new();
        let mut fresh = event.wait();
        assert!(later.poll(Pin::new(&mut fresh)).is_pending());
        assert!(later.poll(Pin::new(&mut fresh)).is_pending(), "a spurious poll still waits");
        event.set();
        assert_eq!(later.wakes(), 1);
        assert_eq!(later.poll(Pin::new(&mut fresh)), Poll::Ready(()));
    }

    #[test]
    fn dropped_waiters_are_not_woken_and_do_not_pile_up() {
        let event = Event::new();
        let keep = Probe::new();
        let mut kept = event.wait();
        assert!(keep.poll(Pin::new(&mut kept)).is_pending());
        let gone = Probe::new();
        for _ in 0..1000 {
            assert!(gone.poll(pin!(event.wait())).is_pending());
        }
        assert!(event.state.borrow().waiters.len() < 20, "dropped waiters were not swept");
        assert!(format!("{event:?}").contains("waiting: 1"));
        event.set();
        assert_eq!((keep.wakes(), gone.wakes()), (1, 0));
    }

    #[test]
    fn clones_share_the_flag() {
        let event = Event::new();
        let other = event.clone();
        let probe = Probe::new();
        let mut wait = event.wait();
        assert!(probe.poll(Pin::new(&mut wait)).is_pending());
        other.set();
        assert_eq!(probe.wakes(), 1);
        assert!(event.is_set());
    }
}
