//! `kairos serve` with its data: `/items` on SQLite (the default) and on a real PostgreSQL,
//! each item its user's (another user's is a 404, an admin sees all),
//! surviving a restart, answering 503 while PostgreSQL is down and recovering when it is back;
//! a database unreachable at start stops the server with status 3; `/cached` runs one loader
//! for 100 concurrent misses, in memory and in a real Redis.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kairos_fixtures::{Postgres, Redis};
use serde_json::{json, Value};
use support::Serve;

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Create, read, list, replace, delete, and what is refused, against a running server.
fn crud(serve: &Serve) {
    let (status, created) =
        serve.send("POST", "/items", Some(&json!({"name": "pen", "price": 1.5})));
    assert_eq!(status, 201, "{created}");
    let created = body(&created);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created, json!({"id": id, "name": "pen", "price": 1.5, "description": null}));
    serve.send(
        "POST",
        "/items",
        Some(&json!({"name": "ink", "price": 2.0, "description": "blue"})),
    );

    let (status, read) = serve.send("GET", &format!("/items/{id}"), None);
    assert_eq!((status, body(&read)), (200, created.clone()));
    let (_, page) = serve.send("GET", "/items?limit=1&offset=1", None);
    assert_eq!(body(&page)[0]["name"], "ink");
    assert_eq!(body(&page).as_array().unwrap().len(), 1);

    let replacement = json!({"name": "pencil", "price": 0.5});
    let (status, replaced) = serve.send("PUT", &format!("/items/{id}"), Some(&replacement));
    assert_eq!((status, body(&replaced)["name"].clone()), (200, json!("pencil")));
    assert_eq!(serve.send("PUT", "/items/999999", Some(&replacement)).0, 404);

    // Every bad field at once, in pydantic's shape.
    let (status, refused) =
        serve.send("POST", "/items", Some(&json!({"name": "", "price": -1, "description": 5})));
    assert_eq!(status, 422, "{refused}");
    let types: Vec<_> =
        body(&refused)["detail"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(
        types,
        [json!("string_too_short"), json!("greater_than_equal"), json!("string_type")]
    );
    assert_eq!(serve.send("GET", "/items?limit=0", None).0, 422);

    assert_eq!(serve.send("DELETE", &format!("/items/{id}"), None).0, 204);
    let (status, gone) = serve.send("GET", &format!("/items/{id}"), None);
    assert_eq!((status, body(&gone)), (404, json!({"detail": format!("no item {id}")})));
    assert_eq!(serve.send("DELETE", &format!("/items/{id}"), None).0, 404);
}

#[test]
fn items_live_in_sqlite_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("items.db").display());
    let id = {
        let mut serve = Serve::start(&["--database-url", &url]);
        serve.sign_in("tester", "items");
        crud(&serve);
        let (_, kept) = serve.send("POST", "/items", Some(&json!({"name": "kept", "price": 3.0})));
        body(&kept)["id"].as_i64().unwrap()
    }; // killed here
    let mut serve = Serve::start(&["--database-url", &url]);
    serve.sign_in("tester", "items");
    let (status, read) = serve.send("GET", &format!("/items/{id}"), None);
    assert_eq!((status, body(&read)["name"].clone()), (200, json!("kept")));
}

