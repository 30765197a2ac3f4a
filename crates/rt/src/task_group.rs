//! [`TaskGroup`] — Python 3.11's `asyncio.TaskGroup`: children that live and die together.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{AssertUnwindSafe, Location};
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::FutureExt;
use slab::Slab;

use crate::context;
use crate::task::{panic_message, AbortHandle, Task};

/// A set of child tasks with one rule: the first child that fails cancels all the others, and
/// [`join`](TaskGroup::join) returns every failure together — asyncio's `TaskGroup` (3.11).
///
/// A child is a future returning `Result<T, E>`; it *fails* by returning `Err(E)` or by
/// panicking (the panic is caught and reported once, through the group). Because cancellation drops a child at its `.await` (it cannot raise again from
/// a `finally` as a Python coroutine can), the failures are usually just the first one; the
/// list holds more when several children fail before the cancellation reaches them. Its [`Task`] handle gives `Ok(T)` if it succeeded; a child that failed or was
/// cancelled because a sibling failed gives `Err(TaskError::Cancelled)` — the failure itself
/// goes to the group, so it is reported exactly once.
///
/// Dropping the group without joining it (for example because the task that owned it was
/// cancelled) cancels every child: children never outlive their group's scope.
///
/// ```
/// use std::time::Duration;
/// use kairos_rt::{sleep, TaskGroup};
///
/// kairos_rt::run(async {
///     let group = TaskGroup::new();
///     let a = group.spawn(async { sleep(Duration::from_millis(5)).await; Ok::<_, String>(1) });
///     let b = group.spawn(async { Err::<u32, _>("b failed".to_string()) });
///     let c = group.spawn(async { sleep(Duration::from_secs(60)).await; Ok(3) });
///     let err = group.join().await.unwrap_err();
///     assert_eq!(err.errors(), ["b failed".to_string()]);
///     assert!(c.await.unwrap_err().is_cancelled()); // cancelled by b's failure
///     # let _ = (a, b);
/// });
/// ```
pub struct TaskGroup<E> {
    inner: Rc<Inner<E>>,
}

struct Inner<E> {
    /// The children still running; a child removes itself when it ends, so a long-lived
    /// group (one per server, say) does not keep every finished task's allocation.
    children: RefCell<Slab<AbortHandle>>,
    failures: RefCell<Vec<ChildFailure<E>>>,
    alive: Cell<usize>,
    failed: Cell<bool>,
    joiner: Cell<Option<Waker>>,
}

/// How one child of a [`TaskGroup`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildFailure<E> {
    /// The child returned `Err`.
    Error(E),
    /// The child panicked, with this message.
    Panic(String),
}

impl<E: 'static> Default for TaskGroup<E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<E: 'static> TaskGroup<E> {
    /// An empty group.
    pub fn new() -> TaskGroup<E> {
        TaskGroup {
            inner: Rc::new(Inner {
                children: RefCell::new(Slab::new()),
                failures: RefCell::new(Vec::new()),
                alive: Cell::new(0),
                failed: Cell::new(false),
                joiner: Cell::new(None),
            }),
        }
    }

    /// Spawns `future` as a child — `tg.create_task(coro)`. If the group has already failed,
    /// the child is cancelled before it starts.
    #[track_caller]
    pub fn spawn<T, F>(&self, future: F) -> Task<T>
    where
        T: 'static,
        F: Future<Output = Result<T, E>> + 'static,
    {
        let inner = Rc::clone(&self.inner);
        inner.alive.set(inner.alive.get() + 1);
        // The child's slot is reserved before it is spawned; it cannot run before `insert`.
        let slot = inner.children.borrow().vacant_key();
        let guard = AliveGuard { inner: Rc::clone(&inner), slot };
        let child = async move {
            let _guard = guard;
            let outcome = AssertUnwindSafe(future).catch_unwind().await;
            match outcome {
                Ok(Ok(value)) => value,
                Ok(Err(error)) => {
                    inner.fail(ChildFailure::Error(error));
                    std::future::pending().await // cancelled by `fail` on the next turn
                }
                Err(payload) => {
                    // Reported once, through the group: the child ends cancelled like one
                    // that returned `Err`, instead of panicking again (which would also be
                    // reported as an unobserved panic if its handle was detached).
                    inner.fail(ChildFailure::Panic(panic_message(payload.as_ref())));
                    drop(payload);
                    std::future::pending().await
                }
            }
        };
        let spawned_at = Location::caller();
        let task =
            context::expect_core("TaskGroup::spawn", |core| core.spawn(child, None, spawned_at));
        if self.inner.failed.get() {
            task.cancel();
        }
        let inserted = self.inner.children.borrow_mut().insert(task.abort_handle());
        debug_assert_eq!(inserted, slot);
        task
    }

