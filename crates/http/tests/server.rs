//! The server, black-box over loopback sockets with raw bytes where the protocol matters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use kairos_http::server::ConfigureLoop;
use kairos_http::{Body, Request, Response, RunningServer, Server, ServerConfig, ServerError};
use kairos_rt::Diagnostic;

fn config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        ..ServerConfig::default()
    }
}

/// Routes for the tests: `/` text, `/slow` 400 ms on the loop, `/panic`, `/echo` the body.
async fn app(request: Request) -> Response {
    match request.uri().path() {
        "/slow" => {
            kairos_rt::sleep(Duration::from_millis(400)).await;
            Response::new(Body::from("slow done"))
        }
        "/panic" => panic!("handler exploded"),
        "/echo" => match request.into_body().bytes().await {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(e) => {
                let mut response = Response::new(Body::from(e.to_string()));
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                response
            }
        },
        _ => Response::new(Body::from("Hello, World!")),
    }
}

fn start(config: ServerConfig) -> RunningServer {
    Server::new(config).start(|| app).unwrap()
}

/// A request the test holds in progress: `/gate` on a [`start_gated`] server counts itself in
/// `entered`, then waits until the test opens the gate. Tests wait for events, not for time.
#[derive(Default)]
struct Gate {
    entered: AtomicUsize,
    open: AtomicBool,
}

impl Gate {
    async fn pass(&self) -> Response {
        self.entered.fetch_add(1, Ordering::SeqCst);
        // Bounded, so that a failing test cannot keep its server from shutting down.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.open.load(Ordering::SeqCst) && Instant::now() < deadline {
            kairos_rt::sleep(Duration::from_millis(5)).await;
        }
        Response::new(Body::from("gate opened"))
    }

    /// Blocks until `n` requests have come to the gate (fails after 10 s).
    fn wait_entered(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.entered.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "no request came to the gate");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// [`app`] plus `/gate`.
fn start_gated(config: ServerConfig) -> (RunningServer, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let shared = Arc::clone(&gate);
    let server = Server::new(config)
        .start(move || {
            let gate = Arc::clone(&shared);
            move |request: Request| {
                let gate = Arc::clone(&gate);
                async move {
                    match request.uri().path() {
                        "/gate" => gate.pass().await,
                        _ => app(request).await,
                    }
                }
            }
        })
        .unwrap();
    (server, gate)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns (status, body).
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(n == 1, "connection closed mid-head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect(addr);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    read_response(&mut stream)
}

/// True if the server closed the connection (EOF) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 or similar before closing is fine
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true, // reset
        }
    }
}

#[test]
fn keep_alive_and_pipelining() {
    let server = start(config());
    let mut stream = connect(server.local_addr());
    // Two requests in one write (pipelined), then a third on the same connection.
    stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nping").unwrap();
    assert_eq!(read_response(&mut stream), (200, "Hello, World!".into()));
    assert_eq!(read_response(&mut stream), (200, "ping".into()));
    stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).0, 200);
}

#[test]
fn a_pipelined_batch_is_answered_in_order_and_a_slow_request_holds_back_no_earlier_answer() {
    let (server, gate) = start_gated(config());
    let mut stream = connect(server.local_addr());
    // 16 requests in one write (TechEmpower's depth): answers are coalesced into few writes,
    // but an answer must not wait for a later request's slow handler.
    let mut batch = String::new();
    for i in 0..16 {
        let path = if i == 8 { "/gate" } else { "/" };
        batch.push_str(&format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n"));
    }
    stream.write_all(batch.as_bytes()).unwrap();
    // The eight answers before /gate arrive while it is still in progress (held back, they
    // would never come: the read times out and the test fails).
    for i in 0..8 {
        assert_eq!(read_response(&mut stream), (200, "Hello, World!".into()), "answer {i}");
    }
    assert_eq!(gate.entered.load(Ordering::SeqCst), 1);
    gate.open();
    assert_eq!(read_response(&mut stream), (200, "gate opened".into()), "answer 8");
    for i in 9..16 {
        assert_eq!(read_response(&mut stream), (200, "Hello, World!".into()), "answer {i}");
    }
}

#[test]
fn a_body_that_looks_like_a_request_head_does_not_hold_back_its_answer() {
    let server = start(config());
    let mut stream = connect(server.local_addr());
    // The read counts two heads (the body holds a blank line), hyper parses one: the answer
    // is deferred once and must still arrive, without more input from the client.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\nab\r\n\r\ncd")
        .unwrap();
    assert_eq!(read_response(&mut stream), (200, "ab\r\n\r\ncd".into()));
}

#[test]
fn garbage_after_a_request_gets_400_after_the_answer() {
    let server = start(config());
    let mut stream = connect(server.local_addr());
    stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02 not http\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream), (200, "Hello, World!".into()));
    assert_eq!(read_response(&mut stream).0, 400);
}

