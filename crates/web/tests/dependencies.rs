//! Dependencies (FastAPI's `Depends`), black-box over real loopback sockets: made once per
//! request, from extractors and other dependencies, torn down after the request however it
//! ends, replaced by overrides, and run for a whole router or App.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use kairos_web::dependency::{Dependency, Depends, Fresh, Outcome};
use kairos_web::http::StatusCode;
use kairos_web::{
    sync, ApiRouter, App, Headers, HttpError, Query, State, StreamingResponse, TestClient,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

mod support;
use support::wait_until;

/// What the dependencies of a test did: each App has its own, as a `State`.
#[derive(Default)]
struct Log {
    sessions_opened: AtomicUsize,
    /// The outcome each teardown was told, in order.
    teardowns: Mutex<Vec<Outcome>>,
}

impl Log {
    fn teardowns(&self) -> Vec<Outcome> {
        self.teardowns.lock().unwrap().clone()
    }
}

/// A database session: counted when opened, its teardown recorded.
#[derive(Clone)]
struct Session {
    number: usize,
    log: std::sync::Arc<Log>,
}

impl Dependency for Session {
    type Inputs = State<Log>;

    async fn resolve(State(log): State<Log>) -> Result<Self, HttpError> {
        kairos_rt::sleep(Duration::from_millis(1)).await; // a connection from a pool, say
        let number = log.sessions_opened.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Session { number, log })
    }

    async fn teardown(self, outcome: Outcome) {
        kairos_rt::sleep(Duration::from_millis(1)).await; // the rollback's round trip
        self.log.teardowns.lock().unwrap().push(outcome);
    }
}

#[derive(Deserialize, JsonSchema)]
struct Auth {
    x_user: String,
}

/// A dependency of a dependency: the user is looked up with the request's session.
#[derive(Clone)]
struct User {
    name: String,
    session: usize,
}

impl Dependency for User {
    type Inputs = (Headers<Auth>, Depends<Session>);

    async fn resolve((Headers(auth), Depends(session)): Self::Inputs) -> Result<Self, HttpError> {
        if auth.x_user == "mallory" {
            return Err(HttpError::forbidden("Not this user"));
        }
        Ok(User { name: auth.x_user, session: session.number })
    }
}

#[derive(Deserialize, JsonSchema)]
struct StreamParams {
    end: bool,
}

#[derive(Deserialize, JsonSchema)]
struct Page {
    #[schemars(range(max = 100))]
    limit: u32,
}

fn app() -> App {
    App::new()
        .with_state(Log::default())
        // The session three times: directly twice, and through User.
        .get(
            "/me",
            |Depends(a): Depends<Session>,
             Depends(user): Depends<User>,
             Depends(b): Depends<Session>| async move {
                format!("{} with session {} ({}, {})", user.name, user.session, a.number, b.number)
            },
        )
        .get("/page", |Depends(user): Depends<User>, Query(page): Query<Page>| async move {
            format!("{}: {}", user.name, page.limit)
        })
        .get("/panic", |Depends(_session): Depends<Session>| async move {
            if true {
                panic!("the handler fails after opening its session");
            }
            "unreachable"
        })
        .get("/slow", |Depends(_session): Depends<Session>| async move {
            std::future::pending::<()>().await;
            "unreachable"
        })
        .get("/fresh", |Depends(a): Depends<Session>, Fresh(b): Fresh<Session>| async move {
            format!("{} {}", a.number, b.number)
        })
        .get("/sync", sync(|Depends(user): Depends<User>| user.name))
        // The stream uses the session after the handler has returned: a chunk, then, if
        // `end` is false, nothing more, ever.
        .get(
            "/stream",
            |Depends(session): Depends<Session>, Query(s): Query<StreamParams>| async move {
                let first = stream::once(async move { format!("session {}\n", session.number) });
                let rest = match s.end {
                    true => stream::empty().left_stream(),
                    false => stream::pending().right_stream(),
                };
                StreamingResponse::new(first.chain(rest), "text/plain")
            },
        )
        .get("/log", |State(log): State<Log>| async move {
            format!("{} opened, {:?}", log.sessions_opened.load(Ordering::SeqCst), log.teardowns())
        })
}

