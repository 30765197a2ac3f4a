//! One loop's recording: events written by the loop's thread into a bounded ring that other
//! threads read.
//!
//! The loop never takes a lock: it writes each event straight into its slot of the ring and
//! publishes how far it got once per [`CHUNK`] events and each time it is about to park (so
//! an idle loop has nothing left unpublished). Readers copy what was published and drop what
//! the loop may have overwritten meanwhile. The ring keeps the newest events (a power of two
//! of them, fixed when the loop is built) and counts what it overwrote.
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

/// Events the loop writes before it publishes them (it also publishes before it parks).
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

/// One event in the ring: the four words of an [`Event`], written by the loop thread with
/// relaxed stores (plain stores on x86) and read by exporters, who discard whatever the loop
/// may have overwritten while they read (see [`LoopRing::snapshot`]). Atomics, not a lock: the
/// loop writes straight into the ring, with no copy and no lock per event.
struct Slot([AtomicU64; 4]);

impl Slot {
    #[inline]
    fn store(&self, event: &Event) {
        let [at, task, cause, info] = &self.0;
        at.store(event.at, Ordering::Relaxed);
        task.store(event.task, Ordering::Relaxed);
        cause.store(event.cause, Ordering::Relaxed);
        info.store(event.info, Ordering::Relaxed);
    }

    fn load(&self) -> Event {
        let [at, task, cause, info] = &self.0;
        Event {
            at: at.load(Ordering::Relaxed),
            task: task.load(Ordering::Relaxed),
            cause: cause.load(Ordering::Relaxed),
            info: info.load(Ordering::Relaxed),
        }
    }
}

/// The part of a loop's recording other threads read.
pub(crate) struct LoopRing {
    pub(crate) loop_id: u64,
    /// The loop thread's name when the loop was built ("kairos-worker-0"), or "loop N".
    pub(crate) name: String,
    /// The stall detector's threshold: polls this long are marked as stalls.
    pub(crate) slow_callback_us: Option<f64>,
    /// Event `n` is in slot `n & mask`; a power of two of them.
    slots: Box<[Slot]>,
    mask: u64,
    /// Events published: all of `..published` are written. The loop writes at most
    /// [`CHUNK`] events past it before publishing again, so only the oldest `CHUNK` published
    /// slots can be being overwritten at any time.
    published: AtomicU64,
    /// The reading when the loop last published: the end of its last segment, as far as
    /// readers know.
    flushed_at: AtomicU64,
    /// Names of named tasks (bounded: cleared when it grows past `NAMES_LIMIT`).
    names: Mutex<HashMap<u64, Arc<str>>>,
    /// Poll durations: `histogram[k]` counts polls of fewer than 2^k ticks (and at least
    /// 2^(k-1)). Written by the loop thread alone, hence load + store.
    pub(crate) histogram: [AtomicU64; 64],
    pub(crate) histogram_ticks: AtomicU64,
}

const NAMES_LIMIT: usize = 4096;

/// What an exporter copied out of a ring.
pub(crate) struct Snapshot {
    /// The number of `events[0]`.
    pub(crate) first: u64,
    pub(crate) events: Vec<Event>,
    pub(crate) flushed_at: u64,
    pub(crate) names: HashMap<u64, Arc<str>>,
    /// Events overwritten before anyone exported them (since the loop started).
    pub(crate) dropped: u64,
}

impl LoopRing {
    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// The oldest event a reader may trust while `published` is what it read: older slots
    /// were or may be being overwritten.
    fn oldest_readable(&self, published: u64) -> u64 {
        published.saturating_sub(self.capacity() - CHUNK as u64)
    }

