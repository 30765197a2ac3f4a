//! [`Semaphore`]: a counter of permits that tasks wait on in strict FIFO order.
//!
//! The state is one `Rc<RefCell<State>>`: the free permits and a queue of waiters. A waiter is
//! an `Rc<Waiter>` shared between the queue and its [`Acquire`] future, so either side can see
//! what the other did (granted, closed, cancelled) without searching the queue.
//!
//! Permits are handed over, not raced for: when permits come back, `dispatch` gives them to
//! the head waiter(s) right away and wakes them. A woken task therefore never finds its permits
//! gone, and a newcomer can never take permits meant for someone who waited longer.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A pool of permits that tasks take before doing limited work: asyncio's `Semaphore`, but
/// FIFO and cancel-safe.
///
/// `Semaphore::new(5)` lets at most five holders run at once; the sixth waits in line.
/// Compared to asyncio:
/// - **Strict FIFO.** Waiters are served in the order they started waiting. If anyone is
///   waiting, a newcomer queues even if permits happen to be free (no barging), and a big
///   [`acquire_many`](Self::acquire_many) at the head holds back smaller requests behind it.
/// - **RAII permits.** [`acquire`](Self::acquire) gives a [`Permit`]; dropping it returns the
///   permit. There is no `release()` to forget or to call twice (which is what asyncio's
///   `BoundedSemaphore` guards against).
/// - **Cancel-safe.** Dropping an [`Acquire`] future (a timeout, a cancelled task) leaves the
///   queue, and permits already handed to it move on to the next waiter.
///
/// A `Semaphore` is a cheap handle: `clone()` shares the same permits. It belongs to one event
/// loop (it is `!Send`) and only talks to the loop through wakers.
///
/// ```
/// use futures::executor::block_on;
/// use kairos_sync::Semaphore;
///
/// let limit = Semaphore::new(2);
/// block_on(async {
///     let a = limit.acquire().await.unwrap();
///     let _b = limit.acquire().await.unwrap();
///     assert_eq!(limit.available_permits(), 0);
///     drop(a); // the permit goes back
///     assert_eq!(limit.available_permits(), 1);
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    state: Rc<RefCell<State>>,
}

struct State {
    /// Free permits, not promised to anyone.
    permits: usize,
    status: Status,
    /// Waiters in arrival order. Holds `Waiting` nodes and `Cancelled` ones not yet swept out
    /// (granted and closed nodes are popped at once).
    queue: VecDeque<Rc<Waiter>>,
    /// Number of `Waiting` nodes in `queue`: the exact answer to `waiting()`.
    waiting: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Open,
    /// `close()`: every acquire fails from now on.
    Closed,
    /// `close_waiting()`: acquires that would have to wait fail; ones that can be served at
    /// once still succeed. `Queue` uses this so that gets drain the items left after `close()`.
    Draining,
}

/// One queued acquire, shared by the queue and its `Acquire` future.
struct Waiter {
    needed: usize,
    outcome: Cell<Outcome>,
    waker: Cell<Option<Waker>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Waiting,
    /// The permits were taken out of the pool for this waiter; its future owns them now.
    Granted,
    Closed,
    /// The future was dropped while waiting; the node is garbage until swept.
    Cancelled,
}

impl Semaphore {
    /// Creates a semaphore with `permits` free permits (asyncio: `Semaphore(value)`).
    pub fn new(permits: usize) -> Self {
        let state = State { permits, status: Status::Open, queue: VecDeque::new(), waiting: 0 };
        Semaphore { state: Rc::new(RefCell::new(state)) }
    }

    /// Waits for one permit (asyncio: `async with sem:` / `await sem.acquire()`).
    ///
    /// The future takes its place in line when first polled. It resolves to a [`Permit`] that
    /// returns the permit when dropped, or to [`Closed`] if the semaphore is closed before the
    /// permit is granted.
    pub fn acquire(&self) -> Acquire {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once, as one request in the FIFO line.
    ///
    /// While it is at the head of the line it holds back everyone behind it, even those who
    /// want fewer permits than are free: that is what keeps a big request from starving.
    /// `n` larger than all the permits there will ever be waits until [`close`](Self::close).
    /// `n == 0` takes no permits but still waits its turn behind earlier waiters.
    pub fn acquire_many(&self, n: usize) -> Acquire {
        Acquire { state: Rc::clone(&self.state), needed: n, stage: Stage::Idle }
    }

    /// Takes one permit if that can be done without waiting.
    ///
    /// Fails with [`TryAcquireError::NoPermits`] if no permit is free *or* others are already
    /// waiting (taking a free permit ahead of them would break FIFO).
    pub fn try_acquire(&self) -> Result<Permit, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits at once if that can be done without waiting; see
    /// [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_many(&self, n: usize) -> Result<Permit, TryAcquireError> {
        let mut st = self.state.borrow_mut();
        match st.status {
            Status::Closed => Err(TryAcquireError::Closed),
            _ if st.waiting == 0 && st.permits >= n => {
                st.permits -= n;
                Ok(Permit { state: Rc::clone(&self.state), count: n })
            }
            Status::Draining => Err(TryAcquireError::Closed),
            Status::Open => Err(TryAcquireError::NoPermits),
        }
    }

