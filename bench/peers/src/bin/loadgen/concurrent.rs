//! `loadgen concurrent`: K requests at once, each on its own connection, while probes check how
//! long a newcomer waits meanwhile.
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::cli::Args;
use crate::client::{get_fresh, Url};
use crate::probes::Probes;
use crate::stats::{round, summary, Errors};

/// At most this many bodies are echoed in the output.
const MAX_BODIES: usize = 16;

/// What `concurrent` was asked to do.
pub struct Options {
    url: Url,
    count: usize,
    probe: Option<Url>,
    probe_interval: Duration,
    limit: Duration,
}

impl Options {
    /// Reads `--url --count [--probe-url] [--probe-interval-ms] [--timeout-s]`.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        args.allow(&["url", "count", "probe-url", "probe-interval-ms", "timeout-s"])?;
        let probe_interval = args.duration("probe-interval-ms", 20.0, 1e-3)?;
        if probe_interval.is_zero() {
            return Err("--probe-interval-ms must be above 0".into());
        }
        Ok(Options {
            url: Url::parse(args.required("url")?)?,
            count: args.number("count", 1usize)?.max(1),
            probe: args.value("probe-url")?.map(Url::parse).transpose()?,
            probe_interval,
            limit: args.duration("timeout-s", 60.0, 1.0)?,
        })
    }

    /// File descriptors the run needs: the K requests and a generous allowance for probes.
    pub fn fds(&self) -> u64 {
        self.count as u64 + if self.probe.is_some() { 1024 } else { 16 }
    }
}

/// Runs the scenario and summarises it as JSON.
pub async fn run(options: Options) -> Value {
    let Options { url, count, probe, probe_interval, limit } = options;
    eprintln!("concurrent: {count} x {} at once", url.text);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let result = get_fresh(&url, limit).await;
                (result, start.elapsed(), Instant::now())
            })
        })
        .collect();
    let mut all = join_all(tasks);
    let mut probes = probe.map(|url| Probes::new(url, limit));
    let results = match probes.as_mut() {
        None => all.await,
        Some(probes) => {
            let mut tick = 1u32;
            loop {
                tokio::select! {
                    results = &mut all => break results,
                    _ = tokio::time::sleep_until((t0 + probe_interval * tick).into()) => {
                        probes.fire();
                        tick += 1;
                    }
                }
            }
        }
    };

    let mut errors = Errors::default();
    let (mut statuses, mut each, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = t0;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok((Ok(response), took, end)) => {
                last = last.max(end);
                statuses.push(json!(response.status));
                each.push(json!(round(took.as_secs_f64() * 1e3, 1)));
                if bodies.len() < MAX_BODIES {
                    bodies.push(
                        serde_json::from_slice(&response.body)
                            .unwrap_or_else(|_| json!(response.snippet(200))),
                    );
                }
                if let Err(e) = response.check() {
                    errors.push(format!("request {i}: {e}"));
                }
            }
            Ok((Err(e), _, end)) => {
                last = last.max(end);
                statuses.push(Value::Null);
                each.push(Value::Null);
                errors.push(format!("request {i}: {e}"));
            }
            Err(join) => {
                statuses.push(Value::Null);
                each.push(Value::Null);
                errors.push(format!("request {i}: task failed: {join}"));
            }
        }
    }
    let wall_ms = round(last.duration_since(t0).as_secs_f64() * 1e3, 1);
    let probe = match probes {
        Some(probes) => probes.finish(limit).await,
        None => Value::Null,
    };
    let took: Vec<f64> = each.iter().filter_map(Value::as_f64).collect();
    eprintln!(
        "concurrent: wall {wall_ms} ms, each {}, {} errors",
        summary(&took, &["min", "p50", "max"]),
        errors.count
    );
    if !probe.is_null() {
        eprintln!(
            "concurrent: probe {}/{} completed, latency {}",
            probe["completed"], probe["sent"], probe["latency_ms"]
        );
    }
    json!({
        "url": url.text,
        "count": count,
        "statuses": statuses,
        "wall_ms": wall_ms,
        "each_ms": each,
        "bodies": bodies,
        "errors": errors.count,
        "error_samples": errors.samples,
        "probe": probe,
    })
}
