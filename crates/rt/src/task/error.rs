//! Why a task produced no value.

use std::any::Any;
use std::fmt;

/// The reason awaiting a [`Task`](super::Task) gave no value.
///
/// asyncio raises `CancelledError` from `await task` after `task.cancel()`, and re-raises the
/// task's exception; kairos returns them as values instead, so they cannot be forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was cancelled (by [`Task::cancel`](super::Task::cancel), a timeout, a failing
    /// sibling, or the loop shutting down) before it finished. Its future was dropped at the
    /// `.await` where it stood, so its destructors ran.
    Cancelled,
    /// The task panicked. The panic was caught; the loop and every other task carry on.
    Panicked {
        /// The panic message (`"(the panic payload is not a string)"` when it was not a string).
        message: String,
    },
}

impl TaskError {
    /// Whether this is [`TaskError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// Whether this is [`TaskError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked { .. })
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        TaskError::Panicked { message: panic_message(payload.as_ref()) }
    }
}

/// The text of a panic payload: `panic!` carries a `&'static str` or a `String`; anything
/// else (from `std::panic::panic_any`) gets a placeholder. Used everywhere kairos turns a
/// caught panic into an error or a log line (tasks, pools, workers, request handlers).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(the panic payload is not a string)".to_owned()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("the task was cancelled before it finished"),
            TaskError::Panicked { message } => write!(f, "the task panicked: {message}"),
        }
    }
}

impl std::error::Error for TaskError {}
