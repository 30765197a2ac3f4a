//! One loop's recording: events written on the loop's thread into a small local chunk, moved
//! in bulk into a bounded ring that other threads read.
//!
//! The loop never takes a lock per event: it appends to a chunk of its own and takes the
//! ring's lock once per [`CHUNK`] events, and each time it is about to park (so an idle loop
//! has nothing left unpublished). The ring keeps the newest `capacity` events and counts what
//! it overwrote; its memory is fixed when the loop is built.
//!
//! A loop's activity is a sequence of *segments* — a poll of a task, the loop's own work, a
//! park — each starting when the previous one ends, so one clock reading per segment gives
//! both the start of one and the end of the other. Point events (a spawn, a request's span)
//! sit between them and carry their own times.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::clock::TraceClock;
use crate::stall::StallMonitor;
use crate::task::TaskId;

/// Events moved to the ring at a time.
pub(crate) const CHUNK: usize = 512;

/// The kinds of event (`Event::info`'s low byte).
pub(crate) mod kind {
    /// Segment: a poll of task `task`, woken by `cause`.
    pub(crate) const POLL: u8 = 1;
    /// Segment: the loop's own work (callbacks from other threads, I/O dispatch, timers).
    pub(crate) const LOOP: u8 = 2;
    /// Segment: the loop waits in the reactor for I/O, a timer or a wake.
    pub(crate) const PARK: u8 = 3;
    /// Point: task `task` was spawned during the segment `cause` names; the spawn site's
    /// number is in `info`'s high half.
    pub(crate) const SPAWN: u8 = 4;
    /// Point: a request served by task `task` from `cause` to `at` (both readings: `at` is
    /// its end, so readings stay in order along the ring), with its label and status in
    /// `info`.
    pub(crate) const REQUEST: u8 = 5;
}

/// What woke a task (`cause`'s low three bits); the rest of `cause` is the number of the
/// segment during which the wake happened.
pub(crate) mod cause {
    /// Not known: the main future, or a wake before recording began.
    pub(crate) const START: u64 = 0;
    pub(crate) const SPAWN: u64 = 1;
    pub(crate) const TASK: u64 = 2;
    pub(crate) const TIMER: u64 = 3;
    pub(crate) const IO: u64 = 4;
    /// From another thread: a pool job's result, another loop, `Handle::spawn`.
    pub(crate) const REMOTE: u64 = 5;

    pub(crate) fn name(cause: u64) -> &'static str {
        match cause & 7 {
            SPAWN => "spawn",
            TASK => "task",
            TIMER => "timer",
            IO => "io",
            REMOTE => "remote",
            _ => "start",
        }
    }
}

/// One recorded event: 32 bytes, no pointers, so the ring is one flat allocation.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Event {
    /// The clock reading when it began (a request: when it ended). Never decreases along
    /// the ring.
    pub(crate) at: u64,
    pub(crate) task: u64,
    /// A poll's wake cause; a request's start reading; a spawn's cause.
    pub(crate) cause: u64,
    /// Kind (bits 0–7), label number (bits 8–39), request status (bits 40–55); for a spawn,
    /// the site's number in bits 32–63.
    pub(crate) info: u64,
}

impl Event {
    pub(crate) fn kind(&self) -> u8 {
        self.info as u8
    }

    pub(crate) fn label(&self) -> u32 {
        (self.info >> 8) as u32
    }

    pub(crate) fn status(&self) -> u16 {
        (self.info >> 40) as u16
    }

    pub(crate) fn site(&self) -> u32 {
        (self.info >> 32) as u32
    }
}

/// The part of a loop's recording other threads read.
pub(crate) struct LoopRing {
    pub(crate) loop_id: u64,
    /// The loop thread's name when the loop was built ("kairos-worker-0"), or "loop N".
    pub(crate) name: String,
    /// The stall detector's threshold: polls this long are marked as stalls.
    pub(crate) slow_callback_us: Option<f64>,
    pub(crate) inner: Mutex<RingInner>,
    /// Poll durations: `histogram[k]` counts polls of fewer than 2^k ticks (and at least
    /// 2^(k-1)). Written by the loop thread alone, hence load + store.
    pub(crate) histogram: [AtomicU64; 64],
    pub(crate) histogram_ticks: AtomicU64,
}

pub(crate) struct RingInner {
    events: Vec<Event>,
    /// Events ever written: the next event's number. Event `n` sits at `n % capacity`.
    pub(crate) written: u64,
    /// The reading when the last chunk was moved here: the end of the last segment, as far as
    /// readers know.
    pub(crate) flushed_at: u64,
    /// Names of named tasks (bounded: cleared when it grows past `NAMES_LIMIT`).
    pub(crate) names: HashMap<u64, Arc<str>>,
}

const NAMES_LIMIT: usize = 4096;

