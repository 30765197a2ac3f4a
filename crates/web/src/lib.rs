//! # kairos-web — FastAPI's execution model on kairos
//!
//! The framework of kairos: routes by method and path, extractors, responses, streaming and
//! server-sent events, and **handlers of three kinds that run where FastAPI would run them**.
//!
//! ## The model
//!
//! An [`App`] is served by [`kairos_http::Server`]: N workers, each a thread running one
//! kairos event loop (one uvicorn worker's asyncio loop). A request lives on the worker that
//! accepted its connection. Its handler runs according to its kind, chosen at registration
//! and listed by [`App::routes`]:
//!
//! | FastAPI | kairos-web | runs on |
//! |---|---|---|
//! | `@app.get("/") async def f()` | `.get("/", f)` with `async fn f()` | the worker's **loop**: must never block; awaits are free |
//! | `@app.get("/") def f()` | `.get("/", `[`sync`]`(f))` with `fn f()` | the worker's **sync pool**, behind a limiter of **40 tokens** (anyio's default; [`App::sync_tokens`]) |
//! | `await loop.run_in_executor(pool, f)` | `.get("/", `[`on_pool`]`(&pool, f))` | a [`ThreadPool`](kairos_rt::ThreadPool) of yours (CPU-heavy work, its own bound) |
//!
//! In all three, the arguments (extractors: [`Path`], [`Query`], [`Headers`], [`Json`],
//! [`State`], `Bytes`...) are made on the loop — reading the body is I/O — and then the
//! function runs where its kind says. A sync handler takes one of its worker's tokens from a
//! loop-local FIFO [`Semaphore`](kairos_sync::Semaphore) and runs on a pool of as many
//! threads (`kairos-sync_0`, `kairos-sync_1`, ...), so blocking code never stalls the loop
//! and never runs more than the limit at once; when all tokens are taken, requests wait in
//! line, and one that waits longer than [`App::request_timeout`] (30 s) gets `503`. A token
//! is held until the function returns, even if the client has gone away meanwhile (a thread
//! cannot be stopped half-way, so neither can the work it holds a token for). The
//! limiter is per worker, as anyio's is per process: `workers × tokens` in all.
//!
//! State comes in two scopes. What every worker shares is given to [`App::with_state`] and
//! read with [`State`] (an `Arc`: `Send + Sync`). What belongs to one loop and cannot cross
//! threads — a `kairos_process::ProcessPool`, a [`kairos_http::Client`], an
//! `Rc<RefCell<_>>` — is made by a factory given to [`App::worker_state`], once on each worker
//! as it starts, and read with [`WorkerState`] (an `Rc`) by `async` handlers.
//!
//! Lifespans (FastAPI's `lifespan`) come in the same two scopes. [`App::lifespan`] runs an
//! async, fallible startup once before any worker starts — its value is a [`State`] — and its
//! shutdown once every worker has stopped. [`App::worker_lifespan`] runs one on each worker's
//! loop before it accepts — its value is a [`WorkerState`] — and its shutdown after the
//! worker drains ([`App::worker_state`] is the plain-function case). So the order is: the
//! App's startups, each worker's, requests, each worker's shutdowns, the App's. A startup that
//! fails stops [`App::serve`] before anything is served, with a [`ServeError`] that names the
//! lifespan and says why.
//!
//! Dependencies (FastAPI's `Depends`) are types implementing [`Dependency`]: made from
//! extractors and other dependencies by an async `resolve`, asked for by handlers with
//! [`Depends<T>`] in any argument position, made **once per request** however many
//! arguments and dependencies ask, and closed by their `teardown` after the response
//! (after a streamed one's last chunk) — also when the handler panics or the client leaves.
//! [`App::dependency`] and [`ApiRouter::dependency`] run one before every route of the App or
//! router (an auth check that rejects them all); [`App::override_dependency`] replaces one in
//! tests. The [`dependency`] module tells the whole story.
//!
//! Routes are grouped in [`ApiRouter`]s (FastAPI's `APIRouter`): a prefix, tags, dependencies
//! and documented responses shared by their routes, included with [`App::include_router`].
//! A router is not an App: it has no state, lifespans or settings to be ignored where it is
//! included; an App mounted in another with [`App::nest`] brings its own.
//!
//! Errors are JSON, as FastAPI's: `{"detail": "Not Found"}` for 404, `405` with an `Allow`
//! header, `413` for a body over the server's limit, [`HttpError`] for your own (FastAPI's
//! `HTTPException`), and `500` for a handler that panics — in any kind; the worker and the
//! pools live on. A request that does not fit its extractors gets `422` listing **every** bad
//! value, of every extractor, in pydantic v2's shape:
//! `{"detail": [{"type": "greater_than_equal", "loc": ["query", "ms"], "msg": "Input should be
//! greater than or equal to 1", "input": "0", "ctx": {"ge": 1}}, ...]}`. The rules are declared
//! once, on the type: [`Json<T>`], [`Query<T>`], [`Path<T>`] and [`Headers<T>`] validate
//! against `T`'s JSON Schema, derived by `schemars` from the type and its
//! `#[schemars(range(..), length(..), regex(..))]` attributes; [`Valid`] adds checks of your
//! own ([`validation`] tells the whole story). Exception handlers change that app-wide:
//! [`App::exception_handler`] answers an error type of yours (an [`Exception`]) wherever a
//! handler returns it, and [`App::status_handler`] replaces the body of every 404, 405, 422 or
//! 500 the App answers.
//!
//! Middleware wraps the App, a router or a route ([`App::layer`], [`ApiRouter::layer`],
//! [`middleware::RouteLayer`]): an async function of the request and the rest of the chain
//! ([`middleware::from_fn`], Starlette's `@app.middleware("http")`), or any tower `Layer` as
//! it is — tower-http's CORS, request id, trace and limits — outermost first, all of them
//! before the route's dependencies ([`middleware`] tells the whole story). kairos adds its own
//! where tower's would not fit a kairos loop: [`middleware::Timeout`] on the loop's clock, and
//! [`middleware::Compression`] (gzip, br, zstd by `Accept-Encoding`), which flushes a
//! streamed body chunk by chunk so that SSE and streams stay prompt.
//!
//! Metrics for Prometheus are two lines, as prometheus-fastapi-instrumentator's:
//! [`App::metrics`] counts every request by route template, method and status with its
//! latency, and [`metrics::expose`] on a route serves them with every worker's loop lag,
//! polls, slow polls, tasks, connections and the thread pools, gathered from each worker's
//! loop at the scrape ([`metrics`] tells the whole story).
//!
//! Work that need not delay the answer goes in [`BackgroundTasks`] (FastAPI's): async tasks
//! on the worker's loop, blocking ones on its sync pool, run in order once the response's
//! body is done; a graceful shutdown waits for them.
//!
//! Forms and uploads are read as FastAPI reads them. [`Form<T>`] is an HTML form
//! (`application/x-www-form-urlencoded`, or the text fields of a multipart body) read into
//! `T` and validated as a [`Query<T>`] is, every bad field at `loc: ["body", name]`.
//! [`FormData`] reads a `multipart/form-data` body whole before the handler runs, each file
//! an [`UploadFile`] (FastAPI's) kept in memory up to 1 MiB and past it streamed to a
//! temporary file — so a 100 MB upload never sits in memory — which is removed when the
//! handle drops; [`Multipart`] hands the parts to the handler as they arrive, chunk by chunk.
//! Their limits (the body, each file and field, how many, which names) are a
//! [`MultipartConfig`] in the App's state, narrowed per route by a type (`FormData<Avatar>`),
//! and answered with 413; nothing of a refused or abandoned upload is left on disk
//! ([`multipart`] tells the whole story).
//!
//! Cookies are read with a [`cookies::CookieJar`] argument and set or deleted by returning it
//! (`(jar.add(("theme", "dark")), body)`, Starlette's `response.set_cookie`); values the client
//! must not change or read go in a [`cookies::SignedCookieJar`] (HMAC-SHA256) or a
//! [`cookies::PrivateCookieJar`] (AES-256-GCM), whose keys are the App's state; named cookies
//! are validated into a struct by [`Cookies<T>`] (FastAPI's `Cookie()`). Sessions
//! ([`session::SessionLayer`], Starlette's `SessionMiddleware`) keep a [`session::Session`] — a
//! map of JSON values — in one encrypted cookie, sent back only when it changed or its expiry
//! needs refreshing ([`cookies`] and [`session`] tell the whole story).
//!
//! Streams ([`StreamingResponse`], [`Sse`]) are sent as they are produced, and dropped —
//! with whatever generates them — as soon as the client goes away.
//!
//! WebSockets (FastAPI's `@app.websocket`) are routes too: a [`WebSocketUpgrade`] argument
//! checks the handshake, and its `on_upgrade` answers the 101 and runs the session — a task on
//! the worker's loop with a [`WebSocket`] to `recv` from and `send` to, slowed to the client's
//! pace (a send waits while the client does not read), and closed with the code that says why
//! it ended (1000, 1001 at a graceful shutdown, 1009, 1002, 1011 for a panic). [`websocket`]
//! tells the whole story.
//!
//! A directory of files is mounted with [`App::mount_static`]`("/static",
//! `[`StaticFiles`]`::new("public"))` (FastAPI's `app.mount` of Starlette's `StaticFiles`):
//! each file streamed from the disk in chunks, its file-system calls on the loop's default
//! executor ([`kairos_rt::fs`]), with `ETag` and `Last-Modified` and the `304` they earn,
//! ranges (`206`, `416`), `HEAD`, precompressed `.br`/`.gz` variants and a `Content-Type` by
//! extension; a path that would leave the directory — `..`, `%2e%2e`, a symlink out of it —
//! or names a dotfile is a plain `404` that tells nothing of the file system.
//!
//! The routes document themselves: [`App::openapi`] is the OpenAPI 3.1 document of the route
//! table — each extractor adds what it reads (a [`Query<T>`]'s fields as parameters, with the
//! constraints of `T`'s schema; a [`Json<T>`] body as a `$ref` to `T`), each return type what
//! it answers, each validated route FastAPI's 422 — and a served App answers it at
//! `/openapi.json`, with Swagger UI at `/docs` and ReDoc at `/redoc`, from assets in the
//! binary ([`openapi`]). What no type says (a summary, tags, another status) is written on
//! the handler, as FastAPI's decorator arguments: `.get("/items", list_items.tag("items"))`
//! ([`openapi::RouteDocs`]).
//!
//! ## A complete app
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//!
//! use futures_util::stream;
//! use kairos_web::sse::{Event, Sse};
//! use kairos_web::{sync, App, HttpError, Json, Path, Query, State, TestClient};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default)]
//! struct Stats { requests: AtomicU64 }
//!
//! // Validation is declared on the type, and its JSON Schema is the rule (see `validation`).
//! #[derive(Deserialize, JsonSchema)]
//! struct Wait {
//!     #[schemars(range(max = 10_000))]
//!     ms: u64,
//! }
//!
//! #[derive(Deserialize, Serialize, JsonSchema)]
//! struct Item {
//!     #[schemars(length(min = 1))]
//!     name: String,
//!     #[schemars(range(min = 0.0))]
//!     price: f64,
//! }
//!
//! // async def: on the loop; awaiting a sleep lets the other requests run.
//! async fn slow(Query(wait): Query<Wait>, State(stats): State<Stats>) -> String {
//!     stats.requests.fetch_add(1, Ordering::Relaxed);
//!     kairos_rt::sleep(Duration::from_millis(wait.ms)).await;
//!     format!("waited {} ms", wait.ms)
//! }
//!
//! // def: on the sync pool; blocking is allowed here.
//! fn blocking(Path(id): Path<u32>) -> Result<Json<Item>, HttpError> {
//!     std::thread::sleep(Duration::from_millis(5)); // a synchronous driver, say
//!     match id {
//!         1 => Ok(Json(Item { name: "pen".into(), price: 1.5 })),
//!         _ => Err(HttpError::not_found("Item not found")),
//!     }
//! }
//!
//! async fn create(Json(item): Json<Item>) -> (kairos_web::http::StatusCode, Json<Item>) {
//!     (kairos_web::http::StatusCode::CREATED, Json(item))
//! }
//!
//! // An async generator of events (the state of `unfold` is the generator's).
//! async fn ticks() -> Sse<impl futures_core::Stream<Item = Event>> {
//!     Sse::new(stream::unfold(0, |n| async move {
//!         kairos_rt::sleep(Duration::from_millis(10)).await;
//!         (n < 3).then(|| (Event::default().id(&n.to_string()).data(format!("tick {n}")), n + 1))
//!     }))
//! }
//!
//! let app = App::new()
//!     .with_state(Stats::default())
//!     .get("/slow", slow)
//!     .get("/ticks", ticks)
//!     .nest("/api", App::new().get("/items/{id}", sync(blocking)).post("/items", create));
//!
//! for route in app.routes() {
//!     println!("{route}"); // GET /slow async, GET /api/items/{id} sync, ...
//! }
//!
//! // In production: app.serve(ServerConfig { workers: 4, ..Default::default() })?.wait();
//! // In tests, over a real loopback socket:
//! let client = TestClient::new(app);
//! assert_eq!(client.get("/slow?ms=5").send().text(), "waited 5 ms");
//! assert_eq!(client.get("/slow?ms=soon").send().status(), 422);
//! assert_eq!(client.get("/slow?ms=20000").send().json::<serde_json::Value>()["detail"][0]["msg"],
//!            "Input should be less than or equal to 10000");
//! assert_eq!(client.get("/api/items/1").send().json::<serde_json::Value>()["name"], "pen");
//! assert_eq!(client.get("/api/items/2").send().text(), r#"{"detail":"Item not found"}"#);
//! let created = client.post("/api/items").json(&Item { name: "ink".into(), price: 2.0 }).send();
//! assert_eq!(created.status(), 201);
//! let mut events = client.get("/ticks").stream();
//! assert_eq!(events.next_event().unwrap().data, "tick 0");
//! ```
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `app.rs` | [`App`]: registration, state, lifespans, settings, serving, each worker's start, dispatch |
//! | `logging.rs` | the stderr log of a served App whose program installed no `tracing` subscriber |
//! | `lifespan.rs` | lifespans of the App and of each worker, run in order; [`ServeError`], [`StartupError`] |
//! | `router.rs` | the route table (`matchit`), 404/405, [`RouteInfo`], each route's stall-report label and router options |
//! | `api_router.rs` | [`ApiRouter`]: prefix, tags, dependencies and [`DocumentedResponse`]s of a group of routes; [`App::include_router`] |
//! | [`dependency`] | [`Dependency`], [`Depends`], [`dependency::Fresh`], [`Outcome`]; the request's scope (once per request, teardowns), overrides, router and App checks |
//! | `background.rs` | [`BackgroundTasks`]: the request's queue, run after its body, waited for at shutdown |
//! | [`middleware`] | [`middleware::Next`], [`middleware::from_fn`], [`middleware::Timeout`], [`middleware::Compression`], [`middleware::RouteLayer`]; how layers are kept, stacked once per worker and run |
//! | `exception.rs` | [`Exception`], [`App::exception_handler`], [`App::status_handler`] |
//! | [`handler`] | [`Handler`], [`HandlerKind`], [`sync`], [`on_pool`], [`BlockingHandler`] |
//! | [`health`] | [`health::HealthChecks`]: liveness and readiness routes from the server's [`ServerHealth`](kairos_http::server::ServerHealth) ([`App::health_checks`]) |
//! | `worker.rs` | [`WorkerContext`]: a worker's sync limiter, sync pool and the states its lifespans made |
//! | [`extract`] | [`FromRequestParts`], [`FromRequest`], [`Path`], [`Query`], [`Headers`], [`State`], [`WorkerState`], [`ClientAddr`], [`RequestUrl`] |
//! | [`cookies`] | [`cookies::CookieJar`], [`cookies::SignedCookieJar`], [`cookies::PrivateCookieJar`], [`cookies::CookieKeys`], [`Cookies`]; reading leniently, the defaults, writing `Set-Cookie` |
//! | [`session`] | [`session::SessionLayer`] and [`session::Session`]: a session in one encrypted cookie |
//! | `json.rs` | [`Json`], in and out |
//! | `form.rs` | [`Form`]: an HTML form's fields into a validated model |
//! | [`multipart`] | [`Multipart`] (parts streamed), [`FormData`], [`UploadFile`] (spooled to memory or disk, removed on drop), [`MultipartConfig`] and a route's [`multipart::MultipartLimits`], [`multipart::MultipartError`] |
//! | [`validation`] | the model of a type (its JSON Schema, compiled once), pydantic's 422 items, lax reading, [`Valid`] and [`Validate`] |
//! | [`openapi`] | the OpenAPI document of the route table ([`openapi::Operation`], what each route writes into it), route metadata ([`openapi::RouteDocs`]), the docs pages and their vendored assets ([`openapi::DocsConfig`]; `assets/`) |
//! | [`response`] | [`IntoResponse`], [`Html`], header tuples, [`InvalidHeader`] |
//! | `error.rs` | [`HttpError`]: every error as `{"detail": ...}` |
//! | `streaming.rs` | [`StreamingResponse`] |
//! | `static_files/` | [`StaticFiles`] and [`App::mount_static`]: a directory served under a prefix (paths checked, files resolved on the default executor, validators and conditional requests, ranges, precompressed variants, streamed bodies) |
//! | [`sse`] | [`Sse`], [`sse::Event`] |
//! | [`websocket`] | [`WebSocketUpgrade`] (the handshake, as an extractor) and [`WebSocket`] (a session's socket): a task on the loop per socket, backpressure, close codes |
//! | `test_client.rs` | [`TestClient`] and its responses and streams |
//! | [`metrics`] | [`App::metrics`] and [`metrics::expose`]: requests by route template, each worker's loop and server, thread pools, in Prometheus' text format |
#![forbid(unsafe_code)]

