//! TLS, HTTP/2 and switching protocols, black-box over loopback: clients nobody here wrote
//! (curl, h2load) where they exist, raw frames where the protocol's failure modes matter
//! (a garbage ClientHello, a malformed frame, a flood of resets), and raw bytes for the
//! upgrade hand-over.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use kairos_http::server::ConfigureLoop;
use kairos_http::upgrade::OnUpgrade;
use kairos_http::{Body, Request, Response, RunningServer, Server, ServerConfig, TlsConfig};
use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
use kairos_rt::task::Label;
use kairos_rt::Diagnostic;

fn config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        ..ServerConfig::default()
    }
}

/// `/slow` requests that reached the service: the graceful-shutdown test's sign that its
/// request is in progress. Only that test asks for `/slow` — the tests run at once, and a
/// count of every request let another test's request pass for its own.
static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

/// The test service: `/` says which HTTP version it was asked in; `/stream` sends three
/// chunks 20 ms apart; `/slow` answers after 300 ms; `/echo` returns the body; `/block`
/// blocks its loop for 150 ms inside a labelled scope; `/upgrade-echo` switches to an echo
/// protocol; `/refuse-upgrade` answers 200 to everything.
async fn app(request: Request) -> Response {
    match request.uri().path() {
        "/stream" => {
            let chunks = futures::stream::unfold(0, |i| async move {
                if i == 3 {
                    return None;
                }
                kairos_rt::sleep(Duration::from_millis(20)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i}\n"))), i + 1))
            });
            Response::new(Body::from_stream(chunks))
        }
        "/slow" => {
            SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
            kairos_rt::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow done"))
        }
        "/echo" => Response::new(Body::from(request.into_body().bytes().await.unwrap())),
        "/block" => {
            Label::new("GET /block → blocking_handler")
                .scope(async { std::thread::sleep(Duration::from_millis(150)) })
                .await;
            Response::new(Body::from("blocked"))
        }
        "/upgrade-echo" => upgrade_echo(&request),
        _ => Response::new(Body::from(format!("Hello over {:?}", request.version()))),
    }
}

/// Switches to a line echo: every byte comes back; at graceful shutdown it says `bye` and
/// closes.
fn upgrade_echo(request: &Request) -> Response {
    let claim = request.extensions().get::<OnUpgrade>().expect("an upgrade request").claim();
    let claim = claim.expect("claimed on the request's loop");
    kairos_rt::spawn(async move {
        let Ok(mut stream) = claim.await else { return };
        let shutting_down = stream.shutting_down();
        let mut shutting_down = std::pin::pin!(shutting_down);
        let mut buf = [0u8; 1024];
        loop {
            let read = std::pin::pin!(stream.read(&mut buf));
            match futures::future::select(read, shutting_down.as_mut()).await {
                futures::future::Either::Left((Ok(n @ 1..), _)) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                futures::future::Either::Left(_) => return,
                futures::future::Either::Right(_) => {
                    let _ = stream.write_all(b"bye").await;
                    let _ = stream.close().await;
                    return;
                }
            }
        }
    })
    .detach();
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert(http::header::UPGRADE, "echo".parse().unwrap());
    response.headers_mut().insert(http::header::CONNECTION, "upgrade".parse().unwrap());
    response
}

