//! What the loop knows about a task besides its future: identity, name and spawn site.

use std::fmt;
use std::panic::Location;

/// A task's identifier, unique within its loop and never reused while the loop lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// Not a task: the loop's own work between polls (callbacks from other threads, I/O
    /// dispatch, firing timers). The stall detector blames it when that work is slow.
    pub const LOOP: TaskId = TaskId(u64::MAX);

    /// The number behind the id (the main future of `run` is task 0).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == TaskId::LOOP {
            return f.write_str("#loop");
        }
        write!(f, "#{}", self.0)
    }
}

/// Identity of a task as reported by diagnostics: id, optional name and where it was spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The name given with [`spawn_named`](crate::spawn_named), if any.
    pub name: Option<String>,
    /// The source location of the `spawn` call (recorded with `#[track_caller]`).
    pub spawned_at: &'static Location<'static>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id == TaskId::LOOP {
            return f.write_str("the event loop's own work (call_soon callbacks, I/O, timers)");
        }
        match &self.name {
            Some(name) => write!(f, "task {} '{}'", self.id, name)?,
            None => write!(f, "task {}", self.id)?,
        }
        write!(f, " spawned at {}", self.spawned_at)
    }
}