fn log(client: &TestClient) -> String {
    client.get("/log").send().text()
}

#[test]
fn a_dependency_used_three_times_in_a_request_is_resolved_once_and_torn_down_once() {
    let client = TestClient::new(app());
    let response = client.get("/me").header("x-user", "ada").send();
    assert_eq!(response.text(), "ada with session 1 (1, 1)");
    assert_eq!(log(&client), "1 opened, [Responded(200)]");
    // The next request has its own.
    assert_eq!(
        client.get("/me").header("x-user", "bob").send().text(),
        "bob with session 2 (2, 2)"
    );
    assert_eq!(log(&client), "2 opened, [Responded(200), Responded(200)]");
}

#[test]
fn a_fresh_dependency_is_made_again_and_torn_down_too() {
    let client = TestClient::new(app());
    assert_eq!(client.get("/fresh").send().text(), "1 2");
    assert_eq!(log(&client), "2 opened, [Responded(200), Responded(200)]");
}

#[test]
fn a_dependency_of_a_dependency_rejects_with_its_error_and_its_inputs_join_the_422() {
    let client = TestClient::new(app());
    // User's own error: the handler does not run; the session it opened is torn down, told
    // the status.
    let response = client.get("/me").header("x-user", "mallory").send();
    assert_eq!(response.status(), 403);
    assert_eq!(response.text(), r#"{"detail":"Not this user"}"#);
    assert_eq!(log(&client), "1 opened, [Responded(403)]");

    // User's missing header and the handler's bad query: one 422 with both, in argument order.
    let response = client.get("/page?limit=500").send();
    assert_eq!(response.status(), 422);
    let locs: Vec<Value> = response.json::<Value>()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [serde_json::json!(["header", "x-user"]), serde_json::json!(["query", "limit"])]
    );
}

#[test]
fn a_sync_handler_gets_its_dependencies_resolved_on_the_loop() {
    let client = TestClient::new(app());
    assert_eq!(client.get("/sync").header("x-user", "ada").send().text(), "ada");
    assert_eq!(log(&client), "1 opened, [Responded(200)]");
}

#[test]
fn teardown_runs_after_a_handler_panics() {
    let client = TestClient::new(app());
    let response = client.get("/panic").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
    assert!(
        wait_until(Duration::from_secs(10), || log(&client) == "1 opened, [Panicked]"),
        "the session is torn down, told of the panic: {}",
        log(&client)
    );
}

#[test]
fn teardown_runs_after_the_client_leaves_mid_request() {
    let client = TestClient::new(app());
    let mut socket = TcpStream::connect(client.addr()).unwrap();
    socket.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || log(&client) == "1 opened, []"),
        "the slow handler has its session: {}",
        log(&client)
    );
    drop(socket); // the client leaves; the handler never answers
    assert!(
        wait_until(Duration::from_secs(10), || log(&client) == "1 opened, [Cancelled]"),
        "the session is torn down, told the request was cancelled: {}",
        log(&client)
    );
}

#[test]
fn a_streamed_response_keeps_its_dependencies_until_it_ends() {
    let client = TestClient::new(app());
    assert_eq!(client.get("/stream?end=true").send().text(), "session 1\n");
    assert!(
        wait_until(Duration::from_secs(10), || log(&client) == "1 opened, [Responded(200)]"),
        "torn down once the body has ended: {}",
        log(&client)
    );
}

