//! The task cell: one allocation that holds a task's header and its future, later its output.
//!
//! A task is an `Arc<TaskCell<F>>`. The loop sees it type-erased as a [`TaskRef`]
//! (`Arc<dyn Schedulable>`), the awaiting side as `Arc<dyn Joinable<T>>`, and wakers as the same
//! `Arc` through [`ArcWake`]. The reference count is atomic because wakers are `Send + Sync`:
//! a thread-pool job or another loop may wake a task, and that wake travels to the owning loop
//! through its injection queue. Everything else in the cell is touched only on the owning
//! loop's thread, which is what lets a task's future be `!Send`.
//!
//! Why not the `async-task` crate (which DESIGN.md names as an option): kairos needs three things
//! it does not offer together — a non-consuming `cancel(&self)` that keeps the handle awaitable,
//! a registry through which the loop owns every task (so shutdown can cancel tasks that nothing
//! will ever wake), and per-task identity read by the stall detector. With `std`'s `Arc` and
//! `futures-task`'s `ArcWake` the cell needs only the small, checked `unsafe` below.
#![allow(unsafe_code)] // the task cell: see the SAFETY comments below

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_task::{waker_ref, ArcWake};

use super::error::TaskError;
use super::meta::{TaskId, TaskInfo};
use crate::context;
use crate::event_loop::Core;
use crate::shared::Shared;

/// The task is in a ready queue (or on its way there); a further wake is a no-op.
const NOTIFIED: u8 = 0b01;
/// The future is gone: the cell holds the output, or nothing once the output was taken.
const COMPLETE: u8 = 0b10;

/// A type-erased, reference-counted task as the loop schedules it.
pub(crate) type TaskRef = Arc<dyn Schedulable>;

/// What the loop needs from a task: its header, one poll, and cancellation at shutdown.
pub(crate) trait Schedulable: Send + Sync + 'static {
    fn header(&self) -> &Header;
    /// Polls the task once. Called only by the owning loop, on its thread.
    fn run(self: Arc<Self>, core: &Core);
    /// Drops the future now and records `Cancelled` (the loop is shutting down).
    fn cancel_now(&self, core: &Core);
    /// Asks for cancellation; returns `false` if the task had already finished.
    fn request_cancel(self: Arc<Self>) -> bool;
}

/// What a [`Task`](super::Task) handle needs from the cell, erased over the future type.
pub(crate) trait Joinable<T>: Send + Sync {
    fn header(&self) -> &Header;
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>>;
    /// The handle is gone: drop the output now if there is one, or when the task ends.
    fn detach(&self);
    /// The same task, seen by the loop (for cancel handles that do not know `T`).
    fn task_ref(self: Arc<Self>) -> TaskRef;
}

/// The part of a task that does not depend on its future's type.
pub(crate) struct Header {
    state: AtomicU8,
    /// The owning loop's cross-thread half: where remote wakes are sent.
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: TaskId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) spawned_at: &'static Location<'static>,
    // Fields below are touched only on the owning loop's thread (see `unsafe impl Sync`).
    cancel_requested: Cell<bool>,
    detached: Cell<bool>,
    join_waker: Cell<Option<Waker>>,
    registry_key: Cell<usize>,
}

impl Header {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: TaskId,
        name: Option<Arc<str>>,
        spawned_at: &'static Location<'static>,
    ) -> Self {
        Header {
            // A new task is born scheduled: `spawn` puts it on the ready queue at once.
            state: AtomicU8::new(NOTIFIED),
            shared,
            id,
            name,
            spawned_at,
            cancel_requested: Cell::new(false),
            detached: Cell::new(false),
            join_waker: Cell::new(None),
            registry_key: Cell::new(usize::MAX),
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    pub(crate) fn registry_key(&self) -> usize {
        self.registry_key.get()
    }

    pub(crate) fn set_registry_key(&self, key: usize) {
        self.registry_key.set(key);
    }

    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name.as_deref().map(str::to_owned),
            spawned_at: self.spawned_at,
        }
    }

    /// Marks the task notified; `true` if the caller must now put it on a queue.
    fn set_notified(&self) -> bool {
        // AcqRel pairs with the `fetch_and` in `run`: whatever the waker wrote before waking is
        // visible to the poll that the wake causes.
        self.state.fetch_or(NOTIFIED, Ordering::AcqRel) & (NOTIFIED | COMPLETE) == 0
    }
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// One task: header plus future. Lives in an `Arc` and never moves, so the future is pinned.
pub(crate) struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
    /// The future and output are `!Send`-capable; the `unsafe impl`s below explain when they
    /// may be touched. This marker keeps auto traits honest for any field added later.
    _marker: PhantomData<F>,
}

