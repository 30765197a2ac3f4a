//! `/`: the learning dashboard — each experiment of the chapter runnable from the page with
//! its timeline, a live panel fed by `/stream`, a WebSocket panel (`/ws/ticks`, and an echo
//! box on `/ws/echo`), an upload form, and every route with its kind and a line of
//! explanation; `/debug/loop`: the worker's loop, counted.

use kairos::web::{ClientAddr, Html, Json, RequestUrl, State};
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
        "/fanout?route=sync&n=100&ms=300",
        "async",
        "n requests at once to /async, /sync, /good or /bad, sent by the server to itself \
         (a browser opens 6 at a time): each one's time, so the sync pool's waves show (4.1)",
    ),
    (
        "/debug/loop",
        "async",
        "the loop's counters: tasks, polls, slow polls (in all and per route), pools",
    ),
    (
        "/debug/trace?seconds=2",
        "async",
        "what every loop and pool did, poll by poll: a trace for Perfetto's UI",
    ),
    (
        "/debug/request",
        "async",
        "the request as the service sees it behind a proxy: client address, scheme, URL",
    ),
    (
        "/debug/timeline",
        "async",
        "what every loop did in the last seconds, drawn live from /debug/trace: tasks, polls, \
         stalls in red, pool jobs (3.1, 5.2)",
    ),
    (
        "/metrics",
        "async",
        "every worker's requests (by route), loop lag, polls and pools, for Prometheus",
    ),
];

/// `/debug/request`'s answer: what a handler sees of its request behind a proxy.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct SeenRequest {
    /// The client's address: the peer, or the client a trusted proxy forwarded for.
    client: Option<String>,
    /// `http` or `https`, as the client used it (a trusted proxy's `X-Forwarded-Proto`).
    scheme: Option<String>,
    /// The URL the client asked for: scheme, host, root path, path and query.
    url: String,
}

/// The request as the service sees it: what `--proxy-headers`, `--forwarded-allow-ips` and
/// `--root-path` make of it (uvicorn's `request.client`, `request.url`).
pub(crate) async fn debug_request(
    ClientAddr(client): ClientAddr,
    RequestUrl(url): RequestUrl,
) -> Json<SeenRequest> {
    Json(SeenRequest {
        client: client.map(|addr| addr.to_string()),
        scheme: url.scheme_str().map(str::to_owned),
        url: url.to_string(),
    })
}

/// The dashboard: the chapter's experiments, each run from the page with its answer, its
/// measured durations and the timeline of exactly that run (drawn by `/assets/timeline.js`
/// from `/debug/trace`); then the live panels (`/stream`, WebSockets, upload) and every
/// route. The experiments themselves are in `static/index.js`: the page is their frame.
/// Its links are relative to a `<base>` that carries the root path (`--root-path`), so they
/// go through a proxy that serves the service under a prefix.
pub(crate) async fn index(State(settings): State<super::Settings>) -> Html<String> {
    let base = escape(&format!("{}/", settings.root_path)).replace('"', "&quot;");
    let rows: String = ROUTES
        .iter()
        .map(|(path, kind, what)| {
            format!(
                "<tr><td><a href=\"{}\">{path}</a></td><td>{kind}</td><td>{}</td></tr>\n",
                &path[1..],
                escape(what)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <base href=\"{base}\">\
         <title>kairos</title><link rel=\"stylesheet\" href=\"static/index.css\">\
         <link rel=\"stylesheet\" href=\"assets/timeline.css\"></head><body>\n\
         <header><h1>kairos: the FastAPI async chapter, served</h1>\n\
         <p class=\"lead\">Run each idea of the chapter against this server and see it happen: \
         the answer, the times measured, what the chapter predicts, and a timeline of what the \
         event loop did during exactly that run — every task's polls, the stalls in red, the \
         jobs on the pools. Hover a slice for its details.</p>\n\
         <nav><a href=\"debug/timeline\">the loop, live</a> · <a href=\"debug/loop\">its \
         counters</a> · <a href=\"docs\">/docs</a> (Swagger UI, to try every route) · \
         <a href=\"redoc\">/redoc</a> · <a href=\"openapi.json\">/openapi.json</a> · \
         <a href=\"#routes\">every route</a></nav></header>\n\
         <section id=\"experiments\"><div class=\"experiments-head\"><h2>Experiments</h2>\
         <label>durations × <select id=\"scale\"><option value=\"0.2\">0.2</option>\
         <option value=\"0.5\" selected>0.5</option><option value=\"1\">1 (the chapter's)</option>\
         </select></label></div>\
         <noscript><p>The experiments run from the page's script; the routes below work without it.</p></noscript>\
         <div id=\"experiment-list\"></div></section>\n\
         <h2>Live panels</h2>\n\
         <div class=\"panels\">\
         <section><h3>Server-sent events: /stream</h3>\
         <p class=\"note\">Each event as it arrives, from an async generator (7.1).</p>\
         <ol id=\"live\" class=\"events\"></ol>\
         <button type=\"button\" id=\"live-again\" class=\"secondary\">Stream again</button></section>\n\
         <section><h3>WebSocket: /ws/ticks</h3><pre id=\"ws-ticks\"></pre>\
         <h3>WebSocket: /ws/echo</h3>\
         <form id=\"echo\"><input id=\"echo-text\" value=\"hello, kairos\" maxlength=\"200\"> \
         <button type=\"submit\">Send</button></form>\
         <pre id=\"echo-result\"></pre></section>\n\
         <section><h3>Upload: /upload</h3>\
         <form id=\"upload\" action=\"upload\" method=\"post\" enctype=\"multipart/form-data\">\
         <input type=\"file\" name=\"file\" required> <button type=\"submit\">Upload</button></form>\
         <pre id=\"upload-result\"></pre></section></div>\n\
         <h2 id=\"routes\">Every route</h2>\n\
         <p>Every route with its parameters, their ranges and its answers: \
         <a href=\"docs\">/docs</a> (Swagger UI, to try them) or \
         <a href=\"redoc\">/redoc</a>; the document itself is \
         <a href=\"openapi.json\">/openapi.json</a>.</p>\n\
         <table class=\"routes\"><tr><th>route</th><th>kind</th><th>what it shows</th></tr>\n{rows}</table>\n\
         <script src=\"assets/timeline.js\"></script>\n\
         <script src=\"static/index.js\"></script>\n</body></html>\n"
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
