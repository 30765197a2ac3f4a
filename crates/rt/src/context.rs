//! Which loop is running on this thread, and how a wake finds its way to a task's loop.
//!
//! The running loop's [`Core`] sits in a thread-local while `block_on` runs. A waker first asks
//! it "is this my task's loop?": if yes, the task goes straight onto the ready queue (no lock,
//! no atomics beyond the task's own flag); if not — another thread, or no loop at all — the
//! task travels through its loop's injection queue.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::event_loop::Core;
use crate::shared::Injected;
use crate::task::TaskRef;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the loop running on this thread, or returns `None` if there is none.
///
/// The thread-local is not borrowed while `f` runs (a cheap `Rc` clone is taken instead):
/// `f` may run user code — a destructor — that starts or drops a loop of its own.
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    let core = CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()?;
    Some(f(&core))
}

/// Like [`with_core`], but panics with a message naming `what` outside a loop.
#[track_caller]
pub(crate) fn expect_core<R>(what: &str, f: impl FnOnce(&Rc<Core>) -> R) -> R {
    match with_core(f) {
        Some(r) => r,
        None => panic!(
            "{what} needs a running kairos event loop, and none runs on this thread; \
             call it from inside kairos_rt::run(...) (asyncio: 'no running event loop')"
        ),
    }
}

/// Puts a woken task on its loop's ready queue: directly when that loop runs on this thread,
/// through the loop's injection queue otherwise.
pub(crate) fn schedule(task: TaskRef) {
    let mut task = Some(task);
    let _ = CURRENT.try_with(|current| {
        if let Some(core) = current.borrow().as_ref() {
            let t = task.as_ref().expect("task is present until scheduled");
            if Arc::ptr_eq(&core.shared, &t.header().shared) {
                core.push_ready(task.take().expect("checked above"));
            }
        }
    });
    if let Some(task) = task {
        let shared = Arc::clone(&task.header().shared);
        // A closed loop has cancelled all its tasks; the reference is simply released.
        let _ = shared.inject(Injected::Task(task));
    }
}

/// Makes `core` the running loop of this thread until the guard is dropped.
pub(crate) struct EnterGuard {
    _private: (),
}

/// Enters `core`; panics if a loop is already running here (loops do not nest).
#[track_caller]
pub(crate) fn enter(core: Rc<Core>) -> EnterGuard {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.is_some() {
            panic!(
                "cannot start a kairos event loop inside a running one (asyncio: 'asyncio.run() \
                 cannot be called from a running event loop'); spawn a task or await the \
                 future instead"
            );
        }
        *current = Some(core);
    });
    EnterGuard { _private: () }
}

/// Enters `core` unless a loop is already running here (then `None`): for shutdown, which
/// must not panic, as it may run while unwinding from a refused nested `run`.
pub(crate) fn try_enter(core: Rc<Core>) -> Option<EnterGuard> {
    CURRENT
        .try_with(|current| {
            let mut current = current.borrow_mut();
            if current.is_some() {
                return None;
            }
            *current = Some(core);
            Some(EnterGuard { _private: () })
        })
        .ok()
        .flatten()
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // Take the core out first and drop it after the borrow ends: its destructors may wake
        // tasks, which reads CURRENT again.
        let core = CURRENT.try_with(|current| current.borrow_mut().take()).ok().flatten();
        drop(core);
    }
}
