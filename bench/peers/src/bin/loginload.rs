//! `loginload`: issue 16's storm of logins — N clients log in at once while a probe asks for
//! `/plaintext` one request at a time — as one JSON object on stdout (notes on stderr).
//!
//! ```text
//! loginload --url http://127.0.0.1:PORT/token --count N --password PW
//!           [--user-prefix u] [--user-first 0]
//!           [--source-first 127.1.0.1] [--per-source 25]
//!           [--probe-url http://127.0.0.1:PORT/plaintext] [--probe-gap-ms 10] [--timeout-s 120]
//! ```
//!
//! 1. Connects N TCP connections, client `i` bound to a source address of its own block:
//!    `--source-first` + `i / --per-source` (loopback answers on all of 127.0.0.0/8). Servers
//!    limit logins per client address (kairos: 50 per 15 minutes, successes included), so
//!    the orchestrator hands each storm fresh addresses and keeps every one under the limit.
//! 2. Once all are connected, releases them together: each writes one `POST` of the form
//!    `username={prefix}{user-first + i}&password=PW` and reads the answer; its latency runs
//!    from its own write to the answer's last byte. A success is a 200 whose body holds an
//!    `access_token`; anything else is counted as an error (with samples).
//! 3. Meanwhile, from the release until the last login is answered, the probe sends `GET
//!    --probe-url` on one kept-alive connection of its own (from 127.0.0.1, opened and used
//!    once before the release), one at a time, `--probe-gap-ms` apart (so it does not load a
//!    server that answers at once), each timed from its write to its answer. A connection the
//!    server closes is reopened, the reconnect charged to that probe.
//!
//! Output: `{"count", "ok", "errors", "error_samples", "statuses": {code: n}, "latency_ms":
//! {min, p50, p90, p99, max}, "wall_ms", "logins_per_s", "sources", "probe": {"sent",
//! "completed", "errors", "reconnects", "latency_ms": {p50, p99, max}, "samples_ms"}}`.
//! One core, one loop (a tokio current-thread runtime): pin it with `taskset -c 1`.
#![forbid(unsafe_code)]
#![allow(dead_code)] // the shared modules serve loadgen's subcommands too
#[path = "loadgen/cli.rs"]
mod cli;
#[path = "loadgen/client.rs"]
mod client;
#[path = "loadgen/fdlimit.rs"]
mod fdlimit;
#[path = "loadgen/stats.rs"]
mod stats;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use client::{get_on, Conn, Url};
use stats::{round, summary, Errors};

/// The most probe latencies echoed in the output.
const MAX_PROBE_SAMPLES: usize = 2000;

struct Options {
    url: Url,
    count: usize,
    password: String,
    user_prefix: String,
    user_first: usize,
    source_first: Ipv4Addr,
    per_source: usize,
    probe: Option<Url>,
    probe_gap: Duration,
    limit: Duration,
}

impl Options {
    fn from_args(args: &cli::Args) -> Result<Options, String> {
        if args.command != "storm" {
            return Err(format!("unknown subcommand {:?} (only `storm`)", args.command));
        }
        args.allow(&[
            "url",
            "count",
            "password",
            "user-prefix",
            "user-first",
            "source-first",
            "per-source",
            "probe-url",
            "probe-gap-ms",
            "timeout-s",
        ])?;
        let source_first: Ipv4Addr = args
            .value("source-first")?
            .unwrap_or("127.1.0.1")
            .parse()
            .map_err(|_| "--source-first must be an IPv4 address".to_string())?;
        if !source_first.is_loopback() {
            return Err("--source-first must be in 127.0.0.0/8".into());
        }
        Ok(Options {
            url: Url::parse(args.required("url")?)?,
            count: args.number("count", 1usize)?.max(1),
            password: args.required("password")?.to_string(),
            user_prefix: args.value("user-prefix")?.unwrap_or("u").to_string(),
            user_first: args.number("user-first", 0usize)?,
            source_first,
            per_source: args.number("per-source", 25usize)?.max(1),
            probe: args.value("probe-url")?.map(Url::parse).transpose()?,
            probe_gap: args.duration("probe-gap-ms", 10.0, 1e-3)?,
            limit: args.duration("timeout-s", 120.0, 1.0)?,
        })
    }

