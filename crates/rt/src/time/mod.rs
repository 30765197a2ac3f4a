//! Time: [`sleep`], [`timeout`]/[`wait_for`], [`interval`], and the loop's timer queue.
//!
//! - `queue.rs` — the per-loop timer heap (removal on drop, in-order firing);
//! - `sleep.rs` — [`sleep`], [`sleep_until`], [`Sleep`];
//! - `timeout.rs` — [`timeout`], [`wait_for`], [`timeout_at`], [`Elapsed`];
//! - `interval.rs` — [`interval`], [`Interval`].

mod interval;
pub(crate) mod queue;
mod sleep;
mod timeout;

pub use interval::{interval, Interval};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, wait_for, Elapsed, Timeout};
