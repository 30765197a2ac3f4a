//! `kairos tour`: the chapter's ideas, each run against the real service and measured.
//!
//! The tour starts the service in-process on a loopback port, then acts as an ordinary HTTP
//! client: every experiment states what the chapter predicts (`expected`), what happened
//! (`measured`) and whether the two agree (`verdict`), printed as soon as it ends.
//!
//! Verdicts must hold on a loaded machine at every `--scale`, so they check only what load
//! cannot fake: a count, an order, a lower bound that a sleep guarantees (a sleep never ends
//! early), or a ratio with a wide margin between the two sides. Never "took less than X ms".
//! Below a floor the effects would drown in the machine's own noise, so every duration has one.
//!
//! | module | sections |
//! |---|---|
//! | `client.rs` | the plain HTTP/1.0 client the experiments use |
//! | `report.rs` | a row of the report, printed as a table line or a JSON line, kept for the page |
//! | `page.rs` | `--html FILE`: the report as one self-contained page, a timeline per run |
//! | `concurrency.rs` | 1.3, 2.1, 2.2, 2.3: sequential vs concurrent, gather, wait_for, the race |
//! | `blocking.rs` | 3, 4, 5.2, 6.2: blocking the loop, the sync pool, CPU pools |
//! | `io.rs` | 6.3, 7: a semaphore around outbound calls, streaming |
//! | `data.rs` | 4.2, 5.1 on a database: three drivers; a cache's one load for many misses |
//! | `logins.rs` | next steps: 20 logins with the password hash on the CPU pool, and on the loop |

mod blocking;
mod client;
mod concurrency;
mod data;
mod io;
mod logins;
mod page;
mod report;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use kairos::http::{RunningServer, ServerConfig};

use crate::service;
use client::Target;
use report::Report;

/// `kairos tour` flags.
#[derive(Args, Debug)]
pub(crate) struct TourArgs {
    /// Multiply every duration by this (0 < F <= 10); 0.2 runs the whole tour in seconds.
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    scale: f64,
    /// Print each experiment as a line of JSON (its measurements as numbers) instead of a
    /// line of the table.
    #[arg(long)]
    json: bool,
    /// Also write the report as one self-contained HTML page: each experiment's row, what
    /// it proves, and the timeline of its run (what the loop and the pools did meanwhile).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

fn parse_scale(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(scale) if scale > 0.0 && scale <= 10.0 => Ok(scale),
        _ => Err("expected a number in (0, 10], such as 0.2".to_owned()),
    }
}

/// Sync-pool tokens for the tour's server: small, so 100 `def` requests make 10 visible waves.
pub(crate) const SYNC_TOKENS: usize = 10;

/// Events the tour's worker records (32 bytes each: 16 MiB), for the page's timelines; a run
/// whose events were overwritten before its row was pushed would be drawn with a gap.
const RECORD_EVENTS: usize = 1 << 19;

/// Durations the experiments use, all derived from `--scale`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale(pub(crate) f64);

/// The smallest `?scale=` the tour sends the concurrency routes: their steps then last 0.2 s
/// to 0.4 s, so the gaps the verdicts look for (a whole step) stay ten times a loaded
/// machine's scheduling noise.
const ROUTE_FLOOR: f64 = 0.2;

impl Scale {
    /// `base_ms` scaled, never below `floor_ms`: below a floor the machine's own noise
    /// (thread start-up, connects, a busy core) would drown the effect being shown.
    pub(crate) fn ms(self, base_ms: f64, floor_ms: u64) -> u64 {
        ((base_ms * self.0).round() as u64).clamp(floor_ms, service::MAX_MS)
    }

    /// The `?scale=` for the service's concurrency routes: between the floor and their
    /// largest, 5.
    pub(crate) fn route(self) -> f64 {
        self.0.clamp(ROUTE_FLOOR, 5.0)
    }
}

/// Runs the tour, printing each experiment's row as it ends; says whether every verdict passed.
pub(crate) fn tour(args: TourArgs) -> anyhow::Result<bool> {
    let scale = Scale(args.scale);
    let server = start(scale, args.html.is_some()).context("cannot start the tour's server")?;
    let target = Target { addr: server.local_addr() };
    eprintln!("kairos tour: the service listens on http://{}, scale {}", target.addr, scale.0);

    let mut report = Report::new(args.json);
    if args.html.is_some() {
        report = report.keep(Box::new(trace_of));
    }
    concurrency::run(target, scale, &mut report);
    blocking::run(target, scale, &mut report);
    io::run(target, scale, &mut report);
    data::run(target, scale, &mut report);
    logins::run(target, &mut report);
    server.shutdown();
    server.wait();
    let (passed, rows) = report.finish();
    if let Some(path) = &args.html {
        page::write(path, &rows, scale.0)?;
        eprintln!("kairos tour: the page is {}", path.display());
    }
    Ok(passed)
}

/// The trace of what the tour's server did during `span`, as `/debug/trace` exports it: the
/// server runs in this process, so its recording is read directly.
///
/// A worker publishes what it recorded in chunks, and whenever it parks; the run's last
/// answer reaches the tour a moment before its worker has closed the connection and parked,
/// so the export waits that moment out first (the worker is idle then: it parks at once).
fn trace_of(span: report::Span) -> Option<String> {
    use kairos::rt::record::{chrome_trace, is_recording, Window};
    const SETTLE: Duration = Duration::from_millis(100);
    if !is_recording() {
        return None;
    }
    std::thread::sleep(SETTLE);
    Some(chrome_trace(Window::between(span.from_us, span.to_us)))
}

/// The service with its default settings, except a small sync pool, on one worker (so every
/// request shares the loop whose stalls `/debug/loop` reports), on a port the kernel picks;
/// recording what its loop does when the page is wanted (`record`).
fn start(scale: Scale, record: bool) -> anyhow::Result<RunningServer> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let settings = service::Settings {
        sync_pool: SYNC_TOKENS,
        cpu_pool: cores,
        process_pool: cores,
        upstream: service::Upstream::this_server(),
        // A database of the tour's own, in the temporary directory: the tour leaves nothing
        // in the working directory.
        database_url: format!(
            "sqlite://{}?mode=rwc",
            std::env::temp_dir().join(format!("kairos-tour-{}.db", std::process::id())).display()
        ),
        database_pool: 2,
        cache_url: "memory://".into(),
        fleet_lease: Duration::from_secs(10),
        cors_origins: Vec::new(),
        static_dir: service::DEFAULT_STATIC_DIR.into(),
        trusted_certificate: None,
        jwt_secret: None,
        jwt_previous_secrets: Vec::new(),
        admins: Vec::new(),
        root_path: String::new(),
        liveness_path: Some("/healthz".into()),
        readiness_path: Some("/readyz".into()),
        log_health_checks: false,
        metrics: true,
    };
    let config = ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        configure_loop: kairos::http::server::ConfigureLoop::new(kairos::tokio::configure_loop),
        // The stall threshold must sit below `/bad`'s sleep for the detector to see it.
        slow_callback_duration: Some(Duration::from_millis(blocking::bad_ms(scale) / 2)),
        // What `--html` draws: the tour's longest marked run (a hundred `def` requests in
        // ten waves) is a few tens of thousands of events, well inside this.
        record_events: if record { RECORD_EVENTS } else { 0 },
        ..ServerConfig::default()
    };
    let server = service::app(settings.clone()).serve(config)?;
    settings.upstream.listening_on("http", server.local_addr());
    Ok(server)
}

/// Seconds with two decimals, as every row prints them.
pub(crate) fn secs(d: f64) -> String {
    format!("{d:.2} s")
}
