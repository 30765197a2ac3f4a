//! Background tasks over real sockets: they run after the response's body is done, in
//! order, on the loop or the sync pool, past failures, and a graceful shutdown waits for them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream;
use kairos_web::kairos_http::ServerConfig;
use kairos_web::{sync, App, BackgroundTasks, State, StreamingResponse, TestClient};

mod support;
use support::wait_until;

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, event: impl Into<String>) {
    log.lock().unwrap().push(event.into());
}

fn events(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// The state the routes share with the test.
struct Shared {
    log: Log,
    release: Arc<AtomicBool>,
}

#[test]
fn tasks_run_once_the_body_is_done_not_before() {
    async fn streamed(tasks: BackgroundTasks, State(shared): State<Shared>) -> StreamingResponse {
        let log = Arc::clone(&shared.log);
        tasks.add(move || async move { record(&log, "task ran") });
        let release = Arc::clone(&shared.release);
        let chunks = stream::unfold(0, move |n| {
            let release = Arc::clone(&release);
            async move {
                match n {
                    0 => Some(("first ", 1)),
                    1 => {
                        // The second chunk waits for the test to say so.
                        while !release.load(Ordering::SeqCst) {
                            kairos_web::rt::sleep(Duration::from_millis(2)).await;
                        }
                        Some(("second", 2))
                    }
                    _ => None,
                }
            }
        });
        StreamingResponse::new(chunks, "text/plain")
    }
    let log = Log::default();
    let release = Arc::new(AtomicBool::new(false));
    let shared = Shared { log: Arc::clone(&log), release: Arc::clone(&release) };
    let client = TestClient::new(App::new().with_state(shared).get("/", streamed));

    let mut body = client.get("/").stream();
    assert_eq!(body.next_chunk().unwrap(), "first ");
    assert!(events(&log).is_empty(), "a task ran while the body was still being sent");
    release.store(true, Ordering::SeqCst);
    assert_eq!(body.next_chunk().unwrap(), "second");
    assert!(
        wait_until(Duration::from_secs(10), || events(&log) == ["task ran"]),
        "{:?}",
        events(&log)
    );
}

#[test]
fn tasks_run_in_order_on_the_loop_and_the_sync_pool_past_failures() {
    async fn schedule(tasks: BackgroundTasks, State(shared): State<Shared>) -> &'static str {
        let log = Arc::clone(&shared.log);
        tasks.add(|| async { Err::<(), _>("the mail server refused") });
        tasks.add(|| async {
            if true {
                panic!("a task that panics");
            }
        });
        let blocking = Arc::clone(&log);
        tasks.add_blocking(move || {
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            record(&blocking, format!("blocking on {}", thread.split('_').next().unwrap()));
        });
        tasks.add(move || async move { record(&log, "async after") });
        "scheduled"
    }
    let log = Log::default();
    let shared = Shared { log: Arc::clone(&log), release: Arc::default() };
    let client = TestClient::new(App::new().with_state(shared).post("/", schedule));
    let response = client.post("/").send();
    assert_eq!(response.text(), "scheduled");
    // A full body stays one of a known length with tasks behind it.
    assert_eq!(response.header("content-length"), Some("9"));
    let expected = ["blocking on kairos-sync", "async after"];
    assert!(wait_until(Duration::from_secs(10), || events(&log) == expected), "{:?}", events(&log));
    // The worker lives on.
    assert_eq!(client.post("/").send().text(), "scheduled");
}

#[test]
fn a_sync_handler_schedules_tasks_too_and_one_request_has_one_queue() {
    fn handler(tasks: BackgroundTasks, State(shared): State<Shared>) -> String {
        let log = Arc::clone(&shared.log);
        tasks.add_blocking(move || record(&log, "from a sync handler"));
        format!("{} scheduled", tasks.len())
    }
    let log = Log::default();
    let shared = Shared { log: Arc::clone(&log), release: Arc::default() };
    let client = TestClient::new(App::new().with_state(shared).get("/", sync(handler)));
    assert_eq!(client.get("/").send().text(), "1 scheduled");
    assert!(wait_until(Duration::from_secs(10), || events(&log) == ["from a sync handler"]));
}

#[test]
fn tasks_run_even_when_the_client_leaves_before_the_body_ends() {
    async fn endless(tasks: BackgroundTasks, State(shared): State<Shared>) -> StreamingResponse {
        let log = Arc::clone(&shared.log);
        tasks.add(move || async move { record(&log, "ran after the client left") });
        let ticks = stream::unfold((), |()| async {
            kairos_web::rt::sleep(Duration::from_millis(5)).await;
            Some(("tick", ()))
        });
        StreamingResponse::new(ticks, "text/plain")
    }
    let log = Log::default();
    let shared = Shared { log: Arc::clone(&log), release: Arc::default() };
    let client = TestClient::new(App::new().with_state(shared).get("/", endless));
    let mut body = client.get("/").stream();
    assert_eq!(body.next_chunk().unwrap(), "tick");
    drop(body);
    assert!(wait_until(Duration::from_secs(10), || events(&log).len() == 1), "{:?}", events(&log));
}

fn config(grace: Duration) -> ServerConfig {
    // No stderr log from `serve` in the test's output.
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        access_log: false,
        graceful_shutdown_timeout: grace,
        ..ServerConfig::default()
    }
}

fn post(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_graceful_shutdown_waits_for_running_tasks() {
    let finished = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&finished);
    let app = App::new().post("/", move |tasks: BackgroundTasks| {
        let counted = Arc::clone(&counted);
        async move {
            tasks.add(move || async move {
                kairos_web::rt::sleep(Duration::from_millis(200)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            });
            "accepted"
        }
    });
    let running = app.serve(config(Duration::from_secs(30))).unwrap();
    assert!(post(running.local_addr(), "/").ends_with("accepted"));
    running.shutdown();
    running.wait();
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the shutdown did not wait for the task");
}

#[test]
fn a_task_still_running_after_the_grace_period_is_dropped() {
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (drops, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (counted_drops, counted_finishes) = (Arc::clone(&drops), Arc::clone(&finished));
    let app = App::new().post("/", move |tasks: BackgroundTasks| {
        let (drops, finishes) = (Arc::clone(&counted_drops), Arc::clone(&counted_finishes));
        async move {
            tasks.add(move || async move {
                let _guard = Dropped(drops);
                kairos_web::rt::sleep(Duration::from_secs(3600)).await;
                finishes.fetch_add(1, Ordering::SeqCst);
            });
            "accepted"
        }
    });
    let running = app.serve(config(Duration::from_millis(100))).unwrap();
    assert!(post(running.local_addr(), "/").ends_with("accepted"));
    running.shutdown();
    running.wait();
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the task was neither finished nor dropped");
}