    /// Client `i`'s source address.
    fn source(&self, i: usize) -> Result<IpAddr, String> {
        let index = u32::try_from(i / self.per_source).map_err(|_| "too many sources")?;
        let ip = u32::from(self.source_first)
            .checked_add(index)
            .map(Ipv4Addr::from)
            .filter(Ipv4Addr::is_loopback)
            .ok_or("the source addresses run past 127.255.255.255")?;
        Ok(IpAddr::V4(ip))
    }
}

/// `application/x-www-form-urlencoded`'s escaping of one value.
fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A connection from `source` (any port) to `to`.
async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one HTTP/1.1 response framed by Content-Length (both servers' login answers are):
/// `(status, body)`.
async fn read_response(stream: &mut TcpStream) -> Result<(u16, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} bytes of head", buf.len()));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {:?}", head.lines().next()))?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>())
        })
        .ok_or("no content-length in the response")?
        .map_err(|_| "bad content-length")?;
    let mut body = buf.split_off(head_end);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err("closed during the body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((status, body))
}

/// One login on a connected stream: `(status, body)` and its latency from the write.
async fn login(
    mut stream: TcpStream,
    request: Vec<u8>,
    limit: Duration,
) -> (Result<(u16, Vec<u8>), String>, Duration) {
    let start = Instant::now();
    let exchange = async {
        stream.write_all(&request).await.map_err(|e| format!("write: {e}"))?;
        read_response(&mut stream).await
    };
    let result = match tokio::time::timeout(limit, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
    };
    (result, start.elapsed())
}

/// The probe: `GET url` one at a time until `done`, `gap` apart; latencies in ms (`None` for
/// a failed one), reconnects and errors.
async fn probe(
    url: Url,
    mut conn: Conn,
    gap: Duration,
    limit: Duration,
    done: Rc<Cell<bool>>,
) -> Value {
    let (mut samples, mut latencies) = (Vec::new(), Vec::new());
    let (mut errors, mut reconnects) = (Errors::default(), 0u64);
    let mut sent = 0u64;
    while !done.get() {
        sent += 1;
        let start = Instant::now();
        let result = async {
            if !conn.reusable {
                reconnects += 1;
                conn = Conn::connect(url.addr, limit).await?;
            }
            get_on(&mut conn, &url, false).await.and_then(client::Response::check)
        }
        .await;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(_) => {
                latencies.push(ms);
                samples.push(json!(round(ms, 2)));
            }
            Err(e) => {
                errors.push(format!("probe {sent}: {e}"));
                samples.push(Value::Null);
                conn.reusable = false;
            }
        }
        tokio::time::sleep(gap).await;
    }
    samples.truncate(MAX_PROBE_SAMPLES);
    json!({
        "url": url.text,
        "sent": sent,
        "completed": latencies.len(),
        "errors": errors.count,
        "error_samples": errors.samples,
        "reconnects": reconnects,
        "latency_ms": summary(&latencies, &["p50", "p99", "max"]),
        "samples_ms": samples,
    })
}

