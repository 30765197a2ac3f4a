//! Probes: requests started on a schedule, each on its own new connection, each timed from
//! the moment it was started (so a server that is slow to accept is charged for it).
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::client::{get_fresh, Error, Response, Url};
use crate::stats::{round, summary, Errors};

/// What one probe task returns: its outcome and how long it took.
type Outcome = (Result<Response, Error>, Duration);

/// The probes started so far, in start order.
pub struct Probes {
    url: Arc<Url>,
    limit: Duration,
    started: Vec<JoinHandle<Outcome>>,
}

impl Probes {
    /// No probes yet; each will be bounded by `limit`.
    pub fn new(url: Url, limit: Duration) -> Probes {
        Probes { url: Arc::new(url), limit, started: Vec::new() }
    }

    /// Starts one probe now, without waiting for earlier ones.
    pub fn fire(&mut self) {
        // Taken here, not inside the task, so that any delay before the task first runs counts.
        let start = Instant::now();
        let url = Arc::clone(&self.url);
        let limit = self.limit;
        self.started.push(tokio::spawn(async move {
            let result = get_fresh(&url, limit).await.and_then(Response::check);
            (result, start.elapsed())
        }));
    }

    /// Waits for the outstanding probes, up to `wait` from now, and summarises them:
    /// `{"url", "sent", "completed", "timeouts", "errors", "error_samples", "latency_ms":
    /// {"p50", "p99", "max"}, "samples_ms": [ms or null, in start order]}`.
    pub async fn finish(self, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        let sent = self.started.len();
        let (mut timeouts, mut errors) = (0u64, Errors::default());
        let (mut latencies, mut samples) = (Vec::new(), Vec::new());
        for (i, mut task) in self.started.into_iter().enumerate() {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok((Ok(_), took))) => {
                    let ms = took.as_secs_f64() * 1e3;
                    latencies.push(ms);
                    samples.push(json!(round(ms, 1)));
                    continue;
                }
                Ok(Ok((Err(e), _))) if e.is_timeout() => {
                    timeouts += 1;
                    errors.samples_only(format!("probe {i}: {e}"));
                }
                Ok(Ok((Err(e), _))) => errors.push(format!("probe {i}: {e}")),
                Ok(Err(join)) => errors.push(format!("probe {i}: task failed: {join}")),
                Err(_) => {
                    task.abort();
                    timeouts += 1;
                    errors.samples_only(format!("probe {i}: still running at the end"));
                }
            }
            samples.push(Value::Null);
        }
        json!({
            "url": self.url.text,
            "sent": sent,
            "completed": latencies.len(),
            "timeouts": timeouts,
            "errors": errors.count,
            "error_samples": errors.samples,
            "latency_ms": summary(&latencies, &["p50", "p99", "max"]),
            "samples_ms": samples,
        })
    }
}
