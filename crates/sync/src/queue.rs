//! [`Queue<T>`]: asyncio's `Queue`, a FIFO of items between producer and consumer tasks.
//!
//! Built from two [`Semaphore`]s around a `VecDeque`:
//! - `items` has one permit per item in the buffer that no getter has claimed yet. A getter
//!   acquires one, then pops the front item.
//! - `slots` (bounded queues only) has one permit per free place. A putter acquires one, then
//!   pushes its item.
//!
//! So both sides inherit the semaphore's promises: waiters are served FIFO, and a future
//! dropped after it was woken passes its claim on to the next waiter instead of losing it.
//! Each `put`/`get` does its buffer change in the same poll that finds its permit, so there is
//! no await point between claiming and taking: that is what makes them cancel-safe.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use super::semaphore::Semaphore;

/// A first-in first-out queue between tasks: asyncio's `Queue`.
///
/// [`put`](Self::put) adds an item at the back, waiting while a bounded queue is full (that is
/// the back-pressure that slows a fast producer down); [`get`](Self::get) takes the front item,
/// waiting while the queue is empty. Items come out in the order they went in, and waiters on
/// each side are served in the order they started waiting.
///
/// [`close`](Self::close) ends the stream (asyncio 3.13: `shutdown()`): puts fail from then
/// on, while gets first drain the items that are left and then fail with [`QueueClosed`]. That
/// is how a producer says "no more" so consumers can stop.
///
/// Cancelling is safe on both sides: a dropped `get` never loses an item (if one had been
/// promised to it, the next getter receives it), and a dropped `put` never inserts its item.
///
/// `Queue` is a cheap handle: `clone()` shares the same queue. It belongs to one event loop
/// (it is `!Send`); to feed it from another thread, send through a [`oneshot`](super::oneshot)
/// or a thread-safe channel to a task that puts.
///
/// ```
/// use futures::executor::block_on;
/// use futures::join;
/// use kairos_sync::Queue;
///
/// let q = Queue::bounded(2);
/// let producer = async {
///     for i in 0..5 {
///         q.put(i).await.unwrap(); // waits while 2 items are unconsumed
///     }
///     q.close();
/// };
/// let consumer = async {
///     let mut got = Vec::new();
///     while let Ok(item) = q.get().await {
///         got.push(item);
///     }
///     got
/// };
/// let ((), got) = block_on(async { join!(producer, consumer) });
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// ```
pub struct Queue<T> {
    inner: Rc<Inner<T>>,
}

struct Inner<T> {
    buf: RefCell<VecDeque<T>>,
    /// One permit per unclaimed item in `buf`.
    items: Semaphore,
    /// One permit per free place; `None` for an unbounded queue.
    slots: Option<Semaphore>,
    capacity: Option<usize>,
    closed: Cell<bool>,
}

impl<T> Queue<T> {
    /// Creates a queue that holds at most `capacity` items (asyncio: `Queue(maxsize)`).
    ///
    /// # Panics
    ///
    /// If `capacity` is 0. (asyncio's `maxsize=0` means unbounded: use [`Queue::unbounded`].)
    pub fn bounded(capacity: usize) -> Self {
        assert!(
            capacity >= 1,
            "Queue::bounded(0): a queue needs room for at least one item; \
             pass capacity >= 1, or use Queue::unbounded() (asyncio's maxsize=0)"
        );
        Self::with_slots(Some(capacity))
    }

    /// Creates a queue with no size limit (asyncio: `Queue()`): `put` never waits.
    ///
    /// Nothing slows a producer down, so memory is the limit; prefer [`bounded`](Self::bounded)
    /// when the producer can outrun the consumer.
    pub fn unbounded() -> Self {
        Self::with_slots(None)
    }

    fn with_slots(capacity: Option<usize>) -> Self {
        Queue {
            inner: Rc::new(Inner {
                buf: RefCell::new(VecDeque::new()),
                items: Semaphore::new(0),
                slots: capacity.map(Semaphore::new),
                capacity,
                closed: Cell::new(false),
            }),
        }
    }