    /// Number of free permits right now.
    ///
    /// Permits can be free while someone waits: the head waiter wants more than are free.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Number of acquires waiting in line (granted or cancelled ones are not counted).
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting
    }

    /// Adds `n` new permits (asyncio: calling `release()` without a matching `acquire()`).
    ///
    /// They go to the waiters at the head of the line first.
    pub fn add_permits(&self, n: usize) {
        release(&self.state, n);
    }

    /// Closes the semaphore: every waiter wakes with [`Closed`], and every later acquire fails.
    ///
    /// Permits already held stay valid, and dropping them still returns them to the pool (so
    /// [`available_permits`](Self::available_permits) stays meaningful). An acquire that was
    /// granted its permits before `close` (woken, not yet run) still gets them. Closing twice
    /// is a no-op.
    pub fn close(&self) {
        self.shut(Status::Closed);
    }

    /// Fails every current waiter and every later acquire that would have to wait, while
    /// acquires that can be served at once still succeed. Used by `Queue::close`.
    pub(super) fn close_waiting(&self) {
        self.shut(Status::Draining);
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().status != Status::Open
    }

    fn shut(&self, status: Status) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            if st.status == Status::Open || status == Status::Closed {
                st.status = status;
            }
            st.waiting = 0;
            std::mem::take(&mut st.queue)
        };
        // Wake outside the borrow: a waker may run arbitrary code, even touch this semaphore.
        for waiter in waiters {
            if waiter.outcome.get() == Outcome::Waiting {
                waiter.outcome.set(Outcome::Closed);
                if let Some(waker) = waiter.waker.take() {
                    waker.wake();
                }
            }
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("available_permits", &st.permits)
            .field("waiting", &st.waiting)
            .field("closed", &(st.status != Status::Open))
            .finish()
    }
}

/// Returns `n` permits to the pool and hands them on to waiters.
fn release(state: &RefCell<State>, n: usize) {
    {
        let mut st = state.borrow_mut();
        st.permits = st.permits.checked_add(n).expect("semaphore permit count overflowed usize");
    }
    dispatch(state);
}