mod api_router;
mod app;
mod background;
pub mod cookies;
pub mod dependency;
mod error;
mod exception;
pub mod extract;
mod form;
pub mod handler;
mod header_list;
pub mod health;
mod json;
mod lifespan;
mod logging;
pub mod metrics;
pub mod middleware;
pub mod multipart;
pub mod openapi;
pub mod response;
mod router;
pub mod security;
pub mod session;
pub mod sse;
mod static_files;
mod streaming;
mod test_client;
pub mod validation;
pub mod websocket;
mod worker;

pub use api_router::{ApiRouter, DocumentedResponse};
pub use app::{App, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SYNC_TOKENS};
pub use background::{BackgroundTasks, TaskOutput};
pub use cookies::Cookies;
pub use dependency::{Dependency, Depends, Outcome};
pub use error::{HttpError, ValidationItem};
pub use exception::Exception;
pub use extract::{
    ClientAddr, FromRequest, FromRequestParts, Headers, Path, Query, RequestUrl, State, WorkerState,
};
pub use form::Form;
pub use handler::{
    on_pool, sync, BlockingHandler, Handler, HandlerKind, PoolHandler, ResponseFuture,
    RunsBlocking, SyncHandler, SyncPool,
};
pub use json::Json;
pub use lifespan::{HookName, LifespanScope, ServeError, StartupError};
pub use multipart::{FormData, Multipart, MultipartConfig, UploadFile};
pub use response::{Html, IntoResponse, InvalidHeader};
pub use router::RouteInfo;
pub use sse::Sse;
pub use static_files::StaticFiles;
pub use streaming::{IntoChunk, StreamingResponse};
pub use test_client::{SseEvent, TestClient, TestRequest, TestResponse, TestStream};
pub use validation::{Valid, Validate};
pub use websocket::{WebSocket, WebSocketUpgrade};
pub use worker::{WorkerContext, SYNC_THREAD_PREFIX};

/// A request as handlers see it.
pub type Request = kairos_http::Request;
/// A response as handlers return it.
pub type Response = kairos_http::Response;

pub use bytes::Bytes;
pub use http;
pub use kairos_http;
pub use kairos_rt as rt;
pub use schemars;