fn start(config: ServerConfig) -> RunningServer {
    Server::new(config).start(|| app).unwrap()
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made for this test, written to a
/// directory of its own (curl reads it from a file).
struct Certificate {
    dir: PathBuf,
    certificate: String,
    key: String,
}

impl Certificate {
    fn new(name: &str) -> Certificate {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        let dir = std::env::temp_dir().join(format!("kairos-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certificate = made.cert.pem();
        let key = made.signing_key.serialize_pem();
        std::fs::write(dir.join("cert.pem"), &certificate).unwrap();
        std::fs::write(dir.join("key.pem"), &key).unwrap();
        Certificate { dir, certificate, key }
    }

    fn tls(&self) -> TlsConfig {
        TlsConfig::from_pem(self.certificate.as_bytes(), self.key.as_bytes()).unwrap()
    }

    fn path(&self) -> String {
        self.dir.join("cert.pem").display().to_string()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs curl with `args`; returns (the `-w` output's last line, the body before it).
fn curl(args: &[&str]) -> (String, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl runs (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

fn https_url(addr: SocketAddr, path: &str) -> (String, String) {
    (
        format!("https://localhost:{}{path}", addr.port()),
        format!("localhost:{}:127.0.0.1", addr.port()),
    )
}

#[test]
fn http2_by_prior_knowledge_and_http1_share_the_plain_port() {
    let server = start(config());
    let url = format!("http://{}/", server.local_addr());
    let (status, body) = curl(&["--http2-prior-knowledge", &url]);
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "Hello over HTTP/2.0"));
    let (status, body) = curl(&[&url]);
    assert_eq!((status.as_str(), body.as_str()), ("200 1.1", "Hello over HTTP/1.1"));
    // Methods that start like the preface (P...) are HTTP/1.1 all the same.
    let (status, body) = curl(&["-X", "POST", "--data-binary", "posted", &format!("{url}echo")]);
    assert_eq!((status.as_str(), body.as_str()), ("200 1.1", "posted"));
    let (status, body) =
        curl(&["--http2-prior-knowledge", "--data-binary", "posted", &format!("{url}echo")]);
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "posted"));
    server.shutdown();
    server.wait();
}

#[test]
fn http2_off_serves_only_http1() {
    let server = start(ServerConfig { http2: false, ..config() });
    let url = format!("http://{}/", server.local_addr());
    let (status, _) = curl(&[&url]);
    assert_eq!(status, "200 1.1");
    // The preface is not an HTTP/1.1 request: the gate refuses it.
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge", &url])
        .output()
        .unwrap();
    assert!(!output.status.success(), "h2c was served with http2 off");
    server.shutdown();
    server.wait();
}

#[test]
fn tls_chooses_http2_or_http1_by_alpn() {
    let certificate = Certificate::new("alpn");
    let server = start(ServerConfig { tls: Some(certificate.tls()), ..config() });
    let (url, resolve) = https_url(server.local_addr(), "/");
    let ca = certificate.path();
    let (status, body) = curl(&["--cacert", &ca, "--resolve", &resolve, "--http2", &url]);
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "Hello over HTTP/2.0"));
    let (status, body) = curl(&["--cacert", &ca, "--resolve", &resolve, "--http1.1", &url]);
    assert_eq!((status.as_str(), body.as_str()), ("200 1.1", "Hello over HTTP/1.1"));
    // Streaming over TLS and HTTP/2: every chunk arrives.
    let (url, _) = https_url(server.local_addr(), "/stream");
    let (status, body) = curl(&["--cacert", &ca, "--resolve", &resolve, "--http2", &url]);
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "chunk 0\nchunk 1\nchunk 2\n"));
    server.shutdown();
    server.wait();
}

#[test]
fn tls_with_http2_off_offers_only_http1() {
    let certificate = Certificate::new("h1only");
    let server = start(ServerConfig { tls: Some(certificate.tls()), http2: false, ..config() });
    let (url, resolve) = https_url(server.local_addr(), "/");
    let (status, _) =
        curl(&["--cacert", &certificate.path(), "--resolve", &resolve, "--http2", &url]);
    assert_eq!(status, "200 1.1");
    server.shutdown();
    server.wait();
}

#[test]
fn a_key_that_is_not_pem_is_a_clear_error() {
    let certificate = Certificate::new("badkey");
    let error =
        TlsConfig::from_pem(certificate.certificate.as_bytes(), b"not a key").err().unwrap();
    assert!(error.to_string().contains("no private key found"), "{error}");
    let error = TlsConfig::from_pem(b"", certificate.key.as_bytes()).err().unwrap();
    assert!(error.to_string().contains("no certificate found"), "{error}");
    let error =
        TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").err().unwrap();
    assert!(error.to_string().contains("/nonexistent/cert.pem"), "{error}");
}

