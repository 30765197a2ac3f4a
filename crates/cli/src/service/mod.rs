//! The chapter's service, the app behind `kairos serve`: one route per idea of the chapter,
//! each answering JSON that shows the idea happen (timings, thread names, counts).
//!
//! | module | routes |
//! |---|---|
//! | `basics.rs` | `/plaintext`, `/json`, `/async`, `/sync`, `/bad`, `/good` |
//! | `concurrency.rs` | `/sequential`, `/concurrent`, `/gather`, `/wait_for`, `/counter` |
//! | `cpu.rs` | `/cpu` on a process pool, a thread pool or the loop itself |
//! | `external.rs` | `/external`: outbound calls under a semaphore, this process's or the fleet's (Redis) |
//! | `stream.rs` | `/stream`: server-sent events from an async generator |
//! | `index.rs` | `/` (the dashboard: the chapter's experiments run from the page, each with its timeline) and `/debug/loop` |
//! | `trace.rs` | `/debug/trace`: the loops' recording as a Trace Event Format file |
//! | `timeline.rs` | `/debug/timeline` (the loops, live) and the timeline renderer at `/assets/` |
//! | `fanout.rs` | `/fanout`: many requests at once to a sleep route, from the server itself |
//! | `metrics.rs` | `/metrics`: every worker's requests, loop and pools for Prometheus |
//! | `items.rs` | `/items`: a CRUD resource in the database (`database.rs`: SQLite by default, PostgreSQL by URL) |
//! | `cached.rs` | `/cached`: a slow loader behind the cache, run once per key |
//! | `db_lesson.rs` | `/db/async`, `/db/sync`, `/db/bad`: one query, three ways to run a driver |
//! | `contract.rs` | `POST /contract`: a validated body through two dependencies (the contract benchmark) |
//! | `auth.rs` | `POST /users`, `POST /token`, `GET /users/me`, `POST /login/bad`: users, tokens and the password hash off the loop |
//! | `websocket.rs` | `/ws/echo` and `/ws/ticks`: WebSockets, each a task on the loop |
//!
//! Every route is documented at `/docs` (Swagger UI), `/redoc` and `/openapi.json`, served by
//! kairos-web from the route table: its parameters and their ranges from the query types
//! below, its summary and example from the index's line about it ([`index::ROUTES`]), its
//! group from the chapter's section.
//!
//! Every numeric parameter has a range, declared on its route's query type with
//! `#[schemars(range(...))]` beside its default (`#[serde(default = ...)]`): the server is meant
//! to be poked at by anyone following the chapter, so no request may sleep for an hour or spawn
//! a million tasks. kairos-web checks the query against the schema those declarations make, so
//! a value outside its range gets FastAPI's 422, as one that is not a number does — every bad
//! parameter of the request listed at once. A rule across parameters (a whole request's
//! duration) is a [`Validate`](kairos::web::Validate) impl on the query type.

mod auth;
mod basics;
mod cached;
mod concurrency;
mod contract;
mod cpu;
pub(crate) mod database;
mod db_lesson;
mod external;
mod fanout;
mod index;
mod items;
mod metrics;
mod middleware;
mod stream;
mod timeline;
mod trace;
mod upload;
mod websocket;

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kairos::web::health::HealthChecks;
use kairos::web::http::{HeaderValue, StatusCode};
use kairos::web::openapi::{DocsConfig, Documented, RouteDocs};
use kairos::web::security::{JwtKeys, Passwords};
use kairos::web::validation::Errors;
use kairos::web::{sync, ApiRouter, App, Handler, HttpError, StaticFiles};

pub(crate) use cpu::{CPU_TASK, MAX_N};
pub(crate) use timeline::{TIMELINE_CSS, TIMELINE_JS};

/// The longest sleep a request may ask for, in milliseconds (`ms`, `work_ms`, ...).
pub(crate) const MAX_MS: u64 = 10_000;