impl RingInner {
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.events.len()
    }

    /// Events `from..self.written` still held (older ones were overwritten), in order, with
    /// the number of the first.
    pub(crate) fn since(&self, from: u64) -> (u64, Vec<Event>) {
        let capacity = self.events.len() as u64;
        let first = from.max(self.written.saturating_sub(capacity));
        let events = (first..self.written).map(|n| self.events[(n % capacity) as usize]).collect();
        (first, events)
    }

    /// The number of the oldest event with a reading at or after `at` (a binary search:
    /// readings never decrease along the ring).
    pub(crate) fn first_at_or_after(&self, at: u64) -> u64 {
        let capacity = self.events.len() as u64;
        let (mut low, mut high) = (self.written.saturating_sub(capacity), self.written);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.events[(mid % capacity) as usize].at < at {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Where an export of the time from `at` on starts: the segment that was running at `at`
    /// (with the spawns it made before then, which carry its start reading).
    pub(crate) fn window_start(&self, at: u64) -> u64 {
        let capacity = self.events.len() as u64;
        let oldest = self.written.saturating_sub(capacity);
        let mut start = self.first_at_or_after(at);
        while start > oldest {
            start -= 1;
            let kind = self.events[(start % capacity) as usize].kind();
            if matches!(kind, kind::POLL | kind::LOOP | kind::PARK) {
                break;
            }
        }
        start
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.written.saturating_sub(self.events.len() as u64)
    }
}

/// Every ring, for export. Rings of loops that have ended stay (their last events are what a
/// trace written at shutdown shows) until [`forget_closed`] or a newer loop replaces them.
pub(crate) fn registry() -> &'static Mutex<Vec<Arc<LoopRing>>> {
    static RINGS: OnceLock<Mutex<Vec<Arc<LoopRing>>>> = OnceLock::new();
    RINGS.get_or_init(Mutex::default)
}

/// The loop thread's side: the chunk being filled and the open segment.
pub(crate) struct LoopRecorder {
    clock: &'static TraceClock,
    /// Where the running poll's label is published (see `Label::scope`).
    monitor: Arc<StallMonitor>,
    pub(crate) ring: Arc<LoopRing>,
    chunk: RefCell<Vec<Event>>,
    /// The number the next event gets.
    next: Cell<u64>,
    /// The open segment: its number, start reading and kind; its index in the chunk
    /// (`usize::MAX` once it was moved to the ring).
    open: Cell<(u64, u64, u8)>,
    open_index: Cell<usize>,
    /// The cause stamped on a task woken right now.
    phase: Cell<u64>,
}

impl LoopRecorder {
    pub(crate) fn new(
        loop_id: u64,
        capacity: usize,
        slow_callback: Option<std::time::Duration>,
        monitor: Arc<StallMonitor>,
    ) -> LoopRecorder {
        let clock = TraceClock::get();
        super::RECORDING.store(true, Ordering::Relaxed);
        let name = std::thread::current()
            .name()
            .filter(|name| *name != "main")
            .map_or_else(|| format!("loop {loop_id}"), str::to_owned);
        let ring = Arc::new(LoopRing {
            loop_id,
            name,
            slow_callback_us: slow_callback.map(|d| d.as_secs_f64() * 1e6),
            inner: Mutex::new(RingInner {
                events: vec![Event::default(); capacity.max(CHUNK)],
                written: 0,
                flushed_at: clock.now(),
                names: HashMap::new(),
            }),
            histogram: std::array::from_fn(|_| AtomicU64::new(0)),
            histogram_ticks: AtomicU64::new(0),
        });
        let mut rings = registry().lock().unwrap_or_else(|e| e.into_inner());
        // A loop that ended and was not asked for since is replaced by the newest ones: tests
        // and tools that build many loops keep a bounded number of rings.
        if rings.len() >= 64 {
            rings.remove(0);
        }
        rings.push(Arc::clone(&ring));
        drop(rings);
        LoopRecorder {
            clock,
            monitor,
            ring,
            chunk: RefCell::new(Vec::with_capacity(CHUNK)),
            next: Cell::new(0),
            open: Cell::new((0, 0, 0)),
            open_index: Cell::new(usize::MAX),
            phase: Cell::new(cause::START),
        }
    }

    /// What to stamp on a task woken now.
    #[inline]
    pub(crate) fn phase(&self) -> u64 {
        self.phase.get()
    }

    /// The loop starts polling task `task` (woken by `woken_by`).
    #[inline]
    pub(crate) fn poll(&self, task: TaskId, woken_by: u64) {
        let number = self.segment(kind::POLL, task.0, woken_by);
        self.phase.set(number << 3 | cause::TASK);
    }

    /// The loop starts its own work; wakes during it are stamped with `what`.
    #[inline]
    pub(crate) fn loop_work(&self, what: u64) {
        let number = self.segment(kind::LOOP, TaskId::LOOP.0, 0);
        self.phase.set(number << 3 | what);
    }

    /// Wakes from now on are stamped with `what` (the loop moved from callbacks to I/O to
    /// timers within one segment).
    #[inline]
    pub(crate) fn set_phase(&self, what: u64) {
        self.phase.set(self.open.get().0 << 3 | what);
    }