#[test]
fn oversized_headers_get_431() {
    let server = start(config());
    let mut stream = connect(server.local_addr());
    let big = "x".repeat(20 * 1024);
    write!(stream, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).0, 431);
}

#[test]
fn a_declared_body_over_the_limit_gets_413_without_being_read() {
    let server = start(ServerConfig { max_body_size: Some(1024), ..config() });
    let mut stream = connect(server.local_addr());
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n").unwrap();
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, 413);
    assert!(body.contains("1024 bytes"), "{body}");
}

#[test]
fn a_chunked_body_over_the_limit_fails_while_read() {
    let server = start(ServerConfig { max_body_size: Some(1024), ..config() });
    let mut stream = connect(server.local_addr());
    let chunk = "y".repeat(2000);
    write!(stream, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).unwrap();
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, 413);
    assert!(body.contains("1024 bytes"), "{body}");
}

#[test]
fn a_slow_header_connection_is_closed_at_the_timeout() {
    let server =
        start(ServerConfig { header_read_timeout: Duration::from_millis(300), ..config() });
    // Taken before connecting: the server's deadline runs from its accept, which comes later.
    let started = Instant::now();
    let mut stream = connect(server.local_addr());
    stream.write_all(b"GET / HTTP/1.1\r\nHost: slowloris\r\n").unwrap(); // never finishes
    assert!(closed_within(&mut stream, Duration::from_secs(5)), "slowloris connection left open");
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout");
}

#[test]
fn a_connection_that_never_sends_is_closed_at_the_header_timeout() {
    let server =
        start(ServerConfig { header_read_timeout: Duration::from_millis(300), ..config() });
    let mut stream = connect(server.local_addr());
    assert!(closed_within(&mut stream, Duration::from_secs(5)), "silent connection left open");
}

#[test]
fn a_request_in_progress_is_not_cut_by_the_header_timeout() {
    // /slow takes 400 ms, longer than the 300 ms header timeout: the head was complete, so the
    // request runs to its end.
    let server =
        start(ServerConfig { header_read_timeout: Duration::from_millis(300), ..config() });
    assert_eq!(get(server.local_addr(), "/slow"), (200, "slow done".into()));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let server = start(ServerConfig { keep_alive_timeout: Duration::from_millis(300), ..config() });
    let mut stream = connect(server.local_addr());
    // Taken before the request: the idle time runs from the server's read of it, later.
    let started = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).0, 200);
    assert!(closed_within(&mut stream, Duration::from_secs(5)), "idle connection left open");
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout");
}

#[test]
fn past_the_concurrency_limit_requests_get_503() {
    let (server, gate) = start_gated(ServerConfig { limit_concurrency: Some(1), ..config() });
    let addr = server.local_addr();
    let held = std::thread::spawn(move || get(addr, "/gate"));
    gate.wait_entered(1); // one request in progress: the limit
    let (status, body) = get(addr, "/");
    assert_eq!(status, 503);
    assert!(body.contains("concurrency limit"), "{body}");
    gate.open();
    assert_eq!(held.join().unwrap(), (200, "gate opened".into()));
    assert_eq!(get(addr, "/").0, 200, "fine again once the slow one is done");
}

#[test]
fn a_second_server_on_the_same_port_is_refused() {
    // SO_REUSEPORT would let it bind silently and steal half the traffic; it must not.
    let first = start(config());
    let second = Server::new(ServerConfig { bind: first.local_addr(), ..config() }).start(|| app);
    let err = second.err().expect("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("another server"), "{err}");
}

#[test]
fn absurd_timeouts_do_not_overflow() {
    // Regression: `last_read + keep_alive` overflowed `Instant` and panicked the connection.
    let server = start(ServerConfig {
        keep_alive_timeout: Duration::MAX,
        header_read_timeout: Duration::MAX,
        ..config()
    });
    let mut stream = connect(server.local_addr());
    for _ in 0..3 {
        stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut stream).0, 200);
    }
}

#[test]
fn a_panicking_handler_gets_500_and_the_next_request_succeeds() {
    let server = start(config());
    let (status, body) = get(server.local_addr(), "/panic");
    assert_eq!(status, 500);
    assert_eq!(body, "Internal Server Error");
    assert_eq!(get(server.local_addr(), "/"), (200, "Hello, World!".into()));
}