/// The longest a single request may be asked to last in total (`/stream`, `/external`):
/// each parameter alone is bounded, and so is their product, so no request can hold a
/// connection and a concurrency slot for hours.
pub(crate) const MAX_TOTAL_MS: u64 = 60_000;

/// Adds FastAPI's 422 item for a combination of parameters that asks for more than
/// `MAX_TOTAL_MS`, at parameter `name`.
pub(crate) fn total_within(errors: &mut Errors, name: &str, total_ms: u64) {
    if total_ms > MAX_TOTAL_MS {
        errors.add(
            [name],
            format!(
                "the request would last {total_ms} ms; the parameters together may ask for at \
                 most {MAX_TOTAL_MS} ms"
            ),
            total_ms,
        );
    }
}

/// The default of an integer parameter, for `#[serde(default = "int::<N>")]`.
pub(crate) const fn int<const N: u64>() -> u64 {
    N
}

/// What the service needs from the command line.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Sync-pool tokens per worker (anyio's 40).
    pub(crate) sync_pool: usize,
    /// Threads of the CPU pool behind `/cpu?pool=thread`.
    pub(crate) cpu_pool: usize,
    /// Worker processes of each loop's pool behind `/cpu?pool=process`.
    pub(crate) process_pool: usize,
    /// Base URL that `/external` calls (its `/async?ms=` route); never taken from a request.
    pub(crate) upstream: Upstream,
    /// The database behind `/items`: `sqlite:...` or `postgres://...`.
    pub(crate) database_url: String,
    /// Connections in the database pool (shared by every worker).
    pub(crate) database_pool: u32,
    /// The cache behind `/cached`: `memory://` or `redis://...`; a Redis here is also the
    /// fleet's, behind `/external?scope=fleet` and `rate`.
    pub(crate) cache_url: String,
    /// How long a fleet permit of `/external?scope=fleet` lasts unless renewed: a killed
    /// instance's permits come back after at most this long.
    pub(crate) fleet_lease: std::time::Duration,
    /// The origins whose pages may call the service (`--cors-origin`; `*` for any).
    pub(crate) cors_origins: Vec<HeaderValue>,
    /// The directory served at `/static/` (the index page's style and script).
    pub(crate) static_dir: PathBuf,
    /// A certificate (PEM) `/external`'s client trusts beside the platform's roots: this
    /// server's own when it serves TLS, so that it can call itself.
    pub(crate) trusted_certificate: Option<Arc<[u8]>>,
    /// The secret tokens are signed with (`--jwt-secret`); `None`: a random one per start.
    pub(crate) jwt_secret: Option<String>,
    /// Secrets that signed tokens before `jwt_secret` did, still taken (`--jwt-previous-secret`).
    pub(crate) jwt_previous_secrets: Vec<String>,
    /// Usernames that get the admin right when they register (`--admin`).
    pub(crate) admins: Vec<String>,
    /// The prefix a proxy strips (`--root-path`): `""`, or a path such as `/api`.
    pub(crate) root_path: String,
    /// Where liveness and readiness are answered (`--liveness-path`, `--readiness-path`).
    pub(crate) liveness_path: Option<String>,
    pub(crate) readiness_path: Option<String>,
    /// Whether the health checks' requests are in the access log (`--log-health-checks`).
    pub(crate) log_health_checks: bool,
    /// Whether requests are counted and `/metrics` served (`--no-metrics` turns both off).
    pub(crate) metrics: bool,
}

/// Where the index page's assets are: `crates/cli/static` of the source tree the binary was
/// built from (`--static-dir` for a binary moved elsewhere).
pub(crate) const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/static");

/// Where `/external` sends its calls: a base URL from the command line, or this server itself.
///
/// This server's URL is known only once it listens (`--bind 127.0.0.1:0` asks the kernel for a
/// port), and the app is built before that; so the URL is a cell, shared by every clone of the
/// settings, that [`Upstream::listening_on`] fills right after the bind. Probing for a free port
/// first and binding it afterwards would race with every other process on the machine.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upstream(Arc<OnceLock<String>>);

