//! Tasks: `spawn` (asyncio's `create_task`), the [`Task`] handle, and [`yield_now`].
//!
//! - `cell.rs` — the allocation behind a task and the only `unsafe` of the loop's core;
//! - `handle.rs` — [`Task<T>`], awaitable, cancellable, detached on drop;
//! - `error.rs` — [`TaskError`]: cancelled or panicked;
//! - `meta.rs` — [`TaskId`] and [`TaskInfo`] (name and spawn site, used by diagnostics);
//! - `label.rs` — [`Label`]: what a task is doing now (the request it serves), for diagnostics;
//! - `yield_now.rs` — give the loop a turn.

mod cell;
mod error;
mod handle;
mod label;
mod meta;
mod yield_now;

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

pub(crate) use cell::{Header, TaskCell, TaskRef};
pub use error::{panic_message, TaskError};
pub use handle::{AbortHandle, CancelOnDrop, Task};
pub use label::{Label, Scoped};
pub use meta::{TaskId, TaskInfo};
pub use yield_now::{yield_now, YieldNow};

use crate::context;

/// Schedules `future` as a task on the current loop and returns its handle — asyncio's
/// `asyncio.create_task(coro)`.
///
/// The task is on the ready queue at once and starts in the loop's next turn, whether or not
/// anybody awaits the handle. The future need not be `Send`: it never leaves this loop.
///
/// # Panics
/// When called outside a running loop (`kairos_rt::run`), with a message that says so.
///
/// # Example
/// ```
/// use std::time::Duration;
/// kairos_rt::run(async {
///     let a = kairos_rt::spawn(async { kairos_rt::sleep(Duration::from_millis(20)).await; "A" });
///     let b = kairos_rt::spawn(async { kairos_rt::sleep(Duration::from_millis(20)).await; "B" });
///     // Both sleep at the same time: about 20 ms in total, not 40.
///     assert_eq!((a.await.unwrap(), b.await.unwrap()), ("A", "B"));
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
{
    spawn_inner(future, None, Location::caller())
}

/// [`spawn`] with a name, shown by the stall detector, panic reports and [`Task::name`] —
/// asyncio's `create_task(coro, name=...)`.
#[track_caller]
pub fn spawn_named<F>(name: impl Into<Arc<str>>, future: F) -> Task<F::Output>
where
    F: Future + 'static,
{
    spawn_inner(future, Some(name.into()), Location::caller())
}

fn spawn_inner<F>(
    future: F,
    name: Option<Arc<str>>,
    spawned_at: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + 'static,
{
    context::expect_core("kairos_rt::spawn", |core| core.spawn(future, name, spawned_at))
}