async fn run(o: Options) -> Result<Value, String> {
    let host = o.url.addr.to_string();
    let target = o.url.text.splitn(4, '/').nth(3).map(|t| format!("/{t}")).unwrap_or("/".into());
    let requests: Vec<Vec<u8>> = (0..o.count)
        .map(|i| {
            let body = format!(
                "username={}&password={}",
                form_escape(&format!("{}{}", o.user_prefix, o.user_first + i)),
                form_escape(&o.password)
            );
            format!(
                "POST {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kairos-loginload\r\n\
                 Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();

    // 1. Everyone connected (and the probe's connection warmed) before the release.
    let sources: Vec<IpAddr> = (0..o.count).map(|i| o.source(i)).collect::<Result<_, _>>()?;
    let (to, limit) = (o.url.addr, o.limit);
    let connecting = sources
        .iter()
        .map(|&source| async move { tokio::time::timeout(limit, connect_from(source, to)).await });
    let mut streams = Vec::with_capacity(o.count);
    for (i, connected) in futures_util::future::join_all(connecting).await.into_iter().enumerate() {
        match connected {
            Ok(Ok(stream)) => streams.push(stream),
            Ok(Err(e)) => return Err(format!("client {i} from {}: connect: {e}", sources[i])),
            Err(_) => return Err(format!("client {i} from {}: connect timed out", sources[i])),
        }
    }
    let probe_conn = match &o.probe {
        Some(url) => {
            let mut conn =
                Conn::connect(url.addr, o.limit).await.map_err(|e| format!("probe: {e}"))?;
            get_on(&mut conn, url, false)
                .await
                .and_then(client::Response::check)
                .map_err(|e| format!("probe warm-up: {e}"))?;
            Some(conn)
        }
        None => None,
    };
    eprintln!(
        "loginload: {} clients connected from {} to {}, released together",
        o.count,
        if sources.first() == sources.last() {
            sources[0].to_string()
        } else {
            format!("{}..{}", sources[0], sources[o.count - 1])
        },
        o.url.text
    );

    // 2. The release: every login and the probe on one loop.
    let local = tokio::task::LocalSet::new();
    let done = Rc::new(Cell::new(false));
    let t0 = Instant::now();
    let logins: Vec<_> = streams
        .into_iter()
        .zip(requests)
        .map(|(stream, request)| {
            local.spawn_local(async move {
                let (result, took) = login(stream, request, limit).await;
                (result, took, Instant::now())
            })
        })
        .collect();
    let probe_task = match (o.probe.clone(), probe_conn) {
        (Some(url), Some(conn)) => {
            Some(local.spawn_local(probe(url, conn, o.probe_gap, o.limit, Rc::clone(&done))))
        }
        _ => None,
    };
    let (outcomes, probe_report) = local
        .run_until(async {
            let outcomes = futures_util::future::join_all(logins).await;
            done.set(true);
            let report = match probe_task {
                Some(task) => task.await.unwrap_or_else(|e| json!({ "error": e.to_string() })),
                None => Value::Null,
            };
            (outcomes, report)
        })
        .await;

    let (mut latencies, mut statuses) = (Vec::new(), BTreeMap::<String, u64>::new());
    let mut errors = Errors::default();
    let mut last = t0;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let (result, took, end) = outcome.map_err(|e| format!("login task {i}: {e}"))?;
        last = last.max(end);
        match result {
            Ok((status, body)) => {
                *statuses.entry(status.to_string()).or_default() += 1;
                let token = status == 200
                    && serde_json::from_slice::<Value>(&body)
                        .ok()
                        .is_some_and(|v| v["access_token"].is_string());
                if token {
                    latencies.push(took.as_secs_f64() * 1e3);
                } else {
                    errors.push(format!(
                        "login {i} from {}: {status} {}",
                        sources[i],
                        String::from_utf8_lossy(&body).chars().take(120).collect::<String>()
                    ));
                }
            }
            Err(e) => {
                *statuses.entry("none".into()).or_default() += 1;
                errors.push(format!("login {i} from {}: {e}", sources[i]));
            }
        }
    }
    let wall = last.duration_since(t0).as_secs_f64();
    let report = json!({
        "url": o.url.text,
        "count": o.count,
        "ok": latencies.len(),
        "errors": errors.count,
        "error_samples": errors.samples,
        "statuses": statuses,
        "latency_ms": summary(&latencies, &["min", "p50", "p90", "p99", "max"]),
        "wall_ms": round(wall * 1e3, 1),
        "logins_per_s": round(latencies.len() as f64 / wall.max(1e-9), 2),
        "sources": { "first": sources[0].to_string(), "last": sources[o.count - 1].to_string(),
                     "per_source": o.per_source },
        "probe": probe_report,
    });
    eprintln!(
        "loginload: {} ok of {} in {:.0} ms, latency {}, probe {}",
        report["ok"],
        o.count,
        wall * 1e3,
        report["latency_ms"],
        report["probe"]["latency_ms"]
    );
    Ok(report)
}

fn main() -> ExitCode {
    let fail = |message: &str, code: u8| {
        eprintln!("loginload: {message}");
        println!("{}", json!({ "error": message }));
        ExitCode::from(code)
    };
    let options = match cli::Args::parse(std::env::args().skip(1))
        .and_then(|args| Options::from_args(&args))
    {
        Ok(options) => options,
        Err(e) => {
            eprintln!("usage: see the comment at the top of bench/peers/src/bin/loginload.rs");
            return fail(&e, 2);
        }
    };
    if let Err(e) = fdlimit::ensure(options.count as u64 + 64) {
        return fail(&e, 1);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}"), 1),
    };
    match runtime.block_on(run(options)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, 1),
    }
}
