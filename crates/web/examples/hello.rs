//! A small kairos-web service: `cargo run -p kairos-web --example hello`, then
//! `curl localhost:8000/`, `curl 'localhost:8000/sleep?ms=100'`, `curl localhost:8000/blocking`,
//! `curl -N localhost:8000/events`. Ctrl-C stops it gracefully.

use std::time::Duration;

use futures_util::stream;
use kairos_web::kairos_http::ServerConfig;
use kairos_web::sse::{Event, Sse};
use kairos_web::{sync, App, Query};
use serde::Deserialize;

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

async fn sleep(Query(wait): Query<Wait>) -> String {
    kairos_rt::sleep(Duration::from_millis(wait.ms)).await;
    format!("slept {} ms on the loop\n", wait.ms)
}

fn blocking() -> String {
    std::thread::sleep(Duration::from_millis(100));
    format!("blocked 100 ms on {}\n", std::thread::current().name().unwrap_or("?"))
}

async fn events() -> Sse<impl futures_core::Stream<Item = Event>> {
    Sse::new(stream::unfold(0u64, |n| async move {
        kairos_rt::sleep(Duration::from_secs(1)).await;
        Some((Event::default().event("tick").id(&n.to_string()).data(format!("tick {n}")), n + 1))
    }))
}

fn main() -> std::io::Result<()> {
    let app = App::new()
        .get("/", || async { "Hello, World!\n" })
        .get("/sleep", sleep)
        .get("/blocking", sync(blocking))
        .get("/events", events);
    for route in app.routes() {
        println!("{route}");
    }
    let server = app.serve(ServerConfig::default())?;
    println!("listening on http://{}", server.local_addr());
    server.shutdown_handle().on_signals()?;
    server.wait();
    Ok(())
}