// SAFETY: a `TaskCell` is shared across threads only through wakers and the injection queue,
// and from other threads only `header.state` (atomic), `header.shared` (`Sync`), the immutable
// id/name/location and the `Arc` count are touched. The stage (future and output) and the
// `Cell` fields are touched only on the owning loop's thread: `run`/`cancel_now` are called
// by that loop alone, and the `Task` handle that reads the output is `!Send`, so it stays on
// the thread of the loop that spawned it. Nothing `!Send` can be dropped on another thread
// either: while the future is alive the loop's registry holds a reference (dropped on the loop
// thread after the future is dropped), and an output lives only while the `!Send` handle does
// (its drop clears it) — so a reference released by a remote waker never frees either.
unsafe impl<F: Future> Send for TaskCell<F> {}
// SAFETY: see the `Send` impl above; shared access from other threads is limited to atomics and
// immutable, `Sync` data.
unsafe impl<F: Future> Sync for TaskCell<F> {}

impl<F: Future + 'static> TaskCell<F> {
    pub(crate) fn new(future: F, header: Header) -> Self {
        TaskCell { header, stage: UnsafeCell::new(Stage::Running(future)), _marker: PhantomData }
    }

    /// Replaces the stage and returns the old one.
    ///
    /// Callers are on the owning loop's thread and hold no other reference into the stage (no
    /// poll of this task is in progress), so this exclusive access is unique.
    fn replace_stage(&self, stage: Stage<F>) -> Stage<F> {
        // SAFETY: only called on the owning loop's thread (see the `Sync` impl) and never while
        // `poll_future` holds a reference into the stage: `complete` runs after the poll
        // returned, and `poll_join`/`detach` check COMPLETE first, which is set only after the
        // future was dropped, so they never meet a running poll of the same stage.
        unsafe { std::mem::replace(&mut *self.stage.get(), stage) }
    }

    /// Polls the future once, catching a panic. `None` if the task had already completed.
    fn poll_future(self: &Arc<Self>) -> Option<std::thread::Result<Poll<F::Output>>> {
        let waker = waker_ref(self);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: we are the owning loop polling this task, the only code that may touch a
        // Running stage; nothing else holds a reference into it during this call (reentrant
        // handle operations check COMPLETE, which is clear, and touch only `Cell` fields).
        let stage = unsafe { &mut *self.stage.get() };
        let Stage::Running(future) = stage else { return None };
        // SAFETY: the future lives inside the `Arc`'d cell and is never moved: while it runs,
        // the stage is only ever dropped in place (`drop_future_in_place`), so pinning holds.
        let future = unsafe { Pin::new_unchecked(future) };
        Some(panic::catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))))
    }

    /// Drops the future where it lies and leaves `Consumed` in its place.
    ///
    /// The future was pinned by `poll_future`, so it must be dropped at its address: moving it
    /// out first (`mem::replace`) would break the `Pin` contract, and a future with an
    /// intrusive waiter node (tokio's `Notified`, say) would leave a dangling pointer behind.
    /// Destructors are user code: a panic in one is caught, and `Consumed` is written even then.
    fn drop_future_in_place(&self) {
        let stage = self.stage.get();
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let _consumed = WriteConsumedOnDrop(stage);
            // SAFETY: on the owning loop's thread with no reference into the stage alive (see
            // `replace_stage`); the stage holds a valid value, dropped exactly once here, and
            // `WriteConsumedOnDrop` overwrites it (without dropping) even if this unwinds.
            unsafe { std::ptr::drop_in_place(stage) };
        }));
    }

    /// Drops the future, stores the output, and tells whoever waits.
    fn complete(&self, core: &Core, output: Result<F::Output, TaskError>) {
        // Drop the future first, so its destructors (user code that may wake, spawn or drop
        // this task's own handle) run while COMPLETE is still clear: they cannot reach the
        // stage (see `replace_stage`).
        self.drop_future_in_place();
        self.replace_stage(Stage::Finished(output));
        self.header.state.fetch_or(COMPLETE, Ordering::Release);
        core.task_finished(&self.header);
        if self.header.detached.get() {
            self.discard_output();
        } else if let Some(waker) = self.header.join_waker.take() {
            waker.wake();
        }
    }

    /// Drops an output nobody will read; a panic nobody will see is reported now, to the
    /// task's own loop.
    fn discard_output(&self) {
        match self.replace_stage(Stage::Consumed) {
            Stage::Finished(Err(TaskError::Panicked { message })) => {
                self.header.shared.report_unobserved_panic(&self.header, message);
            }
            other => {
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(other)));
            }
        }
    }
}

