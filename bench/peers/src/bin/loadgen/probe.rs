//! `loadgen probe`: a request on a new connection every interval, not waiting for earlier ones,
//! to see whether a newcomer is served while the server is under load.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::Args;
use crate::client::Url;
use crate::probes::Probes;

/// What `probe` was asked to do.
pub struct Options {
    url: Url,
    interval: Duration,
    duration: Duration,
    limit: Duration,
}

impl Options {
    /// Reads `--url [--interval-ms] [--duration-s] [--timeout-s]`.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        args.allow(&["url", "interval-ms", "duration-s", "timeout-s"])?;
        let interval = args.duration("interval-ms", 50.0, 1e-3)?;
        if interval.is_zero() {
            return Err("--interval-ms must be above 0".into());
        }
        Ok(Options {
            url: Url::parse(args.required("url")?)?,
            interval,
            duration: args.duration("duration-s", 5.0, 1.0)?,
            limit: args.duration("timeout-s", 30.0, 1.0)?,
        })
    }

    /// How many probes are sent.
    fn count(&self) -> u64 {
        (self.duration.as_secs_f64() / self.interval.as_secs_f64()).ceil() as u64
    }

    /// File descriptors the run needs: every probe might be outstanding at once.
    pub fn fds(&self) -> u64 {
        self.count() + 16
    }
}

/// Runs the scenario and summarises it as JSON (the shape of [`Probes::finish`], plus
/// `interval_ms` and `duration_s`).
pub async fn run(options: Options) -> Value {
    let count = options.count();
    let Options { url, interval, duration, limit } = options;
    eprintln!("probe: {count} requests to {}, one every {interval:?}", url.text);
    let mut probes = Probes::new(url, limit);
    let t0 = Instant::now();
    for i in 0..count {
        tokio::time::sleep_until((t0 + interval * i as u32).into()).await;
        probes.fire();
    }
    let mut summary = probes.finish(limit).await;
    eprintln!(
        "probe: {}/{} completed, {} timeouts, {} errors, latency {}",
        summary["completed"],
        summary["sent"],
        summary["timeouts"],
        summary["errors"],
        summary["latency_ms"]
    );
    summary["interval_ms"] = (interval.as_secs_f64() * 1e3).into();
    summary["duration_s"] = duration.as_secs_f64().into();
    summary
}
