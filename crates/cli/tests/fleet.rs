//! Three `kairos serve` instances sharing one real Redis: `/external?scope=fleet&limit=5`
//! keeps five calls in flight across all of them, as an upstream of the test's own counts;
//! an instance SIGKILLed while it holds every permit gives them back when their leases end,
//! and the requests waiting on the other instances are all answered; `rate=` counts across
//! instances; without Redis, `scope=fleet` is a 503 that says how to start.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kairos_fixtures::Redis;
use serde_json::{json, Value};
use support::Serve;

/// The fleet's lease in these tests: short, so that a killed instance's permits come back
/// soon.
const LEASE_MS: &str = "3000";

/// The outbound API `/external` calls: HTTP/1.1 with keep-alive on loopback, each
/// `GET /async?ms=N` answered `{}` after N ms, counting the calls in flight and the most at
/// once. A call counts from its request's arrival until just before its answer is written,
/// so that the count never exceeds the permits the callers held.
struct Upstream {
    addr: SocketAddr,
    in_flight: Arc<AtomicU64>,
    most: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = Upstream {
            addr: listener.local_addr().unwrap(),
            in_flight: Arc::default(),
            most: Arc::default(),
            calls: Arc::default(),
        };
        let counters = (upstream.in_flight.clone(), upstream.most.clone(), upstream.calls.clone());
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let counters = (counters.0.clone(), counters.1.clone(), counters.2.clone());
                std::thread::spawn(move || serve_calls(connection, counters));
            }
        });
        upstream
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Answers the calls of one connection until the client closes it.
fn serve_calls(
    connection: TcpStream,
    (in_flight, most, calls): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>),
) {
    let mut reader = BufReader::new(connection.try_clone().unwrap());
    let mut writer = connection;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // The rest of the head (a GET has no body).
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let ms: u64 = request_line
            .split(['?', '&', ' '])
            .find_map(|part| part.strip_prefix("ms="))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        calls.fetch_add(1, Ordering::SeqCst);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(ms));
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A response's status, head and body, or why there was none.
type Answer = Result<(u16, String, String), String>;

/// A GET that may fail (the server killed under it).
fn get(addr: SocketAddr, path: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| format!("no answer: {raw:?}"))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    Ok((status, head.to_owned(), body.to_owned()))
}

/// `paths[i]` on `addrs[i % addrs.len()]`, each on a thread of its own, all at once.
fn at_once(addrs: &[SocketAddr], paths: &[String]) -> Vec<JoinHandle<Answer>> {
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let (addr, path) = (addrs[i % addrs.len()], path.clone());
            std::thread::spawn(move || get(addr, &path))
        })
        .collect()
}

/// Three instances on one Redis, calling `upstream`.
fn fleet(redis: &Redis, upstream: &Upstream) -> Vec<Serve> {
    let (redis, upstream) = (redis.url(), upstream.url());
    (0..3)
        .map(|_| {
            Serve::start(&[
                "--cache-url",
                &redis,
                "--upstream",
                &upstream,
                "--fleet-lease-ms",
                LEASE_MS,
            ])
        })
        .collect()
}

/// Waits (up to a generous bound) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn three_instances_keep_five_calls_in_flight_in_all() {
    let (redis, upstream) = (Redis::start(), Upstream::start());
    let instances = fleet(&redis, &upstream);
    let addrs: Vec<_> = instances.iter().map(|serve| serve.addr).collect();
    // 60 requests of 2 calls each, spread over the three instances, all at once.
    let paths = vec!["/external?scope=fleet&limit=5&n=2&ms=50".to_owned(); 60];
    for request in at_once(&addrs, &paths) {
        let (status, _, body) = request.join().unwrap().expect("every request is answered");
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((body["scope"].as_str(), body["limit"].as_u64()), (Some("fleet"), Some(5)));
    }
    let most = upstream.most.load(Ordering::SeqCst);
    println!("the upstream saw at most {most} calls in flight (limit 5, 3 instances)");
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 120);
    assert!(most <= 5, "{most} calls in flight: the fleet's limit is 5");
    assert!(most >= 2, "{most}: the calls did not overlap at all");
}