/// h2load's summary line: `requests: N total, N started, N done, N succeeded, N failed, ...`.
fn h2load(args: &[&str]) -> String {
    let output = Command::new("h2load")
        .args(args)
        .output()
        .expect("h2load runs (scripts/test.sh installs nghttp2-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "h2load {args:?}: {stdout}");
    stdout.lines().find(|line| line.starts_with("requests:")).unwrap_or_default().to_owned()
}

#[test]
fn h2load_completes_every_request_in_the_clear_and_over_tls() {
    let certificate = Certificate::new("h2load");
    for tls in [None, Some(certificate.tls())] {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = start(ServerConfig { tls, workers: 2, ..config() });
        let url = format!("{scheme}://{}/", server.local_addr());
        // 4 connections × 10 streams at once, 2,000 requests.
        let summary = h2load(&["-n", "2000", "-c", "4", "-m", "10", &url]);
        assert!(summary.contains("2000 succeeded, 0 failed, 0 errored"), "{scheme}: {summary}");
        server.shutdown();
        server.wait();
    }
}

/// An HTTP/2 frame header: length, type, flags, stream.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const END_STREAM_AND_HEADERS: u8 = 0x1 | 0x4;

/// `GET /` as one HPACK block: indexed `:method GET`, `:scheme http`, `:path /`, and
/// `:authority` as a literal without indexing (so every copy is the same bytes).
fn get_root_headers() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x84, 0x01, 9];
    block.extend_from_slice(b"127.0.0.1");
    block
}

/// Reads frames until a GOAWAY (returns its error code) or the end of the connection
/// (`None`); gives up after 20 s.
fn read_until_goaway(stream: &mut TcpStream) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = [0u8; 9];
    loop {
        stream.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).ok()?;
        if head[3] == GOAWAY {
            return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
    }
}

/// The server's SETTINGS, as (identifier, value) pairs: the first frame it sends.
fn server_settings(stream: &mut TcpStream) -> Vec<(u16, u32)> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[3], SETTINGS, "the server's first frame is its SETTINGS");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    payload
        .chunks(6)
        .map(|s| {
            (u16::from_be_bytes([s[0], s[1]]), u32::from_be_bytes(s[2..6].try_into().unwrap()))
        })
        .collect()
}

#[test]
fn the_http2_limits_are_announced_in_the_servers_settings() {
    let server = start(ServerConfig {
        http2_max_concurrent_streams: 7,
        max_header_size: 12_000,
        ..config()
    });
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    let settings = server_settings(&mut stream);
    assert!(settings.contains(&(0x3, 7)), "MAX_CONCURRENT_STREAMS: {settings:?}");
    assert!(settings.contains(&(0x6, 12_000)), "MAX_HEADER_LIST_SIZE: {settings:?}");
    server.shutdown();
    server.wait();
}

#[test]
fn http2_requests_past_the_target_and_field_limits_get_414_and_431() {
    let server = start(ServerConfig { max_request_line: 100, max_headers: 10, ..config() });
    let base = format!("http://{}", server.local_addr());
    let long = format!("{base}/{}", "a".repeat(200));
    let (status, _) = curl(&["--http2-prior-knowledge", &long]);
    assert_eq!(status, "414 2");
    let mut args = vec!["--http2-prior-knowledge".to_owned()];
    for i in 0..12 {
        args.extend(["-H".to_owned(), format!("x-field-{i}: {i}")]);
    }
    args.push(format!("{base}/"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, _) = curl(&args);
    assert_eq!(status, "431 2");
    let (status, _) = curl(&["--http2-prior-knowledge", &format!("{base}/")]);
    assert_eq!(status, "200 2");
    server.shutdown();
    server.wait();
}

#[test]
fn a_flood_of_reset_streams_gets_goaway_and_others_are_served() {
    // The "rapid reset" attack (CVE-2023-44487): open a stream and cancel it at once, many
    // times in one write, so that the server starts requests it never finishes.
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    let mut flood = PREFACE.to_vec();
    flood.extend(frame(SETTINGS, 0, 0, &[]));
    let headers = get_root_headers();
    for i in 0..2_000u32 {
        let id = 2 * i + 1;
        flood.extend(frame(HEADERS, END_STREAM_AND_HEADERS, id, &headers));
        flood.extend(frame(RST_STREAM, 0, id, &0x8u32.to_be_bytes())); // CANCEL
    }
    // The server may close before taking it all in: a failed write is part of the outcome.
    let _ = stream.write_all(&flood);
    let code = read_until_goaway(&mut stream);
    assert_eq!(code, Some(0xb), "GOAWAY with ENHANCE_YOUR_CALM");
    let (status, body) =
        curl(&["--http2-prior-knowledge", &format!("http://{}/", server.local_addr())]);
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "Hello over HTTP/2.0"));
    server.shutdown();
    server.wait();
}

