//! The `kairos` command: `kairos serve` runs the chapter's service; `kairos tour` runs each
//! idea of the chapter against it and measures it; `kairos help` also lists the runtime's
//! examples.
#![forbid(unsafe_code)]

mod service;
mod tour;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kairos::http::ServerConfig;
use kairos::web::http::HeaderValue;

/// The examples of the runtime's crates: (package, example, what it shows).
const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "kairos-rt",
        "sequential_vs_concurrent",
        "2.1-2.2: await one by one (3 s) vs tasks and gather (2 s)",
    ),
    ("kairos-rt", "wait_for", "2.3: wait_for times out and cancels a slow task"),
    ("kairos-rt", "counter_race", "1.3: no race without an await, lost updates with one"),
    (
        "kairos-rt",
        "blocking_detection",
        "3.1 + 5.2: a blocking call is reported; run_in_executor is not",
    ),
    (
        "kairos-rt",
        "thread_pool",
        "3.2: ThreadPoolExecutor(max_workers=4, thread_name_prefix='cpu')",
    ),
    ("kairos-sync", "semaphore", "6.3: Semaphore(5) around 20 calls, never more than 5 in flight"),
];

/// kairos — the FastAPI async chapter, built for real in Rust.
#[derive(Parser)]
#[command(name = "kairos", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chapter's service (open http://127.0.0.1:8000/ for the route index).
    // Boxed: its flags make it far larger than the other commands.
    Serve(Box<ServeArgs>),
    /// Run each idea of the chapter against the service and print expected vs measured.
    Tour(tour::TourArgs),
    /// List the commands and the runtime's examples.
    Help,
}

