//! Every live thread pool, so that one call to [`stats`](crate::stats) can show them all.

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

/// Statistics of every pool still alive, in creation order.
pub(crate) fn all_pool_stats() -> Vec<PoolStats> {
    let pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    pools.iter().filter_map(Weak::upgrade).map(|shared| stats_of(&shared)).collect()
}