impl Upstream {
    /// A base URL given on the command line (`http://host:port`, no trailing slash).
    pub(crate) fn fixed(url: String) -> Upstream {
        Upstream(Arc::new(OnceLock::from(url)))
    }

    /// This server, once it listens.
    pub(crate) fn this_server() -> Upstream {
        Upstream::default()
    }

    /// Records the address the server got and its scheme (`http` or `https`); an upstream
    /// already set (`fixed`) stays as it is.
    pub(crate) fn listening_on(&self, scheme: &str, addr: SocketAddr) {
        // A wildcard address is not something to connect to: call ourselves on loopback.
        let host = if addr.ip().is_unspecified() {
            SocketAddr::new([127, 0, 0, 1].into(), addr.port())
        } else {
            addr
        };
        let _ = self.0.set(format!("{scheme}://{host}"));
    }

    /// The base URL, or a 503 in the instant between the bind and `listening_on`, before
    /// anyone has been told where the server listens.
    pub(crate) fn url(&self) -> Result<&str, HttpError> {
        self.0.get().map(String::as_str).ok_or_else(|| {
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this server does not know a TCP address of its own yet (it is starting, or \
                 listens on a Unix socket: start it with --upstream http://HOST:PORT)",
            )
        })
    }
}

impl Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get().map_or("this server", String::as_str))
    }
}

/// The tags `/docs` groups the routes under: the chapter's ideas.
const BASELINE: &str = "baselines";
const WHERE: &str = "where a route runs (3.1, 4.1)";
const TASKS: &str = "tasks and awaiting (1.3, 2)";
const CPU: &str = "CPU work (6)";
const OUTBOUND: &str = "outbound calls (6.3)";
const STREAMS: &str = "streaming (7)";
const DEBUG: &str = "the loop";
const DATA: &str = "database and cache (4.2, 5.1, next steps)";
const INDEX: &str = "index";
const USERS: &str = "users and logins (next steps)";

/// `handler` documented for `/docs` from the index's line about `path` (its summary) and the
/// example there (its description), under `tag`: what the index says is said once.
fn documented<H: Handler<T>, T>(handler: H, path: &str, tag: &str) -> Documented<H, T> {
    let (example, kind, what) = index::ROUTES
        .iter()
        .find(|(example, ..)| example.split('?').next() == Some(path))
        .unwrap_or_else(|| panic!("the index lists every route, but not {path}"));
    handler
        .summary(*what)
        .tag(tag)
        .description(format!("Runs on: {kind}. Try it: [`{example}`]({example})."))
}