#[test]
fn a_malformed_http2_frame_gets_goaway_and_others_are_served() {
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(PREFACE).unwrap();
    // A SETTINGS payload must be a multiple of 6 bytes: FRAME_SIZE_ERROR (RFC 9113 §6.5).
    stream.write_all(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0])).unwrap();
    // h2 answers PROTOCOL_ERROR (RFC 9113 names FRAME_SIZE_ERROR); either is the protocol's.
    let code = read_until_goaway(&mut stream);
    assert!(matches!(code, Some(0x1 | 0x6)), "GOAWAY with a protocol error: {code:?}");
    // A HEADERS frame on stream 0: PROTOCOL_ERROR.
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    stream.write_all(&frame(HEADERS, END_STREAM_AND_HEADERS, 0, &get_root_headers())).unwrap();
    assert_eq!(read_until_goaway(&mut stream), Some(0x1), "GOAWAY with PROTOCOL_ERROR");
    let (status, _) =
        curl(&["--http2-prior-knowledge", &format!("http://{}/", server.local_addr())]);
    assert_eq!(status, "200 2");
    server.shutdown();
    server.wait();
}

#[test]
fn a_garbage_client_hello_is_dropped_and_others_are_served() {
    let certificate = Certificate::new("garbage");
    let server = start(ServerConfig { tls: Some(certificate.tls()), ..config() });
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3],
        &[0u8; 4096],
    ] {
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(garbage);
        // A TLS alert at most, then the end of the connection: never an HTTP answer, never
        // a connection left open.
        let mut answer = Vec::new();
        let ended = stream.read_to_end(&mut answer);
        assert!(
            ended.is_ok() || ended.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "the connection was not closed"
        );
        assert!(answer.len() < 64 && !answer.starts_with(b"HTTP"), "answer: {answer:?}");
    }
    let (url, resolve) = https_url(server.local_addr(), "/");
    let (status, _) = curl(&["--cacert", &certificate.path(), "--resolve", &resolve, &url]);
    assert_eq!(status, "200 2");
    server.shutdown();
    server.wait();
}

#[test]
fn a_stalled_tls_handshake_is_closed_at_its_timeout() {
    let certificate = Certificate::new("stall");
    let server = start(ServerConfig {
        tls: Some(certificate.tls()),
        tls_handshake_timeout: Duration::from_millis(200),
        ..config()
    });
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    // Half a ClientHello's record header, then nothing. The verdict allows 30 s for a 200 ms
    // timeout: only a connection that is never closed fails.
    stream.write_all(&[0x16, 0x03]).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    let ended = stream.read_to_end(&mut rest);
    assert!(
        ended.is_ok() || ended.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled handshake was not closed"
    );
    server.shutdown();
    server.wait();
}

#[test]
fn graceful_shutdown_lets_an_http2_stream_in_progress_finish() {
    let server = start(config());
    let url = format!("http://{}/slow", server.local_addr());
    let before = SLOW_STARTED.load(Ordering::SeqCst);
    let client = std::thread::spawn(move || curl(&["--http2-prior-knowledge", &url]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while SLOW_STARTED.load(Ordering::SeqCst) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.shutdown();
    let (status, body) = client.join().unwrap();
    assert_eq!((status.as_str(), body.as_str()), ("200 2", "slow done"));
    server.wait();
}

#[test]
fn the_stall_detector_names_a_request_that_blocks_over_http2() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let server = start(ServerConfig {
        slow_callback_duration: Some(Duration::from_millis(50)),
        configure_loop: ConfigureLoop::new(move |builder| {
            let sink = Arc::clone(&sink);
            builder.debug(true).on_diagnostic(move |diagnostic| {
                if let Diagnostic::SlowPoll(report) = diagnostic {
                    sink.lock().unwrap().push(report.label.clone());
                }
            })
        }),
        ..config()
    });
    let (status, _) =
        curl(&["--http2-prior-knowledge", &format!("http://{}/block", server.local_addr())]);
    assert_eq!(status, "200 2");
    let deadline = Instant::now() + Duration::from_secs(10);
    let named = || {
        reports
            .lock()
            .unwrap()
            .iter()
            .any(|label| label.as_deref() == Some("GET /block → blocking_handler"))
    };
    while !named() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(named(), "reports: {:?}", reports.lock().unwrap());
    server.shutdown();
    server.wait();
}

/// Reads an HTTP/1.1 response head (up to its empty line); returns it.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

const UPGRADE_REQUEST: &str =
    "GET /upgrade-echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";

#[test]
fn an_upgraded_connection_is_handed_over_with_what_the_client_sent_early() {
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The request and the first bytes of the new protocol in one write.
    stream.write_all(format!("{UPGRADE_REQUEST}early;").as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_exactly(&mut stream, 6), "early;");
    // Bytes that look like HTTP are the new protocol's now: no gate, no 400.
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_exactly(&mut stream, 18), "GET / HTTP/1.1\r\n\r\n");
    server.shutdown();
    // At shutdown the protocol is told, says goodbye and closes; the drain waits for it.
    assert_eq!(read_exactly(&mut stream, 3), "bye");
    server.wait();
}

