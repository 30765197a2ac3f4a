//! The stall detector — the chapter's `slow_callback_duration` (5.2), done so it can stay on.
//!
//! asyncio times every callback in debug mode, and only reports a slow one after it returns.
//! kairos splits the job so the common path costs three relaxed stores per poll:
//!
//! - the loop publishes, at each poll, a poll counter and the polled task's id and spawn site
//!   ([`StallMonitor::enter_poll`]), and says when it is idle (parked in `epoll_wait`); a
//!   [`Label`](crate::task::Label) scope inside the poll publishes what the task is doing (the
//!   request it serves) with two more stores — a poll outside any scope pays nothing for it;
//! - a watchdog thread samples that every tenth of the threshold. If the counter has not moved
//!   for a whole threshold while the loop is not idle, a poll is blocking the loop *right now*:
//!   it reports the task while the poll still runs (and again at ten times the threshold, then
//!   each time the duration doubles, so a poll that never returns keeps being reported);
//! - when a reported poll returns, the loop reports its total duration.
//!
//! With `KAIROS_DEBUG=1` (or [`Builder::debug`](crate::Builder::debug)) the loop also times
//! every poll with `Instant::now()`, so durations are exact and no slow poll escapes the
//! sampling — at the price of two clock reads per poll.
#![allow(unsafe_code)] // one read of a `&'static Location` published through an AtomicPtr

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::diagnostic::{Diagnostic, Reporter, StallReport};
use crate::task::{Label, TaskId, TaskInfo};

/// The loop's side of the detector: what it is polling, published for the watchdog.
pub(crate) struct StallMonitor {
    loop_id: u64,
    threshold: Option<Duration>,
    polls: AtomicU64,
    task_id: AtomicU64,
    /// Always points at a `&'static Location` (never null): see `enter_poll` and `new`.
    site: AtomicPtr<Location<'static>>,
    /// The number of the innermost [`Label`] scope entered (0: none), valid while
    /// `label_poll` equals `polls`: a poll that enters no scope needs no store to clear it.
    label: AtomicU32,
    /// The poll counter's value when `label` was stored.
    label_poll: AtomicU64,
    idle: AtomicBool,
    /// The poll counter value of the poll the watchdog reported as still running (0: none);
    /// the loop reports that poll's end. Holding the counter, not a flag, means a flag raised
    /// just after the poll returned is recognised as stale instead of blaming the next poll.
    flagged: AtomicU64,
    flagged_poll: Mutex<Option<FlaggedPoll>>,
    /// Names of named tasks, for reports written by the watchdog thread.
    names: Mutex<HashMap<u64, Arc<str>>>,
    slow_polls: AtomicU64,
    /// Slow polls counted per label number (0: polls outside any label scope).
    slow_by_label: Mutex<HashMap<u32, u64>>,
    stop: AtomicBool,
    pub(crate) reporter: Reporter,
}

impl StallMonitor {
    pub(crate) fn new(loop_id: u64, threshold: Option<Duration>, reporter: Reporter) -> Self {
        StallMonitor {
            loop_id,
            threshold,
            polls: AtomicU64::new(0),
            task_id: AtomicU64::new(0),
            site: AtomicPtr::new(static_ptr(Location::caller())),
            label: AtomicU32::new(0),
            label_poll: AtomicU64::new(u64::MAX),
            idle: AtomicBool::new(true),
            flagged: AtomicU64::new(0),
            flagged_poll: Mutex::new(None),
            names: Mutex::new(HashMap::new()),
            slow_polls: AtomicU64::new(0),
            slow_by_label: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            reporter,
        }
    }

    /// Starts the watchdog thread, if detection is on.
    pub(crate) fn start_watchdog(self: &Arc<Self>) -> Option<Watchdog> {
        let threshold = self.threshold?;
        let monitor = Arc::clone(self);
        let thread = thread::Builder::new()
            .name(format!("kairos-watchdog-{}", self.loop_id))
            .spawn(move || monitor.watch(threshold))
            .ok()?; // without a thread the loop still runs; only stall detection is lost
        Some(Watchdog { monitor: Arc::clone(self), thread: Some(thread) })
    }

