//! `loadgen request`: N sequential GETs, on one keep-alive connection or each on a new one.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::Args;
use crate::client::{get_on, Conn, Error, Response, Url};
use crate::stats::{round, summary, Errors};

/// At most this many bodies are echoed in the output.
const MAX_BODIES: usize = 100;

/// What `request` was asked to do.
pub struct Options {
    url: Url,
    repeat: usize,
    new_connection: bool,
    limit: Duration,
}

impl Options {
    /// Reads `--url [--repeat] [--new-connection] [--timeout-s]`.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        args.allow(&["url", "repeat", "new-connection", "timeout-s"])?;
        Ok(Options {
            url: Url::parse(args.required("url")?)?,
            repeat: args.number("repeat", 1usize)?.max(1),
            new_connection: args.flag("new-connection"),
            limit: args.duration("timeout-s", 60.0, 1.0)?,
        })
    }

    /// File descriptors the run needs.
    pub fn fds(&self) -> u64 {
        16
    }
}

/// The body as JSON if it parses, else as (lossy) text.
fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Runs the scenario and summarises it as JSON.
pub async fn run(options: Options) -> Value {
    let Options { url, repeat, new_connection, limit } = options;
    let mut conn: Option<Conn> = None;
    let mut statuses = BTreeSet::new();
    let (mut elapsed, mut samples, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    let mut errors = Errors::default();
    for i in 0..repeat {
        let start = Instant::now();
        let result = tokio::time::timeout(limit, exchange(&url, &mut conn, new_connection, limit))
            .await
            .unwrap_or(Err(Error::Timeout("the exchange")));
        let ms = start.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(response) => {
                statuses.insert(response.status);
                elapsed.push(ms);
                samples.push(json!(round(ms, 1)));
                if bodies.len() < MAX_BODIES {
                    bodies.push(body_value(&response.body));
                }
                if let Err(e) = response.check() {
                    errors.push(format!("request {i}: {e}"));
                }
            }
            Err(e) => {
                conn = None;
                samples.push(Value::Null);
                errors.push(format!("request {i}: {e}"));
            }
        }
    }
    let elapsed_ms = summary(&elapsed, &["p50", "min", "max"]);
    eprintln!(
        "request: {repeat} x {} -> statuses {statuses:?}, elapsed {elapsed_ms}, {} errors",
        url.text, errors.count
    );
    json!({
        "url": url.text,
        "repeat": repeat,
        "new_connection": new_connection,
        "status": statuses,
        "elapsed_ms": elapsed_ms,
        "samples_ms": samples,
        "bodies": bodies,
        "errors": errors.count,
        "error_samples": errors.samples,
    })
}

/// One GET: on the kept-alive connection if there is one (retried once on a new connection if
/// the server had closed it meanwhile), else on a new one.
async fn exchange(
    url: &Url,
    conn: &mut Option<Conn>,
    new_connection: bool,
    limit: Duration,
) -> Result<Response, Error> {
    if let Some(kept) = conn.as_mut().filter(|c| c.reusable) {
        match get_on(kept, url, new_connection).await {
            Err(Error::Closed(_) | Error::Io(..)) => {}
            result => return result,
        }
    }
    let fresh = conn.insert(Conn::connect(url.addr, limit).await?);
    get_on(fresh, url, new_connection).await
}
