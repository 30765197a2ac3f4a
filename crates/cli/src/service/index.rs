//! `/`: the index, every route with its kind and a line of explanation, a live panel fed by
//! `/stream`, a WebSocket panel (`/ws/ticks`, and an echo box on `/ws/echo`) and an upload
//! form; `/debug/loop`: the worker's loop, counted.

use kairos::web::{Html, Json};
use serde_json::{json, Value};

/// Every route: path with an example query, handler kind, what it shows.
pub(crate) const ROUTES: &[(&str, &str, &str)] = &[
    ("/plaintext", "async", "Hello, World! as text (benchmark baseline)"),
    ("/json", "async", "{\"message\":\"Hello, World!\"} (benchmark baseline)"),
    ("/async?ms=1000", "async", "sleeps on the loop; other requests run meanwhile (4.1)"),
    (
        "/sync?ms=1000",
        "sync",
        "std::thread::sleep on the sync pool (40 tokens); names its thread (4.1)",
    ),
    ("/bad?ms=2000", "async", "blocks the loop on purpose; the stall detector reports it (3.1)"),
    ("/good?ms=2000", "async", "the same sleep through run_in_executor; the loop stays free (3.1)"),
    ("/sequential?scale=1", "async", "A 1 s then B 2 s, awaited in turn: 3 s (2.1)"),
    ("/concurrent?scale=1", "async", "A and B as tasks: 2 s (2.1)"),
    (
        "/gather?scale=1&fail=B&return_exceptions=true",
        "async",
        "gather(A 1 s, B 2 s, C 1.5 s) = 2 s; a failure both ways (2.2, 2.3)",
    ),
    (
        "/wait_for?work_ms=3000&timeout_ms=1000",
        "async",
        "wait_for times out and cancels the task (2.3)",
    ),
    (
        "/counter?tasks=1000&await_between=true",
        "async",
        "the single-thread race: exact without an await, short with one (1.3)",
    ),
    (
        "/cpu?n=10000000&pool=process",
        "async",
        "sum of squares on pool=process, thread or inline (6.2)",
    ),
    (
        "/external?n=20&limit=5&ms=200",
        "async",
        "20 calls to the upstream, never more than 5 in flight (6.3); scope=fleet: 5 across every instance on the same Redis",
    ),
    ("/stream?n=100&interval_ms=100", "async", "server-sent events from an async generator (7.1)"),
    (
        "/ws/ticks?n=100&interval_ms=100",
        "websocket",
        "/stream's twin over a WebSocket: n ticks, then a 1000 close (each socket a task)",
    ),
    ("/ws/echo", "websocket", "a WebSocket that echoes every text and binary message"),
    (
        "/items?limit=20&offset=0",
        "async",
        "your items in the database (POST, GET, PUT, DELETE; 4.2): log in at /docs first",
    ),
    (
        "/cached?key=a&ms=200",
        "async",
        "a slow loader behind the cache: one load per key (next steps)",
    ),
    ("/db/async?n=2000000", "async", "a query through sqlx, awaited: the loop stays free (5.1)"),
    ("/db/sync?n=2000000", "sync", "the same query through rusqlite on the sync pool (5.1)"),
    (
        "/db/bad?n=2000000",
        "async",
        "rusqlite inside async: the loop waits, the stall detector reports it (5.1)",
    ),
    (
        "/debug/loop",
        "async",
        "the loop's counters: tasks, polls, slow polls (in all and per route), pools",
    ),
];

/// The HTML index.
pub(crate) async fn index() -> Html<String> {
    let rows: String = ROUTES
        .iter()
        .map(|(path, kind, what)| {
            format!(
                "<tr><td><a href=\"{path}\">{path}</a></td><td>{kind}</td><td>{}</td></tr>\n",
                escape(what)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>kairos</title><link rel=\"stylesheet\" href=\"/static/index.css\"></head><body>\n\
         <h1>kairos: the FastAPI async chapter, served</h1>\n\
         <p>Every route with its parameters, their ranges and its answers: \
         <a href=\"/docs\">/docs</a> (Swagger UI, to try them) or \
         <a href=\"/redoc\">/redoc</a>; the document itself is \
         <a href=\"/openapi.json\">/openapi.json</a>.</p>\n\
         <table><tr><th>route</th><th>kind</th><th>what it shows</th></tr>\n{rows}</table>\n\
         <div class=\"panels\">\
         <section><h2>Live: /stream</h2><pre id=\"live\"></pre></section>\n\
         <section><h2>WebSocket: /ws/ticks</h2><pre id=\"ws-ticks\"></pre>\
         <h2>WebSocket: /ws/echo</h2>\
         <form id=\"echo\"><input id=\"echo-text\" value=\"hello, kairos\" maxlength=\"200\"> \
         <button type=\"submit\">Send</button></form>\
         <pre id=\"echo-result\"></pre></section>\n\
         <section><h2>Upload: /upload</h2>\
         <form id=\"upload\" action=\"/upload\" method=\"post\" enctype=\"multipart/form-data\">\
         <input type=\"file\" name=\"file\" required> <button type=\"submit\">Upload</button></form>\
         <pre id=\"upload-result\"></pre></section></div>\n\
         <script src=\"/static/index.js\"></script>\n</body></html>\n"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The loop's stats: tasks, polls, slow polls (in all and per route), and every pool's active
/// and queued jobs.
pub(crate) async fn debug_loop() -> Json<Value> {
    let stats = kairos::rt::stats();
    let pools: Vec<Value> = kairos::rt::executor::pool_stats()
        .iter()
        .map(|p| {
            json!({"name_prefix": p.name_prefix, "max_workers": p.max_workers, "threads": p.threads,
                   "active": p.active, "queued": p.queued, "completed": p.completed})
        })
        .collect();
    let process_pools: Vec<Value> = kairos::process::stats()
        .iter()
        .map(|p| {
            json!({"max_workers": p.max_workers, "workers": p.workers, "busy": p.busy,
                   "queued": p.queued, "completed": p.completed, "crashed": p.crashed})
        })
        .collect();
    Json(json!({
        "loop_id": stats.loop_id,
        "tasks_alive": stats.tasks_alive,
        "tasks_spawned": stats.tasks_spawned,
        "polls": stats.polls,
        "ready_queue": stats.ready_queue,
        "timers_pending": stats.timers_pending,
        "io_sources": stats.io_sources,
        "slow_polls": stats.slow_polls,
        // Per route: each request runs under its route's label (method, template, handler).
        "slow_polls_by_route": stats
            .slow_polls_by_label
            .iter()
            .map(|(label, count)| (label.to_string(), json!(count)))
            .collect::<serde_json::Map<_, _>>(),
        "unobserved_panics": stats.unobserved_panics,
        "pools": pools,
        "process_pools": process_pools,
    }))
}