    /// The loop is about to park: publish everything, then open a park segment (its wakes are
    /// I/O readiness, seen when the reactor returns).
    pub(crate) fn park(&self) {
        let number = self.segment(kind::PARK, TaskId::LOOP.0, 0);
        self.phase.set(number << 3 | cause::IO);
        self.flush();
    }

    /// A task was spawned by whatever runs now; returns the cause its first poll shows.
    #[inline]
    pub(crate) fn spawned(&self, task: TaskId, site: &'static Location<'static>) -> u64 {
        let woken_by = self.open.get().0 << 3 | cause::SPAWN;
        let site = u64::from(super::site_number(site));
        let at = self.open.get().1;
        self.point(Event {
            at,
            task: task.0,
            cause: woken_by,
            info: site << 32 | u64::from(kind::SPAWN),
        });
        woken_by
    }

    /// Remembers a named task's name for the trace's track names.
    pub(crate) fn named(&self, task: TaskId, name: &Arc<str>) {
        let mut inner = self.ring.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.names.len() >= NAMES_LIMIT {
            inner.names.clear();
        }
        inner.names.insert(task.0, Arc::clone(name));
    }

    /// A request span that ends now.
    pub(crate) fn request(&self, task: TaskId, started: u64, label: u32, status: u16) {
        let info = u64::from(status) << 40 | u64::from(label) << 8 | u64::from(kind::REQUEST);
        self.point(Event { at: self.clock.now(), task: task.0, cause: started, info });
    }

    #[inline]
    fn point(&self, event: Event) {
        let mut chunk = self.chunk.borrow_mut();
        chunk.push(event);
        self.next.set(self.next.get() + 1);
        if chunk.len() >= CHUNK {
            drop(chunk);
            self.flush();
        }
    }

    /// Closes the open segment and opens one; returns the new segment's number.
    #[inline]
    fn segment(&self, kind: u8, task: u64, cause: u64) -> u64 {
        let at = self.clock.now();
        let (_, started, open_kind) = self.open.get();
        if open_kind == kind::POLL {
            let ticks = at.wrapping_sub(started);
            let bucket = (64 - ticks.leading_zeros()).min(63) as usize;
            let ring = &*self.ring;
            let count = &ring.histogram[bucket];
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            let total = &ring.histogram_ticks;
            total.store(total.load(Ordering::Relaxed).wrapping_add(ticks), Ordering::Relaxed);
            self.label_open();
        }
        let number = self.next.get();
        let mut chunk = self.chunk.borrow_mut();
        if chunk.len() >= CHUNK {
            drop(chunk);
            self.flush();
            chunk = self.chunk.borrow_mut();
        }
        self.open_index.set(chunk.len());
        chunk.push(Event { at, task, cause, info: u64::from(kind) });
        self.next.set(number + 1);
        self.open.set((number, at, kind));
        number
    }

    /// Writes the label the running poll published (a request's route) into its event.
    #[inline]
    fn label_open(&self) {
        let label = self.monitor.current_label();
        if label != 0 {
            if let Some(event) = self.chunk.borrow_mut().get_mut(self.open_index.get()) {
                event.info = event.info & !(u64::from(u32::MAX) << 8) | u64::from(label) << 8;
            }
        }
    }

    /// Moves the chunk into the ring, labelling the open poll first (its label may already
    /// be published: an export from inside a poll, a request ending).
    pub(crate) fn flush(&self) {
        if self.open.get().2 == kind::POLL {
            self.label_open();
        }
        let mut chunk = self.chunk.borrow_mut();
        let mut inner = self.ring.inner.lock().unwrap_or_else(|e| e.into_inner());
        let capacity = inner.events.len() as u64;
        for event in chunk.drain(..) {
            let slot = (inner.written % capacity) as usize;
            inner.events[slot] = event;
            inner.written += 1;
        }
        inner.flushed_at = self.clock.now();
        self.open_index.set(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_its_capacity_and_counts_what_it_overwrote() {
        let runtime = crate::Builder::new().record(1024).build().unwrap();
        runtime.block_on(async {
            for _ in 0..100_000 {
                crate::yield_now().await;
            }
        });
        let loop_id = runtime.stats().loop_id;
        let ring = registry()
            .lock()
            .unwrap()
            .iter()
            .find(|ring| ring.loop_id == loop_id)
            .cloned()
            .expect("the loop's ring is registered");
        let inner = ring.inner.lock().unwrap();
        assert_eq!(inner.capacity(), 1024, "the ring never grows");
        assert!(inner.written >= 100_000, "every poll was written: {}", inner.written);
        assert_eq!(inner.dropped(), inner.written - 1024);
        // What is kept is the newest, in order.
        let (first, events) = inner.since(0);
        assert_eq!(first, inner.written - 1024);
        assert!(events.windows(2).all(|pair| pair[0].at <= pair[1].at));
    }
}
