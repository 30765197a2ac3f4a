//! The state a pool shares with its drivers and jobs: queue, counters, shutdown flags, and
//! the per-thread list of pools that [`stats`](crate::stats()) reports.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::error::ProcessJobError;
use crate::job::JobSlot;
use crate::registry::Registry;
use crate::stats::ProcessPoolStats;

/// Gauges and counters (see [`ProcessPoolStats`] for their meaning).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) workers: Cell<usize>,
    pub(super) busy: Cell<usize>,
    pub(super) completed: Cell<u64>,
    pub(super) panicked: Cell<u64>,
    pub(super) failed: Cell<u64>,
    pub(super) crashed: Cell<u64>,
    pub(super) cancelled: Cell<u64>,
    pub(super) rejected: Cell<u64>,
    pub(super) restarted: Cell<u64>,
    pub(super) start_failures: Cell<u64>,
}

/// Adds one to a counter.
pub(super) fn bump<T: Copy + std::ops::Add<Output = T> + From<u8>>(cell: &Cell<T>) {
    cell.set(cell.get() + T::from(1));
}

/// Takes one from a gauge.
pub(super) fn drop_one(cell: &Cell<usize>) {
    cell.set(cell.get().saturating_sub(1));
}

/// The configuration a pool was built with.
pub(super) struct Config {
    pub(super) max_workers: usize,
    pub(super) queue_limit: Option<usize>,
    pub(super) start_timeout: Duration,
}

struct State {
    queue: VecDeque<Rc<JobSlot>>,
    /// The wakers of the drivers waiting for a job, by driver index: one is woken per job.
    idle: Vec<Option<Waker>>,
    /// The wakers of the drivers busy with their worker, by index: woken by a kill.
    drivers: Vec<Option<Waker>>,
    /// The pid of each driver's live worker.
    pids: Vec<Option<u32>>,
    /// Drivers still running (they stop after a shutdown, once their worker is reaped).
    running_drivers: usize,
    /// Tasks waiting in `shutdown` for the drivers to stop.
    shutdown_waiters: Vec<Waker>,
    closed: bool,
    /// Shutdown's time is up: kill the workers still running jobs.
    kill: bool,
    next_id: u64,
}

/// One pool's shared state.
pub(super) struct PoolShared {
    pub(super) config: Config,
    pub(super) registry: &'static Registry,
    pub(super) counters: Counters,
    state: RefCell<State>,
    /// Request buffers whose frame was sent, kept for the next submissions (see `recycle`).
    spare_frames: RefCell<Vec<Vec<u8>>>,
}

/// Frame buffers above this capacity are freed rather than kept.
const KEEP_FRAME: usize = 16 << 20;

thread_local! {
    /// The pools of this thread's loop, for `kairos_process::stats()`.
    static POOLS: RefCell<Vec<Weak<PoolShared>>> = const { RefCell::new(Vec::new()) };
}

