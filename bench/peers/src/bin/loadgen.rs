//! `loadgen`: the client side of the benchmark scenarios that wrk cannot measure.
//!
//! It runs on one core (a tokio current-thread runtime; pin it with `taskset -c 1` while the
//! server has core 0) and speaks raw HTTP/1.1 over TCP, so each "new connection" really is a new
//! TCP connection and every timing starts at `connect`. Each subcommand prints exactly one JSON
//! object on stdout for the orchestrator, and human notes on stderr:
//!
//! - `stream`: many clients read an SSE stream at once (events, time to first event, wall time);
//! - `request`: N sequential GETs (statuses, elapsed, bodies as JSON);
//! - `probe`: a request on a new connection every interval, fairness under someone else's load;
//! - `concurrent`: K requests at once while probes measure a newcomer's latency.
//!
//! Layout: `cli` parses arguments, `client` is the HTTP/1.1 client, `sse` counts events,
//! `stats` holds percentiles and error samples, `probes` the scheduled probes that `probe` and
//! `concurrent` share, and one module per subcommand. Every network phase has a timeout
//! (`--timeout-s`), so the tool never hangs; errors are counted in the JSON, not fatal.
//! Percentiles are nearest-rank on the sorted values. (A binary's root looks for modules beside
//! itself in `src/bin/`, hence the `#[path]`s into `src/bin/loadgen/`.)
#![forbid(unsafe_code)]
#[path = "loadgen/cli.rs"]
mod cli;
#[path = "loadgen/client.rs"]
mod client;
#[path = "loadgen/concurrent.rs"]
mod concurrent;
#[path = "loadgen/fdlimit.rs"]
mod fdlimit;
#[path = "loadgen/probe.rs"]
mod probe;
#[path = "loadgen/probes.rs"]
mod probes;
#[path = "loadgen/request.rs"]
mod request;
#[path = "loadgen/sse.rs"]
mod sse;
#[path = "loadgen/stats.rs"]
mod stats;
#[path = "loadgen/stream.rs"]
mod stream;

use std::process::ExitCode;

use serde_json::{json, Value};

const USAGE: &str = "\
usage: loadgen SUBCOMMAND [OPTIONS]   (one JSON object on stdout, notes on stderr)

  stream     --url URL [--clients 100] [--expect N] [--ramp-ms 0] [--timeout-s 60]
             all clients GET an SSE stream at once and count `data:` events until it ends;
             --expect defaults to the URL's n= parameter
  request    --url URL [--repeat 1] [--new-connection] [--timeout-s 60]
             sequential GETs (kept-alive unless --new-connection)
  probe      --url URL [--interval-ms 50] [--duration-s 5] [--timeout-s 30]
             a GET on a new connection every interval, not waiting for the previous ones
  concurrent --url URL [--count 1] [--probe-url URL] [--probe-interval-ms 20] [--timeout-s 60]
             COUNT GETs at once, each on its own connection, probing meanwhile

Many clients need many file descriptors: the soft limit is raised to the hard one at start;
if that is still too low, run `ulimit -n 65536` (or as high as allowed) first.";

/// A parsed subcommand, ready to run.
enum Plan {
    Stream(stream::Options),
    Request(request::Options),
    Probe(probe::Options),
    Concurrent(concurrent::Options),
}

impl Plan {
    fn from_args(args: &cli::Args) -> Result<Plan, String> {
        Ok(match args.command.as_str() {
            "stream" => Plan::Stream(stream::Options::from_args(args)?),
            "request" => Plan::Request(request::Options::from_args(args)?),
            "probe" => Plan::Probe(probe::Options::from_args(args)?),
            "concurrent" => Plan::Concurrent(concurrent::Options::from_args(args)?),
            other => return Err(format!("unknown subcommand {other:?}")),
        })
    }

    fn fds(&self) -> u64 {
        match self {
            Plan::Stream(o) => o.fds(),
            Plan::Request(o) => o.fds(),
            Plan::Probe(o) => o.fds(),
            Plan::Concurrent(o) => o.fds(),
        }
    }

    async fn run(self) -> Value {
        match self {
            Plan::Stream(o) => stream::run(o).await,
            Plan::Request(o) => request::run(o).await,
            Plan::Probe(o) => probe::run(o).await,
            Plan::Concurrent(o) => concurrent::run(o).await,
        }
    }
}

/// Reports a fatal problem on both streams (the orchestrator still gets JSON) and fails.
fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("loadgen: {message}");
    println!("{}", json!({ "error": message }));
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args = match cli::Args::parse(std::env::args().skip(1)) {
        Ok(args) if args.command == "help" || args.flag("help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(args) => args,
        Err(e) => {
            eprintln!("{USAGE}\n");
            return fail(&e, 2);
        }
    };
    let plan = match Plan::from_args(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{USAGE}\n");
            return fail(&e, 2);
        }
    };
    if let Err(e) = fdlimit::ensure(plan.fds()) {
        return fail(&e, 1);
    }
    // One core, one loop: the measuring side must not compete with the server for cores.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}"), 1),
    };
    let report = runtime.block_on(plan.run());
    println!("{report}");
    ExitCode::SUCCESS
}