#[test]
fn teardown_runs_after_the_client_leaves_mid_stream() {
    let client = TestClient::new(app());
    let mut stream = client.get("/stream?end=false").stream();
    assert_eq!(stream.next_chunk().unwrap(), "session 1\n");
    assert_eq!(log(&client), "1 opened, []", "the stream still uses the session");
    drop(stream); // the client leaves mid-response
    assert!(
        wait_until(Duration::from_secs(10), || log(&client) == "1 opened, [Cancelled]"),
        "the session is torn down, told the response was cut short: {}",
        log(&client)
    );
}

#[test]
fn an_override_replaces_a_dependency_wherever_it_is_asked_for() {
    let app =
        app().override_dependency(|| async { Ok(User { name: "test-user".into(), session: 0 }) });
    let client = TestClient::new(app);
    // No header needed: User's inputs are not read, and its session is not opened.
    assert_eq!(client.get("/sync").send().text(), "test-user");
    assert_eq!(log(&client), "0 opened, []");
    // Session itself, still real, beside the fake user.
    assert_eq!(client.get("/me").send().text(), "test-user with session 0 (1, 1)");
}

/// A router's check: only admins pass.
#[derive(Clone)]
struct Admin;

impl Dependency for Admin {
    type Inputs = Depends<User>;

    async fn resolve(Depends(user): Depends<User>) -> Result<Self, HttpError> {
        match user.name.as_str() {
            "root" => Ok(Admin),
            _ => {
                Err(HttpError::unauthorized("Admins only")
                    .with_header("www-authenticate", "Bearer"))
            }
        }
    }
}

#[test]
fn a_routers_dependency_rejects_every_route_of_the_router_and_only_those() {
    let admin = ApiRouter::new()
        .prefix("/admin")
        .dependency::<Admin>()
        .get("/", || async { "dashboard" })
        .post("/users", sync(|| "created"))
        // The check's User is the handler's too: resolved once.
        .get("/whoami", |Depends(user): Depends<User>| async move {
            format!("{} on session {}", user.name, user.session)
        });
    let client = TestClient::new(app().include_router(admin));

    for (method, path) in [("GET", "/admin"), ("POST", "/admin/users"), ("GET", "/admin/whoami")] {
        let response = client.request(method.parse().unwrap(), path).header("x-user", "ada").send();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"), "{method} {path}");
        assert_eq!(response.text(), r#"{"detail":"Admins only"}"#);
    }
    let root = |path: &str| client.get(path).header("x-user", "root").send().text();
    assert_eq!(root("/admin"), "dashboard");
    assert_eq!(root("/admin/whoami"), "root on session 5");
    // The App's other routes are not the router's.
    assert_eq!(client.get("/me").header("x-user", "ada").send().status(), 200);
}

#[test]
fn an_apps_dependency_runs_before_every_route() {
    #[derive(Clone)]
    struct Counted;

    static CHECKS: AtomicUsize = AtomicUsize::new(0);

    impl Dependency for Counted {
        type Inputs = ();
        async fn resolve((): ()) -> Result<Self, HttpError> {
            CHECKS.fetch_add(1, Ordering::SeqCst);
            Ok(Counted)
        }
    }

    let app = App::new()
        .dependency::<Counted>()
        .get("/a", || async { "a" })
        .include_router(ApiRouter::new().dependency::<Counted>().get("/b", || async { "b" }));
    let client = TestClient::new(app);
    assert_eq!(client.get("/a").send().text(), "a");
    assert_eq!(client.get("/b").send().text(), "b");
    assert_eq!(CHECKS.load(Ordering::SeqCst), 2, "once per request, though both ask for it");
    // A path no route has is not checked: it is a 404.
    assert_eq!(client.get("/c").send().status(), 404);
    assert_eq!(CHECKS.load(Ordering::SeqCst), 2);
}

#[test]
fn a_dependency_whose_inputs_are_missing_from_the_app_answers_500() {
    // No `Log` state: the session's `State<Log>` is a programming error, logged.
    let app =
        App::new().get("/", |Depends(s): Depends<Session>| async move { s.number.to_string() });
    let client = TestClient::new(app);
    let response = client.get("/").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
}