/// The service's app: every route of the chapter, each documented at `/docs`.
pub(crate) fn app(settings: Settings) -> App {
    // The CPU pool is shared by all workers: threads run in parallel (no GIL), so one pool
    // sized to the cores is the whole machine's CPU budget.
    let cpu_pool = kairos::rt::ThreadPool::builder()
        .max_workers(settings.cpu_pool)
        .thread_name_prefix("kairos-cpu")
        .build();
    // Password hashes run on the same CPU pool: they are CPU work like `/cpu`'s.
    let password_pool = cpu_pool.clone();
    let sync_tokens = settings.sync_pool;
    let data_settings = settings.clone();
    let cors_origins = settings.cors_origins.clone();
    let static_dir = settings.static_dir.clone();
    let trusted = settings.trusted_certificate.clone();
    let health = HealthChecks {
        liveness: settings.liveness_path.clone(),
        readiness: settings.readiness_path.clone(),
    };
    // What the access log leaves out: the health checks, unless asked.
    let unlogged: Vec<String> = if settings.log_health_checks {
        Vec::new()
    } else {
        health.liveness.iter().chain(&health.readiness).cloned().collect()
    };
    let root_path = settings.root_path.clone();
    let app = App::new()
        .root_path(&root_path)
        .health_checks(health)
        .docs(DocsConfig {
            title: "kairos: the FastAPI async chapter, served".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: Some(
                "One route per idea of the chapter, each answering JSON that shows the idea \
                 happen. Every parameter has a range; a request outside it gets FastAPI's 422."
                    .into(),
            ),
            ..DocsConfig::default()
        })
        .with_state(settings)
        .sync_tokens(sync_tokens)
        .get(
            "/",
            index::index
                .summary("The dashboard: each experiment of the chapter run, with its timeline")
                .tag(INDEX),
        )
        .get("/plaintext", documented(basics::plaintext, "/plaintext", BASELINE))
        .get("/json", documented(basics::json, "/json", BASELINE))
        .get("/async", documented(basics::async_sleep, "/async", WHERE))
        .get("/sync", documented(sync(basics::sync_sleep), "/sync", WHERE))
        .get("/bad", documented(basics::bad, "/bad", WHERE))
        .get("/good", documented(basics::good, "/good", WHERE))
        .get("/sequential", documented(concurrency::sequential, "/sequential", TASKS))
        .get("/concurrent", documented(concurrency::concurrent, "/concurrent", TASKS))
        .get(
            "/gather",
            documented(concurrency::gather, "/gather", TASKS).error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A step failed and `return_exceptions` is false: its error is the detail",
            ),
        )
        .get("/wait_for", documented(concurrency::wait_for, "/wait_for", TASKS))
        .get("/counter", documented(concurrency::counter, "/counter", TASKS))
        .with_state(cpu::CpuPool(cpu_pool))
        .worker_state(cpu::WorkerProcessPool::default)
        .get("/cpu", documented(cpu::cpu, "/cpu", CPU).response::<cpu::CpuAnswer>(StatusCode::OK))
        // One HTTP client per worker loop (a `Client` belongs to one loop, like
        // `httpx.AsyncClient`), so calls reuse pooled connections across requests instead of
        // opening `limit` new ones each time.
        .worker_state(move || match &trusted {
            // Checked when the server starts (main.rs), so it parses here.
            Some(pem) => kairos::http::Client::with_config(
                kairos::http::ClientConfig::default()
                    .with_root_pem(pem)
                    .expect("the served certificate was read before"),
            ),
            None => kairos::http::Client::new(),
        })
        .get(
            "/external",
            documented(external::external, "/external", OUTBOUND)
                .error(StatusCode::BAD_GATEWAY, "A call to the upstream failed")
                .error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "More than `rate` requests per second across the fleet: `Retry-After` \
                     says when to retry",
                )
                .error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "`scope=fleet` or `rate` without the fleet's Redis (start with \
                     `--cache-url redis://HOST:PORT`), Redis unavailable, or the fleet's \
                     permits busy for 60 s",
                ),
        )
        .get("/stream", documented(stream::stream, "/stream", STREAMS))
        // WebSocket routes: not in the OpenAPI document (no HTTP operation), as FastAPI's.
        .get("/ws/echo", websocket::echo)
        .get("/ws/ticks", websocket::ticks)
        .get(
            "/fanout",
            documented(fanout::fanout, "/fanout", WHERE)
                .error(StatusCode::BAD_GATEWAY, "A request of the fan-out failed"),
        )
        .get("/debug/loop", documented(index::debug_loop, "/debug/loop", DEBUG))
        .get("/debug/trace", documented(trace::debug_trace, "/debug/trace", DEBUG))
        .get(
            "/debug/request",
            documented(index::debug_request, "/debug/request", DEBUG)
                .response::<index::SeenRequest>(StatusCode::OK),
        )
        .get("/debug/timeline", documented(timeline::live, "/debug/timeline", DEBUG))
        .get("/assets/timeline.js", timeline::script.hidden())
        .get("/assets/timeline.css", timeline::style.hidden())
        .post(
            "/upload",
            upload::upload
                .summary("The index page's upload: a file's size and SHA-256")
                .description(
                    "FastAPI's `UploadFile`: kept in memory up to 1 MiB, spooled to a \
                     temporary file past it (removed once answered), hashed on a pool thread.",
                )
                .tag(INDEX)
                .response::<upload::Uploaded>(StatusCode::OK),
        )
        .mount_static("/static", StaticFiles::new(&static_dir));
    let app = users(data(app, &data_settings), &data_settings, password_pool);
    let app = if data_settings.metrics {
        // Documented beside /debug/loop rather than hidden: it is the same numbers for a
        // machine, and someone following the chapter finds it in /docs and the index.
        app.metrics(metrics::metrics())
            .get("/metrics", documented(kairos::web::metrics::expose, "/metrics", DEBUG))
    } else {
        app
    };
    middleware::around(app, &cors_origins, unlogged.into())
}

