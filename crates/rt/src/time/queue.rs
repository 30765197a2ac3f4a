//! The loop's timer queue: an indexed binary min-heap of deadlines.
//!
//! asyncio keeps its timers in a `heapq` and lets a cancelled timer sit there until it
//! reaches the top. kairos removes a timer the moment its `Sleep` is dropped, so a server that
//! wraps every request in a 30 s timeout does not carry millions of dead entries: each slot
//! knows its position in the heap, which makes removal O(log n). Ties on the deadline fire in
//! the order the timers were armed (a sequence number breaks them), so timers fire in order.
//!
//! A [`TimerKey`] carries a generation: once its timer fired or was removed, the slot may be
//! reused, and the stale key is recognised instead of touching the new timer.
//!
//! Memory per armed timer is 40 bytes: a 16-byte heap entry (deadline as nanoseconds since the
//! queue was made, a 32-bit sequence number, a slot index) and a 24-byte slot (generation, heap
//! position, waker). The sequence number wraps after 2^32 timers; only two timers with the very
//! same nanosecond deadline armed 2^32 timers apart could then fire out of order.

use std::task::Waker;
use std::time::Instant;

/// Identifies an armed timer in one loop's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

#[derive(Clone, Copy)]
struct HeapEntry {
    /// Nanoseconds since `TimerQueue::epoch`.
    deadline: u64,
    seq: u32,
    slot: u32,
}

impl HeapEntry {
    fn before(&self, other: &HeapEntry) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// `Slot::heap_index` of a free slot.
const FREE: u32 = u32::MAX;

struct Slot {
    generation: u32,
    /// Position in `heap`, or `FREE`.
    heap_index: u32,
    waker: Option<Waker>,
}

/// Armed timers of one loop.
pub(crate) struct TimerQueue {
    epoch: Instant,
    heap: Vec<HeapEntry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_seq: u32,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            epoch: Instant::now(),
            heap: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl TimerQueue {
    /// `instant` as nanoseconds since the epoch (earlier instants count as the epoch).
    fn nanos(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|e| self.epoch + std::time::Duration::from_nanos(e.deadline))
    }

    /// Arms a timer that wakes `waker` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).expect("more than 2^32 timers armed");
                self.slots.push(Slot { generation: 0, heap_index: FREE, waker: None });
                slot
            }
        };
        let index = self.heap.len();
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.heap.push(HeapEntry { deadline: self.nanos(deadline), seq, slot });
        let s = &mut self.slots[slot as usize];
        s.waker = Some(waker);
        s.heap_index = index as u32;
        let key = TimerKey { slot, generation: s.generation };
        self.sift_up(index);
        key
    }

    /// Whether `key` is still armed (it has neither fired nor been removed).
    #[cfg(test)]
    fn is_armed(&self, key: TimerKey) -> bool {
        self.slot(key).is_some()
    }

    /// Replaces the waker of an armed timer; `false` if the timer is no longer armed.
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.slot_mut(key) {
            Some(slot) => {
                match &slot.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => slot.waker = Some(waker.clone()),
                }
                true
            }
            None => false,
        }
    }

    /// Disarms a timer; `false` if it had already fired or been removed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> bool {
        self.take(key).is_some()
    }

    /// Disarms a timer and returns its waker; `None` if it had already fired or been removed.
    pub(crate) fn take(&mut self, key: TimerKey) -> Option<Waker> {
        let index = self.slot(key)?.heap_index;
        self.remove_at(index as usize)
    }

    /// Pops the earliest timer if its deadline is at or before `now`, returning its waker.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Waker> {
        let first = self.heap.first()?;
        if first.deadline > self.nanos(now) {
            return None;
        }
        self.remove_at(0)
    }

    /// Drops every timer (loop shutdown); their keys become stale.
    pub(crate) fn clear(&mut self) {
        while !self.heap.is_empty() {
            self.remove_at(self.heap.len() - 1);
        }
    }

    fn slot(&self, key: TimerKey) -> Option<&Slot> {
        self.slots
            .get(key.slot as usize)
            .filter(|s| s.generation == key.generation && s.heap_index != FREE)
    }

    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|s| s.generation == key.generation && s.heap_index != FREE)
    }

    /// Removes the heap entry at `index`, frees its slot, and returns its waker.
    fn remove_at(&mut self, index: usize) -> Option<Waker> {
        let last = self.heap.len() - 1;
        self.heap.swap(index, last);
        let removed = self.heap.pop().expect("heap is not empty");
        if index < last {
            self.set_index(index);
            // The entry moved into `index` may belong above or below it.
            if index > 0 && self.heap[index].before(&self.heap[(index - 1) / 2]) {
                self.sift_up(index);
            } else {
                self.sift_down(index);
            }
        }
        let slot = &mut self.slots[removed.slot as usize];
        slot.heap_index = FREE;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(removed.slot);
        slot.waker.take()
    }

    fn set_index(&mut self, index: usize) {
        let slot = self.heap[index].slot as usize;
        self.slots[slot].heap_index = index as u32;
    }

    fn sift_up(&mut self, mut index: usize) {
        while index > 0 {
            let parent = (index - 1) / 2;
            if !self.heap[index].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(index, parent);
            self.set_index(index);
            index = parent;
        }
        self.set_index(index);
    }

    fn sift_down(&mut self, mut index: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * index + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child =
                if right < len && self.heap[right].before(&self.heap[left]) { right } else { left };
            if !self.heap[child].before(&self.heap[index]) {
                break;
            }
            self.heap.swap(index, child);
            self.set_index(index);
            index = child;
        }
        self.set_index(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        /// Random inserts and removals: pops come out in (deadline, insertion) order and
        /// removed timers never fire.
        #[test]
        fn pops_in_order_and_removed_timers_never_fire(
            ops in proptest::collection::vec((0u64..50, any::<bool>()), 1..300)
        ) {
            let base = Instant::now();
            let mut q = TimerQueue::default();
            let mut live: Vec<(Instant, u64, TimerKey)> = Vec::new();
            for (seq, (ms, remove_one)) in ops.into_iter().enumerate() {
                let deadline = base + Duration::from_millis(ms);
                let key = q.insert(deadline, noop_waker());
                live.push((deadline, seq as u64, key));
                if remove_one && live.len() > 1 {
                    let victim = live.remove(seq % live.len());
                    prop_assert!(q.remove(victim.2));
                    prop_assert!(!q.remove(victim.2), "a key removes once");
                }
            }
            prop_assert_eq!(q.len(), live.len());
            live.sort_by_key(|(d, s, _)| (*d, *s));
            for (_, _, key) in &live {
                prop_assert!(q.is_armed(*key));
                prop_assert!(q.pop_expired(base + Duration::from_secs(1)).is_some());
                prop_assert!(!q.is_armed(*key), "timers must pop in deadline order");
            }
            prop_assert!(q.is_empty());
        }
    }

    #[test]
    fn a_not_yet_due_timer_does_not_pop() {
        let now = Instant::now();
        let mut q = TimerQueue::default();
        q.insert(now + Duration::from_secs(5), noop_waker());
        assert!(q.pop_expired(now).is_none());
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(5)));
    }

    #[test]
    fn a_stale_key_does_not_touch_the_slot_reused_by_a_new_timer() {
        let now = Instant::now();
        let mut q = TimerQueue::default();
        let old = q.insert(now, noop_waker());
        assert!(q.pop_expired(now).is_some());
        let new = q.insert(now, noop_waker());
        assert!(!q.remove(old), "the old key is stale");
        assert!(q.is_armed(new));
    }
}
