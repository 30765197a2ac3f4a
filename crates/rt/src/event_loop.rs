//! The loop itself: one turn at a time, like asyncio's `BaseEventLoop._run_once`.
//!
//! A turn:
//! 1. (the main future of `run` is a task like the others: it sits in the ready queue when
//!    woken, so it takes its turn in FIFO order, as asyncio's main task does);
//! 2. polls every task that was on the ready queue when the turn began — tasks woken during
//!    the turn (including a task that wakes itself) wait for the next turn;
//! 3. moves what other threads injected (woken tasks, `call_soon` closures) onto the queue;
//! 4. asks the reactor for I/O events — without waiting if anything is ready, otherwise until
//!    the next timer is due (or forever, until an event or an injection) — and wakes the
//!    tasks whose sockets are ready;
//! 5. fires the timers that are due.
//!
//! Steps 4 and 5 run every turn, so a task that keeps itself busy with `yield_now` cannot
//! starve sockets or timers: it gets one poll per turn, like everybody else. (When no socket is
//! registered, step 4 is skipped unless the loop has to wait: there is nothing to ask.)

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::context;
use crate::io::reactor::Reactor;
use crate::record::{cause, LoopRecorder};
use crate::shared::{Injected, Shared};
use crate::stall::{StallMonitor, Watchdog};
use crate::task::{Header, Task, TaskCell, TaskId, TaskInfo, TaskRef};
use crate::time::queue::TimerQueue;
use crate::Config;

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// A loop's state, owned by its thread.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) reactor: Rc<Reactor>,
    pub(crate) timers: RefCell<TimerQueue>,
    pub(crate) monitor: Arc<StallMonitor>,
    ready: RefCell<VecDeque<Ready>>,
    /// The buffer injected items are drained into, kept between turns.
    injected: Cell<Vec<Injected>>,
    /// Every task not yet finished: the loop owns its tasks (a detached task that nothing will
    /// ever wake stays here until shutdown cancels it).
    tasks: RefCell<Slab<TaskRef>>,
    /// The time at the start of the last turn with timers armed (see `now`).
    now: Cell<Instant>,
    next_task_id: Cell<u64>,
    spawned: Cell<u64>,
    debug: bool,
    _watchdog: Option<Watchdog>,
    /// The recording, when the loop was built with one (see `record`).
    pub(crate) recorder: Option<LoopRecorder>,
    pub(crate) config: Config,
    pub(crate) default_executor: crate::executor::DefaultExecutor,
}

impl Core {
    pub(crate) fn new(config: Config) -> std::io::Result<Core> {
        let loop_id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let (reactor, unpark) = Reactor::new(config.event_capacity)?;
        let reporter = crate::diagnostic::Reporter::new(config.diagnostic_hook.clone());
        let monitor =
            Arc::new(StallMonitor::new(loop_id, config.slow_callback_duration, reporter.clone()));
        let watchdog = monitor.start_watchdog();
        let recorder = (config.record_events > 0).then(|| {
            LoopRecorder::new(
                loop_id,
                config.record_events,
                config.slow_callback_duration,
                Arc::clone(&monitor),
            )
        });
        Ok(Core {
            shared: Arc::new(Shared::new(loop_id, unpark, reporter)),
            reactor: Rc::new(reactor),
            timers: RefCell::new(TimerQueue::default()),
            monitor,
            ready: RefCell::new(VecDeque::new()),
            injected: Cell::new(Vec::new()),
            tasks: RefCell::new(Slab::new()),
            now: Cell::new(Instant::now()),
            next_task_id: Cell::new(1),
            spawned: Cell::new(0),
            debug: config.debug,
            _watchdog: watchdog,
            recorder,
            default_executor: crate::executor::DefaultExecutor::new(
                config.default_executor_workers,
            ),
            config,
        })
    }

    pub(crate) fn loop_id(&self) -> u64 {
        self.shared.loop_id
    }

