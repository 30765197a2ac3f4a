//! Lifespans over loopback: the App's startup, each worker's, requests, each worker's
//! shutdown, the App's shutdown — in that order — and a failed startup as `serve`'s error.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kairos_web::kairos_http::ServerConfig;
use kairos_web::{App, LifespanScope, ServeError, State, WorkerState};

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, event: impl Into<String>) {
    log.lock().unwrap().push(event.into());
}

fn config(workers: usize) -> ServerConfig {
    // No stderr log from `serve` in the test's output.
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
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
    answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// The App's value (shared) and a worker's (made on its loop, not `Send`).
struct Database {
    name: String,
}
struct Connection {
    worker: String,
    queries: Cell<u32>,
}

/// An App that records its lifespans' steps in `log`.
fn recorded_app(log: &Log) -> App {
    let (app_up, app_down, worker_up, worker_down) =
        (Arc::clone(log), Arc::clone(log), Arc::clone(log), Arc::clone(log));
    App::new()
        .lifespan(
            move || {
                let log = Arc::clone(&app_up);
                async move {
                    kairos_web::rt::yield_now().await; // startups may await
                    record(&log, "app startup");
                    Ok::<_, String>(Database { name: "db".into() })
                }
            },
            move |database: Arc<Database>| {
                let log = Arc::clone(&app_down);
                async move { record(&log, format!("app shutdown of {}", database.name)) }
            },
        )
        .worker_lifespan(
            move || {
                let log = Arc::clone(&worker_up);
                async move {
                    kairos_web::rt::yield_now().await;
                    let worker = std::thread::current().name().unwrap_or("").to_owned();
                    record(&log, format!("startup on {worker}"));
                    Ok::<_, String>(Connection { worker, queries: Cell::new(0) })
                }
            },
            move |connection: Rc<Connection>| {
                let log = Arc::clone(&worker_down);
                async move {
                    record(
                        &log,
                        format!(
                            "shutdown on {} after {} queries",
                            connection.worker,
                            connection.queries.get()
                        ),
                    )
                }
            },
        )
        .get("/query", {
            let log = Arc::clone(log);
            move |State(database): State<Database>,
                  WorkerState(connection): WorkerState<Connection>| {
                let log = Arc::clone(&log);
                async move {
                    connection.queries.set(connection.queries.get() + 1);
                    record(&log, "request");
                    format!("{} through {}", database.name, connection.worker)
                }
            }
        })
}

#[test]
fn lifespans_run_app_then_workers_then_requests_then_workers_then_app() {
    let log: Log = Arc::default();
    let running = recorded_app(&log).serve(config(2)).unwrap();
    let answer = get(running.local_addr(), "/query");
    assert!(answer.starts_with("db through kairos-worker-"), "{answer}");
    running.shutdown();
    running.wait();

    let events = log.lock().unwrap().clone();
    assert_eq!(events.len(), 7, "{events:?}");
    assert_eq!(events[0], "app startup");
    let mut startups = events[1..3].to_vec();
    startups.sort();
    assert_eq!(startups, ["startup on kairos-worker-0", "startup on kairos-worker-1"]);
    assert_eq!(events[3], "request");
    let mut shutdowns = events[4..6].to_vec();
    shutdowns.sort();
    // The worker that answered counts one query, the other none.
    let served = answer.trim_start_matches("db through ");
    let idle = if served == "kairos-worker-0" { "kairos-worker-1" } else { "kairos-worker-0" };
    let mut expected = [
        format!("shutdown on {served} after 1 queries"),
        format!("shutdown on {idle} after 0 queries"),
    ];
    expected.sort();
    assert_eq!(shutdowns, expected);
    assert_eq!(events[6], "app shutdown of db");
}

/// A value per lifespan, of its own type (one lifespan per type), that names itself.
struct Pool(&'static str);
struct Cache(&'static str);

#[test]
fn worker_startups_run_in_order_and_shutdowns_in_reverse() {
    let log: Log = Arc::default();
    let (l1, l2, l3, l4) = (Arc::clone(&log), Arc::clone(&log), Arc::clone(&log), Arc::clone(&log));
    let app = App::new()
        .worker_lifespan(
            move || std::future::ready(Ok::<_, String>(Pool(record_and(&l1, "open pool")))),
            move |pool: Rc<Pool>| {
                record(&l2, format!("close {}", pool.0));
                std::future::ready(())
            },
        )
        .worker_lifespan(
            move || std::future::ready(Ok::<_, String>(Cache(record_and(&l3, "open cache")))),
            move |cache: Rc<Cache>| {
                record(&l4, format!("close {}", cache.0));
                std::future::ready(())
            },
        );
    let running = app.serve(config(1)).unwrap();
    running.shutdown();
    running.wait();
    assert_eq!(*log.lock().unwrap(), ["open pool", "open cache", "close cache", "close pool"]);
}

/// Records `event`; returns the name it opened ("open pool" → "pool").
fn record_and(log: &Log, event: &'static str) -> &'static str {
    record(log, event);
    event.trim_start_matches("open ")
}

#[test]
fn a_failing_worker_startup_is_the_error_of_serve_and_the_rest_shut_down() {
    let log: Log = Arc::default();
    let (down, refused) = (Arc::clone(&log), Arc::clone(&log));
    let app = recorded_app(&log).worker_lifespan(
        move || {
            let log = Arc::clone(&refused);
            async move {
                record(&log, "pool refused");
                Err::<u64, _>(std::io::Error::other("connection refused by 127.0.0.1:5432"))
            }
        },
        move |_: Rc<u64>| {
            let log = Arc::clone(&down);
            async move { record(&log, "never: it did not start") }
        },
    );
    let error = app.serve(config(1)).err().expect("a failed startup must fail serve");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "application startup failed on worker 0: the startup of `u64` (made by `lifespan::"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "returned an error: connection refused by 127.0.0.1:5432; the server did not start"
        ),
        "{message}"
    );
    let ServeError::Startup(startup) = &error else { panic!("not a startup error: {error:?}") };
    assert_eq!(startup.scope(), LifespanScope::Worker(0));
    assert!(!startup.panicked());
    assert_eq!(startup.hook().unwrap().value, "u64");

    // Nothing was served; what had started was shut down, the worker's then the App's.
    assert_eq!(
        *log.lock().unwrap(),
        [
            "app startup",
            "startup on kairos-worker-0",
            "pool refused",
            "shutdown on kairos-worker-0 after 0 queries",
            "app shutdown of db",
        ]
    );
}

#[test]
fn a_failing_app_startup_starts_no_worker() {
    let started_workers: Log = Arc::default();
    let log = Arc::clone(&started_workers);
    let app = App::new()
        .lifespan(|| async { Err::<String, _>("no DATABASE_URL in the environment") }, |_| async {})
        .worker_state(move || record(&log, "worker"))
        .get("/", || async { "never" });
    let error = app.serve(config(2)).err().expect("a failed startup must fail serve");
    assert!(
        error
            .to_string()
            .starts_with("application startup failed: the startup of `alloc::string::String`"),
        "{error}"
    );
    assert!(
        error.to_string().ends_with(
            "returned an error: no DATABASE_URL in the environment; the server did not start"
        ),
        "{error}"
    );
    assert!(started_workers.lock().unwrap().is_empty());
}

#[test]
fn a_panicking_startup_is_a_failed_startup() {
    let app = App::new().worker_state(|| -> u8 { panic!("config file missing") });
    let error = app.serve(config(1)).err().expect("a panicking startup must fail serve");
    let ServeError::Startup(startup) = &error else { panic!("not a startup error: {error:?}") };
    assert!(startup.panicked());
    assert!(error.to_string().contains("panicked: config file missing"), "{error}");
}

/// A worker's startup value is made by an async, fallible function on the worker's loop, and
/// every request of that worker sees the same one.
#[test]
fn a_worker_startup_value_is_shared_by_that_workers_requests() {
    async fn open() -> Result<Connection, std::io::Error> {
        kairos_web::rt::sleep(Duration::from_millis(1)).await;
        Ok(Connection { worker: "w".into(), queries: Cell::new(0) })
    }
    async fn count(WorkerState(connection): WorkerState<Connection>) -> String {
        connection.queries.set(connection.queries.get() + 1);
        connection.queries.get().to_string()
    }
    let app = App::new().worker_lifespan(open, |_| async {}).get("/", count);
    let client = kairos_web::TestClient::new(app);
    assert_eq!(client.get("/").send().text(), "1");
    assert_eq!(client.get("/").send().text(), "2");
}
