//! # kairos-sync — asyncio's synchronisation primitives and `gather`, for any executor
//!
//! The part of the FastAPI chapter's toolbox that needs no event loop: asyncio's `Semaphore`,
//! `Lock`, `Event` and `Queue`, a one-value channel for handing results to a task, and the
//! combinators that run several futures at once — `gather`, `try_gather`, `race`,
//! `as_completed` and the `gather!`/`try_gather!` macros. The loop itself is `kairos-rt`; the
//! `kairos` facade re-exports this crate as `kairos::sync`.
//!
//! # The model
//!
//! An asyncio primitive belongs to one event loop, and so do these. Tasks on a kairos loop all
//! run on one thread, taking turns at `.await` points, so the primitives need no atomics and no
//! OS locks: their state is plain `Rc`/`Cell`/`RefCell`, and they are `!Send` so the compiler
//! keeps them on their loop. Waiting means returning `Poll::Pending` after storing the task's
//! [`Waker`](std::task::Waker); making progress means waking it. That is the *only* contact with
//! the loop, so everything here runs under any executor — and the compiler checks it, since
//! this crate does not depend on `kairos-rt` (the tests also run it under
//! `futures::executor::block_on` and tokio). The combinators likewise spawn nothing: they poll
//! their futures inside the task that awaits them (see [`combinator`]). What does need the
//! loop — spawning, `TaskGroup`, timeouts — is in `kairos-rt`.
//!
//! Two promises hold throughout, and asyncio makes neither:
//! - **FIFO.** Waiters are served in the order they started waiting, and a newcomer never takes
//!   what a waiter is owed ("no barging"). Resources are *handed* to the woken waiter, so it
//!   cannot lose them to someone who ran first.
//! - **Cancel-safe.** Dropping a waiting future (a timeout, a cancelled task) removes it from
//!   the line; anything already handed to it moves on to the next waiter. Nothing leaks, no
//!   item is lost, no other waiter is stranded.
//!
//! The exception is [`oneshot`]: its job is to carry a value *from another thread* (a thread
//! pool finishing a job) to a task on the loop, so it is `Send` and uses a `std::sync::Mutex`.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `semaphore.rs` | [`Semaphore`], [`Permit`]: FIFO permits; the base of `Lock` and `Queue` |
//! | `lock.rs` | [`Lock<T>`](Lock), [`LockGuard`]: a mutex that owns its data, on `Semaphore(1)` |
//! | `event.rs` | [`Event`]: a flag tasks can wait for |
//! | `queue.rs` | [`Queue<T>`](Queue): FIFO queue, bounded or not, on two semaphores |
//! | `oneshot.rs` | [`oneshot::channel`]: one value, possibly from another thread |
//! | [`combinator`] | [`gather()`](combinator::gather()), [`try_gather()`](combinator::try_gather()), [`race()`](combinator::race()), [`as_completed()`](combinator::as_completed()), and the [`gather!`]/[`try_gather!`] macros |
//!
//! # asyncio → kairos
//!
//! | asyncio | kairos |
//! |---|---|
//! | `asyncio.Semaphore(n)` | [`Semaphore::new(n)`](Semaphore::new) |
//! | `async with sem:` | `let _permit = sem.acquire().await?;` |
//! | `sem.release()` | drop the [`Permit`]; or [`Semaphore::add_permits`] |
//! | `asyncio.BoundedSemaphore` | [`Semaphore`]: RAII permits cannot be released twice |
//! | `sem.locked()` | `sem.available_permits() == 0` |
//! | `asyncio.Lock()` + the data it guards | [`Lock::new(data)`](Lock::new) |
//! | `async with lock:` | `let mut guard = lock.lock().await;` |
//! | `lock.locked()` | [`Lock::is_locked`] |
//! | `asyncio.Event()` | [`Event::new`] |
//! | `event.set()` / `clear()` / `is_set()` / `await event.wait()` | same names on [`Event`] |
//! | `asyncio.Queue(maxsize)` | [`Queue::bounded(maxsize)`](Queue::bounded) |
//! | `asyncio.Queue()` (`maxsize=0`) | [`Queue::unbounded`] |
//! | `await q.put(x)` / `await q.get()` | [`Queue::put`] / [`Queue::get`] |
//! | `q.put_nowait(x)` / `q.get_nowait()` | [`Queue::try_put`] / [`Queue::try_get`] |
//! | `QueueFull` / `QueueEmpty` | [`TryPutError::Full`] / [`TryGetError::Empty`] |
//! | `q.shutdown()` / `QueueShutDown` (3.13) | [`Queue::close`] / [`QueueClosed`] |
//! | `q.qsize()`, `q.empty()`, `q.full()`, `q.maxsize` | `len`, `is_empty`, `is_full`, `capacity` |
//! | `loop.create_future()` + `call_soon_threadsafe(fut.set_result, v)` | [`oneshot::channel`] |
//! | `asyncio.gather(*aws, return_exceptions=True)` | [`combinator::gather`], [`gather!`] |
//! | `asyncio.gather(*aws)` (first exception) | [`combinator::try_gather`], [`try_gather!`] (and the rest are cancelled) |
//! | `asyncio.wait(FIRST_COMPLETED)`, `asyncio.as_completed` | [`combinator::race`], [`combinator::as_completed`] |
//!
//! Not provided (yet): `Condition`, `Barrier`, and `Queue`'s `task_done()`/`join()`.
//!
//! The two error types named `Closed` live in their modules: [`semaphore::Closed`] (no permit
//! will come) and [`queue::Closed<T>`](queue::Closed) (the put failed; the item is inside).

#![forbid(unsafe_code)]

pub mod combinator;
pub mod event;
pub mod lock;
pub mod oneshot;
pub mod queue;
pub mod semaphore;

pub use event::{Event, Wait};
pub use lock::{Lock, LockGuard};
pub use queue::{Queue, QueueClosed, TryGetError, TryPutError};
pub use semaphore::{Acquire, Permit, Semaphore, TryAcquireError};

/// Test helpers shared by the sibling modules' tests.
#[cfg(test)]
mod testing {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    /// A waker that counts how often it was woken, so a test can assert exactly who was woken.
    pub(super) struct Probe {
        count: Arc<WakeCount>,
        waker: Waker,
    }

    struct WakeCount(AtomicUsize);

    impl Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Probe {
        pub(super) fn new() -> Self {
            let count = Arc::new(WakeCount(AtomicUsize::new(0)));
            let waker = Waker::from(Arc::clone(&count));
            Probe { count, waker }
        }

        /// How many times this probe's waker was woken so far.
        pub(super) fn wakes(&self) -> usize {
            self.count.0.load(Ordering::SeqCst)
        }

        /// Polls `fut` once with this probe's waker.
        pub(super) fn poll<F: Future + ?Sized>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
            fut.poll(&mut Context::from_waker(&self.waker))
        }
    }

    /// Gives other tasks a turn: returns `Pending` once, after asking to be polled again.
    /// (`futures::pending!()` does not wake, so under `block_on` it would hang.)
    pub(super) async fn yield_now() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}