/// `kairos serve` flags; defaults are uvicorn's and anyio's, as the chapter assumes.
#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port). Once listening, the server prints
    /// `listening on http://ADDRESS` (https with --ssl-certfile) on stdout with the address
    /// it got.
    #[arg(long, default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// Listen on a Unix domain socket at this path instead of --bind, for a proxy on the same
    /// machine (nginx: proxy_pass http://unix:PATH:/;). Once listening, the server prints
    /// `listening on unix:PATH`. Its peers have no address: forwarded headers are believed
    /// from them only with --forwarded-allow-ips '*'. Not with --ssl-certfile.
    #[arg(long, value_name = "PATH", conflicts_with = "ssl_certfile")]
    uds: Option<std::path::PathBuf>,
    /// Worker threads, one event loop each (1, as uvicorn; 0 = one per core).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Sync-pool tokens (threads) per worker, for `def` routes (anyio's 40).
    #[arg(long, default_value_t = NonZeroUsize::new(40).unwrap())]
    sync_pool: NonZeroUsize,
    /// Threads of the CPU pool behind `/cpu?pool=thread`, one pool shared by all workers
    /// (default: one per core).
    #[arg(long)]
    cpu_pool: Option<NonZeroUsize>,
    /// Worker processes behind `/cpu?pool=process`, per worker (default: the cores shared out
    /// among the workers, at least one).
    #[arg(long)]
    process_pool: Option<NonZeroUsize>,
    /// Requests in progress at once per worker; past it, 503 (default: no limit).
    #[arg(long)]
    limit_concurrency: Option<NonZeroUsize>,
    /// Longest request line (method, target, version) in bytes; past it, 414 (nginx's and
    /// Apache's 8 KiB).
    #[arg(long, default_value_t = 8 * 1024)]
    limit_request_line: usize,
    /// Largest request head (request line and headers) in bytes; past it, 431 (h11's 16 KiB).
    #[arg(long, default_value_t = 16 * 1024)]
    limit_header_size: usize,
    /// Most header fields in a request; past it, 431 (hyper's, Apache's and Tomcat's 100).
    #[arg(long, default_value_t = 100)]
    limit_max_headers: usize,
    /// Largest request body in bytes; past it, 413 (0 = no limit).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    limit_body_size: u64,
    /// Accept what RFC 9112 permits but a front proxy may frame differently (bare LF line
    /// ends, equal duplicate Content-Lengths, Content-Length with Transfer-Encoding, spaces
    /// after a chunk size, framing fields in trailers). Risky behind a proxy: requests can be
    /// smuggled where two parsers disagree. Off: all of these get 400.
    #[arg(long)]
    lenient_http: bool,
    /// Seconds an idle keep-alive connection stays open (uvicorn's 5).
    #[arg(long, default_value_t = 5)]
    timeout_keep_alive: u64,
    /// Seconds a graceful shutdown waits for requests in progress.
    #[arg(long, default_value_t = 30)]
    timeout_graceful_shutdown: u64,
    /// A poll longer than this many milliseconds is reported (asyncio's 100; 0 = off).
    #[arg(long, default_value_t = 100)]
    slow_callback_ms: u64,
    /// Events each worker's loop keeps in its recording — every poll, wake, request and pool
    /// job, drawn by /debug/timeline and exported by /debug/trace — 32 bytes each (the default
    /// keeps 262,144: 8 MiB per worker); 0 turns recording off.
    #[arg(long, default_value_t = 1 << 18)]
    record_events: usize,
    /// Write the recording to this file at shutdown, as a Trace Event Format file for
    /// Perfetto's UI (ui.perfetto.dev) or chrome://tracing.
    #[arg(long, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
    /// The database behind /items: sqlite:PATH (the default: kairos.db in the working
    /// directory, created on first start) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(long, default_value = service::database::DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Connections in the database pool, shared by every worker.
    #[arg(long, default_value_t = 5)]
    database_pool: u32,
    /// The cache behind /cached: memory:// (the default) or redis://HOST:PORT. A Redis is
    /// also the fleet's: /external?scope=fleet and rate= count every instance given the same
    /// one.
    #[arg(long, default_value = "memory://")]
    cache_url: String,
    /// Milliseconds a fleet permit of /external?scope=fleet lasts unless its instance renews
    /// it (every third of it): a killed instance's permits come back after at most this long.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(30..))]
    fleet_lease_ms: u64,
    /// An origin whose pages may call the service from a browser (CORS), such as
    /// http://localhost:3000; repeat for several, `*` for any. None by default: browsers
    /// refuse cross-origin reads.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    cors_origins: Vec<HeaderValue>,
    /// The directory served at /static/: the index page's style and script (default: the
    /// crates/cli/static directory of the source tree this binary was built from).
    #[arg(long, default_value = service::DEFAULT_STATIC_DIR)]
    static_dir: std::path::PathBuf,
    /// Base URL that `/external` calls (default: this server itself).
    #[arg(long, value_parser = parse_upstream)]
    upstream: Option<String>,
    /// The secret bearer tokens are signed with (HS256; 32 bytes or more). Every instance
    /// behind one load balancer needs the same. Default: a random one per start, so tokens
    /// end with the server.
    #[arg(long, env = "KAIROS_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A secret that signed tokens before --jwt-secret: its tokens are still taken until they
    /// expire (30 min), new ones are signed with --jwt-secret. Repeat for several.
    #[arg(long = "jwt-previous-secret", value_name = "SECRET")]
    jwt_previous_secrets: Vec<String>,
    /// A username that gets the admin right (every user's items) when it registers; repeat
    /// for several.
    #[arg(long = "admin", value_name = "USERNAME")]
    admins: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first), as
    /// uvicorn's flag; needs --ssl-keyfile. HTTP/2 or HTTP/1.1 is chosen by ALPN.
    #[arg(long, requires = "ssl_keyfile", value_name = "PEM")]
    ssl_certfile: Option<std::path::PathBuf>,
    /// The private key of --ssl-certfile's certificate (PEM: PKCS#8, RSA or EC).
    #[arg(long, requires = "ssl_certfile", value_name = "PEM")]
    ssl_keyfile: Option<std::path::PathBuf>,
    /// Serve HTTP/1.1 only: no HTTP/2 by ALPN over TLS, nor by prior knowledge in the clear.
    #[arg(long)]
    no_http2: bool,
    /// Most requests in progress at once on one HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    http2_max_streams: u32,
    /// Believe X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded (RFC 7239)
    /// from the proxies --forwarded-allow-ips lists: the client address, scheme and host they
    /// give are what handlers and the access log see. On by default, as in uvicorn.
    #[arg(long, overrides_with = "no_proxy_headers")]
    proxy_headers: bool,
    /// Ignore forwarded headers from everyone: the connection's peer is the client.
    #[arg(long, overrides_with = "proxy_headers")]
    no_proxy_headers: bool,
    /// The proxies whose forwarded headers are believed: a comma-separated list of IP
    /// addresses and networks (127.0.0.1,10.0.0.0/8,::1), or * for every peer (needed for a
    /// proxy on a Unix socket). The client is the first address that is not one of them,
    /// reading X-Forwarded-For from the right.
    #[arg(long, env = "FORWARDED_ALLOW_IPS", default_value = "127.0.0.1",
          value_parser = parse_forwarded_allow_ips)]
    forwarded_allow_ips: kairos::http::server::ForwardedAllowIps,
    /// The prefix a proxy strips before passing requests on (FastAPI's root_path), such as
    /// /api: the OpenAPI document's servers, the /docs page's URLs and the index page's links
    /// get it in front.
    #[arg(long, default_value = "", value_parser = parse_root_path)]
    root_path: String,
    /// Seconds the server keeps accepting and serving after SIGTERM, with /readyz answering
    /// 503, before it closes its socket and drains: long enough for the load balancer's
    /// health checks to notice (its interval × its fall count), so no request is refused.
    #[arg(long, default_value_t = 0.0, value_parser = parse_seconds)]
    shutdown_delay: f64,
    /// Where liveness is answered: 200 while every worker's loop turns, 503 naming a stuck
    /// one ("" for none).
    #[arg(long, default_value = "/healthz", value_parser = parse_route_path)]
    liveness_path: String,
    /// Where readiness is answered: 200 while serving, 503 while starting and from the start
    /// of a graceful shutdown ("" for none).
    #[arg(long, default_value = "/readyz", value_parser = parse_route_path)]
    readiness_path: String,
    /// Write the health checks' requests to the access log too (left out by default: a
    /// balancer asks every second).
    #[arg(long)]
    log_health_checks: bool,
    /// Serve no /metrics, and count nothing per request (what the counting costs is in
    /// BENCHMARKS.md).
    #[arg(long)]
    no_metrics: bool,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
}