/// A token key's id (`kid`): the first 8 bytes of its secret's SHA-256, in hex — the same on
/// every instance given the secret, and telling nothing of it.
pub(crate) fn key_id(secret: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret)[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Users, tokens and the login lesson (`auth.rs`): the keys, the hasher on the CPU pool and
/// the login counters in the service's cache (its own connection, namespace `login`).
fn users(app: App, settings: &Settings, cpu_pool: kairos::rt::ThreadPool) -> App {
    let signing = match &settings.jwt_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            // A random secret: tokens last until this server stops, and another instance
            // does not take them (give every instance one --jwt-secret).
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).expect("the operating system's random generator");
            secret.to_vec()
        }
    };
    // Previous secrets verify the tokens they signed until those expire (rotation); each
    // key is named by its secret's digest, so every instance names it alike.
    let mut keys = JwtKeys::hs256(&key_id(&signing), &signing);
    for previous in &settings.jwt_previous_secrets {
        keys = keys.rotate_to(&key_id(previous.as_bytes()), previous.as_bytes());
    }
    let keys = keys.rotate_to(&key_id(&signing), &signing);
    let passwords = Passwords::new(cpu_pool);
    let admins: Arc<[String]> = settings.admins.clone().into();
    let cache_url = settings.cache_url.clone();
    app.lifespan(
        move || {
            let (url, keys, passwords, admins) =
                (cache_url.clone(), keys.clone(), passwords.clone(), Arc::clone(&admins));
            async move {
                let limits = kairos_cache::Cache::from_url(&url).await?.namespace("login");
                Ok::<_, kairos_cache::CacheError>(auth::Auth { keys, passwords, limits, admins })
            }
        },
        |_auth: Arc<auth::Auth>| async {},
    )
    .post(
        "/users",
        auth::register
            .summary("Register a user")
            .tag(USERS)
            .status_code(StatusCode::CREATED)
            .response::<auth::User>(StatusCode::CREATED)
            .error(StatusCode::CONFLICT, "The username is taken"),
    )
    .post(
        "/token",
        auth::token
            .summary("Log in: a bearer token for a username and password")
            .description(
                "OAuth2's password flow (the form `/docs`' Authorize dialog sends). The \
                 password is checked on the CPU pool, and against a decoy for an unknown user, \
                 so both take the same time. Failed logins are limited per user and per \
                 client address.",
            )
            .tag(USERS)
            .response::<auth::Token>(StatusCode::OK)
            .error(StatusCode::UNAUTHORIZED, "Incorrect username or password")
            .error(StatusCode::TOO_MANY_REQUESTS, "Too many login attempts"),
    )
    .get(
        "/users/me",
        auth::me
            .summary("Who the token is for")
            .tag(USERS)
            .response::<auth::User>(StatusCode::OK)
            .error(StatusCode::FORBIDDEN, "The token does not carry the me scope"),
    )
    .post(
        "/login/bad",
        auth::login_bad
            .summary("/token with the password checked on the loop (the chapter's mistake)")
            .description(
                "Every other request of the worker waits each hash out (~20 ms). Under \
                 asyncio's 100 ms threshold one hash goes unreported: start with \
                 `--slow-callback-ms 10` to see the stall detector name this route.",
            )
            .tag(USERS)
            .response::<auth::Token>(StatusCode::OK)
            .error(StatusCode::UNAUTHORIZED, "Incorrect username or password"),
    )
}

