//! `loadgen stream`: many clients read an SSE stream at once; counts events and times the
//! first one per client from the moment that client started connecting.
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::Args;
use crate::client::{Conn, Error, Url};
use crate::sse::SseCounter;
use crate::stats::{round, summary, Errors};

/// What `stream` was asked to do.
pub struct Options {
    url: Url,
    clients: usize,
    /// Events each client must receive to count as completed (default: the URL's `n`).
    expect: Option<u64>,
    /// Client starts are spread evenly over this long (0: all at once).
    ramp: Duration,
    limit: Duration,
}

impl Options {
    /// Reads `--url --clients [--expect] [--ramp-ms] [--timeout-s]`.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        args.allow(&["url", "clients", "expect", "ramp-ms", "timeout-s"])?;
        let url = Url::parse(args.required("url")?)?;
        let expect = match args.value("expect")? {
            Some(_) => Some(args.number("expect", 0u64)?),
            None => url.query("n").and_then(|n| n.parse().ok()),
        };
        let clients = args.number("clients", 100usize)?;
        if clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        Ok(Options {
            url,
            clients,
            expect,
            ramp: args.duration("ramp-ms", 0.0, 1e-3)?,
            limit: args.duration("timeout-s", 60.0, 1.0)?,
        })
    }

    /// File descriptors the run needs: one per client, plus a margin.
    pub fn fds(&self) -> u64 {
        self.clients as u64 + 16
    }
}

/// What happened to one client.
struct Outcome {
    start: Instant,
    connected: Option<Duration>,
    first_event: Option<Duration>,
    events: u64,
    end: Instant,
    error: Option<Error>,
}

/// Runs the scenario and summarises it as JSON.
pub async fn run(options: Options) -> Value {
    let Options { url, clients, expect, ramp, limit } = options;
    let url = Arc::new(url);
    eprintln!("stream: {clients} clients on {} (expecting {expect:?} events each)", url.text);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = Arc::clone(&url);
            let at = t0 + ramp.mul_f64(i as f64 / clients as f64);
            tokio::spawn(async move {
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                client(&url, limit, expect).await
            })
        })
        .collect();

    let mut errors = Errors::default();
    let mut outcomes = Vec::with_capacity(clients);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(outcome) => {
                if let Some(e) = &outcome.error {
                    errors.push(format!("client {i}: {e} (after {} events)", outcome.events));
                }
                outcomes.push(outcome);
            }
            Err(join) => errors.push(format!("client {i}: task failed: {join}")),
        }
    }

    let completed = outcomes
        .iter()
        .filter(|o| o.error.is_none() && expect.is_none_or(|n| o.events >= n))
        .count();
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    let first = outcomes.iter().map(|o| o.start).min().unwrap_or(t0);
    let last = outcomes.iter().map(|o| o.end).max().unwrap_or(first);
    let wall = last.duration_since(first).as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let first_events: Vec<f64> = outcomes.iter().filter_map(|o| o.first_event.map(ms)).collect();
    let connects: Vec<f64> = outcomes.iter().filter_map(|o| o.connected.map(ms)).collect();
    let first_event_ms = summary(&first_events, &["p50", "p99", "max"]);
    eprintln!(
        "stream: {completed}/{clients} completed, {events} events, wall {wall:.3} s, \
         first event {first_event_ms}, {} errors",
        errors.count
    );
    json!({
        "url": url.text,
        "clients": clients,
        "completed": completed,
        "events_received": events,
        "events_expected": expect.map(|n| n * clients as u64),
        "wall_s": round(wall, 3),
        "first_event_ms": first_event_ms,
        "connect_ms": summary(&connects, &["p50", "p99", "max"]),
        "errors": errors.count,
        "error_samples": errors.samples,
    })
}

/// One client: connect, GET, count events until the stream ends.
async fn client(url: &Url, limit: Duration, expect: Option<u64>) -> Outcome {
    let start = Instant::now();
    let mut outcome =
        Outcome { start, connected: None, first_event: None, events: 0, end: start, error: None };
    let result = read_stream(url, limit, expect, &mut outcome).await;
    outcome.end = Instant::now();
    outcome.error = result.err();
    outcome
}

async fn read_stream(
    url: &Url,
    limit: Duration,
    expect: Option<u64>,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let start = outcome.start;
    let mut conn = Conn::connect(url.addr, limit).await?;
    outcome.connected = Some(start.elapsed());
    conn.send_get(url, true).await?;
    let head = conn.read_head().await?;
    if !head.is_success() {
        return Err(conn.status_error(&head).await);
    }
    let mut sse = SseCounter::default();
    conn.read_body(&head, |bytes| {
        if sse.feed(bytes) > 0 {
            outcome.first_event.get_or_insert_with(|| start.elapsed());
            outcome.events = sse.events;
        }
    })
    .await?;
    match expect {
        Some(n) if sse.events < n => {
            Err(Error::Short(format!("stream ended after {} of {n} events", sse.events)))
        }
        _ => Ok(()),
    }
}