/// `*`, or a browser origin: a scheme, a host and maybe a port, with no path.
fn parse_origin(value: &str) -> Result<HeaderValue, String> {
    let valid = value == "*"
        || value.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
    match HeaderValue::from_str(value) {
        Ok(origin) if valid => Ok(origin),
        _ => Err("expected an origin such as http://localhost:3000 (no path), or *".to_owned()),
    }
}

/// `--forwarded-allow-ips`: addresses, networks or `*`.
fn parse_forwarded_allow_ips(
    value: &str,
) -> Result<kairos::http::server::ForwardedAllowIps, String> {
    value.parse().map_err(|e: kairos::http::server::ForwardedAllowIpsError| e.to_string())
}

/// `--root-path`: empty, or a path that starts with `/` (a trailing `/` is dropped).
fn parse_root_path(value: &str) -> Result<String, String> {
    let value = value.trim_end_matches('/');
    if value.is_empty() || (value.starts_with('/') && !value.contains(['?', '#', ' '])) {
        Ok(value.to_owned())
    } else {
        Err("expected a path that starts with /, such as /api (or \"\" for none)".to_owned())
    }
}

/// A route's path: empty (none), or one that starts with `/`.
fn parse_route_path(value: &str) -> Result<String, String> {
    if value.is_empty() || (value.starts_with('/') && !value.contains(['?', '#', ' ', '{'])) {
        Ok(value.to_owned())
    } else {
        Err("expected a path that starts with /, such as /healthz (or \"\" for none)".to_owned())
    }
}

/// A duration in seconds, 0 or more (fractions allowed: 0.5).
fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err("expected seconds between 0 and 3600, such as 5 or 0.5".to_owned()),
    }
}

/// An `http://` or `https://` base URL.
fn parse_upstream(value: &str) -> Result<String, String> {
    match value.strip_prefix("http://").or_else(|| value.strip_prefix("https://")) {
        Some(rest) if !rest.is_empty() => Ok(value.trim_end_matches('/').to_owned()),
        _ => {
            Err("expected an http:// or https:// base URL, such as http://127.0.0.1:8000"
                .to_owned())
        }
    }
}

