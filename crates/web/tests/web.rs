//! kairos-web, black-box over real loopback sockets: raw bytes where the protocol matters, the
//! TestClient elsewhere.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream;
use kairos_web::http::{HeaderMap, Method, StatusCode};
use kairos_web::kairos_http::ServerConfig;
use kairos_web::sse::{Event, Sse};
use kairos_web::{
    on_pool, sync, App, Bytes, HandlerKind, Headers, HttpError, Json, Path, Query, State,
    StreamingResponse, TestClient, WorkerState,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod support;
use support::wait_until;

/// Sends `request` as is and reads until the server closes (send `Connection: close`).
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    socket.write_all(request).unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).unwrap();
    String::from_utf8(response).unwrap()
}

fn body_of(response: &str) -> &str {
    &response[response.find("\r\n\r\n").unwrap() + 4..]
}

#[derive(Deserialize, JsonSchema)]
struct SleepParams {
    ms: u64,
}

#[derive(Deserialize, Serialize, JsonSchema, Debug, PartialEq)]
struct Item {
    name: String,
    price: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Token {
    x_token: String,
}

fn app() -> App {
    App::new()
        .get("/", || async { "Hello, World!" })
        .get("/items/{id}", |Path(id): Path<u32>| async move { Json(json!({ "id": id })) })
        .put("/items/{id}", |Path(id): Path<u32>, Json(item): Json<Item>| async move {
            Json(json!({ "id": id, "name": item.name }))
        })
        .get("/sleep", |Query(p): Query<SleepParams>| async move {
            kairos_rt::sleep(Duration::from_millis(p.ms)).await;
            format!("slept {} ms", p.ms)
        })
        .get("/token", |Headers(t): Headers<Token>| async move { t.x_token })
        .post("/echo", |body: Bytes| async move { body })
        .get("/panic", || async {
            if true {
                panic!("handler exploded");
            }
            "unreachable"
        })
        .get("/sync-panic", sync(|| -> &'static str { panic!("sync handler exploded") }))
        .get("/sync", sync(|| std::thread::current().name().unwrap_or("").to_owned()))
}

#[test]
fn unknown_paths_get_404_and_wrong_methods_405_with_allow() {
    let client = TestClient::new(app());
    let response =
        raw(client.addr(), b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 404 Not Found\r\n"), "{response}");
    assert!(response.contains("content-type: application/json\r\n"), "{response}");
    assert_eq!(body_of(&response), r#"{"detail":"Not Found"}"#);

    let response =
        raw(client.addr(), b"DELETE /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{response}");
    assert!(response.contains("allow: GET, PUT, HEAD\r\n"), "{response}");
    assert_eq!(body_of(&response), r#"{"detail":"Method Not Allowed"}"#);
}

#[test]
fn a_body_over_the_limit_gets_413_even_when_its_length_is_not_declared() {
    let config = ServerConfig { max_body_size: Some(16), ..ServerConfig::default() };
    let client = TestClient::with_config(app(), config);
    // Chunked: the server cannot refuse it up front; the Bytes extractor finds out while reading.
    let response = raw(
        client.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
          14\r\n01234567890123456789\r\n0\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{response}");
    let detail: Value = serde_json::from_str(body_of(&response)).unwrap();
    assert!(detail["detail"].as_str().unwrap().contains("16 bytes"), "{detail}");
    // Within the limit it is echoed.
    assert_eq!(client.post("/echo").body("small").send().text(), "small");
}

#[test]
fn the_servers_own_refusals_have_fastapis_shape() {
    // A declared body over the limit: refused by the server before any handler runs.
    let config = ServerConfig { max_body_size: Some(16), ..ServerConfig::default() };
    let client = TestClient::with_config(app(), config);
    let response = raw(
        client.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{response}");
    assert!(response.contains("content-type: application/json\r\n"), "{response}");
    let detail: Value = serde_json::from_str(body_of(&response)).unwrap();
    assert!(detail["detail"].as_str().unwrap().contains("16 bytes"), "{detail}");

    // At the concurrency limit (0: every request is past it).
    let config = ServerConfig { limit_concurrency: Some(0), ..ServerConfig::default() };
    let client = TestClient::with_config(app(), config);
    let response = raw(client.addr(), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{response}");
    assert!(response.contains("retry-after: 1\r\n"), "{response}");
    let detail: Value = serde_json::from_str(body_of(&response)).unwrap();
    assert!(detail["detail"].as_str().unwrap().contains("concurrency limit"), "{detail}");
}

#[test]
fn requests_that_do_not_fit_get_422_naming_the_field() {
    let client = TestClient::new(app());
    let detail =
        |path: &str| -> Value { client.get(path).send().json::<Value>()["detail"].clone() };

    let response = client.get("/sleep?ms=soon").send();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.json::<Value>(),
        json!({"detail": [{
            "type": "int_parsing",
            "loc": ["query", "ms"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "soon"
        }]})
    );
    assert_eq!(
        detail("/sleep"),
        json!([{"type": "missing", "loc": ["query", "ms"], "msg": "Field required", "input": null}])
    );
    assert_eq!(detail("/items/abc")[0]["loc"], json!(["path", "id"]));
    assert_eq!(
        detail("/token"),
        json!([{"type": "missing", "loc": ["header", "x-token"], "msg": "Field required",
                "input": null}])
    );
    assert_eq!(client.get("/token").header("X-Token", "secret").send().text(), "secret");

    let put = |body: &str| client.put("/items/3").body(body.to_owned()).send();
    let missing = put(r#"{"name": "x"}"#);
    assert_eq!(missing.status(), 422);
    assert_eq!(
        missing.json::<Value>()["detail"],
        json!([{"type": "missing", "loc": ["body", "price"], "msg": "Field required",
                "input": {"name": "x"}}])
    );
    let wrong_type = put(r#"{"name": "x", "price": "cheap"}"#).json::<Value>();
    assert_eq!(wrong_type["detail"][0]["loc"], json!(["body", "price"]));
    assert_eq!(wrong_type["detail"][0]["type"], "float_parsing");
    assert_eq!(put("{not json").json::<Value>()["detail"][0]["type"], "json_invalid");
    assert_eq!(put("").json::<Value>()["detail"][0]["type"], "missing");
    let ok = client.put("/items/3").json(&Item { name: "pen".into(), price: 1.5 }).send();
    assert_eq!(ok.json::<Value>(), json!({"id": 3, "name": "pen"}));
}

#[test]
fn a_panicking_handler_gets_500_and_the_next_request_succeeds() {
    let client = TestClient::new(app());
    for path in ["/panic", "/sync-panic"] {
        let response = raw(
            client.addr(),
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{response}");
        assert_eq!(body_of(&response), r#"{"detail":"Internal Server Error"}"#);
        assert_eq!(client.get("/").send().text(), "Hello, World!");
    }
    // The sync pool lives on: its threads still answer.
    assert!(client.get("/sync").send().text().starts_with("kairos-sync_"));
}

/// Counts handlers running at once; remembers the most.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[test]
fn the_sync_pool_never_runs_more_than_its_limit() {
    let gauge = Arc::new(Gauge::default());
    let seen = Arc::clone(&gauge);
    let app = App::new().get(
        "/work",
        sync(move || {
            let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
            seen.max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50)); // blocking, as `def` routes may
            seen.now.fetch_sub(1, Ordering::SeqCst);
            "done"
        }),
    );
    let client = TestClient::new(app); // 40 tokens by default
    let addr = client.addr();
    let sockets: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut socket = TcpStream::connect(addr).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            socket
                .write_all(b"GET /work HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            socket
        })
        .collect();
    for mut socket in sockets {
        let mut response = String::new();
        socket.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("done"));
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 40, "the limit is reached and never passed");
}

#[test]
fn a_sync_request_waiting_past_the_request_timeout_gets_503() {
    let app = App::new()
        .sync_tokens(1)
        .request_timeout(Duration::from_millis(200))
        .get("/block", sync(|| std::thread::sleep(Duration::from_millis(800))));
    let client = TestClient::new(app);
    let addr = client.addr();
    let first = std::thread::spawn(move || {
        raw(addr, b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    });
    std::thread::sleep(Duration::from_millis(100)); // the first holds the only token
    let started = Instant::now();
    let second = raw(addr, b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(second.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{second}");
    assert!(second.contains("retry-after: 1\r\n"), "{second}");
    assert!(body_of(&second).contains("stayed busy"), "{second}");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "answered at the timeout, not after the job"
    );
    assert!(first.join().unwrap().starts_with("HTTP/1.1 200 OK\r\n"));
}

/// Adds one to a counter when dropped: the generator's `finally`.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn sse_events_arrive_as_produced_and_the_generator_is_dropped_when_the_client_leaves() {
    let produced = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (p, d) = (Arc::clone(&produced), Arc::clone(&dropped));
    let app = App::new().get("/events", move || {
        let (produced, guard) = (Arc::clone(&p), DropCounter(Arc::clone(&d)));
        async move {
            let events = stream::unfold((0u32, guard), move |(n, guard)| {
                let produced = Arc::clone(&produced);
                async move {
                    if n == 100 {
                        return None; // the last event would come after 5 s
                    }
                    kairos_rt::sleep(Duration::from_millis(50)).await;
                    produced.fetch_add(1, Ordering::SeqCst);
                    let event = Event::default()
                        .event("tick")
                        .id(&n.to_string())
                        .data(format!("line {n}\nmore"));
                    Some((event, (n + 1, guard)))
                }
            });
            Sse::new(events)
        }
    });
    let client = TestClient::new(app);
    let mut stream = client.get("/events").stream();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(stream.headers()["cache-control"], "no-cache");
    assert_eq!(stream.headers()["x-accel-buffering"], "no");
    let first = stream.next_event().unwrap();
    assert!(produced.load(Ordering::SeqCst) < 100, "the first event came before the last was made");
    assert_eq!(first.event.as_deref(), Some("tick"));
    assert_eq!(first.id.as_deref(), Some("0"));
    assert_eq!(first.data, "line 0\nmore");
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("1"));
    assert_eq!(dropped.load(Ordering::SeqCst), 0);

    drop(stream); // the client goes away
    assert!(
        wait_until(Duration::from_secs(1), || dropped.load(Ordering::SeqCst) == 1),
        "the generator was not dropped within 1 s of the disconnect"
    );
    assert!(produced.load(Ordering::SeqCst) < 100);
}

#[test]
fn a_quiet_sse_stream_sends_keep_alive_comments_and_still_notices_the_client_leaving() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dropped);
    let app = App::new().get("/quiet", move || {
        let guard = DropCounter(Arc::clone(&d));
        async move {
            // A generator that never yields.
            let events = stream::unfold(guard, |_guard| {
                std::future::pending::<Option<(Event, DropCounter)>>()
            });
            Sse::new(events).keep_alive(Duration::from_millis(100))
        }
    });
    let client = TestClient::new(app);
    let mut stream = client.get("/quiet").stream();
    let chunk = stream.next_chunk().unwrap();
    assert_eq!(&chunk[..], b": keep-alive\n\n");
    drop(stream);
    assert!(wait_until(Duration::from_secs(1), || dropped.load(Ordering::SeqCst) == 1));
}

#[test]
fn a_streaming_response_sends_chunks_as_they_come() {
    let app = App::new().get("/lines", || async {
        let lines =
            stream::unfold(0, |i| async move { (i < 3).then_some((format!("line {i}\n"), i + 1)) });
        StreamingResponse::new(lines, "text/plain")
    });
    let client = TestClient::new(app);
    let response = client.get("/lines").send();
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.text(), "line 0\nline 1\nline 2\n");
}

#[derive(Default)]
struct Counter(AtomicUsize);

fn lookup(Path(id): Path<u32>) -> Result<Json<Value>, HttpError> {
    match id {
        1 => Ok(Json(json!({"id": 1}))),
        _ => Err(HttpError::not_found("Item not found").with_header("x-error", "missing")),
    }
}

#[test]
fn state_nesting_kinds_and_responses() {
    let cpu = kairos_rt::ThreadPool::builder().max_workers(2).thread_name_prefix("cpu").build();
    let api = App::new()
        .get("/items/{id}", sync(lookup))
        .post("/count", |State(c): State<Counter>| async move {
            (
                StatusCode::CREATED,
                [("x-count", (c.0.fetch_add(1, Ordering::SeqCst) + 1).to_string())],
                "counted",
            )
        })
        .get("/thread", on_pool(&cpu, || std::thread::current().name().unwrap_or("").to_owned()))
        .get("/method", |method: Method, headers: HeaderMap| async move {
            format!("{method} {}", headers.len())
        });
    let app =
        App::new().with_state(Counter::default()).get("/", || async { "root" }).nest("/api", api);

    let table: Vec<(Method, String, HandlerKind)> =
        app.routes().into_iter().map(|r| (r.method, r.path, r.kind)).collect();
    assert_eq!(
        table,
        [
            (Method::GET, "/".to_owned(), HandlerKind::Async),
            (Method::GET, "/api/items/{id}".to_owned(), HandlerKind::Sync),
            (Method::POST, "/api/count".to_owned(), HandlerKind::Async),
            (Method::GET, "/api/thread".to_owned(), HandlerKind::Pool),
            (Method::GET, "/api/method".to_owned(), HandlerKind::Async),
        ]
    );
    let items = &app.routes()[1];
    assert!(items.to_string().contains(" sync "), "{items}");
    assert_eq!(items.handler, "web::lookup", "a sync route is named after its function");
    assert!(items.to_string().ends_with("web::lookup"), "{items}");

    let client = TestClient::new(app);
    assert_eq!(client.get("/api/items/1").send().json::<Value>(), json!({"id": 1}));
    let missing = client.get("/api/items/2").send();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("x-error"), Some("missing"));
    assert_eq!(missing.json::<Value>(), json!({"detail": "Item not found"}));
    for expected in ["1", "2"] {
        let counted = client.post("/api/count").send();
        assert_eq!(counted.status(), StatusCode::CREATED);
        assert_eq!(counted.header("x-count"), Some(expected));
    }
    assert!(client.get("/api/thread").send().text().starts_with("cpu_"));
    assert!(client.get("/api/method").send().text().starts_with("GET "));
    let head = client.request(Method::HEAD, "/").send();
    assert_eq!((head.status(), head.text()), (StatusCode::OK, String::new()));
}

/// An extractor of the user's own, built on `Path` and `State`: it keeps the default
/// `NEEDS_ROUTE_CONTEXT = true`, so the router gives its requests the route's context.
struct Owned {
    id: u32,
    prefix: Arc<String>,
}

impl kairos_web::FromRequestParts for Owned {
    async fn from_request_parts(
        parts: &mut kairos_web::http::request::Parts,
    ) -> Result<Self, HttpError> {
        let Path(id) = Path::<u32>::from_request_parts(parts).await?;
        let State(prefix) = State::<String>::from_request_parts(parts).await?;
        Ok(Owned { id, prefix })
    }
}

#[test]
fn path_and_state_reach_extractors_of_every_kind_in_any_company() {
    let app = App::new()
        .with_state("item-".to_owned())
        .get("/own/{id}", |owned: Owned| async move { format!("{}{}", owned.prefix, owned.id) })
        .get("/mixed/{id}", |Query(p): Query<SleepParams>, Path(id): Path<u32>| async move {
            format!("{id}:{}", p.ms)
        })
        .get("/state", sync(|State(prefix): State<String>| prefix.to_string()))
        .get("/query", |Query(p): Query<SleepParams>| async move { p.ms.to_string() });
    let client = TestClient::new(app);
    assert_eq!(client.get("/own/7").send().text(), "item-7");
    assert_eq!(client.get("/mixed/3?ms=5").send().text(), "3:5");
    assert_eq!(client.get("/state").send().text(), "item-");
    assert_eq!(client.get("/query?ms=9").send().text(), "9");
}

#[test]
fn a_handler_that_sets_an_invalid_header_gets_500_and_the_server_answers_on() {
    let app = App::new()
        .get("/", || async { "Hello, World!" })
        // A value from user input, with a line break in it (header injection).
        .get("/value", |Query(q): Query<Value>| async move {
            ([("x-note", q["note"].as_str().unwrap_or("").to_owned())], "hi")
        })
        .get("/name", || async { (StatusCode::CREATED, [("x note", "v")], "hi") })
        .get("/sync-value", sync(|| ([("x-note", "a\r\nset-cookie: stolen=1")], "hi")))
        .get("/media-type", || async {
            StreamingResponse::new(stream::iter(["a", "b"]), "text/plain\n")
        })
        .get("/stream-header", || async {
            StreamingResponse::new(stream::iter(["a"]), "text/plain").header("x-id", "1\n2")
        })
        .get("/error-header", || async {
            Err::<(), _>(HttpError::forbidden("no").with_header("www authenticate", "Bearer"))
        });
    let client = TestClient::new(app);
    for path in [
        "/value?note=a%0Ab",
        "/name",
        "/sync-value",
        "/media-type",
        "/stream-header",
        "/error-header",
    ] {
        let response = raw(
            client.addr(),
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(
            response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{path}: {response}"
        );
        assert_eq!(body_of(&response), r#"{"detail":"Internal Server Error"}"#, "{path}");
        assert!(!response.contains("stolen"), "{path}: {response}");
        assert_eq!(client.get("/").send().text(), "Hello, World!", "after {path}");
    }
    // The same builders with valid values still work.
    let fine = client.get("/value?note=fine").send();
    assert_eq!((fine.status(), fine.header("x-note")), (StatusCode::OK, Some("fine")));
}

/// A worker state that is not `Send`: an `Rc<Cell<_>>` inside.
struct PerWorker {
    instance: usize,
    made_on: String,
    requests: std::rc::Rc<std::cell::Cell<u64>>,
}

#[test]
fn each_worker_gets_its_own_worker_state_made_on_its_own_thread() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&made);
    let app = App::new()
        .worker_state(move || PerWorker {
            instance: counter.fetch_add(1, Ordering::SeqCst),
            made_on: std::thread::current().name().unwrap_or("").to_owned(),
            requests: Default::default(),
        })
        .get("/whoami", |WorkerState(state): WorkerState<PerWorker>| async move {
            state.requests.set(state.requests.get() + 1);
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            Json(json!({"instance": state.instance, "made_on": state.made_on, "thread": thread,
                        "requests": state.requests.get()}))
        })
        .get("/missing", |WorkerState(n): WorkerState<u8>| async move { n.to_string() });
    let config = ServerConfig { workers: 2, ..Default::default() };
    let client = TestClient::with_config(app, config);

    // Each request on a new connection; both workers' loops wait on the shared listening
    // socket and race for each one, so both are seen well within 500 connections.
    let mut instance_of_thread = std::collections::HashMap::new();
    let mut requests = 0;
    while instance_of_thread.len() < 2 && requests < 500 {
        let seen: Value = client.get("/whoami").send().json();
        requests += 1;
        let thread = seen["thread"].as_str().unwrap().to_owned();
        assert!(thread.starts_with("kairos-worker-"), "{seen}");
        assert_eq!(seen["made_on"], seen["thread"], "made on the worker's own thread: {seen}");
        let instance = seen["instance"].as_u64().unwrap();
        let first = *instance_of_thread.entry(thread).or_insert(instance);
        assert_eq!(first, instance, "a worker keeps its instance: {seen}");
    }
    assert_eq!(instance_of_thread.len(), 2, "both workers answered within {requests} requests");
    let mut instances: Vec<u64> = instance_of_thread.into_values().collect();
    instances.sort_unstable();
    assert_eq!(instances, [0, 1], "one instance per worker");
    assert_eq!(made.load(Ordering::SeqCst), 2, "the factory ran once per worker");

    // A state nobody registered: a 500, and the log names the type to register.
    let missing = client.get("/missing").send();
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(missing.text(), r#"{"detail":"Internal Server Error"}"#);
}

/// The handler of `a_stall_report_names_the_route_and_the_handler`: blocks the loop on purpose.
async fn blocks_the_loop() -> &'static str {
    std::thread::sleep(Duration::from_millis(500));
    "blocked"
}

#[test]
fn a_stall_report_names_the_route_and_the_handler() {
    use kairos_rt::{Diagnostic, StallReport};
    use kairos_web::kairos_http::server::ConfigureLoop;

    let reports: Arc<std::sync::Mutex<Vec<StallReport>>> = Arc::default();
    let sink = Arc::clone(&reports);
    let config = ServerConfig {
        // Far above what a quick poll takes on a loaded machine, far below the 500 ms block.
        slow_callback_duration: Some(Duration::from_millis(200)),
        configure_loop: ConfigureLoop::new(move |builder| {
            let sink = Arc::clone(&sink);
            builder.on_diagnostic(move |d| {
                if let Diagnostic::SlowPoll(report) = d {
                    sink.lock().unwrap().push(report.clone());
                }
            })
        }),
        ..ServerConfig::default()
    };
    let app = App::new()
        .get("/fine", || async { "fine" })
        .nest("/api", App::new().get("/bad/{id}", blocks_the_loop));
    let client = TestClient::with_config(app, config);
    assert_eq!(client.get("/fine").send().text(), "fine");
    assert_eq!(client.get("/api/bad/7").send().text(), "blocked");
    assert!(
        wait_until(Duration::from_secs(10), || reports
            .lock()
            .unwrap()
            .iter()
            .any(|r| !r.still_running)),
        "the end of the blocking poll was reported"
    );
    let reports = reports.lock().unwrap();
    for report in reports.iter() {
        // The route template (not the path with its id) and the handler's path.
        assert_eq!(
            report.label.as_deref(),
            Some("GET /api/bad/{id} → web::blocks_the_loop"),
            "{report}"
        );
        assert!(report
            .to_string()
            .contains("while running GET /api/bad/{id} → web::blocks_the_loop"));
    }
}
