//! Several workers over loopback: how connections reach them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use kairos_http::{Body, Request, Response, Server, ServerConfig};

/// What the test observes, in the order it happens.
#[derive(Debug, PartialEq)]
enum Seen {
    Answered(usize),
    BlockedAnswered,
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Regression test (issue 11): with a socket per worker (`SO_REUSEPORT`), the kernel kept
/// hashing new connections to the socket of a worker whose loop was blocked, and they waited
/// for the block to end. With the shared socket the other worker serves them all, and the
/// verdict is their order: every one answered before the blocked request.
#[test]
fn a_blocked_worker_strands_no_connection() {
    // `/block` blocks its worker's loop on purpose (a `std::thread::sleep`) for 5 s.
    let blocking = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&blocking);
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        access_log: false,
        slow_callback_duration: Some(Duration::ZERO),
        ..ServerConfig::default()
    };
    let server = Server::new(config)
        .start(move || {
            let flag = Arc::clone(&flag);
            move |request: Request| {
                let flag = Arc::clone(&flag);
                async move {
                    if request.uri().path() == "/block" {
                        flag.store(true, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_secs(5));
                        return Response::new(Body::from("unblocked"));
                    }
                    Response::new(Body::from("Hello, World!"))
                }
            }
        })
        .unwrap();
    let addr = server.local_addr();

    let (seen, events) = mpsc::channel();
    let blocked = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let answer = get(addr, "/block");
            seen.send(Seen::BlockedAnswered).unwrap();
            answer
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blocking.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the blocking request never started");
        std::thread::sleep(Duration::from_millis(1));
    }

    // 20 fresh connections, all opened (and their requests sent) while the block lasts.
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let answer = get(addr, "/");
                seen.send(Seen::Answered(i)).unwrap();
                answer
            })
        })
        .collect();
    for client in clients {
        assert!(client.join().unwrap().ends_with("Hello, World!"));
    }
    assert!(blocked.join().unwrap().ends_with("unblocked"));
    drop(seen);

    let order: Vec<Seen> = events.iter().collect();
    assert_eq!(order.len(), 21);
    assert_eq!(
        order.last(),
        Some(&Seen::BlockedAnswered),
        "every fresh connection is answered before the blocked request: {order:?}"
    );
}

/// `worker_stats`, read by the service on the worker that serves the request: its index, the
/// request's own connection and the request itself in progress, and a lag measured once the
/// heartbeat has run.
#[test]
fn a_worker_reads_its_own_stats_on_its_thread() {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        access_log: false,
        ..ServerConfig::default()
    };
    let server = Server::new(config)
        .start(|| {
            |_request: Request| async {
                let stats = kairos_http::server::worker_stats().expect("on a worker's thread");
                let beats: u64 = stats.loop_lag.counts.iter().sum();
                Response::new(Body::from(format!(
                    "{} {} {} {}",
                    stats.index, stats.connections, stats.requests_in_flight, beats
                )))
            }
        })
        .unwrap();
    assert_eq!(kairos_http::server::worker_stats(), None, "not on a worker's thread");
    // The heartbeat beats at once, then every 100 ms: wait for a few beats of each worker.
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..20 {
        let answer = get(server.local_addr(), "/");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let fields: Vec<usize> = body.split(' ').map(|field| field.parse().unwrap()).collect();
        let [index, connections, in_flight, beats] = fields[..] else { panic!("{body}") };
        assert!(index < 2, "{body}");
        assert!(connections >= 1 && in_flight >= 1, "this request and its connection: {body}");
        assert!(beats >= 1, "the heartbeat has measured the lag: {body}");
    }
}
