//! `Task<T>`: the handle to a spawned task — await it, cancel it, or let it go.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::cell::{Joinable, TaskRef};
use super::error::TaskError;
use super::meta::{TaskId, TaskInfo};

/// A handle to a task spawned with [`spawn`](crate::spawn) — asyncio's `Task`.
///
/// - `task.await` gives `Ok(value)`, or `Err(TaskError::Cancelled)` / `Err(TaskError::Panicked)`.
/// - [`cancel`](Task::cancel) asks the loop to drop the task's future at the `.await` where it
///   stands; its destructors run (Rust's `finally`).
/// - Dropping the handle *detaches* the task: it keeps running, owned by the loop. So asyncio's
///   trap of a task vanishing because nobody kept a reference to it cannot happen here. If a
///   detached task panics, the loop reports it at once, with the task's name and spawn site.
///
/// The handle is `!Send`: it belongs to the loop its task runs on (the task's future need not be
/// `Send`). To hand work to a loop from another thread, use [`Handle::spawn`](crate::Handle::spawn).
///
/// # Thread safety
///
/// The task cell is shared with other threads (wakers may be sent anywhere) through an
/// `unsafe impl Send + Sync`, which is sound only because everything that touches the cell's
/// loop-only fields — this handle, [`AbortHandle`], [`CancelOnDrop`] and the
/// [`Runtime`](crate::Runtime) — stays on the loop's thread. These markers are part of that
/// argument, so the compiler must refuse to move or share them:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: &T) {}
/// kairos_rt::run(async {
///     let task = kairos_rt::spawn(async {});
///     assert_send(&task); // a Task<T> cannot leave its loop's thread
/// });
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>(_: &T) {}
/// kairos_rt::run(async {
///     let task = kairos_rt::spawn(async {});
///     assert_sync(&task); // nor be shared with another thread (`cancel` touches loop-only state)
/// });
/// ```
///
/// The same checks compile for a type that is meant to cross threads, which shows that the two
/// tests above fail for the reason they name:
///
/// ```
/// fn assert_send<T: Send>(_: &T) {}
/// fn assert_sync<T: Sync>(_: &T) {}
/// kairos_rt::run(async {
///     let handle = kairos_rt::Handle::current();
///     assert_send(&handle);
///     assert_sync(&handle);
///     kairos_rt::spawn(async {}).await.unwrap();
/// });
/// ```
#[must_use = "a dropped Task keeps running detached; await it, cancel it, or call .detach()"]
pub struct Task<T> {
    cell: Arc<dyn Joinable<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Task<T> {
    pub(crate) fn new(cell: Arc<dyn Joinable<T>>) -> Self {
        Task { cell, _not_send: PhantomData }
    }

    /// Requests cancellation, like asyncio's `task.cancel()`.
    ///
    /// The loop drops the task's future before polling it again; awaiting the handle then gives
    /// `Err(TaskError::Cancelled)`. Returns `false` if the task had already finished (its result
    /// stays available), `true` otherwise.
    pub fn cancel(&self) -> bool {
        self.abort_handle().cancel()
    }

    /// A handle that can cancel the task (and ask whether it finished) but not await it;
    /// cloneable, for supervisors such as [`TaskGroup`](crate::TaskGroup).
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle { task: Arc::clone(&self.cell).task_ref(), _not_send: PhantomData }
    }

    /// Whether the task has finished (completed, panicked or been cancelled) — asyncio's
    /// `task.done()`.
    pub fn is_finished(&self) -> bool {
        self.cell.header().is_complete()
    }

    /// The task's id, unique within its loop.
    pub fn id(&self) -> TaskId {
        self.cell.header().id
    }

    /// The task's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.cell.header().name.as_deref()
    }

    /// The task's identity: id, name and spawn site.
    pub fn info(&self) -> TaskInfo {
        self.cell.header().info()
    }

    /// Lets the task run on with nobody waiting for it; the same as dropping the handle, but
    /// says so in the code.
    pub fn detach(self) {}

    /// Turns the handle into one that cancels the task when dropped.
    ///
    /// Use it where asyncio code relies on `wait_for` cancelling the task it was given:
    /// `wait_for(task.cancel_on_drop(), d)` cancels the task when the timeout expires.
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop { task: self }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll_join(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.cell.detach();
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Cancels a task without owning its result; see [`Task::abort_handle`].
///
/// `!Send` and `!Sync` for the reason [`Task`] is (see its "Thread safety" section):
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: &T) {}
/// kairos_rt::run(async {
///     let abort = kairos_rt::spawn(async {}).abort_handle();
///     assert_send(&abort);
/// });
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>(_: &T) {}
/// kairos_rt::run(async {
///     let abort = kairos_rt::spawn(async {}).abort_handle();
///     assert_sync(&abort);
/// });
/// ```
#[derive(Clone)]
pub struct AbortHandle {
    task: TaskRef,
    _not_send: PhantomData<*const ()>,
}

impl AbortHandle {
    /// Requests cancellation, like [`Task::cancel`]; `false` if the task had finished.
    pub fn cancel(&self) -> bool {
        Arc::clone(&self.task).request_cancel()
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.header().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("id", &self.id()).finish()
    }
}

/// A [`Task`] handle that cancels its task when dropped (see [`Task::cancel_on_drop`]).
///
/// `!Send` and `!Sync`, as the [`Task`] it wraps:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: &T) {}
/// kairos_rt::run(async {
///     let guard = kairos_rt::spawn(async {}).cancel_on_drop();
///     assert_send(&guard);
/// });
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>(_: &T) {}
/// kairos_rt::run(async {
///     let guard = kairos_rt::spawn(async {}).cancel_on_drop();
///     assert_sync(&guard);
/// });
/// ```
#[must_use = "dropping a CancelOnDrop cancels its task at once"]
#[derive(Debug)]
pub struct CancelOnDrop<T> {
    task: Task<T>,
}

impl<T> CancelOnDrop<T> {
    /// The inner handle, for `cancel`, `id` and the like.
    pub fn task(&self) -> &Task<T> {
        &self.task
    }
}

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.task.cancel();
    }
}