#[test]
fn items_live_in_postgres_which_may_go_away_and_come_back() {
    let mut postgres = Postgres::start();
    let mut serve = Serve::start(&["--database-url", &postgres.url()]);
    serve.sign_in("tester", "items");
    crud(&serve);
    let (_, kept) = serve.send("POST", "/items", Some(&json!({"name": "kept", "price": 3.0})));
    let path = format!("/items/{}", body(&kept)["id"]);

    postgres.kill();
    // Every request in the gap gets a clear 503, none hangs (the pool waits 2 s at most).
    for _ in 0..3 {
        let (status, answer) = serve.send("GET", &path, None);
        assert_eq!(status, 503, "{answer}");
        assert_eq!(body(&answer)["detail"], "the database is unavailable; retry shortly");
    }

    postgres.restart();
    let mut recovered = false;
    for _ in 0..50 {
        let (status, answer) = serve.send("GET", &path, None);
        if status == 200 {
            assert_eq!(body(&answer)["name"], "kept");
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(recovered, "the service did not recover when PostgreSQL came back");
}

#[test]
fn a_database_unreachable_at_start_stops_the_server_with_status_3() {
    // Port 1 on loopback: nothing listens there.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--database-url", "postgres://kairos:secret@127.0.0.1:1/postgres"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot open the database at postgres://kairos:***@127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
    assert!(output.stdout.is_empty(), "it said it was listening");
}

/// 100 clients miss the same key at once: the loader runs once, every answer says so.
fn one_load_for_100_misses(serve: &Serve) {
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| body(&serve.send("GET", "/cached?key=hot&ms=300", None).1)))
            .collect();
        clients.into_iter().map(|client| client.join().unwrap()).collect()
    });
    for answer in &answers {
        assert_eq!(answer["loads"], 1, "{answer}");
        assert_eq!(answer["key"], "hot");
    }
    // Then it is a hit, and still one load.
    assert_eq!(body(&serve.send("GET", "/cached?key=hot&ms=300", None).1)["loads"], 1);
}

#[test]
fn cached_runs_one_loader_for_100_concurrent_misses_in_memory() {
    one_load_for_100_misses(&Serve::start(&[]));
}

#[test]
fn cached_runs_one_loader_for_100_concurrent_misses_in_redis() {
    let redis = Redis::start();
    one_load_for_100_misses(&Serve::start(&["--cache-url", &redis.url()]));
}

/// 5.1 on a database: the blocking driver inside `async def` is reported by the stall
/// detector under its route; the async driver and the blocking one on the sync pool are not.
#[test]
fn the_stall_detector_names_a_blocking_driver_in_an_async_route() {
    let serve = Serve::start(&["--slow-callback-ms", "100"]);
    // A query of about 0.3 s here, measured off the loop: three times the threshold.
    let took =
        body(&serve.send("GET", "/db/sync?n=1000000", None).1)["elapsed_s"].as_f64().unwrap();
    let n = ((1_000_000.0 * 0.3 / took.max(1e-6)) as u64).clamp(10_000, 20_000_000);
    for route in ["/db/async", "/db/sync", "/db/bad"] {
        let (status, answer) = serve.send("GET", &format!("{route}?n={n}"), None);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(body(&answer)["count"], n, "{route}");
    }
    let stats = serve.json("/debug/loop").0;
    let by_route = &stats["slow_polls_by_route"];
    assert_eq!(by_route["GET /db/bad → kairos::service::db_lesson::db_bad"], 1, "{stats}");
    for quiet in ["db_async", "db_sync"] {
        let name = format!("GET /db/{} → kairos::service::db_lesson::{quiet}", &quiet[3..]);
        assert!(by_route.get(&name).is_none(), "{name} stalled the loop: {stats}");
    }
}

/// `clients` threads send `path` back to back until `stop`; every answer's status and how
/// long it took, in order of arrival.
fn under_load(
    serve: &Serve,
    path: &str,
    clients: usize,
    work: impl FnOnce(),
) -> Vec<(u16, Duration)> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let (status, _) = serve.send("GET", path, None);
                        seen.push((status, started.elapsed()));
                    }
                    seen
                })
            })
            .collect();
        work();
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    })
}

/// PostgreSQL killed for longer than the pool waits for a connection, and restarted, while
/// eight clients read: every answer is a 200 or a clear 503, none takes longer than the
/// pool's 2 s wait allows (with a wide margin), and the reads succeed again once it is back.
#[test]
fn postgres_killed_mid_load_gives_503s_and_recovers() {
    let mut postgres = Postgres::start();
    let mut serve = Serve::start(&["--database-url", &postgres.url()]);
    serve.sign_in("tester", "items");
    let (_, kept) = serve.send("POST", "/items", Some(&json!({"name": "kept", "price": 1.0})));
    let path = format!("/items/{}", body(&kept)["id"]);
    let answers = under_load(&serve, &path, 8, || {
        std::thread::sleep(Duration::from_millis(300));
        postgres.kill();
        // Longer than the pool's 2 s wait for a connection: a request in a shorter gap just
        // waits and succeeds when the database is back.
        std::thread::sleep(Duration::from_millis(4000));
        postgres.restart();
        // Until the service answers again (the clients keep the load on meanwhile).
        let deadline = Instant::now() + Duration::from_secs(30);
        while serve.send("GET", &path, None).0 != 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
    });
    let statuses: std::collections::BTreeSet<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert!(statuses.iter().all(|s| [200, 503].contains(s)), "statuses: {statuses:?}");
    assert!(statuses.contains(&503), "the outage was not seen: {statuses:?}");
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(20), "a request hung for {slowest:?}");
    assert_eq!(answers.last().map(|(s, _)| *s), Some(200), "not recovered at the end");
}