    /// Adds `item` at the back, waiting while the queue is full (asyncio: `await q.put(item)`).
    ///
    /// Fails with [`Closed`] — which hands the item back — if the queue is closed before the
    /// item got in. Dropping the future before it completes drops the item; it is never
    /// inserted.
    pub async fn put(&self, item: T) -> Result<(), Closed<T>> {
        if self.is_closed() {
            return Err(Closed(item));
        }
        if let Some(slots) = &self.inner.slots {
            match slots.acquire().await {
                // The place was handed to us, but the queue was closed before we ran.
                Ok(_) if self.is_closed() => return Err(Closed(item)),
                // The slot stays taken until a get pops the item and gives it back.
                Ok(slot) => slot.forget(),
                Err(_) => return Err(Closed(item)),
            }
        }
        self.push(item);
        Ok(())
    }

    /// Takes the front item, waiting while the queue is empty (asyncio: `await q.get()`).
    ///
    /// After [`close`](Self::close) it still returns the items that are left, then fails with
    /// [`QueueClosed`]. Dropping the future never loses an item.
    ///
    /// Getters are woken in FIFO order, each with an item promised to it; the item itself is
    /// popped from the front when the getter runs. On the kairos loop, which runs tasks in the
    /// order they were woken, the first getter therefore gets the first item.
    pub async fn get(&self) -> Result<T, QueueClosed> {
        match self.inner.items.acquire().await {
            Ok(claim) => {
                claim.forget();
                Ok(self.pop())
            }
            Err(_) => Err(QueueClosed),
        }
    }

    /// Adds `item` if there is room right now (asyncio: `q.put_nowait(item)`).
    ///
    /// Fails with [`TryPutError::Full`] if the queue is full or other putters are waiting
    /// first, [`TryPutError::Closed`] if it is closed; both hand the item back.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        if self.is_closed() {
            return Err(TryPutError::Closed(item));
        }
        if let Some(slots) = &self.inner.slots {
            match slots.try_acquire() {
                Ok(slot) => slot.forget(),
                Err(_) => return Err(TryPutError::Full(item)),
            }
        }
        self.push(item);
        Ok(())
    }

    /// Takes the front item if one is there for the taking (asyncio: `q.get_nowait()`).
    ///
    /// Fails with [`TryGetError::Empty`] if there is none (items already promised to woken
    /// getters are theirs), or [`TryGetError::Closed`] once the queue is closed and drained.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        match self.inner.items.try_acquire() {
            Ok(claim) => {
                claim.forget();
                Ok(self.pop())
            }
            Err(_) if self.is_closed() => Err(TryGetError::Closed),
            Err(_) => Err(TryGetError::Empty),
        }
    }

    /// Closes the queue (asyncio 3.13: `q.shutdown()`).
    ///
    /// Waiting and later puts fail with [`Closed`], giving their item back. Gets return the
    /// items still in the queue, then fail with [`QueueClosed`]; getters already waiting (so
    /// the queue was empty for them) fail at once. Closing twice is a no-op.
    pub fn close(&self) {
        self.inner.closed.set(true);
        if let Some(slots) = &self.inner.slots {
            slots.close();
        }
        // Not a full close: getters that can be served from what is left must still succeed.
        self.inner.items.close_waiting();
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Number of items in the queue (asyncio: `q.qsize()`), including any already promised to
    /// a getter that was woken but has not run yet.
    pub fn len(&self) -> usize {
        self.inner.buf.borrow().len()
    }

    /// True if the queue holds no items (asyncio: `q.empty()`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a bounded queue holds `capacity` items (asyncio: `q.full()`); never for an
    /// unbounded one.
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// The most items the queue holds, or `None` if unbounded (asyncio: `q.maxsize`).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }

    /// Pushes an item whose place is already secured, and tells the getters.
    fn push(&self, item: T) {
        self.inner.buf.borrow_mut().push_back(item);
        self.inner.items.add_permits(1);
    }

    /// Pops the item that the caller's `items` permit stood for, and frees its place.
    fn pop(&self) -> T {
        let item = self
            .inner
            .buf
            .borrow_mut()
            .pop_front()
            .expect("an `items` permit always stands for an item in the buffer");
        if let Some(slots) = &self.inner.slots {
            slots.add_permits(1);
        }
        item
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: Rc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// [`Queue::put`] failed because the queue is closed; the item is handed back in `.0`.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct Closed<T>(pub T);

impl<T> Closed<T> {
    /// Returns the item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

// Like `std::sync::mpsc::SendError`: no `T: Debug` bound, so any item type can be `?`-ed.
impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "queue closed: the item was not added (it is returned in this error); \
             stop producing, the consumers are shutting down",
        )
    }
}