#[test]
fn a_killed_instance_gives_its_permits_back_and_no_waiter_hangs() {
    let (redis, upstream) = (Redis::start(), Upstream::start());
    let mut instances = fleet(&redis, &upstream);
    // The first instance takes all five permits for 10 s ...
    let holder =
        at_once(&[instances[0].addr], &["/external?scope=fleet&limit=5&n=5&ms=10000".to_owned()]);
    until("the first instance's five calls", || upstream.in_flight() == 5);
    // ... while the two others get ten requests that wait for them.
    let others = [instances[1].addr, instances[2].addr];
    let waiting = at_once(&others, &vec!["/external?scope=fleet&limit=5&n=1&ms=0".to_owned(); 10]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.iter().all(|w| !w.is_finished()), "a permit was free while all were held");

    // SIGKILL, while it holds them: nothing is released; the leases end.
    drop(instances.remove(0));
    let killed = Instant::now();
    assert!(holder.into_iter().all(|h| h.join().unwrap().is_err()), "the holder died");
    for request in waiting {
        let (status, _, body) = request.join().unwrap().expect("every waiter is answered");
        assert_eq!(status, 200, "{body}");
    }
    let waited = killed.elapsed();
    println!("the waiters were served {waited:?} after the kill (lease {LEASE_MS} ms)");
    // Within the lease and a re-check, on an idle machine; the bound only rules out a hang
    // (the route itself gives up on a fleet permit after 60 s).
    assert!(waited < Duration::from_secs(50), "{waited:?}");

    // All five permits are free again: five calls of 2 s overlap fully.
    let (status, _, body) =
        get(instances[0].addr, "/external?scope=fleet&limit=5&n=5&ms=2000").expect("answered");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["max_in_flight"], 5, "{body}");
}

#[test]
fn the_rate_counts_requests_across_instances() {
    let (redis, upstream) = (Redis::start(), Upstream::start());
    let instances = fleet(&redis, &upstream);
    let addrs: Vec<_> = instances.iter().map(|serve| serve.addr).collect();
    let started = Instant::now();
    let requests = at_once(&addrs, &vec!["/external?rate=2&n=1&ms=0".to_owned(); 12]);
    let answers: Vec<_> = requests.into_iter().map(|r| r.join().unwrap().unwrap()).collect();
    let seconds = started.elapsed().as_secs() + 1;
    let allowed = answers.iter().filter(|(status, ..)| *status == 200).count() as u64;
    let limited: Vec<_> = answers.iter().filter(|(status, ..)| *status == 429).collect();
    assert_eq!(allowed + limited.len() as u64, 12, "{answers:?}");
    // Two per second across the three instances: two in the first second, and at most two
    // more per second the requests took to arrive.
    assert!((2..=2 * seconds).contains(&allowed), "{allowed} allowed in {seconds} s");
    for (_, head, body) in limited {
        assert!(body.contains("more than 2 requests per second across the fleet"), "{body}");
        // A one-second window: the oldest request leaves it within a second.
        let lower = head.to_ascii_lowercase();
        assert!(lower.lines().any(|line| line.trim_end() == "retry-after: 1"), "{head}");
    }
}

#[test]
fn scope_fleet_without_redis_says_how_to_start() {
    let serve = Serve::start(&[]);
    for path in ["/external?scope=fleet&n=1", "/external?rate=5&n=1"] {
        let (status, body, _) = serve.get(path);
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("start kairos serve with --cache-url redis://HOST:PORT"), "{body}");
    }
    let (status, body, _) = serve.get("/external?scope=everywhere");
    assert_eq!(status, 422, "{body}");
    let (status, body, _) = serve.get("/external?rate=1001");
    assert_eq!(status, 422, "{body}");
    // The process scope needs nothing.
    let (body, _) = serve.json("/external?scope=process&n=2&limit=1&ms=0");
    assert_eq!(body["scope"], "process");

    // /docs says all of it: the scope's values, and the 429 and 503 beside the 502.
    let (doc, _) = serve.json("/openapi.json");
    let get = &doc["paths"]["/external"]["get"];
    let scope = get["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "scope");
    let scope = &scope.expect("a scope parameter")["schema"];
    assert_eq!(
        (&scope["enum"], &scope["default"]),
        (&json!(["process", "fleet"]), &json!("process"))
    );
    for status in ["200", "422", "429", "502", "503"] {
        assert!(get["responses"][status].is_object(), "/external documents {status}: {get:#}");
    }
}
