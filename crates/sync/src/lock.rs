//! [`Lock<T>`]: asyncio's `Lock`, but owning the data it protects, like a mutex.
//!
//! It is a [`Semaphore`] with one permit next to a `RefCell<T>`. The permit decides who may
//! touch the data; the `RefCell` only turns that decision into a `&mut T` without `unsafe`.
//! Because at most one guard exists at a time, the `RefCell` borrow can never fail.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::semaphore::{Permit, Semaphore};

/// A lock that owns its data: asyncio's `Lock`, with the data it guards inside it.
///
/// In asyncio the lock and the data are separate, and nothing stops code from touching the
/// data without the lock. Here the only way to the data is through a [`LockGuard`], which
/// holds the lock until it is dropped. Waiters get the lock in FIFO order, and cancelling a
/// `lock()` future is safe (it is built on [`Semaphore`]).
///
/// Why lock at all on a single-threaded loop? Code between two `.await`s cannot be
/// interrupted, but a read-`await`-write sequence can: another task may run at the `.await`.
/// Hold the guard across the `.await` and nobody else can.
///
/// Share it between tasks with `Rc<Lock<T>>` (it is `!Send`, like everything on the loop).
///
/// ```
/// use futures::executor::block_on;
/// use kairos_sync::Lock;
///
/// let balance = Lock::new(100);
/// block_on(async {
///     let mut guard = balance.lock().await;
///     // ... an `.await` here would still keep other tasks out ...
///     *guard -= 30;
/// });
/// assert_eq!(balance.into_inner(), 70);
/// ```
pub struct Lock<T> {
    // Field order is drop order, but a `Lock` is only dropped when no guard borrows it.
    sem: Semaphore,
    value: RefCell<T>,
}

impl<T> Lock<T> {
    /// Creates an unlocked lock around `value`.
    pub fn new(value: T) -> Self {
        Lock { sem: Semaphore::new(1), value: RefCell::new(value) }
    }

    /// Waits until the lock is free and takes it (asyncio: `async with lock:`).
    ///
    /// Waiters are served first come, first served. Dropping the future while it waits gives
    /// up its place; if the lock had already been handed to it, it passes to the next waiter.
    pub async fn lock(&self) -> LockGuard<'_, T> {
        let permit = match self.sem.acquire().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("a Lock never closes its semaphore"),
        };
        self.guard(permit)
    }

    /// Takes the lock if it is free and nobody is waiting for it; `None` otherwise.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.sem.try_acquire().ok().map(|permit| self.guard(permit))
    }

    /// True while a guard exists, or the lock has been handed to a waiter that has not run yet
    /// (asyncio: `lock.locked()`).
    pub fn is_locked(&self) -> bool {
        self.sem.available_permits() == 0
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Gives direct access to the data: `&mut self` proves that no guard or `lock()` future
    /// exists, so no locking is needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn guard(&self, permit: Permit) -> LockGuard<'_, T> {
        // Cannot fail: the permit we hold is the only one, and the previous guard released
        // its borrow before its permit (see the field order of `LockGuard`).
        LockGuard { value: self.value.borrow_mut(), _permit: permit }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.value.try_borrow() {
            Ok(value) if !self.is_locked() => d.field("value", &*value),
            _ => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to the data of a [`Lock`]; the lock is released when the guard is dropped.
///
/// Derefs to `T`, mutably. Keep it across `.await`s to keep other tasks out; drop it as soon
/// as you are done to let the next waiter in.
#[must_use = "dropping a LockGuard releases the lock at once"]
pub struct LockGuard<'a, T> {
    // Declared first so it is dropped first: the `RefCell` borrow ends before the permit wakes
    // the next waiter.
    value: RefMut<'a, T>,
    _permit: Permit,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Probe;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::Poll;

    fn boxed<'a, F: Future + 'a>(f: F) -> Pin<Box<dyn Future<Output = F::Output> + 'a>> {
        Box::pin(f)
    }

    #[test]
    fn only_one_guard_at_a_time_and_waiters_enter_in_fifo_order() {
        let lock = Lock::new(Vec::new());
        let guard = lock.try_lock().unwrap();
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());

        let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
        let mut futs: Vec<_> = (0..3).map(|_| boxed(lock.lock())).collect();
        for (fut, probe) in futs.iter_mut().zip(&probes) {
            assert!(probe.poll(fut.as_mut()).is_pending());
        }
        drop(guard);
        for i in 0..3 {
            let woken: Vec<usize> = probes.iter().map(Probe::wakes).collect();
            let expected: Vec<usize> = (0..3).map(|j| usize::from(j <= i)).collect();
            assert_eq!(woken, expected, "after {i} releases");
            assert!(lock.try_lock().is_none(), "a woken waiter owns the lock");
            let Poll::Ready(mut guard) = probes[i].poll(futs[i].as_mut()) else {
                panic!("waiter {i} was woken but not ready");
            };
            guard.push(i);
        }
        drop(futs);
        assert!(!lock.is_locked());
        assert_eq!(lock.into_inner(), [0, 1, 2]);
    }

    #[test]
    fn a_guard_held_across_an_await_keeps_other_tasks_out() {
        use futures::executor::block_on;
        use futures::future::join_all;

        // Read, yield, write: without the lock every task would read the same value.
        let counter = Lock::new(0);
        block_on(join_all((0..5).map(|_| async {
            let mut guard = counter.lock().await;
            let seen = *guard;
            crate::testing::yield_now().await;
            *guard = seen + 1;
        })));
        assert_eq!(counter.into_inner(), 5);
    }

    #[test]
    fn cancelling_a_woken_lock_future_passes_the_lock_on() {
        let lock = Rc::new(Lock::new(0));
        let guard = lock.try_lock().unwrap();
        let (pa, pb) = (Probe::new(), Probe::new());
        let mut a = boxed(lock.lock());
        let mut b = boxed(lock.lock());
        assert!(pa.poll(a.as_mut()).is_pending());
        assert!(pb.poll(b.as_mut()).is_pending());
        drop(guard);
        assert_eq!(pa.wakes(), 1);
        drop(a);
        assert_eq!(pb.wakes(), 1);
        assert!(matches!(pb.poll(b.as_mut()), Poll::Ready(_)));
    }

    #[test]
    fn get_mut_and_into_inner_need_no_locking() {
        let mut lock = Lock::new(String::from("a"));
        lock.get_mut().push('b');
        assert_eq!(format!("{lock:?}"), r#"Lock { value: "ab" }"#);
        let guard = lock.try_lock().unwrap();
        assert_eq!(format!("{guard}"), "ab");
        assert_eq!(format!("{lock:?}"), "Lock { value: <locked> }");
        drop(guard);
        assert_eq!(lock.into_inner(), "ab");
    }
}