    /// The events from the segment that was running at reading `from` on (with the spawns it
    /// made before then, which carry its start reading), up to the last published one.
    pub(crate) fn snapshot(&self, from: u64) -> Snapshot {
        let published = self.published.load(Ordering::Acquire);
        let oldest = self.oldest_readable(published);
        let read = |n: u64| self.slots[(n & self.mask) as usize].load();
        // Readings never decrease along the ring: binary search for the first at `from`.
        let (mut low, mut high) = (oldest, published);
        while low < high {
            let mid = low + (high - low) / 2;
            if read(mid).at < from {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let mut start = low;
        while start > oldest {
            start -= 1;
            if matches!(read(start).kind(), kind::POLL | kind::LOOP | kind::PARK) {
                break;
            }
        }
        let mut events: Vec<Event> = (start..published).map(read).collect();
        // Whatever the loop may have overwritten while we copied is dropped.
        let after = self.oldest_readable(self.published.load(Ordering::Acquire));
        let mut first = start;
        if after > first {
            let skip = ((after - first) as usize).min(events.len());
            events.drain(..skip);
            first += skip as u64;
        }
        Snapshot {
            first,
            events,
            flushed_at: self.flushed_at.load(Ordering::Relaxed),
            names: self.names.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            dropped: published.saturating_sub(self.capacity()),
        }
    }
}

/// Every ring, for export. Rings of loops that have ended stay (their last events are what a
/// trace written at shutdown shows) until [`forget_closed`] or a newer loop replaces them.
pub(crate) fn registry() -> &'static Mutex<Vec<Arc<LoopRing>>> {
    static RINGS: OnceLock<Mutex<Vec<Arc<LoopRing>>>> = OnceLock::new();
    RINGS.get_or_init(Mutex::default)
}

/// The loop thread's side: where the next event goes, and the open segment.
pub(crate) struct LoopRecorder {
    clock: &'static TraceClock,
    /// Where the running poll's label is published (see `Label::scope`).
    monitor: Arc<StallMonitor>,
    pub(crate) ring: Arc<LoopRing>,
    /// The number the next event gets.
    next: Cell<u64>,
    /// The open segment: its number, start reading and kind.
    open: Cell<(u64, u64, u8)>,
    /// The cause stamped on a task woken right now.
    phase: Cell<u64>,
    /// Spawn sites seen lately, by address: (address, number), direct-mapped.
    sites: [Cell<(usize, u32)>; 64],
    /// What last put each task on the ready queue, by the task's key in the loop's registry
    /// (keys are dense and reused, so this stays as long as the most tasks ever alive). Kept
    /// here rather than in the task's header, so a loop that does not record carries nothing.
    causes: RefCell<Vec<u64>>,
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
        let capacity = capacity.max(2 * CHUNK).next_power_of_two();
        let ring = Arc::new(LoopRing {
            loop_id,
            name,
            slow_callback_us: slow_callback.map(|d| d.as_secs_f64() * 1e6),
            slots: (0..capacity)
                .map(|_| Slot(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            mask: capacity as u64 - 1,
            published: AtomicU64::new(0),
            flushed_at: AtomicU64::new(clock.now()),
            names: Mutex::new(HashMap::new()),
            histogram: std::array::from_fn(|_| AtomicU64::new(0)),
            histogram_ticks: AtomicU64::new(0),
        });
        let mut rings = registry().lock().unwrap_or_else(|e| e.into_inner());
        // Rings of loops that ended stay for a trace written at shutdown; past 64, the oldest
        // goes, so tests and tools that build many loops keep a bounded number.
        if rings.len() >= 64 {
            rings.remove(0);
        }
        rings.push(Arc::clone(&ring));
        drop(rings);
        LoopRecorder {
            clock,
            monitor,
            ring,
            next: Cell::new(0),
            open: Cell::new((0, 0, 0)),
            phase: Cell::new(cause::START),
            sites: std::array::from_fn(|_| Cell::new((0, 0))),
            causes: RefCell::new(Vec::new()),
        }
    }

    /// The task with registry key `key` was put on the ready queue by whatever runs now.
    #[inline]
    pub(crate) fn woken(&self, key: usize) {
        if let Some(cause) = self.causes.borrow_mut().get_mut(key) {
            *cause = self.phase.get();
        }
    }

    /// The loop starts polling task `task`, whose registry key is `key` (the main future:
    /// any key not in use).
    #[inline]
    pub(crate) fn poll(&self, task: TaskId, key: usize) {
        let woken_by = self.causes.borrow().get(key).copied().unwrap_or(cause::START);
        let number = self.segment(kind::POLL, task.0, woken_by);
        self.phase.set(number << 3 | cause::TASK);
    }

    /// The loop has work of its own (callbacks from other threads, I/O to dispatch, timers
    /// to fire); wakes during it are stamped with `what`. A turn with nothing of the kind
    /// records no such segment.
    #[inline]
    pub(crate) fn loop_work(&self, what: u64) {
        let (number, _, open_kind) = self.open.get();
        let number = if open_kind == kind::LOOP {
            number
        } else {
            self.segment(kind::LOOP, TaskId::LOOP.0, 0)
        };
        self.phase.set(number << 3 | what);
    }

    /// The loop is about to park: publish everything, then open a park segment (its wakes are
    /// I/O readiness, seen when the reactor returns).
    pub(crate) fn park(&self) {
        let number = self.segment(kind::PARK, TaskId::LOOP.0, 0);
        self.phase.set(number << 3 | cause::IO);
        self.flush();
    }

    /// A task was spawned by whatever runs now, with registry key `key`: its first poll shows
    /// the spawn as its cause.
    #[inline]
    pub(crate) fn spawned(&self, key: usize, task: TaskId, site: &'static Location<'static>) {
        let (open, at, _) = self.open.get();
        let woken_by = open << 3 | cause::SPAWN;
        let mut causes = self.causes.borrow_mut();
        if causes.len() <= key {
            causes.resize(key + 1, cause::START);
        }
        causes[key] = woken_by;
        drop(causes);
        let site = u64::from(self.site_number(site));
        self.write(Event {
            at,
            task: task.0,
            cause: woken_by,
            info: site << 32 | u64::from(kind::SPAWN),
        });
    }

    #[inline]
    fn site_number(&self, site: &'static Location<'static>) -> u32 {
        let address = site as *const Location<'static> as usize;
        let cached = &self.sites[(address >> 3) % self.sites.len()];
        match cached.get() {
            (seen, number) if seen == address => number,
            _ => {
                let number = super::site_number(site);
                cached.set((address, number));
                number
            }
        }
    }

    /// Remembers a named task's name for the trace's track names.
    pub(crate) fn named(&self, task: TaskId, name: &Arc<str>) {
        let mut names = self.ring.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= NAMES_LIMIT {
            names.clear();
        }
        names.insert(task.0, Arc::clone(name));
    }

    /// A request span that ends now.
    pub(crate) fn request(&self, task: TaskId, started: u64, label: u32, status: u16) {
        let info = u64::from(status) << 40 | u64::from(label) << 8 | u64::from(kind::REQUEST);
        self.write(Event { at: self.clock.now(), task: task.0, cause: started, info });
    }

    /// Writes the next event into the ring; publishes once a chunk's worth is unpublished.
    #[inline]
    fn write(&self, event: Event) -> u64 {
        let number = self.next.get();
        self.ring.slots[(number & self.ring.mask) as usize].store(&event);
        self.next.set(number + 1);
        if number + 1 - self.ring.published.load(Ordering::Relaxed) >= CHUNK as u64 {
            self.flush();
        }
        number
    }

    /// Closes the open segment and opens one; returns the new segment's number.
    #[inline]
    fn segment(&self, kind: u8, task: u64, cause: u64) -> u64 {
        let at = self.clock.now();
        let (open, started, open_kind) = self.open.get();
        if open_kind == kind::POLL {
            let ticks = at.wrapping_sub(started);
            let bucket = (64 - ticks.leading_zeros()).min(63) as usize;
            let ring = &*self.ring;
            let count = &ring.histogram[bucket];
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            let total = &ring.histogram_ticks;
            total.store(total.load(Ordering::Relaxed).wrapping_add(ticks), Ordering::Relaxed);
            self.label(open);
        }
        let number = self.write(Event { at, task, cause, info: u64::from(kind) });
        self.open.set((number, at, kind));
        number
    }

    /// Writes the label the poll published (a request's route) into its event, if any.
    #[inline]
    fn label(&self, number: u64) {
        let label = self.monitor.current_label();
        if label != 0 {
            let info = &self.ring.slots[(number & self.ring.mask) as usize].0[3];
            let bits = info.load(Ordering::Relaxed) & !(u64::from(u32::MAX) << 8);
            info.store(bits | u64::from(label) << 8, Ordering::Relaxed);
        }
    }

    /// Labels the open segment if it is a poll: called while the monitor still shows that
    /// poll's label (before the loop's own work, or an export from inside the poll).
    #[inline]
    pub(crate) fn label_open_poll(&self) {
        let (open, _, open_kind) = self.open.get();
        if open_kind == kind::POLL {
            self.label(open);
        }
    }

    /// Publishes what was written.
    pub(crate) fn flush(&self) {
        self.ring.flushed_at.store(self.clock.now(), Ordering::Relaxed);
        self.ring.published.store(self.next.get(), Ordering::Release);
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
        assert_eq!(ring.capacity(), 1024, "the ring never grows");
        let published = ring.published.load(Ordering::Acquire);
        assert!(published >= 100_000, "every poll was written: {published}");
        // What a reader gets is the newest, in order, all but the chunk the loop may be
        // overwriting.
        let snapshot = ring.snapshot(0);
        assert_eq!(snapshot.dropped, published - 1024);
        assert_eq!(snapshot.first, published - (1024 - CHUNK as u64));
        assert_eq!(snapshot.events.len(), 1024 - CHUNK);
        assert!(snapshot.events.windows(2).all(|pair| pair[0].at <= pair[1].at));
    }
}
