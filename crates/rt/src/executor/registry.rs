//! Every live thread pool, so that one call to [`pool_stats`](super::pool_stats) shows them all.
//!
//! Thread pools are the process's, not a loop's (any loop, or none, may use one), so they are
//! not part of [`LoopStats`](crate::LoopStats): each pool registers itself here when it is
//! built, and `pool_stats` reads this list — the loop core never looks at pools.

use std::sync::{Arc, Mutex, Weak};

use super::thread_pool::stats_of;
use super::worker::Shared;
use super::PoolStats;

static POOLS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Remembers a new pool (weakly: the registry never keeps a pool alive).
pub(crate) fn register(shared: &Arc<Shared>) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    pools.retain(|p| p.strong_count() > 0);
    pools.push(Arc::downgrade(shared));
}

/// The stats of every thread pool alive in the process (every loop's default executor
/// included), in creation order: threads, active, queued and completed jobs. Works outside a
/// loop too.
pub fn pool_stats() -> Vec<PoolStats> {
    let pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    pools.iter().filter_map(Weak::upgrade).map(|shared| stats_of(&shared)).collect()
}
