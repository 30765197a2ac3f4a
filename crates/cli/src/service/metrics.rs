//! `/metrics`: the service's metrics for Prometheus — kairos-web's (every request by route,
//! each worker's loop and server, the thread pools) and, per worker, its process pool, which
//! only the service knows it has.

use kairos::web::metrics::{Families, Metrics};

/// The service's metrics: kairos-web's, with each worker's process pools added at every
/// scrape.
pub(crate) fn metrics() -> Metrics {
    Metrics::builder().per_worker(process_pools).build()
}

/// The process pools of the worker's loop (`/cpu?pool=process`'s), by `pool`: their index on
/// the loop, in creation order.
fn process_pools(families: &mut Families) {
    for (index, pool) in kairos::process::stats().iter().enumerate() {
        let index = index.to_string();
        let labels = [("pool", index.as_str())];
        let gauges = [
            (
                "kairos_process_pool_max_processes",
                "The processes the pool keeps.",
                pool.max_workers,
            ),
            ("kairos_process_pool_processes", "Processes alive now.", pool.workers),
            ("kairos_process_pool_busy", "Processes running a job.", pool.busy),
            ("kairos_process_pool_queued", "Jobs waiting for a process.", pool.queued),
        ];
        for (name, help, value) in gauges {
            families.gauge(name, help, &labels, value as f64);
        }
        let counters = [
            ("kairos_process_pool_completed_total", "Jobs that returned a value.", pool.completed),
            (
                "kairos_process_pool_panicked_total",
                "Jobs that panicked (the process lived on).",
                pool.panicked,
            ),
            (
                "kairos_process_pool_failed_total",
                "Jobs that could not run or deliver.",
                pool.failed,
            ),
            (
                "kairos_process_pool_crashed_total",
                "Jobs whose process died under them (a signal, an abort, an exit).",
                pool.crashed,
            ),
            ("kairos_process_pool_cancelled_total", "Jobs cancelled.", pool.cancelled),
            ("kairos_process_pool_rejected_total", "Jobs refused at once.", pool.rejected),
            (
                "kairos_process_pool_restarts_total",
                "Processes started in place of one that crashed, was killed or misbehaved.",
                pool.restarted,
            ),
            (
                "kairos_process_pool_start_failures_total",
                "Attempts to start a process that failed.",
                pool.start_failures,
            ),
        ];
        for (name, help, value) in counters {
            families.counter(name, help, &labels, value);
        }
    }
}