/// Writes `Stage::Consumed` over a stage whose value was just dropped in place.
struct WriteConsumedOnDrop<F: Future>(*mut Stage<F>);

impl<F: Future> Drop for WriteConsumedOnDrop<F> {
    fn drop(&mut self) {
        // SAFETY: the pointer comes from the cell's `UnsafeCell` and is valid for writes; the
        // old value was dropped in place by `drop_future_in_place`, so overwriting it without
        // dropping is exactly right.
        unsafe { std::ptr::write(self.0, Stage::Consumed) };
    }
}

impl<F: Future + 'static> Schedulable for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(self: Arc<Self>, core: &Core) {
        // Clear NOTIFIED before polling, so a wake during the poll schedules the task again.
        let state = self.header.state.fetch_and(!NOTIFIED, Ordering::AcqRel);
        if state & COMPLETE != 0 {
            return; // a stale wake of a finished task (for example from another thread)
        }
        if self.header.cancel_requested.get() {
            self.complete(core, Err(TaskError::Cancelled));
            return;
        }
        match self.poll_future() {
            None | Some(Ok(Poll::Pending)) => {}
            Some(Ok(Poll::Ready(value))) => self.complete(core, Ok(value)),
            Some(Err(payload)) => self.complete(core, Err(TaskError::from_panic(payload))),
        }
    }

    fn cancel_now(&self, core: &Core) {
        if !self.header.is_complete() {
            self.complete(core, Err(TaskError::Cancelled));
        }
    }

    fn request_cancel(self: Arc<Self>) -> bool {
        if self.header.is_complete() {
            return false;
        }
        self.header.cancel_requested.set(true);
        ArcWake::wake_by_ref(&self);
        true
    }
}

impl<F: Future + 'static> Joinable<F::Output> for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, TaskError>> {
        if !self.header.is_complete() {
            let waker = match self.header.join_waker.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.header.join_waker.set(Some(waker));
            return Poll::Pending;
        }
        match self.replace_stage(Stage::Consumed) {
            Stage::Finished(output) => Poll::Ready(output),
            _ => panic!("a kairos Task was polled again after it returned its output"),
        }
    }

    fn detach(&self) {
        self.header.join_waker.take();
        if self.header.is_complete() {
            self.discard_output();
        } else {
            self.header.detached.set(true);
        }
    }

    fn task_ref(self: Arc<Self>) -> TaskRef {
        self
    }
}

impl<F: Future + 'static> ArcWake for TaskCell<F> {
    fn wake(self: Arc<Self>) {
        // By value: the waker's reference travels to the queue, no count traffic.
        if self.header.set_notified() {
            context::schedule(self);
        }
    }

    fn wake_by_ref(arc_self: &Arc<Self>) {
        if arc_self.header.set_notified() {
            context::schedule(arc_self.clone());
        }
    }
}