impl<T> Error for Closed<T> {}

/// [`Queue::get`] failed: the queue is closed and every item has been taken.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct QueueClosed;

impl fmt::Display for QueueClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "queue closed and drained: no more items will come; \
             treat it as the end of the stream",
        )
    }
}

impl Error for QueueClosed {}

/// Why [`Queue::try_put`] did not add the item; both variants hand it back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TryPutError<T> {
    /// The queue is full, or other putters are waiting first (asyncio: `QueueFull`).
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// Returns the item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => {
                "queue full: the item was not added (it is returned in this error); \
                 await put() to wait for room, or drop or retry the item"
            }
            TryPutError::Closed(_) => {
                "queue closed: the item was not added (it is returned in this error); \
                 stop producing"
            }
        })
    }
}

impl<T> Error for TryPutError<T> {}

/// Why [`Queue::try_get`] returned no item.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryGetError {
    /// No item is there for the taking right now (asyncio: `QueueEmpty`).
    Empty,
    /// The queue is closed and every item has been taken.
    Closed,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "queue empty: await get() to wait for an item, or retry later",
            TryGetError::Closed => {
                "queue closed and drained: no more items will come; \
                 treat it as the end of the stream"
            }
        })
    }
}

impl Error for TryGetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{yield_now, Probe};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

    /// Starts a `get` and asserts it has to wait.
    fn waiting_get<T>(q: &Queue<T>) -> (Fut<'_, Result<T, QueueClosed>>, Probe) {
        let probe = Probe::new();
        let mut fut: Fut<'_, _> = Box::pin(q.get());
        assert!(probe.poll(fut.as_mut()).is_pending(), "get should wait");
        (fut, probe)
    }

    /// Starts a `put` and asserts it has to wait.
    fn waiting_put<T>(q: &Queue<T>, item: T) -> (Fut<'_, Result<(), Closed<T>>>, Probe) {
        let probe = Probe::new();
        let mut fut: Fut<'_, _> = Box::pin(q.put(item));
        assert!(probe.poll(fut.as_mut()).is_pending(), "put should wait");
        (fut, probe)
    }

    #[test]
    fn items_come_out_in_the_order_they_went_in() {
        let q = Queue::unbounded();
        for i in 0..5 {
            q.try_put(i).unwrap();
        }
        assert_eq!(q.len(), 5);
        let out: Vec<i32> = (0..5).map(|_| q.try_get().unwrap()).collect();
        assert_eq!(out, [0, 1, 2, 3, 4]);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_bounded_queue_makes_put_wait_until_a_get_frees_a_place() {
        let q = Queue::bounded(2);
        assert_eq!(q.capacity(), Some(2));
        q.try_put('a').unwrap();
        q.try_put('b').unwrap();
        assert!(q.is_full());
        assert_eq!(q.try_put('x'), Err(TryPutError::Full('x')));
        let (mut put, probe) = waiting_put(&q, 'c');
        assert_eq!(q.len(), 2);

        assert_eq!(q.try_get(), Ok('a'));
        assert_eq!(probe.wakes(), 1);
        // The freed place is promised to the waiting put, not to a newcomer.
        assert_eq!(q.try_put('x'), Err(TryPutError::Full('x')));
        assert_eq!(probe.poll(put.as_mut()), Poll::Ready(Ok(())));
        assert_eq!((q.try_get(), q.try_get()), (Ok('b'), Ok('c')));
    }

    #[test]
    fn waiting_putters_are_served_in_fifo_order() {
        let q = Queue::bounded(1);
        q.try_put(0).unwrap();
        let (mut p1, w1) = waiting_put(&q, 1);
        let (mut p2, w2) = waiting_put(&q, 2);
        assert_eq!(q.try_get(), Ok(0));
        assert_eq!((w1.wakes(), w2.wakes()), (1, 0));
        assert!(w1.poll(p1.as_mut()).is_ready());
        assert_eq!(q.try_get(), Ok(1));
        assert_eq!(w2.wakes(), 1);
        assert!(w2.poll(p2.as_mut()).is_ready());
        assert_eq!(q.try_get(), Ok(2));
    }

    #[test]
    fn waiting_getters_are_served_in_fifo_order() {
        let q = Queue::unbounded();
        let (mut g1, w1) = waiting_get(&q);
        let (mut g2, w2) = waiting_get(&q);
        q.try_put("first").unwrap();
        assert_eq!((w1.wakes(), w2.wakes()), (1, 0));
        // The item is promised to g1: neither a newcomer nor try_get can take it.
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        q.try_put("second").unwrap();
        assert_eq!(w2.wakes(), 1);
        assert_eq!(w1.poll(g1.as_mut()), Poll::Ready(Ok("first")));
        assert_eq!(w2.poll(g2.as_mut()), Poll::Ready(Ok("second")));
    }

    #[test]
    fn a_get_dropped_after_being_woken_passes_its_item_to_the_next_getter() {
        let q = Queue::bounded(4);
        let (g1, w1) = waiting_get(&q);
        let (mut g2, w2) = waiting_get(&q);
        q.try_put(7).unwrap();
        assert_eq!(w1.wakes(), 1);
        drop(g1);
        assert_eq!(w2.wakes(), 1);
        assert_eq!(w2.poll(g2.as_mut()), Poll::Ready(Ok(7)));

        // With no other getter, the item stays in the queue.
        let (g3, w3) = waiting_get(&q);
        q.try_put(8).unwrap();
        assert_eq!(w3.wakes(), 1);
        drop(g3);
        assert_eq!(q.try_get(), Ok(8));
    }

    #[test]
    fn a_cancelled_put_never_inserts_its_item() {
        let q = Queue::bounded(1);
        q.try_put(1).unwrap();
        let (waiting, _) = waiting_put(&q, 2);
        drop(waiting);
        assert_eq!(q.try_get(), Ok(1));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));

        // Woken (its place secured) but dropped before running: still not inserted, and the
        // place goes to the next putter.
        q.try_put(1).unwrap();
        let (woken, w1) = waiting_put(&q, 2);
        let (mut next, w2) = waiting_put(&q, 3);
        assert_eq!(q.try_get(), Ok(1));
        assert_eq!(w1.wakes(), 1);
        drop(woken);
        assert_eq!(w2.wakes(), 1);
        assert!(w2.poll(next.as_mut()).is_ready());
        assert_eq!(q.try_get(), Ok(3));
        assert!(q.is_empty());
    }

    #[test]
    fn close_fails_puts_and_hands_their_items_back() {
        let q = Queue::bounded(1);
        q.try_put("kept").unwrap();
        let (mut waiting, probe) = waiting_put(&q, "refused");
        q.close();
        assert!(q.is_closed());
        assert_eq!(probe.wakes(), 1);
        assert_eq!(probe.poll(waiting.as_mut()), Poll::Ready(Err(Closed("refused"))));
        assert_eq!(q.try_put("late"), Err(TryPutError::Closed("late")));
        let late = Probe::new().poll(Box::pin(q.put("late")).as_mut());
        assert_eq!(late, Poll::Ready(Err(Closed("late"))));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_put_woken_just_before_close_does_not_insert() {
        let q = Queue::bounded(1);
        q.try_put(1).unwrap();
        let (mut woken, probe) = waiting_put(&q, 2);
        assert_eq!(q.try_get(), Ok(1));
        q.close();
        assert_eq!(probe.poll(woken.as_mut()), Poll::Ready(Err(Closed(2))));
        assert!(q.is_empty());
    }

    #[test]
    fn after_close_gets_drain_what_is_left_then_fail() {
        let q = Queue::unbounded();
        q.try_put(1).unwrap();
        q.try_put(2).unwrap();
        q.close();
        assert_eq!(Probe::new().poll(Box::pin(q.get()).as_mut()), Poll::Ready(Ok(1)));
        assert_eq!(q.try_get(), Ok(2));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
        let end = Probe::new().poll(Box::pin(q.get()).as_mut());
        assert_eq!(end, Poll::Ready(Err(QueueClosed)));
    }

    #[test]
    fn close_wakes_getters_waiting_on_an_empty_queue() {
        let q = Queue::<u8>::bounded(3);
        let (mut g1, w1) = waiting_get(&q);
        let (mut g2, w2) = waiting_get(&q);
        q.close();
        assert_eq!((w1.wakes(), w2.wakes()), (1, 1));
        assert_eq!(w1.poll(g1.as_mut()), Poll::Ready(Err(QueueClosed)));
        assert_eq!(w2.poll(g2.as_mut()), Poll::Ready(Err(QueueClosed)));
    }

    #[test]
    fn an_item_promised_before_close_is_still_delivered_even_if_its_getter_is_dropped() {
        let q = Queue::unbounded();
        let (mut g1, w1) = waiting_get(&q);
        let (g2, w2) = waiting_get(&q);
        let (mut g3, w3) = waiting_get(&q);
        q.try_put('a').unwrap();
        q.try_put('b').unwrap();
        q.close();
        assert_eq!((w1.wakes(), w2.wakes(), w3.wakes()), (1, 1, 1));
        assert_eq!(w1.poll(g1.as_mut()), Poll::Ready(Ok('a')));
        assert_eq!(w3.poll(g3.as_mut()), Poll::Ready(Err(QueueClosed)));
        drop(g2); // 'b' was promised to g2; it must not vanish with it
        assert_eq!(q.try_get(), Ok('b'));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
    }

    #[test]
    fn unbounded_put_never_waits() {
        let q = Queue::unbounded();
        assert_eq!(q.capacity(), None);
        for i in 0..1000 {
            assert_eq!(Probe::new().poll(Box::pin(q.put(i)).as_mut()), Poll::Ready(Ok(())));
        }
        assert!(!q.is_full());
        assert_eq!(q.len(), 1000);
    }

    #[test]
    #[should_panic(expected = "Queue::bounded(0)")]
    fn a_zero_capacity_queue_is_refused() {
        let _ = Queue::<()>::bounded(0);
    }

    #[test]
    fn producer_and_consumers_under_block_on() {
        use futures::executor::block_on;
        use futures::future::join_all;
        use std::cell::RefCell;

        let q = Queue::bounded(2);
        let seen = RefCell::new(Vec::new());
        let producer = async {
            for i in 0..20 {
                q.put(i).await.unwrap();
                assert!(q.len() <= 2);
            }
            q.close();
        };
        let consumers = join_all((0..3).map(|_| async {
            while let Ok(item) = q.get().await {
                seen.borrow_mut().push(item);
                yield_now().await;
            }
        }));
        block_on(futures::future::join(producer, consumers));
        assert_eq!(*seen.borrow(), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn errors_say_what_happened_and_give_the_item_back() {
        assert_eq!(Closed(5).into_inner(), 5);
        assert_eq!(TryPutError::Full(6).into_inner(), 6);
        assert_eq!(TryPutError::Closed(7).into_inner(), 7);
        assert!(Closed(()).to_string().contains("closed"));
        assert!(TryPutError::Full(()).to_string().contains("full"));
        assert!(QueueClosed.to_string().contains("closed"));
        assert!(TryGetError::Empty.to_string().contains("empty"));
        assert_eq!(format!("{:?}", Closed(vec![1])), "Closed(..)");
    }

    /// Random interleavings of puts, gets, polls, cancellations and close against a bounded
    /// queue, checking after every step that items are neither lost, duplicated nor reordered,
    /// that each side is served in order, and that nobody waits while they could be served.
    mod model {
        use super::super::*;
        use crate::testing::Probe;
        use proptest::prelude::*;
        use proptest::sample::Index;
        use std::future::Future;
        use std::pin::Pin;
        use std::task::Poll;

        #[derive(Debug, Clone)]
        enum Op {
            Put,
            Get,
            PollPut(Index),
            PollGet(Index),
            DropPut(Index),
            DropGet(Index),
            TryPut,
            TryGet,
            Close,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => Just(Op::Put),
                4 => Just(Op::Get),
                4 => any::<Index>().prop_map(Op::PollPut),
                4 => any::<Index>().prop_map(Op::PollGet),
                2 => any::<Index>().prop_map(Op::DropPut),
                2 => any::<Index>().prop_map(Op::DropGet),
                1 => Just(Op::TryPut),
                1 => Just(Op::TryGet),
                1 => Just(Op::Close),
            ]
        }

        /// A pending put or get, in start order. While the queue is open, woken means
        /// granted: a place or an item was promised to it.
        struct Waiter<T> {
            fut: Pin<Box<dyn Future<Output = T>>>,
            probe: Probe,
            item: u32,
        }

        impl<T> Waiter<T> {
            fn woken(&self) -> bool {
                self.probe.wakes() > 0
            }
        }

        type PutOut = Result<(), Closed<u32>>;
        type GetOut = Result<u32, QueueClosed>;

        struct Model {
            q: Queue<u32>,
            cap: usize,
            /// Items are numbered in the order they are offered.
            next: u32,
            inserted: Vec<u32>,
            got: Vec<u32>,
            puts: Vec<Waiter<PutOut>>,
            gets: Vec<Waiter<GetOut>>,
        }

        impl Model {
            fn new(cap: usize) -> Self {
                let q = Queue::bounded(cap);
                let (inserted, got, puts, gets) = Default::default();
                Model { q, cap, next: 0, inserted, got, puts, gets }
            }

            fn apply(&mut self, op: Op) {
                let closed = self.q.is_closed();
                match op {
                    Op::Put => {
                        let (q, item) = (self.q.clone(), self.offer());
                        let mut w = waiter(async move { q.put(item).await }, item);
                        match w.probe.poll(w.fut.as_mut()) {
                            Poll::Ready(out) => self.put_done(out, item),
                            Poll::Pending => self.puts.push(w),
                        }
                    }
                    Op::TryPut => {
                        let item = self.offer();
                        match self.q.try_put(item) {
                            Ok(()) => self.inserted.push(item),
                            Err(e) => {
                                assert_eq!(closed, matches!(e, TryPutError::Closed(_)));
                                assert_eq!(e.into_inner(), item, "the item was not handed back");
                            }
                        }
                    }
                    Op::Get => {
                        let q = self.q.clone();
                        let mut w = waiter(async move { q.get().await }, 0);
                        match w.probe.poll(w.fut.as_mut()) {
                            Poll::Ready(out) => self.get_done(out),
                            Poll::Pending => self.gets.push(w),
                        }
                    }
                    Op::TryGet => match self.q.try_get() {
                        Ok(item) => self.got.push(item),
                        Err(e) => assert_eq!(closed, e == TryGetError::Closed),
                    },
                    Op::PollPut(i) if !self.puts.is_empty() => {
                        let i = i.index(self.puts.len());
                        let w = &mut self.puts[i];
                        match w.probe.poll(w.fut.as_mut()) {
                            Poll::Ready(out) => {
                                let item = self.puts.remove(i).item;
                                self.put_done(out, item);
                            }
                            Poll::Pending => assert!(!w.woken(), "woken, yet still pending"),
                        }
                    }
                    Op::PollGet(i) if !self.gets.is_empty() => {
                        let i = i.index(self.gets.len());
                        let w = &mut self.gets[i];
                        match w.probe.poll(w.fut.as_mut()) {
                            Poll::Ready(out) => {
                                self.gets.remove(i);
                                self.get_done(out);
                            }
                            Poll::Pending => assert!(!w.woken(), "woken, yet still pending"),
                        }
                    }
                    Op::DropPut(i) if !self.puts.is_empty() => {
                        drop(self.puts.remove(i.index(self.puts.len())));
                    }
                    Op::DropGet(i) if !self.gets.is_empty() => {
                        drop(self.gets.remove(i.index(self.gets.len())));
                    }
                    Op::Close => self.q.close(),
                    _ => {}
                }
            }

            fn offer(&mut self) -> u32 {
                self.next += 1;
                self.next
            }

            fn put_done(&mut self, out: PutOut, item: u32) {
                match out {
                    Ok(()) => self.inserted.push(item),
                    Err(Closed(back)) => {
                        assert!(self.q.is_closed(), "put failed on an open queue");
                        assert_eq!(back, item, "the item was not handed back");
                    }
                }
            }

            fn get_done(&mut self, out: GetOut) {
                match out {
                    Ok(item) => self.got.push(item),
                    Err(QueueClosed) => assert!(self.q.is_closed(), "get failed on an open queue"),
                }
            }

            fn check(&self) {
                // Items leave in the order they entered: no loss, duplicate or reordering.
                assert_eq!(self.got[..], self.inserted[..self.got.len()], "FIFO broken");
                let len = self.q.len();
                assert_eq!(len, self.inserted.len() - self.got.len(), "item lost or duplicated");
                assert!(len <= self.cap, "over capacity");
                if self.q.is_closed() {
                    assert!(self.puts.iter().all(Waiter::woken), "close left a put waiting");
                    return;
                }
                let woken_gets = check_line(&self.gets);
                let woken_puts = check_line(&self.puts);
                // Nobody is stranded: a getter waits only if every item is promised to
                // someone, a putter only if every free place is.
                assert!(woken_gets <= len);
                if woken_gets < self.gets.len() {
                    assert_eq!(woken_gets, len, "a getter waits while an item is free");
                }
                assert!(woken_puts <= self.cap - len);
                if woken_puts < self.puts.len() {
                    assert_eq!(woken_puts, self.cap - len, "a putter waits while a place is free");
                }
            }
        }

        fn waiter<T>(fut: impl Future<Output = T> + 'static, item: u32) -> Waiter<T> {
            Waiter { fut: Box::pin(fut), probe: Probe::new(), item }
        }

        /// Each side is served in order: the woken waiters are a prefix of the line, each
        /// woken once. Returns how many are woken.
        fn check_line<T>(line: &[Waiter<T>]) -> usize {
            assert!(line.iter().all(|w| w.probe.wakes() <= 1), "woken twice");
            let woken = line.iter().filter(|w| w.woken()).count();
            assert!(line[..woken].iter().all(Waiter::woken), "served out of order");
            woken
        }

        proptest! {
            #[test]
            fn queue_never_loses_duplicates_or_reorders_items_under_cancellation(
                cap in 1..=3usize,
                ops in prop::collection::vec(op(), 1..100),
            ) {
                let mut model = Model::new(cap);
                for op in ops {
                    model.apply(op);
                    model.check();
                }
                // Cancel whatever is pending: every inserted item must then still be there.
                let Model { q, mut got, inserted, puts, gets, .. } = model;
                drop((puts, gets));
                while let Ok(item) = q.try_get() {
                    got.push(item);
                }
                prop_assert_eq!(got, inserted);
            }
        }
    }
}