/// `/items`: one router (FastAPI's `APIRouter(prefix="/items", tags=[...], responses=...)`),
/// every route of it tagged and documented with the 503 the database's absence gives.
fn items_router() -> ApiRouter {
    ApiRouter::new()
        .prefix("/items")
        .tag(DATA)
        .response(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable")
        .response(StatusCode::FORBIDDEN, "The token carries neither the items nor the admin scope")
        .post(
            "/",
            items::create
                .summary("Store an item")
                .status_code(StatusCode::CREATED)
                .response::<items::Item>(StatusCode::CREATED),
        )
        .get(
            "/",
            items::list.summary("A page of items").response::<Vec<items::Item>>(StatusCode::OK),
        )
        .get(
            "/{id}",
            items::read
                .summary("One item")
                .response::<items::Item>(StatusCode::OK)
                .error(StatusCode::NOT_FOUND, "No such item"),
        )
        .put(
            "/{id}",
            items::replace
                .summary("Replace an item")
                .response::<items::Item>(StatusCode::OK)
                .error(StatusCode::NOT_FOUND, "No such item"),
        )
        .delete(
            "/{id}",
            items::delete
                .summary("Delete an item")
                .status_code(StatusCode::NO_CONTENT)
                .error(StatusCode::NOT_FOUND, "No such item"),
        )
}

/// Table 4.2's database and the chapter's next step, a cache: each opened once for the App at
/// startup (a failure stops the server with its message), shared by every worker.
fn data(app: App, settings: &Settings) -> App {
    let (url, size) = (settings.database_url.clone(), settings.database_pool);
    let cache_url = settings.cache_url.clone();
    let fleet_url = settings.cache_url.clone();
    app.lifespan(
        // sqlx is a tokio library: the startup's short-lived loop enters the bridge's runtime.
        move || {
            let url = url.clone();
            kairos::tokio::compat(async move { database::Database::open(&url, size).await })
        },
        |db: Arc<database::Database>| kairos::tokio::compat(async move { db.pool.close().await }),
    )
    .lifespan(
        move || {
            let url = cache_url.clone();
            // `/cached`'s keys in a namespace of their own, made once here, not per request.
            async move {
                Ok::<_, kairos_cache::CacheError>(
                    kairos_cache::Cache::from_url(&url).await?.namespace("cached"),
                )
            }
        },
        |_cache: Arc<kairos_cache::Cache>| async {},
    )
    .lifespan(
        move || {
            let url = fleet_url.clone();
            // The fleet's limits live in the cache's Redis, when the cache is one.
            async move {
                let fleet = if url.starts_with("redis://") || url.starts_with("rediss://") {
                    Some(kairos_cache::Fleet::connect(&url).await?)
                } else {
                    None
                };
                Ok::<_, kairos_cache::FleetError>(external::FleetLimits(fleet))
            }
        },
        |_fleet: Arc<external::FleetLimits>| async {},
    )
    .lifespan(
        || kairos::tokio::compat(db_lesson::LessonDb::open()),
        |db: Arc<db_lesson::LessonDb>| kairos::tokio::compat(async move { db.0.close().await }),
    )
    // Handlers that read a database return `Result<_, DataError>`: answered here, once.
    .exception_handler(database::answer)
    .with_state(cached::Loads::default())
    .include_router(items_router())
    .get("/cached", documented(cached::cached, "/cached", DATA))
    .get("/db/async", documented(db_lesson::db_async, "/db/async", DATA))
    .get("/db/sync", documented(sync(db_lesson::db_sync), "/db/sync", DATA))
    .get("/db/bad", documented(db_lesson::db_bad, "/db/bad", DATA))
    .post("/contract", contract::documented(contract::contract))
}
