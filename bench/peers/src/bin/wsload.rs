//! `wsload`: the client side of issue 15's WebSocket benchmark (`bench/protocols.py`). It is
//! not what is measured — the server is — but it must not be the bottleneck by being slow or
//! the figures by being wrong, hence tokio-tungstenite (what axum's side uses, a well-kept
//! client) on one tokio current-thread runtime (pin it with `taskset -c 1` while the server has
//! core 0).
//!
//! ```text
//! wsload echo  --url ws://HOST:PORT/ws/echo [--connections 16] [--duration-s 5] [--size 16]
//!              [--kind text|binary] [--timeout-s 10]
//! wsload idle  --url URL [--connections 1000] [--hold-s 3] [--open-concurrency 64] [--timeout-s 10]
//! wsload check --url URL [--timeout-s 10]
//! ```
//!
//! - `echo`: opens the connections, then, all at once and for `--duration-s`, each sends a
//!   message of `--size` bytes and awaits its echo, again and again (one message in flight per
//!   connection). The echo must be the same message (kind and bytes). Only the loop is timed:
//!   opening and closing the connections are outside the window. Prints one JSON object:
//!   `messages` (round trips), `messages_per_s`, `rtt_ms` {p50, p99, max}, `errors`.
//! - `idle`: opens `--connections` sockets (`--open-concurrency` handshakes at a time) and
//!   prints a first JSON line, `{"event": "open", ...}`, as soon as all are open — the moment to
//!   read the server's memory — then holds them `--hold-s` seconds without a message (reading,
//!   so that a server's ping is answered and a close is seen), then sends one message on each
//!   and awaits its echo (the server kept them all alive), closes them and prints a second line,
//!   `{"event": "done", ...}`.
//! - `check`: one connection; a text and a binary message must come back as sent, a ping must
//!   get its pong, and a close (1000) must get the server's close back. Prints `{"ok": ...}`
//!   and exits 1 when not ok.
//!
//! Every network step has a timeout (`--timeout-s`), so the tool never hangs; a connection
//! that fails is counted in `errors` (with the first few messages as samples) and stops.
#![forbid(unsafe_code)]
#[allow(dead_code)] // loadgen's parser; this binary needs only some of its accessors
#[path = "loadgen/cli.rs"]
mod cli;
#[path = "loadgen/fdlimit.rs"]
mod fdlimit;
#[allow(dead_code)] // loadgen's statistics; `Errors::samples_only` is not needed here
#[path = "loadgen/stats.rs"]
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stats::{round, summary, Errors};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "\
usage: wsload SUBCOMMAND [OPTIONS]   (JSON on stdout, notes on stderr)

  echo   --url ws://HOST:PORT/PATH [--connections 16] [--duration-s 5] [--size 16]
         [--kind text|binary] [--timeout-s 10]
         each connection: send a message, await its echo, again, for the duration
  idle   --url URL [--connections 1000] [--hold-s 3] [--open-concurrency 64] [--timeout-s 10]
         open them all, print {\"event\":\"open\"...}, hold them idle, check each still echoes,
         print {\"event\":\"done\"...}
  check  --url URL [--timeout-s 10]
         text and binary echoed as sent, ping answered, close answered; exit 1 if not";

type Socket = WebSocketStream<TcpStream>;

/// Where to connect, resolved once; the URL itself goes into the upgrade request.
#[derive(Clone)]
struct Target {
    url: String,
    addr: SocketAddr,
    timeout: Duration,
}

impl Target {
    fn from_args(args: &cli::Args) -> Result<Target, String> {
        let url = args.required("url")?.to_string();
        let uri: http::Uri = url.parse().map_err(|e| format!("--url {url:?}: {e}"))?;
        if uri.scheme_str() != Some("ws") {
            return Err(format!("--url {url:?}: only ws:// URLs are supported"));
        }
        let host = uri.host().ok_or_else(|| format!("--url {url:?}: no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (host, uri.port_u16().unwrap_or(80))
            .to_socket_addrs()
            .map_err(|e| format!("--url {url:?}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("--url {url:?}: {host} has no address"))?;
        Ok(Target { url, addr, timeout: args.duration("timeout-s", 10.0, 1.0)? })
    }

    /// A new TCP connection (`TCP_NODELAY`, as the servers set it) and the upgrade on it.
    async fn connect(&self) -> Result<Socket, String> {
        let tcp = timeout(self.timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| "connect: timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (socket, _response) =
            timeout(self.timeout, tokio_tungstenite::client_async(self.url.as_str(), tcp))
                .await
                .map_err(|_| "upgrade: timed out".to_string())?
                .map_err(|e| format!("upgrade: {e}"))?;
        Ok(socket)
    }
}

/// Sends `message` and waits for the next text or binary message, which must be the same.
/// Pings and pongs on the way are skipped (tungstenite answers pings itself).
async fn round_trip(socket: &mut Socket, message: &Message, limit: Duration) -> Result<(), String> {
    timeout(limit, socket.send(message.clone()))
        .await
        .map_err(|_| "send: timed out".to_string())?
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let received = timeout(limit, socket.next())
            .await
            .map_err(|_| "waiting for the echo: timed out".to_string())?;
        match received {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(echo)) if &echo == message => return Ok(()),
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the connection: {frame:?}"))
            }
            Some(Ok(other)) => {
                return Err(format!("the echo differs: sent {message:?}, got {other:?}"))
            }
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the connection ended".to_string()),
        }
    }
}

/// The closing handshake, best effort (outside every measured window): sends a 1000 close and
/// reads until the server's close comes back or the connection ends.
async fn close(mut socket: Socket, limit: Duration) {
    let _ = timeout(limit, async {
        let _ = socket.close(None).await;
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// echo

struct EchoOptions {
    target: Target,
    connections: usize,
    duration: Duration,
    message: Message,
    size: usize,
    kind: &'static str,
}

impl EchoOptions {
    fn from_args(args: &cli::Args) -> Result<EchoOptions, String> {
        args.allow(&["url", "connections", "duration-s", "size", "kind", "timeout-s"])?;
        let size: usize = args.number("size", 16)?;
        let (message, kind) = match args.value("kind")?.unwrap_or("text") {
            "text" => (Message::text("x".repeat(size)), "text"),
            "binary" => (Message::binary(vec![0x5a_u8; size]), "binary"),
            other => return Err(format!("--kind must be text or binary, not {other:?}")),
        };
        Ok(EchoOptions {
            target: Target::from_args(args)?,
            connections: args.number("connections", 16)?,
            duration: args.duration("duration-s", 5.0, 1.0)?,
            message,
            size,
            kind,
        })
    }
}

/// What one connection's loop did.
struct Looped {
    /// Round-trip times, in milliseconds.
    rtts: Vec<f64>,
    /// When its last echo came (or it failed): the end of its share of the window.
    finished: Instant,
    /// Why it stopped early, if it did.
    error: Option<String>,
}

/// One connection's loop until `deadline` (the last round trip starts before it), then its
/// closing handshake, outside the window.
async fn echo_loop(
    mut socket: Socket,
    message: Message,
    deadline: Instant,
    limit: Duration,
) -> Looped {
    let mut rtts = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        if let Err(e) = round_trip(&mut socket, &message, limit).await {
            return Looped { rtts, finished: Instant::now(), error: Some(e) };
        }
        rtts.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let finished = Instant::now();
    close(socket, limit).await;
    Looped { rtts, finished, error: None }
}

async fn echo(o: EchoOptions) -> Value {
    let mut errors = Errors::default();
    let opened =
        futures_util::future::join_all((0..o.connections).map(|_| o.target.connect())).await;
    let mut sockets = Vec::new();
    for result in opened {
        match result {
            Ok(socket) => sockets.push(socket),
            Err(e) => errors.push(e),
        }
    }
    let connected = sockets.len();
    let started = Instant::now();
    let deadline = started + o.duration;
    let loops: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            tokio::spawn(echo_loop(socket, o.message.clone(), deadline, o.target.timeout))
        })
        .collect();
    let mut rtts = Vec::new();
    // The window ends when the last loop has its last echo (each stops after the deadline
    // with one round trip at most in flight); the closing handshakes are not in it.
    let mut end = started;
    for handle in loops {
        match handle.await {
            Ok(looped) => {
                rtts.extend(looped.rtts);
                end = end.max(looped.finished);
                if let Some(e) = looped.error {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(format!("a connection's task failed: {e}")),
        }
    }
    let elapsed_s = (end - started).as_secs_f64().max(1e-9);
    json!({
        "url": o.target.url,
        "connections": o.connections,
        "connected": connected,
        "kind": o.kind,
        "size": o.size,
        "duration_s": round(elapsed_s, 3),
        "messages": rtts.len(),
        "messages_per_s": round(rtts.len() as f64 / elapsed_s, 1),
        "rtt_ms": summary(&rtts, &["p50", "p99", "max"]),
        "errors": errors.count,
        "error_samples": errors.samples,
    })
}

// ---------------------------------------------------------------------------------------------
// idle

struct IdleOptions {
    target: Target,
    connections: usize,
    hold: Duration,
    open_concurrency: usize,
}

impl IdleOptions {
    fn from_args(args: &cli::Args) -> Result<IdleOptions, String> {
        args.allow(&["url", "connections", "hold-s", "open-concurrency", "timeout-s"])?;
        Ok(IdleOptions {
            target: Target::from_args(args)?,
            connections: args.number("connections", 1000)?,
            hold: args.duration("hold-s", 3.0, 1.0)?,
            open_concurrency: args.number::<usize>("open-concurrency", 64)?.max(1),
        })
    }
}

/// Holds one open socket until `until` while reading (a ping is answered, a close or an error
/// is seen), then checks that it still echoes and closes it.
async fn hold(
    mut socket: Socket,
    until: tokio::time::Instant,
    limit: Duration,
) -> Result<(), String> {
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => break,
            received = socket.next() => match received {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("closed by the server while idle: {frame:?}"))
                }
                Some(Ok(other)) => return Err(format!("an unasked-for message while idle: {other:?}")),
                Some(Err(e)) => return Err(format!("while idle: {e}")),
                None => return Err("the connection ended while idle".to_string()),
            },
        }
    }
    round_trip(&mut socket, &Message::text("still there?"), limit).await?;
    close(socket, limit).await;
    Ok(())
}

async fn idle(o: IdleOptions) -> Value {
    let mut errors = Errors::default();
    let started = Instant::now();
    let opened: Vec<_> = futures_util::stream::iter((0..o.connections).map(|_| o.target.connect()))
        .buffer_unordered(o.open_concurrency)
        .collect()
        .await;
    let open_s = started.elapsed().as_secs_f64();
    let mut sockets = Vec::new();
    for result in opened {
        match result {
            Ok(socket) => sockets.push(socket),
            Err(e) => errors.push(e),
        }
    }
    let open = sockets.len();
    println!(
        "{}",
        json!({"event": "open", "connections": o.connections, "open": open,
               "open_errors": errors.count, "open_s": round(open_s, 3)})
    );
    let until = tokio::time::Instant::now() + o.hold;
    let held: Vec<_> =
        sockets.into_iter().map(|s| tokio::spawn(hold(s, until, o.target.timeout))).collect();
    let mut alive = 0;
    for handle in held {
        match handle.await {
            Ok(Ok(())) => alive += 1,
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("a connection's task failed: {e}")),
        }
    }
    json!({
        "event": "done",
        "url": o.target.url,
        "connections": o.connections,
        "open": open,
        "open_s": round(open_s, 3),
        "hold_s": o.hold.as_secs_f64(),
        "alive_after_hold": alive,
        "errors": errors.count,
        "error_samples": errors.samples,
    })
}

// ---------------------------------------------------------------------------------------------
// check

/// The steps of `check`, in order; the first that fails ends it.
async fn check_steps(target: &Target, done: &mut Vec<&'static str>) -> Result<(), String> {
    let limit = target.timeout;
    let mut socket = target.connect().await?;
    done.push("upgrade");
    round_trip(&mut socket, &Message::text("hello, kairos \u{2713}"), limit)
        .await
        .map_err(|e| format!("text: {e}"))?;
    done.push("text echoed");
    round_trip(&mut socket, &Message::binary(vec![0u8, 1, 2, 0x80, 0xfe, 0xff]), limit)
        .await
        .map_err(|e| format!("binary: {e}"))?;
    done.push("binary echoed");
    let payload = Bytes::from_static(b"are you there");
    timeout(limit, socket.send(Message::Ping(payload.clone())))
        .await
        .map_err(|_| "ping: send timed out".to_string())?
        .map_err(|e| format!("ping: {e}"))?;
    match timeout(limit, socket.next()).await {
        Ok(Some(Ok(Message::Pong(got)))) if got == payload => done.push("ping answered"),
        Ok(other) => return Err(format!("ping: expected its pong, got {other:?}")),
        Err(_) => return Err("ping: no pong in time".to_string()),
    }
    let frame = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    timeout(limit, socket.close(Some(frame)))
        .await
        .map_err(|_| "close: send timed out".to_string())?
        .map_err(|e| format!("close: {e}"))?;
    loop {
        match timeout(limit, socket.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => break,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(format!("close: {e}")),
            Err(_) => return Err("close: the server's close did not come in time".to_string()),
        }
    }
    done.push("close answered");
    Ok(())
}

async fn check(target: Target) -> Value {
    let mut done = Vec::new();
    let result = check_steps(&target, &mut done).await;
    json!({"url": target.url, "ok": result.is_ok(), "passed": done, "error": result.err()})
}

// ---------------------------------------------------------------------------------------------

enum Plan {
    Echo(EchoOptions),
    Idle(IdleOptions),
    Check(Target),
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("wsload: {message}");
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
        Err(e) => return fail(&format!("{e}\n{USAGE}"), 2),
    };
    let plan = match args.command.as_str() {
        "echo" => EchoOptions::from_args(&args).map(Plan::Echo),
        "idle" => IdleOptions::from_args(&args).map(Plan::Idle),
        "check" => args
            .allow(&["url", "timeout-s"])
            .and_then(|()| Target::from_args(&args))
            .map(Plan::Check),
        other => Err(format!("unknown subcommand {other:?}")),
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => return fail(&format!("{e}\n{USAGE}"), 2),
    };
    let sockets = match &plan {
        Plan::Echo(o) => o.connections,
        Plan::Idle(o) => o.connections,
        Plan::Check(_) => 1,
    };
    if let Err(e) = fdlimit::ensure(sockets as u64 + 16) {
        return fail(&e, 1);
    }
    // One core, one loop: the measuring side must not compete with the server for cores.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}"), 1),
    };
    let report = runtime.block_on(async {
        match plan {
            Plan::Echo(o) => echo(o).await,
            Plan::Idle(o) => idle(o).await,
            Plan::Check(target) => check(target).await,
        }
    });
    println!("{report}");
    if report.get("ok") == Some(&Value::Bool(false)) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
