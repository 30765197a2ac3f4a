//! [`ProcessJob<T>`]: the awaitable handle of one job, and the slot it shares with the pool.
//!
//! A job's life, in its [`JobSlot`] (the loop is single-threaded, so a `RefCell` is enough;
//! every change is made by exactly one party):
//!
//! | stage | holds | next, and who moves it there |
//! |---|---|---|
//! | `Queued(frame)` | the request frame | `Running`: a worker's driver takes it; `Done(Cancelled)`: shutdown; *removed*: the `ProcessJob` is dropped (it never starts) |
//! | `Running { pid }` | the worker's pid | `Done`: the driver got a reply or saw the worker die; `Abandoned`: the `ProcessJob` is dropped, and the driver kills the worker |
//! | `Done(result)` | encoded result or error | `Taken`: the `ProcessJob` is polled |
//! | `Taken`, `Abandoned` | nothing | final |

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde::de::DeserializeOwned;

use crate::error::ProcessJobError;
use crate::shared::PoolShared;

enum Stage {
    Queued(Vec<u8>),
    Running { pid: u32 },
    Done(Result<Vec<u8>, ProcessJobError>),
    Taken,
    Abandoned,
}

struct SlotState {
    stage: Stage,
    /// The task awaiting the `ProcessJob`.
    awaiter: Option<Waker>,
    /// The driver running the job, woken if the job is abandoned.
    driver: Option<Waker>,
}

/// One job, shared by its [`ProcessJob`] and the pool.
pub(super) struct JobSlot {
    pub(super) id: u64,
    pub(super) name: &'static str,
    state: RefCell<SlotState>,
    /// The job's span in the loop's recording, when something records (`kairos_rt::record`).
    pub(super) span: std::cell::Cell<Option<kairos_rt::record::JobSpan>>,
}

impl JobSlot {
    pub(super) fn new(id: u64, name: &'static str, frame: Vec<u8>) -> JobSlot {
        JobSlot {
            id,
            name,
            state: RefCell::new(SlotState {
                stage: Stage::Queued(frame),
                awaiter: None,
                driver: None,
            }),
            span: std::cell::Cell::new(kairos_rt::record::JobSpan::queued()),
        }
    }

    /// A job refused before it was queued.
    pub(super) fn rejected(id: u64, name: &'static str, error: ProcessJobError) -> JobSlot {
        let slot = JobSlot::new(id, name, Vec::new());
        slot.state.borrow_mut().stage = Stage::Done(Err(error));
        slot
    }

    /// A driver takes the queued job for the worker `pid`: returns the request frame.
    pub(super) fn start(&self, pid: u32) -> Option<Vec<u8>> {
        let mut state = self.state.borrow_mut();
        match mem::replace(&mut state.stage, Stage::Running { pid }) {
            Stage::Queued(frame) => Some(frame),
            other => {
                state.stage = other;
                None
            }
        }
    }

    /// Whether the `ProcessJob` was dropped while the job ran; otherwise remembers the
    /// driver's waker, to be woken if it is.
    pub(super) fn abandoned_or_watch(&self, driver: &Waker) -> bool {
        let mut state = self.state.borrow_mut();
        if matches!(state.stage, Stage::Abandoned) {
            return true;
        }
        match &state.driver {
            Some(w) if w.will_wake(driver) => {}
            _ => state.driver = Some(driver.clone()),
        }
        false
    }

    /// Stores the outcome and wakes the awaiter. No effect if the job was abandoned.
    pub(super) fn finish(&self, result: Result<Vec<u8>, ProcessJobError>) {
        let waker = {
            let mut state = self.state.borrow_mut();
            match state.stage {
                Stage::Queued(_) | Stage::Running { .. } => {
                    state.stage = Stage::Done(result);
                    state.driver = None;
                    state.awaiter.take()
                }
                _ => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn pid(&self) -> Option<u32> {
        match self.state.borrow().stage {
            Stage::Running { pid } => Some(pid),
            _ => None,
        }
    }
}

/// A job submitted to a [`ProcessPool`](crate::ProcessPool): a future of its result.
///
/// The same shape as the thread pool's [`Job`](kairos_rt::executor::Job): await it to get the
/// job's return value, or a [`ProcessJobError`] saying why there is none. It is bound to the
/// loop its pool lives on (`!Send`).
///
/// # Dropping a `ProcessJob` (asyncio: cancelling the awaiting task, or a timeout)
///
/// - **Before the job started**: it is taken out of the queue and never runs.
/// - **While it runs**: its worker process is **killed** (`SIGKILL`) and a new one started in
///   its place. This is what a process pool can do and a thread pool cannot: the work really
///   stops, at once, wherever it was. So `kairos_rt::timeout(d, pool.spawn(&JOB, x))` is a
///   hard deadline for CPU-bound work.
/// - **After it finished**: the unclaimed result is dropped.
#[must_use = "a ProcessJob does nothing useful unless awaited; dropping it cancels the job"]
pub struct ProcessJob<T> {
    slot: Rc<JobSlot>,
    pool: Rc<PoolShared>,
    _result: PhantomData<fn() -> T>,
}

impl<T> ProcessJob<T> {
    pub(super) fn new(slot: Rc<JobSlot>, pool: Rc<PoolShared>) -> Self {
        ProcessJob { slot, pool, _result: PhantomData }
    }

    /// Whether awaiting this job would complete at once: it ended (well or not), was
    /// rejected, or its result was already taken.
    pub fn is_finished(&self) -> bool {
        matches!(self.slot.state.borrow().stage, Stage::Done(_) | Stage::Taken)
    }

    /// The process id of the worker running this job, while it runs.
    pub fn worker_pid(&self) -> Option<u32> {
        self.slot.pid()
    }

    /// The job's registered name.
    pub fn name(&self) -> &'static str {
        self.slot.name
    }
}

impl<T: DeserializeOwned> Future for ProcessJob<T> {
    type Output = Result<T, ProcessJobError>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`, like most futures.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.borrow_mut();
        match mem::replace(&mut state.stage, Stage::Taken) {
            Stage::Done(result) => {
                drop(state);
                Poll::Ready(result.and_then(|bytes| decode(self.slot.name, &bytes)))
            }
            Stage::Taken | Stage::Abandoned => panic!("a ProcessJob was polled after completion"),
            pending => {
                state.stage = pending;
                match &state.awaiter {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => state.awaiter = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

fn decode<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, ProcessJobError> {
    postcard::from_bytes(bytes).map_err(|e| {
        ProcessJobError::Failed(format!(
            "the result of job {name:?} could not be decoded as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

impl<T> Drop for ProcessJob<T> {
    fn drop(&mut self) {
        let (previous, driver) = {
            let mut state = self.slot.state.borrow_mut();
            let previous = match state.stage {
                Stage::Taken | Stage::Abandoned => return,
                _ => mem::replace(&mut state.stage, Stage::Abandoned),
            };
            (previous, state.driver.take())
        };
        match previous {
            Stage::Queued(_) => self.pool.unqueue(&self.slot),
            // The driver sees `Abandoned`, kills the worker and counts the cancellation.
            Stage::Running { .. } => {
                if let Some(driver) = driver {
                    driver.wake();
                }
            }
            Stage::Done(_) | Stage::Taken | Stage::Abandoned => {}
        }
    }
}

impl<T> fmt::Debug for ProcessJob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessJob")
            .field("name", &self.slot.name)
            .field("finished", &self.is_finished())
            .field("worker_pid", &self.worker_pid())
            .finish()
    }
}