/// Grants free permits to the head of the line, in order, until the head wants more than is
/// free. Wakes each granted waiter outside the borrow, one at a time, so a waker that re-enters
/// the semaphore (or drops another `Acquire`) finds it consistent.
fn dispatch(state: &RefCell<State>) {
    loop {
        let waker = {
            let mut guard = state.borrow_mut();
            let st = &mut *guard;
            let Some(head) = st.queue.front() else { return };
            match head.outcome.get() {
                Outcome::Cancelled => {
                    st.queue.pop_front();
                    continue;
                }
                Outcome::Waiting if st.permits >= head.needed => {
                    st.permits -= head.needed;
                    st.waiting -= 1;
                    head.outcome.set(Outcome::Granted);
                    let waker = head.waker.take();
                    st.queue.pop_front();
                    waker
                }
                _ => return,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// Owns a handle to the semaphore, so it has no lifetime and can be stored or moved into a
/// task. Dropping it is always safe: a waiting acquire leaves the line, and permits that were
/// already granted to it (it was woken but not polled again) go back to the next waiter.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire {
    state: Rc<RefCell<State>>,
    needed: usize,
    stage: Stage,
}

enum Stage {
    /// Not polled yet: not in line.
    Idle,
    Queued(Rc<Waiter>),
    Done,
}

impl Future for Acquire {
    type Output = Result<Permit, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (granted, needed) = match &this.stage {
            Stage::Idle => {
                let mut st = this.state.borrow_mut();
                if st.status == Status::Closed {
                    (false, 0)
                } else if st.waiting == 0 && st.permits >= this.needed {
                    // Fast path: nobody ahead and enough free permits; no allocation.
                    st.permits -= this.needed;
                    (true, this.needed)
                } else if st.status == Status::Draining {
                    (false, 0)
                } else {
                    let waiter = Rc::new(Waiter {
                        needed: this.needed,
                        outcome: Cell::new(Outcome::Waiting),
                        waker: Cell::new(Some(cx.waker().clone())),
                    });
                    st.queue.push_back(Rc::clone(&waiter));
                    st.waiting += 1;
                    drop(st);
                    this.stage = Stage::Queued(waiter);
                    return Poll::Pending;
                }
            }
            Stage::Queued(waiter) => match waiter.outcome.get() {
                Outcome::Granted => (true, waiter.needed),
                Outcome::Closed => (false, 0),
                Outcome::Waiting => {
                    // Keep the most recent waker: the task may have moved to another waker.
                    let waker = match waiter.waker.take() {
                        Some(old) if old.will_wake(cx.waker()) => old,
                        _ => cx.waker().clone(),
                    };
                    waiter.waker.set(Some(waker));
                    return Poll::Pending;
                }
                Outcome::Cancelled => unreachable!("a live Acquire is never marked cancelled"),
            },
            Stage::Done => panic!("`Acquire` polled after it completed"),
        };
        this.stage = Stage::Done;
        Poll::Ready(if granted {
            Ok(Permit { state: Rc::clone(&this.state), count: needed })
        } else {
            Err(Closed)
        })
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Stage::Queued(waiter) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return;
        };
        match waiter.outcome.get() {
            Outcome::Waiting => {
                waiter.outcome.set(Outcome::Cancelled);
                waiter.waker.take();
                drop(waiter);
                {
                    let mut st = self.state.borrow_mut();
                    st.waiting -= 1;
                    // Lazy removal keeps cancel O(1); sweep once garbage outnumbers live
                    // waiters, so a stream of timeouts cannot grow the queue without bound.
                    if st.queue.len() > 2 * st.waiting + 16 {
                        st.queue.retain(|w| w.outcome.get() == Outcome::Waiting);
                    }
                }
                // If we were the head (say, a big acquire_many), those behind may fit now.
                dispatch(&self.state);
            }
            // Woken but never polled again: the permits are ours, pass them on.
            Outcome::Granted => release(&self.state, waiter.needed),
            Outcome::Closed | Outcome::Cancelled => {}
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Idle => "idle",
            Stage::Queued(w) if w.outcome.get() == Outcome::Granted => "granted",
            Stage::Queued(_) => "queued",
            Stage::Done => "done",
        };
        f.debug_struct("Acquire").field("needed", &self.needed).field("stage", &stage).finish()
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back.
///
/// A `Permit` owns a handle to its semaphore (no lifetime), so it can be kept in a struct or
/// moved into a task, and the permits stay taken for exactly as long as it lives.
#[must_use = "dropping a Permit returns its permits at once"]
pub struct Permit {
    state: Rc<RefCell<State>>,
    count: usize,
}

impl Permit {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Consumes the permit *without* returning its permits: the semaphore shrinks for good.
    ///
    /// Pair with [`Semaphore::add_permits`] to move permits around by hand.
    pub fn forget(mut self) {
        self.count = 0;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.count > 0 {
            release(&self.state, self.count);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("count", &self.count).finish()
    }
}

/// The semaphore was closed, so no permit will be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "semaphore closed: no permit will be granted; stop the work it guards \
             (close() was called on the semaphore)",
        )
    }
}

impl Error for Closed {}

/// Why [`Semaphore::try_acquire`] could not take permits without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough free permits, or others are already waiting in line.
    NoPermits,
    /// The semaphore was closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryAcquireError::NoPermits => {
                "no permits free right now (or other tasks are waiting first); \
                 await acquire() to wait your turn, or retry later"
            }
            TryAcquireError::Closed => {
                "semaphore closed: no permit will be granted; stop the work it guards"
            }
        })
    }
}