    /// Children not yet finished.
    pub fn len(&self) -> usize {
        self.inner.alive.get()
    }

    /// Whether every child has finished.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every child still running.
    pub fn cancel_all(&self) {
        self.inner.cancel_all();
    }

    /// Waits for every child to finish — the end of `async with TaskGroup()`.
    ///
    /// `Ok(())` if all succeeded; otherwise every failure, in the order they happened. The
    /// children cancelled because of the first failure are not failures themselves.
    pub async fn join(self) -> Result<(), TaskGroupError<E>> {
        poll_fn(|cx| {
            if self.inner.alive.get() == 0 {
                Poll::Ready(())
            } else {
                self.inner.joiner.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        self.inner.children.borrow_mut().clear();
        let failures = std::mem::take(&mut *self.inner.failures.borrow_mut());
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { failures })
        }
    }
}

impl<E> Inner<E> {
    fn fail(&self, failure: ChildFailure<E>) {
        self.failures.borrow_mut().push(failure);
        if !self.failed.replace(true) {
            self.cancel_all();
        }
    }

    fn cancel_all(&self) {
        let children: Vec<AbortHandle> =
            self.children.borrow().iter().map(|(_, child)| child.clone()).collect();
        for child in children {
            child.cancel();
        }
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // Not joined to the end: the scope is gone, so are its children.
        if self.inner.alive.get() > 0 {
            self.inner.cancel_all();
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("alive", &self.inner.alive.get())
            .field("failed", &self.inner.failed.get())
            .finish()
    }
}

/// Counts a child as alive until its future is dropped (finished or cancelled).
struct AliveGuard<E> {
    inner: Rc<Inner<E>>,
    slot: usize,
}

impl<E> Drop for AliveGuard<E> {
    fn drop(&mut self) {
        self.inner.children.borrow_mut().try_remove(self.slot);
        let alive = self.inner.alive.get() - 1;
        self.inner.alive.set(alive);
        if alive == 0 {
            if let Some(joiner) = self.inner.joiner.take() {
                joiner.wake();
            }
        }
    }
}

/// The failures of a [`TaskGroup`] — Python's `ExceptionGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGroupError<E> {
    failures: Vec<ChildFailure<E>>,
}

impl<E> TaskGroupError<E> {
    /// Every failure, in the order they happened.
    pub fn failures(&self) -> &[ChildFailure<E>] {
        &self.failures
    }

    /// The `Err` values of the children that returned one (panics left out).
    pub fn errors(&self) -> Vec<E>
    where
        E: Clone,
    {
        self.failures
            .iter()
            .filter_map(|f| match f {
                ChildFailure::Error(e) => Some(e.clone()),
                ChildFailure::Panic(_) => None,
            })
            .collect()
    }

    /// Takes the failures out.
    pub fn into_failures(self) -> Vec<ChildFailure<E>> {
        self.failures
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) of the group failed", self.failures.len())?;
        for failure in &self.failures {
            match failure {
                ChildFailure::Error(e) => write!(f, "; error: {e}")?,
                ChildFailure::Panic(m) => write!(f, "; panic: {m}")?,
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskGroupError<E> {}