#[test]
fn every_answer_the_server_makes_itself_goes_through_its_error_renderer() {
    fn render(error: &ServerError) -> Response {
        let mut response = Response::new(Body::from(format!("rendered: {error}")));
        *response.status_mut() = error.status();
        response
    }
    let limited = ServerConfig { max_body_size: Some(16), ..config() };
    let server = Server::new(limited).error_renderer(render).start(|| app).unwrap();
    let (status, body) = get(server.local_addr(), "/panic");
    assert_eq!((status, body.as_str()), (500, "rendered: Internal Server Error"));
    let mut stream = connect(server.local_addr());
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n").unwrap();
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, 413);
    assert!(body.starts_with("rendered: Content Too Large"), "{body}");

    // A limit of 0 refuses every request (each counts itself as in progress).
    let refusing = ServerConfig { limit_concurrency: Some(0), ..config() };
    let server = Server::new(refusing).error_renderer(render).start(|| app).unwrap();
    let (status, body) = get(server.local_addr(), "/");
    assert_eq!(status, 503);
    assert!(body.starts_with("rendered: Service Unavailable"), "{body}");
}

#[test]
fn each_workers_loop_is_built_with_the_configured_settings() {
    // Each worker builds its service on its own loop; here that blocks the loop for 60 ms,
    // which a loop configured with a 20 ms threshold reports (in debug mode, which times every
    // poll exactly: no reliance on the watchdog's sampling on a busy machine).
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let config = ServerConfig {
        workers: 2,
        slow_callback_duration: Some(Duration::from_millis(20)),
        configure_loop: ConfigureLoop::new(move |builder| {
            let sink = Arc::clone(&sink);
            builder.debug(true).on_diagnostic(move |diagnostic| {
                if let Diagnostic::SlowPoll(report) = diagnostic {
                    sink.lock().unwrap().push((report.loop_id, report.threshold));
                }
            })
        }),
        ..config()
    };
    let _server = Server::new(config)
        .start(|| {
            std::thread::sleep(Duration::from_millis(60));
            app
        })
        .unwrap();
    let loops = || {
        let mut ids: Vec<u64> = reports.lock().unwrap().iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while loops() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(loops(), 2, "both workers' loops report: {:?}", reports.lock().unwrap());
    for (_, threshold) in reports.lock().unwrap().iter() {
        assert_eq!(*threshold, Duration::from_millis(20));
    }
}

#[test]
fn a_thousand_requests_are_in_progress_at_once_on_one_worker() {
    // Each handler waits on the loop until all 1000 have started: they can all answer only if
    // one worker's loop holds 1000 requests in progress at once (the chapter's concurrency).
    const CLIENTS: usize = 1000;
    let started = Arc::new(AtomicUsize::new(0));
    let gave_up = Arc::new(AtomicUsize::new(0));
    let (counted, failed) = (Arc::clone(&started), Arc::clone(&gave_up));
    let server = Server::new(config())
        .start(move || {
            let (started, gave_up) = (Arc::clone(&counted), Arc::clone(&failed));
            move |_request: Request| {
                let (started, gave_up) = (Arc::clone(&started), Arc::clone(&gave_up));
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while started.load(Ordering::SeqCst) < CLIENTS {
                        if Instant::now() >= deadline {
                            gave_up.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        kairos_rt::sleep(Duration::from_millis(20)).await;
                    }
                    Response::new(Body::from("all in"))
                }
            }
        })
        .unwrap();
    let addr = server.local_addr();
    // The clients run on a kairos loop of their own in this thread: 1000 at once.
    let statuses = kairos_rt::run(async move {
        use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
        let clients = (0..CLIENTS).map(|_| async move {
            let mut s = kairos_rt::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut reply = Vec::new();
            s.read_to_end(&mut reply).await.unwrap();
            String::from_utf8_lossy(&reply[9..12]).into_owned()
        });
        kairos_sync::combinator::gather(clients).await
    });
    assert!(statuses.iter().all(|s| s == "200"), "{:?}", statuses.iter().find(|s| *s != "200"));
    assert_eq!(started.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(gave_up.load(Ordering::SeqCst), 0, "not all requests were in progress at once");
}

#[test]
fn graceful_shutdown_lets_a_request_in_flight_complete() {
    let (server, gate) = start_gated(config());
    let addr = server.local_addr();
    let in_flight = std::thread::spawn(move || get(addr, "/gate"));
    gate.wait_entered(1);
    server.shutdown();
    // The server stops listening while the request is still in progress...
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still listening after the shutdown");
        std::thread::sleep(Duration::from_millis(5));
    }
    // ...and the request is still answered.
    gate.open();
    assert_eq!(in_flight.join().unwrap(), (200, "gate opened".into()));
    server.wait();
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn a_worker_whose_loop_dies_is_replaced() {
    let server = start(ServerConfig { workers: 2, ..config() });
    assert_eq!(get(server.local_addr(), "/").0, 200);
    server.crash_worker_for_test(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.restarts() < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.restarts(), 1);
    for _ in 0..20 {
        assert_eq!(get(server.local_addr(), "/").0, 200, "served by both workers again");
    }
    // The replacement counts itself alive once its thread runs.
    while server.workers_alive() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.workers_alive(), 2);
}

#[test]
fn a_stream_is_dropped_promptly_when_the_client_goes_away() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drops);
    let server = Server::new(config())
        .start(move || {
            let counter = Arc::clone(&counter);
            move |_request: Request| {
                let counter = Arc::clone(&counter);
                async move {
                    struct CountDrop(Arc<AtomicUsize>);
                    impl Drop for CountDrop {
                        fn drop(&mut self) {
                            self.0.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    let guard = CountDrop(counter);
                    let ticks = futures::stream::unfold((0u64, guard), |(i, guard)| async move {
                        kairos_rt::sleep(Duration::from_millis(20)).await;
                        Some((
                            Ok::<_, std::convert::Infallible>(Bytes::from(format!(
                                "data: {i}\n\n"
                            ))),
                            (i + 1, guard),
                        ))
                    });
                    Response::new(Body::from_stream(ticks))
                }
            }
        })
        .unwrap();
    let mut stream = connect(server.local_addr());
    stream.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut first = [0u8; 256];
    let n = stream.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    drop(stream); // the client goes away mid-stream
                  // The stream is endless: unless the server notices the client is gone, it is never
                  // dropped. Its next writes fail (a tick is 20 ms); 10 s is for a machine under load.
    let deadline = Instant::now() + Duration::from_secs(10);
    while drops.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the generator was never dropped");
}

mod client {
    use super::*;
    use kairos_http::{Client, ClientConfig, ClientError};

    #[test]
    fn a_pooled_connection_is_reused() {
        // A server that counts the connections it accepts.
        let accepts = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = Arc::clone(&accepts);
        std::thread::spawn(move || {
            kairos_rt::run(async move {
                let listener = kairos_rt::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    counted.fetch_add(1, Ordering::SeqCst);
                    kairos_rt::spawn(async move {
                        let service = hyper::service::service_fn(|_req| async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(Body::from(
                                "pong",
                            )))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(kairos_http::HyperIo::new(stream), service)
                            .await;
                    })
                    .detach();
                }
            })
        });
        kairos_rt::run(async move {
            let client = Client::new();
            for _ in 0..5 {
                let response = client.get(&format!("http://{addr}/ping")).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.text().await.unwrap(), "pong");
            }
            assert_eq!(client.idle_connections(), 1);
        });
        assert_eq!(accepts.load(Ordering::SeqCst), 1, "five requests, one connection");
    }

    #[test]
    fn timeouts_are_distinct_errors() {
        // /gate never answers until opened: the request timeout is the only way out.
        let (server, gate) = start_gated(config());
        let addr = server.local_addr();
        kairos_rt::run(async move {
            let client = Client::with_config(ClientConfig {
                request_timeout: Duration::from_millis(100),
                ..ClientConfig::default()
            });
            let err = client.get(&format!("http://{addr}/gate")).await.unwrap_err();
            assert!(
                matches!(err, ClientError::Timeout(d) if d == Duration::from_millis(100)),
                "{err}"
            );
            assert!(err.is_timeout());
            // A port nobody listens on: a connect error, not a timeout.
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let err = client.get(&format!("http://{closed}/")).await.unwrap_err();
            assert!(matches!(err, ClientError::Connect(..)), "{err}");
            assert!(!err.is_timeout());
            let err = client.get("ftp://example.invalid/").await.unwrap_err();
            assert!(matches!(err, ClientError::InvalidUrl(_)), "{err}");
        });
        gate.open(); // lets the server shut down at once
    }

    #[test]
    fn json_round_trip_through_the_server() {
        let server = start(config());
        let addr = server.local_addr();
        kairos_rt::run(async move {
            let client = Client::new();
            let sent = serde_json::json!({"n": 20, "limit": 5});
            let echoed: serde_json::Value = client
                .post_json(&format!("http://{addr}/echo"), &sent)
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(echoed, sent);
        });
    }
}