#[test]
fn an_upgrade_answered_without_101_stays_http() {
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Pipelined: an upgrade request the service answers 200, then a plain one.
    stream
        .write_all(
            b"GET /refuse-upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n\
              GET /second HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    for _ in 0..2 {
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap())
            })
            .unwrap();
        assert_eq!(read_exactly(&mut stream, length), "Hello over HTTP/1.1");
    }
    // And what follows an unanswered upgrade request is still checked by the gate.
    stream
        .write_all(
            b"GET /x HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\n\r\nGET / HTTP/1.1\nHost: t\n\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let _ = read_exactly(&mut stream, "Hello over HTTP/1.1".len());
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 400"), "bare LF after an upgrade request: {head}");
    server.shutdown();
    server.wait();
}

#[test]
fn a_claim_on_another_thread_is_refused() {
    let server = Server::new(config())
        .start(|| {
            |request: Request| async move {
                let ticket = request.extensions().get::<OnUpgrade>().cloned().unwrap();
                let answer =
                    std::thread::spawn(move || ticket.claim().err().map(|e| e.to_string()))
                        .join()
                        .unwrap();
                Response::new(Body::from(answer.unwrap_or_default()))
            }
        })
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(UPGRADE_REQUEST.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap())
        })
        .unwrap();
    assert!(read_exactly(&mut stream, length).contains("on the loop that accepted"));
    server.shutdown();
    server.wait();
}

#[test]
fn an_idle_http2_connection_gets_goaway_at_the_keep_alive_timeout() {
    let server = start(ServerConfig { keep_alive_timeout: Duration::from_millis(200), ..config() });
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    // NO_ERROR: a polite close, not a failure. The verdict allows 20 s for a 200 ms timeout.
    assert_eq!(read_until_goaway(&mut stream), Some(0x0));
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest); // and then the end of the connection
    server.shutdown();
    server.wait();
}

#[test]
fn a_header_block_trickled_in_continuation_frames_is_cut_off_while_it_trickles() {
    const CONTINUATION: u8 = 0x9;
    const END_STREAM: u8 = 0x1;
    const ENHANCE_YOUR_CALM: u32 = 0xb;
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    // A request whose header block never ends: one more header every 200 ms, for as long as
    // the connection lasts (30 s at most). Each frame is fresh bytes, so the keep-alive timer
    // never fires; what ends it is h2's cap on CONTINUATION frames per block (a few frames
    // past what the header-size limit needs: 5 here), slowloris' HTTP/2 form refused.
    stream.write_all(&frame(HEADERS, END_STREAM, 1, &get_root_headers())).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let header = [0x00, 0x03, b'x', b'-', b'a', 0x01, b'b']; // `x-a: b`, a literal
        for sent in 0..150 {
            std::thread::sleep(Duration::from_millis(200));
            if writer.write_all(&frame(CONTINUATION, 0, 1, &header)).is_err() {
                return sent;
            }
        }
        150
    });
    assert_eq!(read_until_goaway(&mut stream), Some(ENHANCE_YOUR_CALM));
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    drop(stream);
    let sent = trickle.join().unwrap();
    assert!(sent < 150, "the connection was closed under the trickle ({sent} frames sent)");
    // The server serves on.
    let url = format!("http://{}/", server.local_addr());
    assert_eq!(curl(&["--http2-prior-knowledge", &url]).0, "200 2");
    server.shutdown();
    server.wait();
}
