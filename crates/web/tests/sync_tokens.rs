//! The sync limiter when clients leave, over a real loopback server.
//!
//! Its own test binary: it reads the sync pool's gauges from `kairos_rt::executor::pool_stats()`, which lists
//! every pool of the process, so no other test's sync pool may exist beside it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kairos_web::http::request::Parts;
use kairos_web::{sync, App, HttpError, Json, TestClient, SYNC_THREAD_PREFIX};
use serde_json::{json, Value};

mod support;
use support::wait_until;

/// Requests whose extractors ran (they arrived), and whose extractors were dropped without
/// reaching the handler (they left while waiting for a token).
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
static LEFT_WAITING: AtomicUsize = AtomicUsize::new(0);
/// Jobs running now, the most at once, and all that ever started.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Blocking jobs wait for this.
static GATE_OPEN: AtomicBool = AtomicBool::new(false);

/// An extractor that counts arrivals, and departures before the handler took it.
struct Arrival {
    reached_handler: bool,
}

impl kairos_web::FromRequestParts for Arrival {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(_parts: &mut Parts) -> Result<Self, HttpError> {
        ARRIVED.fetch_add(1, Ordering::SeqCst);
        Ok(Arrival { reached_handler: false })
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if !self.reached_handler {
            LEFT_WAITING.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A `def` route that blocks its thread until the gate opens (or 60 s pass, so that a failed
/// test cannot hang).
fn block(mut arrival: Arrival) -> &'static str {
    arrival.reached_handler = true;
    STARTED.fetch_add(1, Ordering::SeqCst);
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_RUNNING.fetch_max(now, Ordering::SeqCst);
    let started = Instant::now();
    while !GATE_OPEN.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    "done"
}

/// The sync pool's gauges, read on the worker's loop.
async fn sync_pool() -> Json<Value> {
    let pools = kairos_rt::executor::pool_stats();
    let pool = pools.iter().find(|p| p.name_prefix == SYNC_THREAD_PREFIX);
    Json(pool.map_or(Value::Null, |p| json!({"active": p.active, "queued": p.queued})))
}

fn send_block(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    socket.write_all(b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    socket
}

#[test]
fn a_sync_route_whose_client_leaves_keeps_its_token_until_the_job_ends() {
    let app = App::new().get("/block", sync(block)).get("/sync-pool", sync_pool);
    let client = TestClient::new(app); // one worker, 40 tokens, 40 sync threads
    let addr = client.addr();

    // 200 clients ask; 40 jobs start and block, 160 requests wait for a token. Then every
    // client leaves mid-request.
    let leavers: Vec<TcpStream> = (0..200).map(|_| send_block(addr)).collect();
    assert!(
        wait_until(Duration::from_secs(60), || ARRIVED.load(Ordering::SeqCst) == 200
            && RUNNING.load(Ordering::SeqCst) == 40),
        "200 requests arrive and 40 jobs start (arrived {}, running {})",
        ARRIVED.load(Ordering::SeqCst),
        RUNNING.load(Ordering::SeqCst)
    );
    drop(leavers);
    assert!(
        wait_until(Duration::from_secs(60), || LEFT_WAITING.load(Ordering::SeqCst) == 160),
        "the server drops the 160 waiting requests (dropped {})",
        LEFT_WAITING.load(Ordering::SeqCst)
    );

    // 40 patient clients arrive while the 40 abandoned jobs still block their threads. Their
    // tokens are still held by those jobs, so nothing new may reach the pool.
    let patient: Vec<TcpStream> = (0..40).map(|_| send_block(addr)).collect();
    assert!(
        wait_until(Duration::from_secs(60), || ARRIVED.load(Ordering::SeqCst) == 240),
        "the patient requests arrive"
    );
    for _ in 0..20 {
        let gauges = client.get("/sync-pool").send().json::<Value>();
        let (active, queued) = (gauges["active"].as_u64().unwrap(), gauges["queued"].as_u64());
        assert_eq!(queued, Some(0), "a job waits in the sync pool's queue: {gauges}");
        assert!(active <= 40, "{gauges}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(STARTED.load(Ordering::SeqCst), 40, "no job starts while the tokens are held");

    // The abandoned jobs end; their tokens go to the patient requests, in turn.
    GATE_OPEN.store(true, Ordering::SeqCst);
    for mut socket in patient {
        let mut response = String::new();
        socket.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("done"), "{response}");
    }
    assert_eq!(STARTED.load(Ordering::SeqCst), 80, "the 40 abandoned jobs and the 40 patient");
    assert!(MOST_RUNNING.load(Ordering::SeqCst) <= 40, "never more than 40 jobs at once");
    assert_eq!(LEFT_WAITING.load(Ordering::SeqCst), 160, "the waiting leavers never ran");
}
