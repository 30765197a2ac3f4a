//! `kairos serve`'s WebSockets (`/ws/echo`, `/ws/ticks`) against clients nobody here wrote:
//! Python's `websockets` from PyPI (`websocket_clients.py`, in a virtual environment under
//! `target/` made on first use) and raw bytes for what a client library will not send. Each
//! refusal is followed by proof that the server still serves others.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;
use support::Serve;

/// The pinned client library, from PyPI.
const WEBSOCKETS: &str = "websockets==15.0.1";

/// The Python of a virtual environment with [`WEBSOCKETS`], made once per test run (with
/// `python3 -m venv` and pip, which needs PyPI once) unless it is there already.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| support::python_with(WEBSOCKETS))
}

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_clients.py")
}

/// Runs one check of the script against `serve`: the JSON lines it printed.
fn check(serve: &Serve, args: &[&str]) -> Vec<Value> {
    let out = Command::new(python())
        .arg(script())
        .arg(args[0])
        .arg(serve.addr.to_string())
        .args(&args[1..])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// Proof that the server serves: a new socket echoes, and a plain request is answered.
fn still_serves(serve: &Serve) {
    let seen = &check(serve, &["echo"])[0];
    assert_eq!(seen["text"], "héllo", "{seen}");
    assert_eq!(serve.get("/plaintext").1, "Hello, World!");
}

#[test]
fn echo_answers_text_and_binary_and_the_clients_close_with_its_code_and_reason() {
    let serve = Serve::start(&[]);
    let seen = &check(&serve, &["echo"])[0];
    assert_eq!(seen["text"], "héllo");
    assert_eq!(seen["binary"], true);
    // The server's reply to the client's close carries the same code and reason.
    assert_eq!(seen["close"], json!([4001, "done here"]));
}

#[test]
fn ticks_sends_n_ticks_then_closes_with_1000_and_validates_its_query_as_stream_does() {
    let serve = Serve::start(&[]);
    let seen = &check(&serve, &["ticks", "5", "10"])[0];
    assert_eq!(seen["ticks"], json!(["0", "1", "2", "3", "4"]));
    assert_eq!(seen["close"], json!([1000, "done"]));
    assert_eq!(seen["subprotocol"], Value::Null);

    // /stream's limits, answered before any upgrade: FastAPI's 422, every bad parameter.
    for (query, says) in [
        ("n=0", "greater_than_equal"),
        ("n=10001", "less_than_equal"),
        ("interval_ms=10001", "less_than_equal"),
        ("n=10000&interval_ms=100", "at most 60000 ms"),
        ("n=soon", "int_parsing"),
    ] {
        let answer = raw_upgrade(&serve, &format!("/ws/ticks?{query}"));
        assert!(answer.starts_with("HTTP/1.1 422"), "{query}: {answer}");
        assert!(answer.contains(says), "{query}: {answer}");
    }
    still_serves(&serve);
}

/// An upgrade request's whole answer (for one that is refused, so the server closes after it).
fn raw_upgrade(serve: &Serve, path: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(serve.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, \
         close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn ticks_speaks_json_when_the_client_offers_its_subprotocol() {
    let serve = Serve::start(&[]);
    let seen = &check(&serve, &["subprotocol", "ticks.v9", "ticks.json"])[0];
    assert_eq!(seen["subprotocol"], "ticks.json");
    assert_eq!(
        serde_json::from_str::<Value>(seen["first"].as_str().unwrap()).unwrap(),
        json!({"tick": 0, "of": 2})
    );
    // None in common: no subprotocol, the plain format.
    let seen = &check(&serve, &["subprotocol", "other"])[0];
    assert_eq!((&seen["subprotocol"], &seen["first"]), (&Value::Null, &json!("0")));
}

#[test]
fn a_message_over_echos_1_mib_closes_with_1009_and_others_are_served() {
    let serve = Serve::start(&[]);
    let seen = &check(&serve, &["oversized", &(1 << 20).to_string()])[0];
    assert_eq!(seen["close"], Value::Null, "1 MiB is within the limit: echoed");
    let seen = &check(&serve, &["oversized", &((1 << 20) + 1).to_string()])[0];
    assert_eq!(seen["close"], json!([1009, "message too big"]));
    still_serves(&serve);
}

#[test]
fn a_malformed_frame_closes_with_1002_and_others_are_served() {
    let serve = Serve::start(&[]);
    for kind in ["unmasked", "reserved-bit"] {
        let seen = &check(&serve, &["malformed", kind])[0];
        assert_eq!(seen["status"], 101, "{kind}");
        assert_eq!(seen["opcode"], 8, "{kind}: a close frame");
        assert_eq!((&seen["code"], &seen["reason"]), (&json!(1002), &json!("protocol error")));
        assert_eq!(seen["ended"], true, "{kind}: the server ends the connection");
        still_serves(&serve);
    }
}

#[test]
fn an_upgrade_without_the_key_is_a_400_and_others_are_served() {
    let serve = Serve::start(&[]);
    let seen = &check(&serve, &["no-key"])[0];
    assert_eq!(seen["status"], 400);
    assert_eq!(seen["body"]["detail"], "a WebSocket handshake needs a Sec-WebSocket-Key header");
    still_serves(&serve);
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_thousand_sockets_echo_at_once() {
    const SOCKETS: u32 = 1000;
    let serve = Serve::start(&[]);
    serve.raise_fd_limit(4 * SOCKETS as u64);
    // Warm: the first socket and request, so the baseline counts the server's fixed costs.
    still_serves(&serve);
    let before = rss_kib(serve.pid());

    let started = Instant::now();
    let mut client = Command::new(python())
        .arg(script())
        .args(["many", &serve.addr.to_string(), &SOCKETS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line once every socket is open").unwrap();
    let open: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((&open["open"], &open["echoed"]), (&json!(SOCKETS), &json!(SOCKETS)), "{open}");
    let during = rss_kib(serve.pid());
    writeln!(client.stdin.as_ref().unwrap()).unwrap();
    let line = lines.next().expect("a line once every socket is closed").unwrap();
    let closed: Value = serde_json::from_str(&line).unwrap();
    assert!(client.wait().unwrap().success());
    assert_eq!(closed["closed"], json!(SOCKETS));
    // The client's close, echoed: 1000 for every one.
    assert_eq!(closed["codes"], json!([1000]), "{closed}");
    // Bounded in time (a generous bound for a loaded machine, no verdict on speed).
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");
    eprintln!(
        "{SOCKETS} sockets: opened in {}s, all echoed at {}s, closed at {}s; server RSS {before} KiB \
         before, {during} KiB with all open ({} KiB per socket)",
        open["opened_s"],
        open["echoed_s"],
        closed["total_s"],
        during.saturating_sub(before) / u64::from(SOCKETS)
    );
    still_serves(&serve);
}

#[test]
fn a_graceful_shutdown_closes_open_sockets_with_1001() {
    let mut serve = Serve::start(&[]);
    let mut client = Command::new(python())
        .arg(script())
        .args(["hold", &serve.addr.to_string(), "5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let open: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(open["open"], 5);

    serve.terminate();
    let closes: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(client.wait().unwrap().success());
    assert_eq!(closes["closes"], json!(vec![json!([1001, "server shutting down"]); 5]));
    // The drain waited for the sockets, which closed: the server exits on its own.
    let status = serve.wait_exit(Duration::from_secs(60)).expect("the server exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn echo_works_over_tls_as_wss() {
    // A certificate for 127.0.0.1, made here; the client trusts it and checks the name.
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let serve = Serve::start(&["--ssl-certfile", &cert, "--ssl-keyfile", &key]);
    let seen = &check(&serve, &["wss-echo", &cert])[0];
    assert_eq!(seen["text"], "over tls", "{seen}");
    assert_eq!(seen["close"], json!([1000, ""]), "{seen}");
    let _ = std::fs::remove_dir_all(&dir);
}