impl PoolShared {
    pub(super) fn new(config: Config, registry: &'static Registry) -> Rc<PoolShared> {
        let drivers = config.max_workers;
        let shared = Rc::new(PoolShared {
            config,
            registry,
            counters: Counters::default(),
            state: RefCell::new(State {
                queue: VecDeque::new(),
                idle: vec![None; drivers],
                drivers: vec![None; drivers],
                pids: vec![None; drivers],
                running_drivers: drivers,
                shutdown_waiters: Vec::new(),
                closed: false,
                kill: false,
                next_id: 1,
            }),
            spare_frames: RefCell::new(Vec::new()),
        });
        POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            pools.retain(|p| p.strong_count() > 0);
            pools.push(Rc::downgrade(&shared));
        });
        shared
    }

    pub(super) fn next_id(&self) -> u64 {
        let mut state = self.state.borrow_mut();
        state.next_id += 1;
        state.next_id - 1
    }

    /// A buffer to build a request frame in: a recycled one if there is one.
    pub(super) fn frame_buffer(&self) -> Vec<u8> {
        self.spare_frames.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps a sent frame's buffer for a later request, so a stream of jobs with large
    /// arguments reuses its buffers instead of asking the allocator (and the kernel, for
    /// blocks over 128 KiB) for fresh ones each time. At most one per worker is kept.
    pub(super) fn recycle(&self, frame: Vec<u8>) {
        let mut spare = self.spare_frames.borrow_mut();
        if frame.capacity() <= KEEP_FRAME && spare.len() < self.config.max_workers {
            spare.push(frame);
        }
    }

    /// Queues a job, or says why not. Wakes an idle driver.
    pub(super) fn submit(&self, slot: Rc<JobSlot>) -> Result<(), ProcessJobError> {
        let waker = {
            let mut state = self.state.borrow_mut();
            if state.closed {
                return Err(ProcessJobError::Cancelled);
            }
            if let Some(limit) = self.config.queue_limit {
                // A job waits when every worker is taken; only waiting jobs count.
                let taken = self.counters.busy.get() + state.queue.len();
                if taken >= self.config.max_workers + limit {
                    return Err(ProcessJobError::QueueFull);
                }
            }
            state.queue.push_back(slot);
            // Wake one driver that waits for work (the others are busy or starting).
            state.idle.iter_mut().find_map(Option::take)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// A driver asks for the next job: `Ready(None)` once the pool is closed.
    pub(super) fn poll_next_job(
        &self,
        index: usize,
        cx: &Context<'_>,
    ) -> Poll<Option<Rc<JobSlot>>> {
        let mut state = self.state.borrow_mut();
        state.idle[index] = None;
        if let Some(slot) = state.queue.pop_front() {
            return Poll::Ready(Some(slot));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.idle[index] = Some(cx.waker().clone());
        Poll::Pending
    }

    /// A driver stops waiting for a job for another reason (its worker died): a new job must
    /// wake a driver that can take it.
    pub(super) fn leave_idle(&self, index: usize) {
        self.state.borrow_mut().idle[index] = None;
    }

    /// A driver busy with a worker asks to be woken by shutdown's kill.
    pub(super) fn watch(&self, index: usize, cx: &Context<'_>) {
        let mut state = self.state.borrow_mut();
        match &state.drivers[index] {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.drivers[index] = Some(cx.waker().clone()),
        }
    }

    /// A dropped `ProcessJob` that was still queued: it leaves the queue and never runs.
    pub(super) fn unqueue(&self, slot: &Rc<JobSlot>) {
        let removed = {
            let mut state = self.state.borrow_mut();
            let position = state.queue.iter().position(|s| Rc::ptr_eq(s, slot));
            position.and_then(|i| state.queue.remove(i))
        };
        if removed.is_some() {
            bump(&self.counters.cancelled);
        }
    }

    /// A driver whose worker cannot start fails the oldest queued job, but only when no
    /// worker is alive to serve it: jobs fail rather than wait forever, yet a pool that is
    /// only partly down goes on serving.
    pub(super) fn fail_one_if_no_worker(&self, error: impl FnOnce() -> ProcessJobError) {
        if self.counters.workers.get() > 0 {
            return;
        }
        let slot = self.state.borrow_mut().queue.pop_front();
        if let Some(slot) = slot {
            bump(&self.counters.failed);
            slot.finish(Err(error()));
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    pub(super) fn must_kill(&self) -> bool {
        self.state.borrow().kill
    }

    pub(super) fn set_pid(&self, index: usize, pid: Option<u32>) {
        self.state.borrow_mut().pids[index] = pid;
    }

    pub(super) fn pids(&self) -> Vec<u32> {
        self.state.borrow().pids.iter().flatten().copied().collect()
    }

    /// Stops taking jobs, cancels the queued ones, and wakes every driver so idle workers
    /// are told to exit. Running jobs go on.
    pub(super) fn close(&self) {
        let (queued, drivers) = {
            let mut state = self.state.borrow_mut();
            if state.closed {
                return;
            }
            state.closed = true;
            let queued: Vec<_> = state.queue.drain(..).collect();
            let drivers: Vec<_> = take_all(&mut state);
            (queued, drivers)
        };
        for slot in queued {
            bump(&self.counters.cancelled);
            slot.finish(Err(ProcessJobError::Cancelled));
        }
        drivers.into_iter().for_each(Waker::wake);
    }

    /// Shutdown's time is up: drivers kill the workers still running jobs.
    pub(super) fn kill_all(&self) {
        let drivers: Vec<_> = {
            let mut state = self.state.borrow_mut();
            state.kill = true;
            take_all(&mut state)
        };
        drivers.into_iter().for_each(Waker::wake);
    }

    /// A driver has stopped for good (its worker reaped).
    pub(super) fn driver_stopped(&self) {
        let waiters = {
            let mut state = self.state.borrow_mut();
            state.running_drivers -= 1;
            if state.running_drivers > 0 {
                return;
            }
            std::mem::take(&mut state.shutdown_waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready once every driver has stopped.
    pub(super) fn poll_stopped(&self, cx: &Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.running_drivers == 0 {
            return Poll::Ready(());
        }
        if !state.shutdown_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.shutdown_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(super) fn stats(&self) -> ProcessPoolStats {
        let c = &self.counters;
        ProcessPoolStats {
            max_workers: self.config.max_workers,
            workers: c.workers.get(),
            busy: c.busy.get(),
            queued: self.state.borrow().queue.len(),
            completed: c.completed.get(),
            panicked: c.panicked.get(),
            failed: c.failed.get(),
            crashed: c.crashed.get(),
            cancelled: c.cancelled.get(),
            rejected: c.rejected.get(),
            restarted: c.restarted.get(),
            start_failures: c.start_failures.get(),
        }
    }
}

/// Every driver's waker, idle or busy.
fn take_all(state: &mut State) -> Vec<Waker> {
    let State { idle, drivers, .. } = state;
    idle.iter_mut().chain(drivers.iter_mut()).filter_map(Option::take).collect()
}

/// The statistics of every process pool alive on this thread, in creation order.
pub(crate) fn thread_pool_stats() -> Vec<ProcessPoolStats> {
    POOLS
        .try_with(|pools| {
            pools.borrow().iter().filter_map(Weak::upgrade).map(|p| p.stats()).collect()
        })
        .unwrap_or_default()
}
