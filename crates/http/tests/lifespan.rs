//! Workers' lifespans over loopback: startup before accepting, shutdown after draining, and a
//! failed startup as the error of `start_with`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kairos_http::server::{StartError, WorkerService};
use kairos_http::{Body, Request, Response, Server, ServerConfig};

fn config(workers: usize) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers,
        access_log: false,
        graceful_shutdown_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn body(answer: &str) -> &str {
    answer.split("\r\n\r\n").nth(1).unwrap_or("")
}

/// Polls `condition` every 5 ms until it holds or `limit` has passed (a bound against a hang,
/// no verdict on speed).
fn wait_until(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, event: impl Into<String>) {
    log.lock().unwrap().push(event.into());
}

type Service = Box<dyn Fn(Request) -> std::future::Ready<Response>>;
type Started = std::future::Ready<Result<WorkerService<Service>, std::io::Error>>;

/// A service answering with what its worker's startup made, and recording its requests.
fn startup(log: Log) -> impl Fn(usize) -> Started + Send + Sync + 'static {
    move |worker| {
        record(&log, format!("startup {worker}"));
        // Not Send: made on the worker's loop, used there only.
        let made = Rc::new(format!("made by worker {worker}'s startup"));
        let requests = Arc::clone(&log);
        let service: Service = Box::new(move |_request| {
            record(&requests, "request");
            std::future::ready(Response::new(Body::from(made.to_string())))
        });
        let shutdowns = Arc::clone(&log);
        std::future::ready(Ok(WorkerService::new(service).on_shutdown(move || async move {
            record(&shutdowns, format!("shutdown {worker}"));
        })))
    }
}

#[test]
fn every_startup_runs_before_a_request_and_every_shutdown_after_the_drain() {
    let log: Log = Arc::default();
    let stopped = Arc::clone(&log);
    let server = Server::new(config(2))
        .on_stop(move || record(&stopped, "stopped"))
        .start_with(startup(Arc::clone(&log)))
        .unwrap();
    // `start_with` has returned: both startups are done.
    let mut events = log.lock().unwrap().clone();
    events.sort();
    assert_eq!(events, ["startup 0", "startup 1"]);

    let answer = get(server.local_addr(), "/");
    assert!(body(&answer).starts_with("made by worker "), "{answer}");

    server.shutdown();
    server.wait();
    let events = log.lock().unwrap().clone();
    assert_eq!(events[2], "request", "{events:?}");
    let mut shutdowns = events[3..5].to_vec();
    shutdowns.sort();
    assert_eq!(shutdowns, ["shutdown 0", "shutdown 1"], "{events:?}");
    assert_eq!(events[5..], ["stopped"], "{events:?}");
}

#[test]
fn a_failed_startup_is_the_error_of_start_and_the_started_workers_shut_down() {
    let log: Log = Arc::default();
    let recorded = Arc::clone(&log);
    let on_stop = Arc::new(AtomicUsize::new(0));
    let stops = Arc::clone(&on_stop);
    let result = Server::new(config(2))
        .on_stop(move || {
            stops.fetch_add(1, Ordering::SeqCst);
        })
        .start_with(move |worker| {
            let log = Arc::clone(&recorded);
            async move {
                if worker == 1 {
                    return Err("the database refused the connection".into());
                }
                record(&log, "startup 0");
                let service = |_request: Request| async { Response::new(Body::from("never")) };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    WorkerService::new(service)
                        .on_shutdown(move || async move { record(&log, "shutdown 0") }),
                )
            }
        });
    let error = result.err().expect("a failed startup must fail the start");
    assert_eq!(
        error.to_string(),
        "the startup of worker 1 failed, so the server did not start: \
         the database refused the connection"
    );
    assert!(matches!(error, StartError::WorkerStartup { worker: 1, .. }));
    // Worker 0 had started: it was stopped, without serving, and ran its shutdown.
    assert_eq!(*log.lock().unwrap(), ["startup 0", "shutdown 0"]);
    // A server that did not start does not stop.
    assert_eq!(on_stop.load(Ordering::SeqCst), 0);
}

#[test]
fn a_panicking_startup_is_an_error_too() {
    let result = Server::new(config(1)).start_with(|_worker| async {
        if true {
            panic!("no configuration file");
        }
        let service = |_request: Request| async { Response::new(Body::empty()) };
        Ok::<_, std::io::Error>(WorkerService::new(service))
    });
    let error = result.err().expect("a panicking startup must fail the start");
    assert_eq!(
        error.to_string(),
        "the startup of worker 0 failed, so the server did not start: \
         it panicked: no configuration file"
    );
}

#[test]
fn start_reports_a_panicking_make_service() {
    let result = Server::new(config(1)).start(|| -> fn(Request) -> std::future::Ready<Response> {
        panic!("cannot make the service")
    });
    let error = result.err().expect("a panicking make_service must fail the start");
    assert!(error.to_string().contains("it panicked: cannot make the service"), "{error}");
}

/// A replacement worker runs the startup again; while that fails, the supervisor retries it
/// (logging each failure), and the first success serves again.
#[test]
fn a_replacement_whose_startup_fails_is_retried_until_it_starts() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let server = Server::new(config(1))
        .start_with(move |_worker| {
            // The first startup succeeds; the replacement's first two tries fail.
            let call = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if call == 1 || call == 2 {
                    return Err(std::io::Error::other(format!("try {call}: not yet")));
                }
                let service = move |_request: Request| async move {
                    Response::new(Body::from(format!("startup call {call}")))
                };
                Ok(WorkerService::new(service))
            }
        })
        .unwrap();
    assert_eq!(body(&get(server.local_addr(), "/")), "startup call 0");

    server.crash_worker_for_test(0);
    assert!(
        wait_until(Duration::from_secs(30), || calls.load(Ordering::SeqCst) >= 4
            && server.workers_alive() == 1),
        "the replacement never started: {} startup calls",
        calls.load(Ordering::SeqCst)
    );
    assert_eq!(body(&get(server.local_addr(), "/")), "startup call 3");
    assert_eq!(server.restarts(), 3); // the dead worker's replacement, then two retries
}