fn main() -> anyhow::Result<()> {
    // In a process-pool worker this serves jobs and never returns; it must come first.
    kairos::process::worker_main(&[&service::CPU_TASK]);

    match Cli::parse().command {
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Tour(args)) => {
            if !tour::tour(args)? {
                // The report is already printed; the exit status is for scripts and CI.
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Help) | None => {
            help();
            Ok(())
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log_level));
    // Colours only for a person at a terminal: escape codes in a file or a pipe are noise.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let workers = if args.workers == 0 { cores } else { args.workers };
    let settings = service::Settings {
        sync_pool: args.sync_pool.get(),
        // The thread pool is one for the whole server (threads need no GIL): a thread per
        // core. Process pools are per worker loop, so by default the cores are shared out
        // among the workers and `--workers 0` does not start cores × cores processes.
        cpu_pool: args.cpu_pool.map_or(cores, NonZeroUsize::get),
        process_pool: args.process_pool.map_or((cores / workers).max(1), NonZeroUsize::get),
        upstream: args
            .upstream
            .map_or_else(service::Upstream::this_server, service::Upstream::fixed),
        database_url: args.database_url,
        database_pool: args.database_pool.max(1),
        cache_url: args.cache_url,
        fleet_lease: Duration::from_millis(args.fleet_lease_ms),
        cors_origins: args.cors_origins,
        static_dir: args.static_dir,
        trusted_certificate: None,
        jwt_secret: args.jwt_secret,
        jwt_previous_secrets: args.jwt_previous_secrets,
        admins: args.admins,
        root_path: args.root_path,
        liveness_path: (!args.liveness_path.is_empty()).then_some(args.liveness_path),
        readiness_path: (!args.readiness_path.is_empty()).then_some(args.readiness_path),
        log_health_checks: args.log_health_checks,
        metrics: !args.no_metrics,
    };
    let mut settings = settings;
    let tls = match (&args.ssl_certfile, &args.ssl_keyfile) {
        (Some(certificate), Some(key)) => {
            let tls = kairos::http::TlsConfig::from_pem_files(certificate, key)
                .context("cannot use --ssl-certfile and --ssl-keyfile")?;
            // `/external` calls this server over https by default: its client trusts the
            // served certificate (which must name 127.0.0.1 for that call to verify).
            let pem = std::fs::read(certificate).context("cannot read --ssl-certfile")?;
            kairos::http::ClientConfig::default()
                .with_root_pem(&pem)
                .context("cannot use --ssl-certfile's certificate as a root for /external")?;
            settings.trusted_certificate = Some(pem.into());
            Some(tls)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    if args.trace.is_some() && args.record_events == 0 {
        anyhow::bail!("--trace writes the recording, and --record-events 0 turns it off");
    }
    let config = ServerConfig {
        bind: args.bind,
        uds: args.uds.clone(),
        tls,
        http2: !args.no_http2,
        http2_max_concurrent_streams: args.http2_max_streams,
        workers,
        limit_concurrency: args.limit_concurrency.map(NonZeroUsize::get),
        max_request_line: args.limit_request_line,
        max_header_size: args.limit_header_size,
        max_headers: args.limit_max_headers,
        max_body_size: (args.limit_body_size > 0).then_some(args.limit_body_size),
        strict: !args.lenient_http,
        keep_alive_timeout: Duration::from_secs(args.timeout_keep_alive),
        graceful_shutdown_timeout: Duration::from_secs(args.timeout_graceful_shutdown),
        shutdown_delay: Duration::from_secs_f64(args.shutdown_delay),
        // uvicorn's: on unless --no-proxy-headers, believing --forwarded-allow-ips only.
        proxy_headers: args.proxy_headers || !args.no_proxy_headers,
        forwarded_allow_ips: args.forwarded_allow_ips,
        // Each worker's loop (0 turns the stall detector off).
        slow_callback_duration: Some(Duration::from_millis(args.slow_callback_ms)),
        record_events: args.record_events,
        // The service's own access log (service/middleware.rs) names each request's id.
        access_log: false,
        // The database and the cache are tokio libraries: every worker's loop enters the
        // tokio runtime beside the loops.
        configure_loop: kairos::http::server::ConfigureLoop::new(kairos::tokio::configure_loop),
        ..ServerConfig::default()
    };
    let running = match service::app(settings.clone()).serve(config) {
        Ok(running) => running,
        // uvicorn's "Application startup failed. Exiting." and its status, 3: a lifespan's
        // startup is not an error of the command line, and scripts can tell them apart.
        Err(error @ kairos::web::ServeError::Startup(_)) => {
            eprintln!("error: {error}. Exiting.");
            std::process::exit(3);
        }
        // The message names the address and what to check.
        Err(error) => return Err(error.into()),
    };
    running.shutdown_handle().on_signals().context("cannot install the signal handlers")?;
    let addr = running.local_addr();
    // The one line on stdout, whatever the log level: the address actually bound (the real
    // port for `--bind 127.0.0.1:0`), for the people and the scripts that start the server.
    match running.uds() {
        // `/external` calls this server over TCP only: give --upstream to use it here.
        Some(path) => println!("listening on unix:{}", path.display()),
        None => {
            settings.upstream.listening_on(scheme, addr);
            println!("listening on {scheme}://{addr}");
        }
    }
    tracing::info!(
        target: "kairos::serve",
        "{workers} worker(s), {} sync tokens each, upstream {}",
        settings.sync_pool,
        settings.upstream
    );
    running.wait();
    if let Some(path) = &args.trace {
        let trace = kairos::rt::record::chrome_trace(kairos::rt::record::Window::all());
        std::fs::write(path, trace)
            .with_context(|| format!("cannot write the trace to {}", path.display()))?;
        eprintln!("trace written to {} (open it at ui.perfetto.dev)", path.display());
    }
    Ok(())
}

fn help() {
    println!("kairos — the FastAPI async chapter, built for real in Rust.\n");
    println!("Commands:");
    println!("  cargo run --release -- serve     # the chapter's service on http://127.0.0.1:8000");
    println!("  cargo run --release -- serve --help   # its flags");
    println!("  cargo run --release -- tour      # each idea run against the service, measured\n");
    println!("The event loop's ideas, each run and measured:");
    for (package, name, what) in EXAMPLES {
        println!("  cargo run --release -p {package:<11} --example {name:<24} # {what}");
    }
}