    /// Publishes that the loop is about to poll task `id`. Three relaxed stores.
    #[inline]
    pub(crate) fn enter_poll(&self, id: TaskId, site: &'static Location<'static>) {
        // A single writer (the loop thread): load + store is enough, no read-modify-write.
        self.polls.store(self.polls.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        self.task_id.store(id.0, Ordering::Relaxed);
        self.site.store(static_ptr(site), Ordering::Release);
    }

    /// A [`Label`] scope starts polling its future: publishes its number for this poll and
    /// returns the enclosing one, for [`leave_label`](Self::leave_label).
    #[inline]
    pub(crate) fn enter_label(&self, number: u32) -> u32 {
        let poll = self.polls.load(Ordering::Relaxed);
        let outer = self.label_of_poll(poll);
        self.label.store(number, Ordering::Relaxed);
        self.label_poll.store(poll, Ordering::Relaxed);
        outer
    }

    /// The task being polled (or last polled).
    #[inline]
    pub(crate) fn current_task_id(&self) -> TaskId {
        TaskId(self.task_id.load(Ordering::Relaxed))
    }

    /// The label the running poll published (0 if none).
    #[inline]
    pub(crate) fn current_label(&self) -> u32 {
        self.label_of_poll(self.polls())
    }

    /// The label published during poll number `poll` (0 if none was).
    fn label_of_poll(&self, poll: u64) -> u32 {
        if self.label_poll.load(Ordering::Relaxed) == poll {
            self.label.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// A [`Label`] scope's poll returned. A nested scope gives the label back to its enclosing
    /// one; the outermost leaves its own in place until the task's poll ends, so that the rest
    /// of the poll (a server writing the answer) and a debug-mode report of the whole poll
    /// still name it.
    #[inline]
    pub(crate) fn leave_label(&self, outer: u32) {
        if outer != 0 {
            self.label.store(outer, Ordering::Relaxed);
        }
    }

    /// Called after each poll: reports the end of a poll the watchdog flagged.
    #[inline]
    pub(crate) fn exit_poll(&self) {
        if self.flagged.load(Ordering::Relaxed) != 0 {
            self.report_flagged_end();
        }
    }

    /// Debug mode: the loop measured the poll exactly.
    pub(crate) fn exit_poll_timed(&self, elapsed: Duration, task: impl FnOnce() -> TaskInfo) {
        let Some(threshold) = self.threshold else { return };
        if elapsed < threshold {
            self.exit_poll();
            return;
        }
        let was_flagged = self.flagged.swap(0, Ordering::AcqRel) == self.polls();
        let label = self.label_of_poll(self.polls());
        if was_flagged {
            self.flagged_poll.lock().unwrap_or_else(|e| e.into_inner()).take();
        } else {
            self.count_slow_poll(label);
        }
        self.reporter.report(Diagnostic::SlowPoll(StallReport {
            loop_id: self.loop_id,
            task: task(),
            label: Label::text_of(label),
            duration: elapsed,
            still_running: false,
            exact: true,
            threshold,
        }));
    }

    #[cold]
    fn report_flagged_end(&self) {
        let flagged_epoch = self.flagged.swap(0, Ordering::AcqRel);
        let flagged = self.flagged_poll.lock().unwrap_or_else(|e| e.into_inner()).take();
        if flagged_epoch != self.polls() {
            return; // raised for a poll that had already returned: nothing to report
        }
        if let (Some((task, label, started)), Some(threshold)) = (flagged, self.threshold) {
            self.reporter.report(Diagnostic::SlowPoll(StallReport {
                loop_id: self.loop_id,
                task,
                label,
                duration: started.elapsed(),
                still_running: false,
                exact: false,
                threshold,
            }));
        }
    }

    /// The loop parks in the reactor (or leaves `block_on`): not a stall.
    #[inline]
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Release);
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn slow_polls(&self) -> u64 {
        self.slow_polls.load(Ordering::Relaxed)
    }

    /// Slow polls per label, most first; polls outside any label scope are not listed.
    pub(crate) fn slow_polls_by_label(&self) -> Vec<(Arc<str>, u64)> {
        let counts = self.slow_by_label.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_label: Vec<(Arc<str>, u64)> = counts
            .iter()
            .filter_map(|(&number, &count)| Some((Label::text_of(number)?, count)))
            .collect();
        by_label.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_label
    }

    #[cold]
    fn count_slow_poll(&self, label: u32) {
        self.slow_polls.fetch_add(1, Ordering::Relaxed);
        if label != 0 {
            *self
                .slow_by_label
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(label)
                .or_insert(0) += 1;
        }
    }

    pub(crate) fn name_task(&self, id: TaskId, name: Arc<str>) {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(id.0, name);
    }

    pub(crate) fn forget_name(&self, id: TaskId) {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).remove(&id.0);
    }

    /// The watchdog thread's loop.
    fn watch(&self, threshold: Duration) {
        let period = (threshold / 10).clamp(Duration::from_millis(1), Duration::from_millis(100));
        let mut epoch = u64::MAX;
        let mut last_sample = Instant::now();
        // The current epoch was first seen at `seen_at`; the sample before was at `before`.
        let mut seen_at = last_sample;
        let mut before = last_sample;
        let mut next_report = threshold;
        while !self.stop.load(Ordering::Acquire) {
            thread::park_timeout(period);
            let now = Instant::now();
            let current = self.polls.load(Ordering::Acquire);
            if self.idle.load(Ordering::Acquire) || current != epoch {
                epoch = if self.idle.load(Ordering::Acquire) { u64::MAX } else { current };
                before = last_sample;
                seen_at = now;
                next_report = threshold;
                last_sample = now;
                continue;
            }
            last_sample = now;
            let blocked = now.duration_since(seen_at); // a lower bound: no false alarms
            if blocked < next_report {
                continue;
            }
            let task = self.current_task();
            // Relaxed is enough for a diagnostic: the scope stored its label before the call
            // that has now held the loop for a whole threshold.
            let number = self.label_of_poll(current);
            let label = Label::text_of(number);
            if next_report == threshold {
                self.count_slow_poll(number);
                let started = before + (seen_at - before) / 2;
                *self.flagged_poll.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((task.clone(), label.clone(), started));
                self.flagged.store(current, Ordering::Release);
            }
            // Again at 10x the threshold, then each time the duration doubles: a poll that
            // never returns keeps being reported, without a line per sample.
            next_report = if next_report == threshold { threshold * 10 } else { next_report * 2 };
            self.reporter.report(Diagnostic::SlowPoll(StallReport {
                loop_id: self.loop_id,
                task,
                label,
                duration: blocked,
                still_running: true,
                exact: false,
                threshold,
            }));
        }
    }

    fn current_task(&self) -> TaskInfo {
        let site = self.site.load(Ordering::Acquire);
        let id = self.task_id.load(Ordering::Relaxed);
        // SAFETY: `site` only ever holds pointers made by `static_ptr` from a
        // `&'static Location<'static>` (in `new` and `enter_poll`): never null, never
        // dangling, and `Location` is immutable, so a shared reference is sound.
        let spawned_at: &'static Location<'static> = unsafe { &*site };
        let name =
            self.names.lock().unwrap_or_else(|e| e.into_inner()).get(&id).map(|n| n.to_string());
        TaskInfo { id: TaskId(id), name, spawned_at }
    }
}

fn static_ptr(site: &'static Location<'static>) -> *mut Location<'static> {
    site as *const Location<'static> as *mut Location<'static>
}

/// The poll the watchdog reported as still running: its task, label and estimated start.
type FlaggedPoll = (TaskInfo, Option<Arc<str>>, Instant);

/// Owns the watchdog thread; stops and joins it on drop.
pub(crate) struct Watchdog {
    monitor: Arc<StallMonitor>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.monitor.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exercises the `unsafe` read of the published spawn site (run it under Miri too).
    #[test]
    fn the_watchdog_reads_back_the_task_the_loop_published() {
        let monitor = StallMonitor::new(7, Some(Duration::from_millis(100)), Reporter::default());
        let here = Location::caller();
        monitor.name_task(TaskId(42), Arc::from("named"));
        monitor.enter_poll(TaskId(42), here);
        let seen = monitor.current_task();
        assert_eq!(seen.id, TaskId(42));
        assert_eq!(seen.name.as_deref(), Some("named"));
        assert_eq!(seen.spawned_at, here);
        // Before any poll, the pointer is the monitor's own creation site, never null.
        let fresh = StallMonitor::new(8, None, Reporter::default());
        assert_eq!(fresh.current_task().spawned_at.file(), file!());
    }
}
