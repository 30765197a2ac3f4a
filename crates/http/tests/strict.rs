//! The limits and the protocol rules a request head and its framing must pass, over raw
//! sockets: each case's exact bytes, the status the server answers, and whether it closes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kairos_http::{Body, Request, Response, RunningServer, Server, ServerConfig};

fn config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        max_body_size: Some(1024),
        ..ServerConfig::default()
    }
}

/// `/echo` answers with the body it read (or 400 with the error); anything else "ok".
async fn app(request: Request) -> Response {
    match request.uri().path() {
        "/echo" => match request.into_body().bytes().await {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(e) => {
                let mut response = Response::new(Body::from(e.to_string()));
                *response.status_mut() = http::StatusCode::BAD_REQUEST;
                response
            }
        },
        _ => Response::new(Body::from("ok")),
    }
}

fn start(config: ServerConfig) -> RunningServer {
    Server::new(config).start(|| app).unwrap()
}

/// Sends `request`, reads the first response's status, then whether the server closes the
/// connection: the test sends nothing more, so an open connection is seen as the read
/// timing out (the keep-alive timeout is far longer than that wait), a closed one as EOF.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed without an answer: {:?}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut rest = received.len() - head_end;
    while rest < length {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed mid-body");
        rest += n;
    }
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let closed = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(_) => true,
    };
    (status, closed)
}

/// One case: what is sent, the status expected, whether the server then closes.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    status: u16,
    closed: bool,
}

fn case(name: &'static str, request: impl Into<Vec<u8>>, status: u16, closed: bool) -> Case {
    Case { name, request: request.into(), status, closed }
}

