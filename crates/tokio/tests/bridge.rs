//! tokio's libraries on kairos loops, against real servers and files: reqwest against a
//! kairos server over loopback, sqlx on a SQLite file, the stall detector still watching.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use kairos_http::{Body, Request, Response, Server, ServerConfig};
use kairos_rt::Diagnostic;

/// A loop whose tasks can use tokio's libraries.
fn bridged() -> kairos_rt::Builder {
    kairos_tokio::configure_loop(kairos_rt::Builder::new())
}

#[test]
fn reqwest_talks_to_a_kairos_server_from_a_kairos_loop() {
    let server = Server::new(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        ..ServerConfig::default()
    })
    .start(
        || |request: Request| async move { Response::new(Body::from(request.uri().to_string())) },
    )
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let answers = bridged().run(async move {
        let client = reqwest::Client::new();
        let calls = (0..50).map(|i| {
            let (client, url) = (client.clone(), format!("{base}/call/{i}"));
            async move { client.get(url).send().await.unwrap().text().await.unwrap() }
        });
        join_all(calls).await
    });
    let expected: Vec<String> = (0..50).map(|i| format!("/call/{i}")).collect();
    assert_eq!(answers, expected);
}

#[test]
fn sqlx_stores_and_reads_rows_in_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("items.db").display());
    let (count, total) = bridged().run(async move {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let inserts = (1..=100).map(|price| {
            sqlx::query("INSERT INTO items (price) VALUES (?)").bind(price).execute(&pool)
        });
        for done in join_all(inserts).await {
            done.unwrap();
        }
        sqlx::query_as::<_, (i64, i64)>("SELECT COUNT(*), SUM(price) FROM items")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    assert_eq!((count, total), (100, 5050));
}

/// The bridged futures are polled by the loop, so a task that blocks beside a query is
/// reported by name, as any other.
#[test]
fn the_stall_detector_still_sees_a_task_that_uses_tokio() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    bridged()
        .slow_callback_duration(Some(Duration::from_millis(50)))
        .on_diagnostic(move |diagnostic| {
            if let Diagnostic::SlowPoll(report) = diagnostic {
                seen.lock().unwrap().push(report.task.name.clone());
            }
        })
        .run(async {
            kairos_rt::spawn_named("blocks after a query", async {
                let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
                sqlx::query("SELECT 1").execute(&pool).await.unwrap();
                std::thread::sleep(Duration::from_millis(300)); // the chapter's mistake
            })
            .await
            .unwrap();
        });
    let reports = reports.lock().unwrap();
    assert!(
        reports.iter().any(|name| name.as_deref() == Some("blocks after a query")),
        "reports: {reports:?}"
    );
}

/// Without the context, tokio says what is missing; `compat` (or `configure_loop`) is the fix.
#[test]
#[should_panic(expected = "Tokio 1.x runtime")]
fn a_loop_without_the_context_cannot_make_tokio_timers() {
    kairos_rt::run(async { tokio::time::sleep(Duration::from_millis(1)).await });
}