impl Error for TryAcquireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Probe;
    use std::pin::pin;

    /// Polls an `Acquire` that is expected to complete, and returns its permit.
    fn ready(probe: &Probe, acq: &mut Acquire) -> Permit {
        match probe.poll(Pin::new(acq)) {
            Poll::Ready(Ok(permit)) => permit,
            other => panic!("expected a permit, got {other:?}"),
        }
    }

    /// Starts an acquire of `n` and asserts it has to wait.
    fn queued(sem: &Semaphore, n: usize) -> (Acquire, Probe) {
        let probe = Probe::new();
        let mut acq = sem.acquire_many(n);
        assert!(probe.poll(Pin::new(&mut acq)).is_pending(), "acquire_many({n}) should wait");
        (acq, probe)
    }

    #[test]
    fn free_permits_are_granted_on_first_poll() {
        let sem = Semaphore::new(2);
        let probe = Probe::new();
        let permit = ready(&probe, &mut sem.acquire());
        assert_eq!(permit.count(), 1);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), 0);
        drop(permit);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(probe.wakes(), 0);
    }

    #[test]
    fn waiters_are_woken_one_at_a_time_in_fifo_order() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (mut a, pa) = queued(&sem, 1);
        let (mut b, pb) = queued(&sem, 1);
        let (mut c, pc) = queued(&sem, 1);
        assert_eq!(sem.waiting(), 3);

        drop(held);
        assert_eq!((pa.wakes(), pb.wakes(), pc.wakes()), (1, 0, 0));
        // The permit was handed to `a`, not put back in the pool.
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.waiting(), 2);
        let pa_permit = ready(&pa, &mut a);

        assert!(pb.poll(Pin::new(&mut b)).is_pending(), "b must not run before a releases");
        drop(pa_permit);
        assert_eq!((pa.wakes(), pb.wakes(), pc.wakes()), (1, 1, 0));
        let pb_permit = ready(&pb, &mut b);
        drop(pb_permit);
        assert_eq!(pc.wakes(), 1);
        drop(ready(&pc, &mut c));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), 0);
    }

    #[test]
    fn big_acquire_many_at_the_head_blocks_smaller_ones_behind_it() {
        let sem = Semaphore::new(3);
        let two = sem.try_acquire_many(2).unwrap();
        let (mut big, pbig) = queued(&sem, 3);
        // One permit is free, but `big` is first in line: `small` must queue behind it.
        let (mut small, psmall) = queued(&sem, 1);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), 2);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);

        drop(two);
        assert_eq!((pbig.wakes(), psmall.wakes()), (1, 0));
        assert_eq!(sem.available_permits(), 0);
        let big_permit = ready(&pbig, &mut big);
        assert_eq!(big_permit.count(), 3);

        drop(big_permit);
        assert_eq!(psmall.wakes(), 1);
        assert_eq!(ready(&psmall, &mut small).count(), 1);
        assert_eq!(sem.available_permits(), 3);
    }

    #[test]
    fn a_newcomer_does_not_barge_past_a_waiter_even_when_permits_are_free() {
        let sem = Semaphore::new(2);
        let held = sem.try_acquire_many(2).unwrap();
        let (_wants_two, pw) = queued(&sem, 2);
        drop(held);
        assert_eq!(pw.wakes(), 1);

        let sem = Semaphore::new(2);
        let mut held = vec![sem.try_acquire().unwrap(), sem.try_acquire().unwrap()];
        let (_wants_two, pw) = queued(&sem, 2);
        held.pop(); // one permit free, the waiter needs two
        assert_eq!(sem.available_permits(), 1);
        let (_newcomer, pn) = queued(&sem, 1);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        held.pop();
        assert_eq!((pw.wakes(), pn.wakes()), (1, 0));
    }

    #[test]
    fn dropping_a_waiting_acquire_leaves_the_line() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (a, pa) = queued(&sem, 1);
        let (mut b, pb) = queued(&sem, 1);
        drop(a);
        assert_eq!(sem.waiting(), 1);
        drop(held);
        assert_eq!((pa.wakes(), pb.wakes()), (0, 1));
        drop(ready(&pb, &mut b));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), 0);
    }

    #[test]
    fn cancelling_a_big_head_lets_smaller_waiters_behind_it_through() {
        let sem = Semaphore::new(2);
        let _held = sem.try_acquire().unwrap();
        let (big, pbig) = queued(&sem, 2);
        let (mut small, psmall) = queued(&sem, 1);
        drop(big);
        assert_eq!((pbig.wakes(), psmall.wakes()), (0, 1));
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(ready(&psmall, &mut small).count(), 1);
    }

    #[test]
    fn a_granted_but_unpolled_acquire_hands_its_permits_on_when_dropped() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (a, pa) = queued(&sem, 1);
        let (mut b, pb) = queued(&sem, 1);
        drop(held);
        assert_eq!(pa.wakes(), 1);
        drop(a); // woken, never polled: the permit must go to `b`
        assert_eq!(pb.wakes(), 1);
        assert_eq!(sem.available_permits(), 0);
        drop(ready(&pb, &mut b));

        // With nobody behind it, the permit goes back to the pool.
        let held = sem.try_acquire().unwrap();
        let (a, pa) = queued(&sem, 1);
        drop(held);
        assert_eq!(pa.wakes(), 1);
        drop(a);
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn close_wakes_every_waiter_with_closed_and_fails_later_acquires() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (mut a, pa) = queued(&sem, 1);
        let (mut b, pb) = queued(&sem, 3);
        sem.close();
        assert!(sem.is_closed());
        assert_eq!((pa.wakes(), pb.wakes()), (1, 1));
        assert_eq!(sem.waiting(), 0);
        assert!(matches!(pa.poll(Pin::new(&mut a)), Poll::Ready(Err(Closed))));
        assert!(matches!(pb.poll(Pin::new(&mut b)), Poll::Ready(Err(Closed))));
        assert!(matches!(Probe::new().poll(pin!(sem.acquire())), Poll::Ready(Err(Closed))));
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);

        // A permit held across close() still returns to the pool.
        drop(held);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    }

    #[test]
    fn an_acquire_granted_before_close_still_gets_its_permit() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (mut a, pa) = queued(&sem, 1);
        drop(held);
        sem.close();
        assert_eq!(ready(&pa, &mut a).count(), 1);
    }

    #[test]
    fn waiting_stays_exact_through_many_cancellations() {
        let sem = Semaphore::new(0);
        let mut live = Vec::new();
        for i in 0..100 {
            let w = queued(&sem, 1);
            if i % 10 == 0 {
                live.push(w); // keep every tenth, cancel the rest
            }
        }
        assert_eq!(sem.waiting(), 10);
        // The sweep kept the queue small.
        assert!(sem.state.borrow().queue.len() <= 2 * 10 + 16);
        sem.add_permits(3);
        let woken: Vec<usize> = live.iter().map(|(_, p)| p.wakes()).collect();
        assert_eq!(woken, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(sem.waiting(), 7);
        drop(live);
        assert_eq!(sem.waiting(), 0);
        assert_eq!(sem.available_permits(), 3);
        assert!(sem.state.borrow().queue.is_empty());
    }

    #[test]
    fn forget_keeps_permits_out_and_add_permits_wakes_the_head() {
        let sem = Semaphore::new(2);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 1);
        let _one = sem.try_acquire().unwrap();
        let (mut a, pa) = queued(&sem, 1);
        sem.add_permits(1);
        assert_eq!(pa.wakes(), 1);
        assert_eq!(ready(&pa, &mut a).count(), 1);
    }

    #[test]
    fn the_latest_waker_is_the_one_woken() {
        let sem = Semaphore::new(0);
        let (mut a, first) = queued(&sem, 1);
        let second = Probe::new();
        assert!(second.poll(Pin::new(&mut a)).is_pending());
        sem.add_permits(1);
        assert_eq!((first.wakes(), second.wakes()), (0, 1));
    }

    #[test]
    fn acquire_many_zero_waits_its_turn() {
        let sem = Semaphore::new(0);
        assert_eq!(ready(&Probe::new(), &mut sem.acquire_many(0)).count(), 0);
        let (_a, pa) = queued(&sem, 1);
        let (_zero, pz) = queued(&sem, 0);
        sem.add_permits(1);
        assert_eq!((pa.wakes(), pz.wakes()), (1, 1));
    }

    #[test]
    fn block_on_drives_contention_to_completion() {
        use futures::executor::block_on;
        use futures::future::join_all;
        use std::cell::Cell;

        let sem = Semaphore::new(2);
        let inside = Cell::new(0);
        let peak = Cell::new(0);
        let order = RefCell::new(Vec::new());
        block_on(join_all((0..6).map(|i| {
            let (sem, inside, peak, order) = (&sem, &inside, &peak, &order);
            async move {
                let _permit = sem.acquire().await.unwrap();
                inside.set(inside.get() + 1);
                peak.set(peak.get().max(inside.get()));
                order.borrow_mut().push(i);
                crate::testing::yield_now().await; // let others run while holding it
                inside.set(inside.get() - 1);
            }
        })));
        assert_eq!(peak.get(), 2);
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(sem.available_permits(), 2);
    }

    #[test]
    fn errors_say_what_happened() {
        assert!(Closed.to_string().contains("closed"));
        assert!(TryAcquireError::NoPermits.to_string().contains("acquire()"));
        assert!(TryAcquireError::Closed.to_string().contains("closed"));
    }

    mod model {
        use super::super::*;
        use crate::testing::Probe;
        use proptest::prelude::*;
        use proptest::sample::Index;

        #[derive(Debug, Clone)]
        enum Op {
            Start(usize),
            Poll(Index),
            DropPending(Index),
            DropHeld(Index),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (1..=3usize).prop_map(Op::Start),
                any::<Index>().prop_map(Op::Poll),
                any::<Index>().prop_map(Op::DropPending),
                any::<Index>().prop_map(Op::DropHeld),
            ]
        }

        /// An acquire that returned `Pending`, in queue order.
        struct Pending {
            fut: Acquire,
            probe: Probe,
            n: usize,
        }

        impl Pending {
            /// Granted = woken: the semaphore only wakes a waiter to hand it permits.
            fn granted(&self) -> bool {
                self.probe.wakes() > 0
            }
        }

        fn check(sem: &Semaphore, k: usize, pending: &[Pending], held: &[Permit]) {
            for p in pending {
                assert!(p.probe.wakes() <= 1, "a waiter was woken more than once");
            }
            let held_sum: usize = held.iter().map(Permit::count).sum();
            let granted_sum: usize = pending.iter().filter(|p| p.granted()).map(|p| p.n).sum();
            assert_eq!(held_sum + granted_sum + sem.available_permits(), k, "permits leaked");
            let holders = held.len() + pending.iter().filter(|p| p.granted()).count();
            assert!(holders <= k, "{holders} holders of {k} permits");
            let waiting = pending.iter().filter(|p| !p.granted()).count();
            assert_eq!(sem.waiting(), waiting);
            // Grants follow queue order: granted waiters form a prefix of the line.
            let first_waiting = pending.iter().position(|p| !p.granted());
            if let Some(i) = first_waiting {
                assert!(pending[i..].iter().all(|p| !p.granted()), "grant out of queue order");
                // And grants are prompt: the head waits only if it really does not fit.
                assert!(pending[i].n > sem.available_permits(), "head waits despite permits");
            }
        }

        proptest! {
            #[test]
            fn semaphore_stays_consistent_under_random_use(
                k in 1..=4usize,
                ops in prop::collection::vec(op(), 1..80),
            ) {
                let sem = Semaphore::new(k);
                let mut pending: Vec<Pending> = Vec::new();
                let mut held: Vec<Permit> = Vec::new();
                for op in ops {
                    match op {
                        Op::Start(n) => {
                            let may_pass = sem.waiting() == 0 && sem.available_permits() >= n;
                            let probe = Probe::new();
                            let mut fut = sem.acquire_many(n);
                            match probe.poll(Pin::new(&mut fut)) {
                                Poll::Ready(Ok(permit)) => {
                                    prop_assert!(may_pass, "barged past the line");
                                    held.push(permit);
                                }
                                Poll::Ready(Err(Closed)) => prop_assert!(false, "never closed"),
                                Poll::Pending => {
                                    prop_assert!(!may_pass, "waited with permits free");
                                    pending.push(Pending { fut, probe, n });
                                }
                            }
                        }
                        Op::Poll(i) if !pending.is_empty() => {
                            let i = i.index(pending.len());
                            let granted = pending[i].granted();
                            let p = &mut pending[i];
                            match p.probe.poll(Pin::new(&mut p.fut)) {
                                Poll::Ready(Ok(permit)) => {
                                    prop_assert!(granted, "completed without being woken");
                                    prop_assert_eq!(permit.count(), p.n);
                                    held.push(permit);
                                    pending.remove(i);
                                }
                                Poll::Ready(Err(Closed)) => prop_assert!(false, "never closed"),
                                Poll::Pending => prop_assert!(!granted, "woken but pending"),
                            }
                        }
                        Op::DropPending(i) if !pending.is_empty() => {
                            drop(pending.remove(i.index(pending.len())));
                        }
                        Op::DropHeld(i) if !held.is_empty() => {
                            drop(held.remove(i.index(held.len())));
                        }
                        _ => {}
                    }
                    check(&sem, k, &pending, &held);
                }
                drop(pending);
                drop(held);
                prop_assert_eq!(sem.available_permits(), k);
                prop_assert_eq!(sem.waiting(), 0);
            }
        }
    }
}