/// Redis killed and restarted while clients read through the cache: the cache is an
/// optimisation, so every answer is a 200 (its loader answers while Redis is away).
#[test]
fn redis_killed_mid_load_never_fails_a_request() {
    let mut redis = Redis::start();
    let serve = Serve::start(&["--cache-url", &redis.url()]);
    let answers = under_load(&serve, "/cached?key=k&ms=10", 8, || {
        std::thread::sleep(Duration::from_millis(300));
        redis.kill();
        std::thread::sleep(Duration::from_millis(1000));
        redis.restart();
        std::thread::sleep(Duration::from_millis(1000));
    });
    assert!(answers.len() > 8, "too few answers to mean anything: {}", answers.len());
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "{:?}",
        answers.iter().filter(|(s, _)| *s != 200).take(5).collect::<Vec<_>>()
    );
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(20), "a request hung for {slowest:?}");
}

/// A request as the holder of `token` (none: anonymous): the status and the body.
fn send_as(
    serve: &Serve,
    token: Option<&str>,
    method: &str,
    path: &str,
    json: Option<Value>,
) -> (u16, String) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let json = json.map(|value| value.to_string()).unwrap_or_default();
    let (status, _, answer) = serve.request(method, path, &headers, &json);
    (status, answer)
}

/// Each item is its user's: another user's token finds nothing (404, as if it were not
/// there), an admin's finds everything; no token is a 401, a token without the scope a 403.
#[test]
fn an_item_is_its_users_and_an_admins() {
    let mut serve = Serve::start(&["--admin", "root"]);
    let ada = serve.sign_in("ada", "items");
    let grace = serve.sign_in("grace", "items");
    let root = serve.sign_in("root", "admin");
    let profile_only = serve.sign_in("ada", "me");
    let (ada, grace, root) = (Some(ada.as_str()), Some(grace.as_str()), Some(root.as_str()));
    let serve = &serve;

    let (status, pen) =
        send_as(serve, ada, "POST", "/items", Some(json!({"name": "pen", "price": 1.5})));
    assert_eq!(status, 201, "{pen}");
    let path = format!("/items/{}", body(&pen)["id"]);
    send_as(serve, grace, "POST", "/items", Some(json!({"name": "ink", "price": 2.0})));

    assert_eq!(send_as(serve, ada, "GET", &path, None).0, 200);
    assert_eq!(
        send_as(serve, grace, "GET", &path, None).0,
        404,
        "another user's item is not there"
    );
    let replacement = Some(json!({"name": "x", "price": 0.0}));
    assert_eq!(send_as(serve, grace, "PUT", &path, replacement).0, 404);
    assert_eq!(send_as(serve, grace, "DELETE", &path, None).0, 404);
    let names = |token| -> Vec<Value> {
        let (_, answer) = send_as(serve, token, "GET", "/items", None);
        body(&answer).as_array().unwrap().iter().map(|item| item["name"].clone()).collect()
    };
    assert_eq!(names(ada), [json!("pen")]);
    assert_eq!(names(grace), [json!("ink")]);
    assert_eq!(names(root), [json!("pen"), json!("ink")]);
    assert_eq!(send_as(serve, root, "GET", &path, None).0, 200, "an admin sees every item");

    assert_eq!(send_as(serve, None, "GET", &path, None).0, 401);
    assert_eq!(send_as(serve, Some(&profile_only), "GET", &path, None).0, 403);
    assert_eq!(send_as(serve, ada, "DELETE", &path, None).0, 204);
}
