//! What the socket tests share.

use std::time::{Duration, Instant};

/// Polls `condition` every 5 ms until it holds or `limit` has passed; says whether it held.
/// A generous `limit` bounds a test that would otherwise hang, it is no verdict on speed.
pub(crate) fn wait_until(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}