    /// The loop's notion of now: refreshed every turn while timers are armed. Never later
    /// than the real time, so comparing a deadline with it never fires a timer early.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    pub(crate) fn push_ready(&self, task: TaskRef) {
        if let Some(recorder) = &self.recorder {
            recorder.woken(task.header().registry_key());
        }
        self.ready.borrow_mut().push_back(Ready::Task(task));
    }

    pub(crate) fn spawn<F: Future + 'static>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        spawned_at: &'static Location<'static>,
    ) -> Task<F::Output> {
        let id = TaskId(self.next_task_id.get());
        self.next_task_id.set(id.0 + 1);
        self.spawned.set(self.spawned.get() + 1);
        if let Some(name) = &name {
            self.monitor.name_task(id, Arc::clone(name));
        }
        let header = Header::new(Arc::clone(&self.shared), id, name, spawned_at);
        let cell = Arc::new(TaskCell::new(future, header));
        let task: TaskRef = cell.clone();
        let key = self.tasks.borrow_mut().insert(Arc::clone(&task));
        task.header().set_registry_key(key);
        if let Some(recorder) = &self.recorder {
            recorder.spawned(key, id, spawned_at);
            if let Some(name) = &task.header().name {
                recorder.named(id, name);
            }
        }
        self.ready.borrow_mut().push_back(Ready::Task(task));
        Task::new(cell)
    }

    /// A task finished: the loop no longer owns it.
    pub(crate) fn task_finished(&self, header: &Header) {
        let mut tasks = self.tasks.borrow_mut();
        let key = header.registry_key();
        // At shutdown the registry was drained and its keys may be reused: check identity.
        if tasks.get(key).is_some_and(|t| t.header().id == header.id) {
            let task = tasks.remove(key);
            drop(tasks);
            drop(task);
        }
        if header.name.is_some() {
            self.monitor.forget_name(header.id);
        }
    }

    /// Drives `future` to completion, running the loop meanwhile.
    pub(crate) fn block_on<F: Future>(
        self: &Rc<Self>,
        future: F,
        called_at: &'static Location<'static>,
    ) -> F::Output {
        let _enter = context::enter(Rc::clone(self));
        // Dropped after `_busy`, before `_enter`: in reverse order of creation.
        let _context = self.config.context.as_ref().map(|enter| enter());
        let _busy = BusyGuard::new(&self.monitor);
        let main = Arc::new(MainWaker {
            notified: AtomicBool::new(true),
            shared: Arc::clone(&self.shared),
        });
        self.ready.borrow_mut().push_back(Ready::Main);
        let waker = Waker::from(Arc::clone(&main));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            // Step 2: the turn's batch is what was ready when it began.
            let batch = self.ready.borrow().len();
            for _ in 0..batch {
                let Some(entry) = self.ready.borrow_mut().pop_front() else { break };
                let task = match entry {
                    Ready::Task(task) => task,
                    Ready::Main => {
                        main.notified.store(false, Ordering::Release);
                        if let Poll::Ready(output) =
                            self.poll_main(future.as_mut(), &mut cx, called_at)
                        {
                            if let Some(recorder) = &self.recorder {
                                recorder.flush(); // readers see the run to its end
                            }
                            return output;
                        }
                        continue;
                    }
                };
                self.poll_task(task);
            }
            if let Some(recorder) = &self.recorder {
                // The last poll's label, before the loop's own work takes the monitor over.
                recorder.label_open_poll();
            }
            // Loop work (callbacks, I/O dispatch, timers) is watched as "the loop itself".
            self.monitor.enter_poll(TaskId::LOOP, Location::caller());
            self.run_injected();
            self.drive_io_and_timers();
            self.monitor.exit_poll();
        }
    }

    fn poll_main<F: Future>(
        &self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
        called_at: &'static Location<'static>,
    ) -> Poll<F::Output> {
        if let Some(recorder) = &self.recorder {
            recorder.poll(TaskId(0), usize::MAX);
        }
        self.monitor.enter_poll(TaskId(0), called_at);
        if self.debug {
            let started = Instant::now();
            let polled = future.poll(cx);
            self.monitor.exit_poll_timed(started.elapsed(), || TaskInfo {
                id: TaskId(0),
                name: Some("main".into()),
                spawned_at: called_at,
            });
            polled
        } else {
            let polled = future.poll(cx);
            self.monitor.exit_poll();
            polled
        }
    }

    #[inline]
    fn poll_task(&self, task: TaskRef) {
        let header = task.header();
        if let Some(recorder) = &self.recorder {
            recorder.poll(header.id, header.registry_key());
        }
        self.monitor.enter_poll(header.id, header.spawned_at);
        if self.debug {
            let this = TaskRef::clone(&task);
            let started = Instant::now();
            task.run(self);
            self.monitor.exit_poll_timed(started.elapsed(), || this.header().info());
        } else {
            task.run(self);
            self.monitor.exit_poll();
        }
    }

    /// Step 3: what other threads handed over.
    fn run_injected(&self) {
        if !self.shared.has_injected() {
            return;
        }
        if let Some(recorder) = &self.recorder {
            recorder.loop_work(cause::REMOTE);
        }
        let mut injected = self.injected.take();
        self.shared.take_into(&mut injected);
        for item in injected.drain(..) {
            match item {
                Injected::Task(task) => self.push_ready(task),
                Injected::Main => self.ready.borrow_mut().push_back(Ready::Main),
                Injected::Call(call) => {
                    // A panicking callback must not take the loop down.
                    if let Err(payload) =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
                    {
                        let message = crate::task::panic_message(payload.as_ref());
                        tracing::error!(target: "kairos::loop", "a call_soon callback panicked: {message}");
                    }
                }
            }
        }
        self.injected.set(injected); // keep the capacity for the next turn
    }

    /// Steps 4 and 5: I/O events, then due timers.
    fn drive_io_and_timers(&self) {
        let has_work = !self.ready.borrow().is_empty();
        let timeout = if has_work {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        let must_wait = timeout != Some(Duration::ZERO);
        if must_wait || self.reactor.len() > 0 {
            let timeout =
                if must_wait && !self.shared.park() { Some(Duration::ZERO) } else { timeout };
            let parked = timeout != Some(Duration::ZERO);
            if let Some(recorder) = &self.recorder {
                if parked {
                    recorder.park();
                } else {
                    recorder.loop_work(cause::IO);
                }
            }
            if parked {
                self.monitor.set_idle(true);
            }
            let result = self.reactor.turn(timeout);
            if parked {
                self.monitor.set_idle(false);
            }
            self.shared.unparked();
            if let Err(e) = result {
                // epoll_wait failing for anything but EINTR means the loop cannot see I/O any
                // more; carrying on would spin or hang, so stop loudly.
                panic!("kairos event loop: waiting for I/O failed: {e}");
            }
        }
        if !self.timers.borrow().is_empty() {
            if let Some(recorder) = &self.recorder {
                recorder.loop_work(cause::TIMER);
            }
            let now = Instant::now();
            self.now.set(now);
            loop {
                let waker = self.timers.borrow_mut().pop_expired(now);
                match waker {
                    Some(waker) => waker.wake(),
                    None => break,
                }
            }
        }
    }

    /// Cancels every task still alive (destructors run on this thread), then closes the loop
    /// to other threads. Called when the runtime is dropped.
    pub(crate) fn shutdown(self: &Rc<Self>) {
        // Destructors of cancelled tasks may need their loop (to disarm a timer, say). If
        // another loop runs on this thread (a refused nested `run` unwinding), they do
        // without: they see a loop that is not theirs and leave its state alone.
        let _enter = context::try_enter(Rc::clone(self));
        // And the context the loop runs in (`Builder::context`): a destructor may need it as
        // much as a poll does (sqlx's pooled connection hands itself back with tokio's spawn).
        let _context = self.config.context.as_ref().map(|enter| enter());
        self.cancel_all_tasks();
        self.ready.borrow_mut().clear();
        drop(self.shared.close());
        self.timers.borrow_mut().clear();
        self.reactor.clear_wakers();
        self.default_executor.shutdown(self.config.executor_shutdown_timeout);
        // The destructors just run (closures never called, wakers, pool jobs) may have spawned.
        self.cancel_all_tasks();
        self.ready.borrow_mut().clear();
        if let Some(recorder) = &self.recorder {
            recorder.park();
        }
    }

    /// Cancels tasks until none is left. Destructors of cancelled tasks may spawn tasks,
    /// which are cancelled in the next round; a destructor that respawns forever is cut off
    /// after `MAX_ROUNDS`, and the tasks left are leaked rather than dropped on the wrong
    /// thread later (see the `Send` impl of the task cell).
    fn cancel_all_tasks(&self) {
        const MAX_ROUNDS: usize = 1000;
        for _ in 0..MAX_ROUNDS {
            let alive: Vec<TaskRef> = self.tasks.borrow_mut().drain().collect();
            if alive.is_empty() {
                return;
            }
            for task in alive {
                // A panicking waker must not stop the others from being cancelled.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    task.cancel_now(self);
                }));
            }
        }
        let leaked: Vec<TaskRef> = self.tasks.borrow_mut().drain().collect();
        tracing::error!(
            target: "kairos::loop",
            "{} tasks kept spawning tasks from their destructors during shutdown; they are \
             leaked, not cancelled",
            leaked.len()
        );
        std::mem::forget(leaked);
    }

    pub(crate) fn stats(&self) -> crate::LoopStats {
        crate::LoopStats {
            loop_id: self.loop_id(),
            tasks_alive: self.tasks.borrow().len(),
            tasks_spawned: self.spawned.get(),
            polls: self.monitor.polls(),
            ready_queue: self.ready.borrow().len(),
            timers_pending: self.timers.borrow().len(),
            io_sources: self.reactor.len(),
            slow_polls: self.monitor.slow_polls(),
            slow_polls_by_label: self.monitor.slow_polls_by_label(),
            unobserved_panics: self.shared.unobserved_panics(),
            poll_time: self.recorder.as_ref().map(|r| crate::record::PollHistogram::of(&r.ring)),
        }
    }
}

/// An entry of the ready queue: a task, or the main future of `block_on`.
enum Ready {
    Task(TaskRef),
    Main,
}

/// The main future's waker: queues `Ready::Main` once per wake-up.
struct MainWaker {
    notified: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return; // already notified: the loop will poll the main future anyway
        }
        let queued_here = context::with_core(|core| {
            let own = Arc::ptr_eq(&core.shared, &self.shared);
            if own {
                core.ready.borrow_mut().push_back(Ready::Main);
            }
            own
        });
        if queued_here != Some(true) {
            // From another thread the loop may be parked: the injection goes through the same
            // park/unpark handshake as a woken task, so the wake cannot be lost.
            let _ = self.shared.inject(Injected::Main);
        }
    }
}

/// Marks the loop busy while `block_on` runs, idle once it returns (even by panic).
struct BusyGuard<'a> {
    monitor: &'a StallMonitor,
}

impl<'a> BusyGuard<'a> {
    fn new(monitor: &'a StallMonitor) -> Self {
        monitor.set_idle(false);
        BusyGuard { monitor }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.monitor.set_idle(true);
    }
}