/// Runs every case against `server`, each on a connection of its own, and reports all the
/// cases that went wrong at once.
fn check(server: &RunningServer, cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = exchange(server.local_addr(), &case.request);
            (got != (case.status, case.closed)).then(|| {
                format!("{}: expected {:?}, got {got:?}", case.name, (case.status, case.closed))
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `n` header fields besides `Host`.
fn headers(n: usize) -> String {
    (0..n).map(|i| format!("X-{i}: v\r\n")).collect()
}

#[test]
fn every_limit_is_answered_with_its_status() {
    let server = start(config());
    check(
        &server,
        &[
            case("a plain request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, false),
            case(
                "100 header fields",
                format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", headers(99)),
                200,
                false,
            ),
            case(
                "101 header fields",
                format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", headers(100)),
                431,
                true,
            ),
            case(
                "a declared body over the limit",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n",
                413,
                true, // the body is never read, so the connection cannot be reused
            ),
            case(
                "a Content-Length that overflows u64",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                400,
                true,
            ),
        ],
    );
}

#[test]
fn the_header_count_limit_is_a_setting() {
    let server = start(ServerConfig { max_headers: 200, ..config() });
    let many = |n| format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", headers(n));
    check(
        &server,
        &[case("150 header fields", many(149), 200, false), case("201", many(200), 431, true)],
    );
}

#[test]
fn the_host_rules_of_rfc_9112_are_enforced() {
    let server = start(config());
    check(
        &server,
        &[
            case("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, true),
            case("two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
            case("two equal Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, true),
            case("Host: a b", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, true),
            case("Host: u@h", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400, true),
            case("Host with a port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 200, false),
            case("Host an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 200, false),
            // HTTP/1.0 needs no Host; the connection closes as HTTP/1.0's default.
            case("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, true),
            case(
                "HTTP/1.0 with two Hosts",
                "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
                400,
                true,
            ),
        ],
    );
}

/// A 64 KiB request line: 414 in both modes. Far more than one read: what the server has not
/// read when it closes must not reset the connection before the client has the answer.
fn long_request_line() -> Case {
    let line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(64 * 1024));
    case("a 64 KiB request line", line, 414, true)
}

/// What RFC 9112 lets a recipient accept but a front proxy may frame differently is refused
/// by default, each with 400 and a closed connection; and each limit has its own status.
#[test]
fn strict_framing_refuses_what_a_front_proxy_may_read_differently() {
    let server = start(config());
    let chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(
        &server,
        &[
            case("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", 400, true),
            case("a head ended by \\r\\n\\n", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, true),
            case("spaces after a chunk size", format!("{chunked}3  \r\nabc\r\n0\r\n\r\n"), 400, true),
            case(
                "Content-Length in a trailer",
                format!("{chunked}3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n"),
                400,
                true,
            ),
            case(
                "two equal Content-Lengths",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                400,
                true,
            ),
            case(
                "Content-Length with Transfer-Encoding",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                400,
                true,
            ),
            case(
                "Content-Length: u64::MAX",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
                413,
                true,
            ),
            long_request_line(),
            case(
                "a 17 KiB head",
                format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(17 * 1024)),
                431,
                true,
            ),
            case(
                "Transfer-Encoding: gzip, chunked",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                501,
                true,
            ),
            case(
                "Transfer-Encoding: xchunked",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                400,
                true,
            ),
            // Not 200 and then a close: the bad body arrived with its head, so the request
            // is refused before a handler that never reads its body answers it.
            case(
                "a malformed chunk to a route that does not read the body",
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                400,
                true,
            ),
            case(
                "a chunk extension",
                format!("{chunked}3 ; name=\"v\"\r\nabc\r\n0\r\n\r\n"),
                200,
                false,
            ),
        ],
    );
}

/// Lenient mode reads what strict mode refuses as hyper reads it.
#[test]
fn lenient_mode_accepts_what_the_rfc_permits() {
    let server = start(ServerConfig { strict: false, ..config() });
    let chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(
        &server,
        &[
            case("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", 200, false),
            case("spaces after a chunk size", format!("{chunked}3  \r\nabc\r\n0\r\n\r\n"), 200, false),
            case(
                "two equal Content-Lengths",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                200,
                false,
            ),
            // The transfer coding wins, and hyper closes the connection after.
            case(
                "Content-Length with Transfer-Encoding",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                200,
                true,
            ),
            long_request_line(),
        ],
    );
}

/// Every response on a connection until the server closes it: the statuses in order.
fn statuses(addr: SocketAddr, writes: &[&[u8]]) -> Vec<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (i, write) in writes.iter().enumerate() {
        if i > 0 {
            // Let the server read (and hand over) what came before, as a slow client would.
            std::thread::sleep(Duration::from_millis(200));
        }
        stream.write_all(write).unwrap();
    }
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    let text = String::from_utf8_lossy(&received);
    text.match_indices("HTTP/1.1 ").map(|(i, _)| text[i + 9..i + 12].parse().unwrap()).collect()
}

#[test]
fn a_refused_request_is_answered_after_the_requests_before_it() {
    let server = start(config());
    let good = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\nHTTP/1.1 999 ";
    let refused = "GET / HTTP/1.1\nHost: a\n\n";
    let never = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let all = format!("{good}{good}{refused}{never}");
    // The echoed bodies read "HTTP/1.1 999 ": two of them, then the answers' statuses.
    assert_eq!(statuses(server.local_addr(), &[all.as_bytes()]), [200, 999, 200, 999, 400]);
}

#[test]
fn a_chunk_line_that_breaks_after_the_head_was_served_fails_the_body_read() {
    let server = start(config());
    let head = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    // `/echo` reads the body and answers 400 with the read's error.
    let got =
        statuses(server.local_addr(), &[head.as_bytes(), b"3\r\nabc\r\n3  \r\nabc\r\n0\r\n\r\n"]);
    assert_eq!(got, [400]);
}

#[test]
fn what_hyper_already_refuses_is_refused() {
    let server = start(config());
    let chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(
        &server,
        &[
            case("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400, true),
            case(
                "two different Content-Lengths",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                400,
                true,
            ),
            // The service reads the body and answers 400 with the error (`app`).
            case("a chunk size that is not hex", format!("{chunked}zz\r\nabc\r\n0\r\n\r\n"), 400, true),
        ],
    );
}

/// A client that sends a body the server refused (413 for its declared length) goes on
/// sending it; closing with its bytes unread would reset the connection, and the reset can
/// reach the client before it reads the answer. The server drops what it still receives
/// until the client is done, then closes.
#[test]
fn a_refused_upload_gets_its_answer_not_a_reset() {
    let server = start(config());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let head = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 8388608\r\n\r\n";
        writer.write_all(head.as_bytes()).unwrap();
        let chunk = [b'x'; 64 * 1024];
        for _ in 0..128 {
            if writer.write_all(&chunk).is_err() {
                return false;
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
        true
    });
    let mut received = Vec::new();
    let read = stream.read_to_end(&mut received);
    let sent_all = sender.join().unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 413"), "read {read:?}, got {text:?}");
    assert!(sent_all, "the upload was cut off by a reset");
}
