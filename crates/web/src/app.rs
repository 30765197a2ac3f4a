//! [`App`]: routes, state and settings, and the service each worker runs.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};
use http_body::Body as HttpBody;
use kairos_http::server::WorkerService;
use kairos_http::{BoxError, RunningServer, Server, ServerConfig, ServerError};
use tower_layer::Layer;
use tower_service::Service;

use crate::api_router::RouterOptions;
use crate::dependency::RouteDependency;
use crate::exception::ExceptionHandlers;
use crate::extract::{RouteContext, StateMap};
use crate::handler::{erase, Handler, ResponseFuture};
use crate::lifespan::{
    self, Lifespan, LifespanScope, ServeError, SharedValue, StartupError, WorkerValue,
};
use crate::metrics::{Counted, Metrics, RequestCounts};
use crate::middleware::{self, BoxedLayer, Next};
use crate::openapi::DocsConfig;
use crate::response::IntoResponse;
use crate::router::{Lookup, Route, RouteInfo, Router};
use crate::worker::WorkerContext;
use crate::{HttpError, Request, Response};

/// anyio's default thread limiter: 40 tokens.
pub const DEFAULT_SYNC_TOKENS: usize = 40;
/// How long a request may wait for a sync token before it gets `503`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A web application: routes by method and path, shared state, lifespans, and the settings of
/// its sync pool. Build it with the chained methods, then run it with [`serve`](App::serve),
/// or test it with a [`TestClient`](crate::TestClient).
///
/// Registering is cheap and happens once; a bad route (a conflicting pattern, the same method
/// twice) panics at once with what to change.
#[derive(Clone)]
pub struct App {
    pub(crate) router: Router,
    pub(crate) states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Run before every route's handler ([`App::dependency`]).
    pub(crate) dependencies: Vec<RouteDependency>,
    /// [`App::exception_handler`], [`App::status_handler`].
    pub(crate) exceptions: ExceptionHandlers,
    /// Middleware around the whole App, outermost first ([`App::layer`]).
    layers: Vec<BoxedLayer>,
    lifespans: Vec<Lifespan<SharedValue>>,
    worker_lifespans: Vec<Lifespan<WorkerValue>>,
    sync_tokens: usize,
    request_timeout: Duration,
    docs: DocsConfig,
    /// The prefix a proxy strips before the App sees a path ([`App::root_path`]).
    root_path: Option<Arc<str>>,
    /// [`App::metrics`].
    metrics: Option<Metrics>,
}

/// The service an [`App`] becomes on each worker: its answers, counted if the App is
/// instrumented ([`App::metrics`]).
type AppService = Box<dyn Fn(Request) -> Counted>;

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An App with no routes, no state, 40 sync tokens and a 30 s request timeout.
    pub fn new() -> App {
        App {
            router: Router::default(),
            states: HashMap::new(),
            dependencies: Vec::new(),
            exceptions: ExceptionHandlers::default(),
            layers: Vec::new(),
            lifespans: Vec::new(),
            worker_lifespans: Vec::new(),
            sync_tokens: DEFAULT_SYNC_TOKENS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            docs: DocsConfig::default(),
            root_path: None,
            metrics: None,
        }
    }

    /// Adds health-check routes: liveness and readiness at the paths `checks` gives
    /// (`HealthChecks::default()`: `/healthz` and `/readyz`), documented in OpenAPI. See
    /// [`HealthChecks`](crate::health::HealthChecks) for what each answers.
    ///
    /// ```
    /// use kairos_web::health::HealthChecks;
    /// use kairos_web::{App, TestClient};
    ///
    /// let client = TestClient::new(App::new().health_checks(HealthChecks::default()));
    /// let ready: serde_json::Value = client.get("/readyz").send().json();
    /// assert_eq!(ready["status"], "ready");
    /// let alive: serde_json::Value = client.get("/healthz").send().json();
    /// assert_eq!(alive["workers"], 1);
    /// ```
    pub fn health_checks(self, checks: crate::health::HealthChecks) -> App {
        crate::health::add(self, &checks)
    }

    /// Serves the App behind a proxy that strips `prefix` from every path (FastAPI's and
    /// uvicorn's `root_path`): nginx's `location /api/ { proxy_pass http://app/; }` sends
    /// `/api/items` here as `/items`. Routes stay as written; what goes back to the browser
    /// gets the prefix: the OpenAPI document's `servers` (so `/docs` calls `/api/items`), the
    /// URL `/docs` and `/redoc` load the document and their scripts from, an OAuth2 token
    /// URL that is a path, and [`RequestUrl`](crate::RequestUrl). A redirect the App makes
    /// itself (a static directory's missing slash) is relative, so it holds under any prefix.
    ///
    /// `prefix` starts with `/` and has no trailing `/` (one is removed); `""` or `"/"`
    /// means none.
    ///
    /// ```
    /// use kairos_web::App;
    ///
    /// let app = App::new().root_path("/api/v1/");
    /// assert_eq!(app.openapi()["servers"][0]["url"], "/api/v1");
    /// ```
    ///
    /// # Panics
    ///
    /// If `prefix` is not empty and does not start with `/`.
    pub fn root_path(mut self, prefix: &str) -> App {
        let prefix = prefix.trim_end_matches('/');
        assert!(
            prefix.is_empty() || prefix.starts_with('/'),
            "the root path {prefix:?} must start with / (such as /api), or be empty for none"
        );
        self.root_path = (!prefix.is_empty()).then(|| Arc::from(prefix));
        self
    }

    /// Adds shared state, read by handlers with [`State<S>`](crate::State). One value per type
    /// (a second of the same type replaces the first); it lives in an `Arc`, shared by every
    /// worker.
    pub fn with_state<S: Send + Sync + 'static>(mut self, state: S) -> App {
        self.states.insert(TypeId::of::<S>(), Arc::new(state));
        self
    }

    /// Adds a lifespan to the App (FastAPI's `lifespan`, once per app): `startup` runs once,
    /// on a short-lived loop on the thread that calls [`serve`](App::serve), before any
    /// worker starts; its value is shared state, read by handlers with
    /// [`State<T>`](crate::State). `shutdown` gets that value back once every worker has
    /// stopped (after the graceful drain and the workers' own shutdowns). One lifespan per
    /// type (a second of the same type replaces the first); startups run in the order they
    /// were first added, shutdowns in the reverse order.
    ///
    /// A `startup` that returns an error or panics stops [`serve`](App::serve) before anything
    /// is served, with a [`ServeError::Startup`] that names it and says why; the lifespans
    /// that had started are shut down. `E` is any error (`io::Error`, `String`, a `Box<dyn
    /// Error>`...); with `?` in a closure, say which: `Ok::<_, io::Error>(value)`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use kairos_web::{App, State, TestClient};
    ///
    /// struct Settings { greeting: String, served: AtomicU64 }
    ///
    /// async fn load_settings() -> std::io::Result<Settings> {
    ///     // Read a file, ask a configuration service...: async, and it may fail.
    ///     Ok(Settings { greeting: "hello".into(), served: AtomicU64::new(0) })
    /// }
    /// async fn report(settings: Arc<Settings>) {
    ///     eprintln!("served {} greetings", settings.served.load(Ordering::Relaxed));
    /// }
    /// async fn greet(State(settings): State<Settings>) -> String {
    ///     settings.served.fetch_add(1, Ordering::Relaxed);
    ///     settings.greeting.clone()
    /// }
    ///
    /// let app = App::new().lifespan(load_settings, report).get("/", greet);
    /// let client = TestClient::new(app);
    /// assert_eq!(client.get("/").send().text(), "hello");
    /// ```
    pub fn lifespan<T, Start, StartFut, E, Stop, StopFut>(
        mut self,
        startup: Start,
        shutdown: Stop,
    ) -> App
    where
        T: Send + Sync + 'static,
        Start: Fn() -> StartFut + Send + Sync + 'static,
        StartFut: Future<Output = Result<T, E>> + 'static,
        E: Into<BoxError>,
        Stop: Fn(Arc<T>) -> StopFut + Send + Sync + 'static,
        StopFut: Future<Output = ()> + 'static,
    {
        lifespan::add(&mut self.lifespans, Lifespan::shared(startup, shutdown));
        self
    }

    /// Adds a lifespan to each worker (uvicorn runs FastAPI's `lifespan` in each worker
    /// process; a kairos worker is a thread with its loop): `startup` runs on each worker's
    /// own loop before it accepts a connection — after the App's startups — and its value is
    /// that worker's, read by `async` handlers with [`WorkerState<T>`](crate::WorkerState).
    /// `shutdown` gets the value back on the same loop once the worker has drained, before
    /// the App's shutdowns. One lifespan per type, as [`worker_state`](App::worker_state)
    /// shares (a second of the same type replaces the first); startups run in the order they
    /// were first added, shutdowns in the reverse order.
    ///
    /// This is the place for what belongs to one loop and must be opened or closed with
    /// `await`s: a `kairos_process::ProcessPool`, a [`kairos_http::Client`], a connection
    /// pool. `T` need not be `Send` (every worker makes its own), only the functions must be.
    ///
    /// [`serve`](App::serve) returns only once every worker's startups have succeeded. One
    /// that fails (an error or a panic) stops the server before anything is served: the
    /// lifespans that had started, on every worker and the App's, are shut down, and `serve`
    /// returns a [`ServeError::Startup`] naming the worker and the lifespan. A worker that
    /// replaces one whose loop died runs the startups again; if they fail then, the server
    /// logs why and tries again after 100 ms, doubling the wait up to 10 s, while the other
    /// workers serve.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use kairos_web::{App, TestClient, WorkerState};
    ///
    /// // Not Send: one per worker loop, as a connection pool would be.
    /// struct Pool { open: RefCell<Vec<u32>> }
    ///
    /// async fn open_pool() -> Result<Pool, String> {
    ///     Ok(Pool { open: RefCell::new(vec![1, 2, 3]) }) // connect, await the handshakes...
    /// }
    /// async fn close_pool(pool: Rc<Pool>) {
    ///     pool.open.borrow_mut().clear(); // close each connection, with awaits if need be
    /// }
    /// async fn connections(WorkerState(pool): WorkerState<Pool>) -> String {
    ///     format!("{} open", pool.open.borrow().len())
    /// }
    ///
    /// let app = App::new().worker_lifespan(open_pool, close_pool).get("/pool", connections);
    /// let client = TestClient::new(app);
    /// assert_eq!(client.get("/pool").send().text(), "3 open");
    /// ```
    pub fn worker_lifespan<T, Start, StartFut, E, Stop, StopFut>(
        mut self,
        startup: Start,
        shutdown: Stop,
    ) -> App
    where
        T: 'static,
        Start: Fn() -> StartFut + Send + Sync + 'static,
        StartFut: Future<Output = Result<T, E>> + 'static,
        E: Into<BoxError>,
        Stop: Fn(Rc<T>) -> StopFut + Send + Sync + 'static,
        StopFut: Future<Output = ()> + 'static,
    {
        lifespan::add(&mut self.worker_lifespans, Lifespan::worker(startup, Some(shutdown)));
        self
    }

    /// Adds per-worker state made by a plain function: a
    /// [`worker_lifespan`](App::worker_lifespan) whose startup cannot fail nor await, with no
    /// shutdown (the value is dropped on its worker's thread when the worker stops). `make`
    /// runs once on each worker, on its own thread and loop, when the worker starts (and again
    /// for a worker that replaces a dead one); its value is read by `async` handlers with
    /// [`WorkerState<T>`](crate::WorkerState).
    ///
    /// This is the place for what belongs to one loop and cannot be sent to another thread —
    /// a `kairos_process::ProcessPool`, a [`kairos_http::Client`], an
    /// `Rc<RefCell<_>>` cache: `T` need not be `Send`, only the factory must be (every worker
    /// calls it). What all workers share goes in [`with_state`](App::with_state) instead.
    ///
    /// ```
    /// use kairos_web::{App, WorkerState};
    /// use kairos_web::kairos_http::Client;
    ///
    /// // One HTTP client per worker loop, its connections reused across that worker's
    /// // requests (httpx.AsyncClient, made in a lifespan handler).
    /// async fn proxy(WorkerState(client): WorkerState<Client>) -> String {
    ///     format!("{} idle connections on this worker", client.idle_connections())
    /// }
    /// let app = App::new().worker_state(Client::new).get("/proxy", proxy);
    /// # let client = kairos_web::TestClient::new(app);
    /// # assert_eq!(client.get("/proxy").send().text(), "0 idle connections on this worker");
    /// ```
    ///
    /// A factory that panics is a failed startup, as in
    /// [`worker_lifespan`](App::worker_lifespan).
    pub fn worker_state<T, F>(mut self, make: F) -> App
    where
        T: 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        type NoShutdown<T> = fn(Rc<T>) -> std::future::Ready<()>;
        let startup = move || std::future::ready(Ok::<T, std::convert::Infallible>(make()));
        lifespan::add(&mut self.worker_lifespans, Lifespan::worker(startup, None::<NoShutdown<T>>));
        self
    }

    /// Tokens of each worker's sync limiter, and threads of its sync pool: how many sync
    /// handlers run at once per worker (default 40, anyio's).
    ///
    /// # Panics
    ///
    /// If `tokens` is 0: no sync handler could ever run.
    pub fn sync_tokens(mut self, tokens: usize) -> App {
        assert!(tokens > 0, "sync_tokens must be at least 1");
        self.sync_tokens = tokens;
        self
    }

    /// How long a sync request may wait for a token before it is answered `503` (default
    /// 30 s): a full pool makes requests wait in line, never hang.
    pub fn request_timeout(mut self, timeout: Duration) -> App {
        self.request_timeout = timeout;
        self
    }

    /// Counts every request of the App for Prometheus — by route template, method and
    /// status, with its latency — and each worker's loop and server, into `metrics`; serve
    /// them with [`metrics::expose`](crate::metrics::expose) on a route of your choice
    /// (prometheus-fastapi-instrumentator's `instrument(app)` and `expose(app)`). The
    /// [`metrics`](crate::metrics) module lists what is measured.
    ///
    /// A request is timed from the moment the App receives it to its response's head, around
    /// everything the App does for it — its [`layer`](App::layer)s included — and counted
    /// under the template of the route its path matches (`/items/{id}`, whatever the id), or
    /// [`UNMATCHED_ROUTE`](crate::metrics::UNMATCHED_ROUTE) for a path no route matches:
    /// the series stay few, whatever paths clients send. Finding the template costs one
    /// more match of the path, which allocates nothing; counting is a few cells of the
    /// worker's own loop. A request whose client leaves before its answer is not counted.
    ///
    /// ```
    /// use kairos_web::metrics::{self, Metrics};
    /// use kairos_web::{App, TestClient};
    ///
    /// let app = App::new()
    ///     .metrics(Metrics::new())
    ///     .get("/", || async { "hello" })
    ///     .get("/metrics", metrics::expose);
    /// let client = TestClient::new(app);
    /// client.get("/").send();
    /// assert!(client.get("/metrics").send().text().contains(
    ///     r#"http_request_duration_seconds_count{worker="0",route="/",method="GET"} 1"#
    /// ));
    /// ```
    pub fn metrics(mut self, metrics: Metrics) -> App {
        self = self.with_state(metrics.clone());
        self.metrics = Some(metrics);
        self
    }

    /// Adds middleware around the whole App — a [`from_fn`](crate::middleware::from_fn), a
    /// [`Timeout`](crate::middleware::Timeout), or any tower `Layer` (tower-http's
    /// `CorsLayer`, `TraceLayer`, `SetRequestIdLayer`...) — inside those added before it: the
    /// first added is outermost (Starlette's `middleware=[...]` order). App layers see every
    /// request, those that match no route included. See [`middleware`](crate::middleware)
    /// for the order, errors and costs.
    ///
    /// ```
    /// use kairos_web::{App, TestClient};
    /// use tower_http::cors::CorsLayer;
    /// use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    ///
    /// let app = App::new()
    ///     .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    ///     .layer(PropagateRequestIdLayer::x_request_id())
    ///     .layer(CorsLayer::permissive())
    ///     .get("/", || async { "hello" });
    /// let client = TestClient::new(app);
    /// let response = client.get("/").header("origin", "https://example.com").send();
    /// assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    /// assert_eq!(response.header("x-request-id").map(str::len), Some(36));
    /// ```
    pub fn layer<L, B>(mut self, layer: L) -> App
    where
        L: Layer<Next> + Send + Sync + 'static,
        L::Service: Service<Request, Response = http::Response<B>> + Clone + 'static,
        <L::Service as Service<Request>>::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(BoxedLayer::new(layer));
        self
    }

    /// Adds a route for `method` on `path` (`/items/{id}`). `handler` is an `async fn` (runs on
    /// the loop), [`sync`](crate::sync)`(f)` (the sync pool) or
    /// [`on_pool`](crate::on_pool)`(&pool, f)`.
    pub fn route<H: Handler<T>, T: 'static>(
        mut self,
        method: Method,
        path: &str,
        handler: H,
    ) -> App {
        self.router.add(method, path, erase(handler));
        self
    }

    /// A `GET` route (also answers `HEAD`).
    pub fn get<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> App {
        self.route(Method::GET, path, handler)
    }

    /// A `POST` route.
    pub fn post<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> App {
        self.route(Method::POST, path, handler)
    }

    /// A `PUT` route.
    pub fn put<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> App {
        self.route(Method::PUT, path, handler)
    }

    /// A `PATCH` route.
    pub fn patch<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> App {
        self.route(Method::PATCH, path, handler)
    }

    /// A `DELETE` route.
    pub fn delete<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> App {
        self.route(Method::DELETE, path, handler)
    }

    /// Mounts every route of `other` under `prefix` (FastAPI's `app.mount`; for a group of
    /// routes, see [`ApiRouter`](crate::ApiRouter)): `other`'s `/users/{id}` becomes
    /// `/api/users/{id}`, its `/` becomes `/api`. `other`'s dependencies run before its routes'
    /// handlers (after this App's), and its layers around its routes (inside this App's; a
    /// request that matches none of them does not reach them). `other`'s states, lifespans, worker lifespans and
    /// exception handlers are added after this App's (this App's win on a clash of types or
    /// statuses); its sync settings are not used — this App's apply.
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/` or ends with `/`, or a route clashes.
    pub fn nest(mut self, prefix: &str, other: App) -> App {
        let options = RouterOptions {
            dependencies: other.dependencies,
            layers: other.layers,
            ..RouterOptions::default()
        };
        self.router.nest(prefix, other.router.wrapped(options));
        self.exceptions.add_missing(other.exceptions);
        for (type_id, state) in other.states {
            self.states.entry(type_id).or_insert(state);
        }
        for added in other.lifespans {
            if !self.lifespans.iter().any(|l| l.type_id == added.type_id) {
                self.lifespans.push(added);
            }
        }
        for added in other.worker_lifespans {
            if !self.worker_lifespans.iter().any(|l| l.type_id == added.type_id) {
                self.worker_lifespans.push(added);
            }
        }
        self
    }

    /// The route table: method, path and handler kind of each route, in registration order.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.router.routes()
    }

    /// The OpenAPI 3.1 document of the App's routes (those marked
    /// [`hidden`](crate::openapi::RouteDocs::hidden) left out), as a served App answers it at
    /// `/openapi.json`: see [`openapi`](crate::openapi) for where each part comes from.
    pub fn openapi(&self) -> serde_json::Value {
        crate::openapi::document(&self.router, &self.docs, self.root_path.as_deref())
    }

    /// Sets the document's title, version and description, and where the App serves it and
    /// its pages (FastAPI's `FastAPI(title=..., docs_url=None, ...)`): by default
    /// `/openapi.json`, Swagger UI at `/docs` and ReDoc at `/redoc`, each turned off by a URL
    /// of `None`. The routes are added when the App starts serving, after its own (which
    /// must not take their URLs), and are not in [`routes`](App::routes) or the document.
    pub fn docs(mut self, docs: DocsConfig) -> App {
        self.docs = docs;
        self
    }

    /// Serves the App with `config` (workers, limits, address), the server's own answers
    /// (503, 413, 500) rendered as [`HttpError`]s.
    ///
    /// As uvicorn does, it logs its startup, a line per request (`ServerConfig::access_log`)
    /// and errors to stderr — at INFO, or as `RUST_LOG` says — unless the program has
    /// installed a `tracing` subscriber of its own (install
    /// `tracing::subscriber::NoSubscriber` for no log at all).
    ///
    /// It runs the App's lifespan startups, then
    /// starts the workers, each running its worker lifespans' startups on its loop; returns
    /// once every worker accepts connections. Stop the server with
    /// [`RunningServer::shutdown`] (or SIGINT/SIGTERM, after
    /// `running.shutdown_handle().on_signals()`); [`RunningServer::wait`] returns once the
    /// workers have drained and every lifespan has shut down.
    ///
    /// # Errors
    ///
    /// [`ServeError::Io`] if the address cannot be bound; [`ServeError::Startup`] if a
    /// lifespan's startup failed, naming it and its error — nothing was served then, and the
    /// lifespans that had started were shut down. A program that cannot serve should exit
    /// with the message and a non-zero status (uvicorn: "Application startup failed.
    /// Exiting.", status 3).
    ///
    /// # Panics
    ///
    /// If the App has [`lifespan`](App::lifespan)s and this thread already runs a kairos
    /// loop: their startups run on a loop of their own, here.
    pub fn serve(self, config: ServerConfig) -> Result<RunningServer, ServeError> {
        crate::logging::install_default();
        self.start(config)
    }

    /// Runs the App's startups and starts the server: [`serve`](App::serve) without the
    /// default log, for the [`TestClient`](crate::TestClient).
    pub(crate) fn start(self, config: ServerConfig) -> Result<RunningServer, ServeError> {
        let App {
            mut router,
            mut states,
            dependencies,
            exceptions,
            layers,
            lifespans,
            worker_lifespans,
            sync_tokens,
            request_timeout,
            docs,
            root_path,
            metrics,
        } = self;
        crate::openapi::mount(&mut router, &docs, root_path.as_deref());
        let metrics = metrics.map(|metrics| (metrics, router.templates().into()));
        let chains = router.number_chains();
        tracing::info!(target: "kairos::web", "waiting for application startup");
        // No loop is made for an App without lifespans: serving it from a thread that runs
        // a loop of its own stays possible.
        let started = if lifespans.is_empty() {
            Vec::new()
        } else {
            config.loop_builder().run(lifespan::start_all(&lifespans, LifespanScope::App))?
        };
        for (lifespan, value) in &started {
            states.insert(lifespan.type_id, Arc::clone(value));
        }
        let exceptions = Arc::new(exceptions);
        let shared = Arc::new(Shared {
            router,
            states: StateMap(Arc::new(states)),
            dependencies,
            exceptions: Arc::clone(&exceptions),
            layers,
            chains,
            worker_lifespans,
            sync_tokens,
            request_timeout,
            graceful_shutdown_timeout: config.graceful_shutdown_timeout,
            root_path,
            metrics,
        });
        // The App's shutdowns: after the workers, on the supervisor's thread; or here if the
        // server did not start.
        let app_started = Arc::new(Mutex::new(Some(started)));
        let shut_down = {
            let app_started = Arc::clone(&app_started);
            let config = config.clone();
            move || {
                let started = app_started.lock().unwrap_or_else(|e| e.into_inner()).take();
                tracing::info!(target: "kairos::web", "waiting for application shutdown");
                if let Some(started) = started.filter(|started| !started.is_empty()) {
                    config.loop_builder().run(lifespan::shut_down_all(started, LifespanScope::App));
                }
                tracing::info!(target: "kairos::web", "application shutdown complete");
            }
        };
        let workers = config.workers.max(1);
        let server = Server::new(config)
            .error_renderer(move |error| exceptions.handle_ready(render_server_error(error)))
            .on_stop(shut_down.clone())
            .start_with(move |index| start_worker(Arc::clone(&shared), index));
        match server {
            Ok(running) => {
                tracing::info!(target: "kairos::web", "application startup complete");
                match running.uds() {
                    Some(path) => tracing::info!(
                        target: "kairos::web",
                        "listening on unix:{} with {workers} worker(s)",
                        path.display()
                    ),
                    None => tracing::info!(
                        target: "kairos::web",
                        "listening on http://{} with {workers} worker(s)",
                        running.local_addr()
                    ),
                }
                Ok(running)
            }
            Err(error) => {
                shut_down();
                Err(error.into())
            }
        }
    }
}

/// A worker's start, on its loop: its lifespans' startups, then its service, whose shutdown
/// runs the lifespans' shutdowns.
async fn start_worker(
    shared: Arc<Shared>,
    index: usize,
) -> Result<WorkerService<AppService>, StartupError> {
    let scope = LifespanScope::Worker(index);
    let started = lifespan::start_all(&shared.worker_lifespans, scope).await?;
    let states = started.iter().map(|(lifespan, value)| (lifespan.type_id, Rc::clone(value)));
    let worker =
        Rc::new(WorkerContext::new(shared.sync_tokens, shared.request_timeout, states.collect()));
    let grace = shared.graceful_shutdown_timeout;
    // The chains of the routes with layers, built once on this worker (tower's model: a
    // layer's service is made once and cloned per request).
    let chains: Rc<[Next]> = shared
        .chains
        .iter()
        .map(|(route, layers)| {
            let (shared, worker, route) = (Arc::clone(&shared), Rc::clone(&worker), route.clone());
            let exceptions = Arc::clone(&shared.exceptions);
            let endpoint = Next::innermost(exceptions, move |request| {
                call_route(&shared, &worker, &route, request)
            });
            middleware::stack(layers, endpoint)
        })
        .collect();
    let counts = shared.metrics.as_ref().map(|(metrics, templates)| {
        let counts = Rc::new(RequestCounts::new(Arc::clone(templates), metrics.buckets()));
        metrics.worker_started(index, &counts);
        counts
    });
    let answer: Box<dyn Fn(Request) -> ResponseFuture> = if shared.layers.is_empty() {
        let shared = Arc::clone(&shared);
        Box::new(move |request| {
            shared.exceptions.around(dispatch(&shared, &worker, &chains, request))
        })
    } else {
        let layers = shared.layers.clone();
        let exceptions = Arc::clone(&shared.exceptions);
        let shared = Arc::clone(&shared);
        let endpoint = Next::innermost(exceptions, move |request| {
            dispatch(&shared, &worker, &chains, request)
        });
        let chain = middleware::stack(&layers, endpoint);
        Box::new(move |request| chain.run(request))
    };
    let service: AppService = match counts {
        Some(counts) => Box::new(move |request| {
            // The template's slot, from the path as it arrived (before any layer).
            let endpoint = shared.router.endpoint_at(request.uri().path());
            let slot = counts.slot(endpoint, request.method());
            Counted::timed(answer(request), Rc::clone(&counts), slot)
        }),
        None => Box::new(move |request| Counted::plain(answer(request))),
    };
    Ok(WorkerService::new(service).on_shutdown(move || async move {
        // The connections have drained; what their handlers scheduled may still run, and
        // may use what the lifespans opened.
        crate::background::wait_for_running(grace).await;
        lifespan::shut_down_all(started, scope).await;
    }))
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.routes())
            .field("states", &self.states.len())
            .field("lifespans", &self.lifespans.len())
            .field("worker_lifespans", &self.worker_lifespans.len())
            .field("sync_tokens", &self.sync_tokens)
            .field("request_timeout", &self.request_timeout)
            .field("docs", &self.docs)
            .field("root_path", &self.root_path)
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// The answers the server makes itself, in FastAPI's shape like every other error.
fn render_server_error(error: &ServerError) -> Response {
    HttpError::from(error).into_response()
}

/// The route's dependency checks, then its handler (the innermost of its chain, if it has
/// layers).
fn call_route(
    shared: &Shared,
    worker: &Rc<WorkerContext>,
    route: &Route,
    request: Request,
) -> ResponseFuture {
    let checks = crate::dependency::checks(&shared.dependencies, &route.options);
    if !checks.is_empty() {
        let handler = Arc::clone(&route.handler);
        let label = route.label;
        return crate::dependency::checked(checks, handler, request, Rc::clone(worker), label);
    }
    route.handler.call(request, Rc::clone(worker), route.label)
}

/// What every worker shares.
struct Shared {
    router: Router,
    states: StateMap,
    dependencies: Vec<RouteDependency>,
    exceptions: Arc<ExceptionHandlers>,
    layers: Vec<BoxedLayer>,
    /// The routes with layers and their layers, in the order of their chains' indices.
    chains: Vec<(Route, Vec<BoxedLayer>)>,
    worker_lifespans: Vec<Lifespan<WorkerValue>>,
    sync_tokens: usize,
    request_timeout: Duration,
    /// How long a worker's shutdown waits for its background tasks.
    graceful_shutdown_timeout: Duration,
    root_path: Option<Arc<str>>,
    /// [`App::metrics`], and the route table's templates by endpoint index.
    metrics: Option<(Metrics, Arc<[Box<str>]>)>,
}

/// Routes one request: 404, 405, or the handler.
///
/// A panicking handler needs nothing here: the server catches the panic around the whole
/// service and answers 500, rendered by [`render_server_error`] as FastAPI's
/// `{"detail": "Internal Server Error"}`.
fn dispatch(
    shared: &Shared,
    worker: &Rc<WorkerContext>,
    chains: &[Next],
    mut request: Request,
) -> ResponseFuture {
    let span = kairos_rt::record::RequestSpan::start();
    match shared.router.lookup(request.method(), request.uri().path()) {
        Lookup::Found(route, params) => {
            if route.handler.needs_route_context()
                || !route.options.dependencies.is_empty()
                || !shared.dependencies.is_empty()
            {
                let context = RouteContext {
                    params,
                    states: shared.states.clone(),
                    worker: worker.id(),
                    client: request.body().client_addr(),
                    scheme: request.body().scheme().cloned(),
                    root_path: shared.root_path.clone(),
                    label: route.label,
                };
                request.extensions_mut().insert(context);
            }
            let response = match route.chain {
                Some(index) => chains[index].run(request),
                None => call_route(shared, worker, route, request),
            };
            match span {
                None => response,
                Some(span) => recorded(span, Some(route.label), response),
            }
        }
        Lookup::MethodNotAllowed(allow) => {
            let mut response = HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .into_response();
            if let Ok(allow) = HeaderValue::try_from(allow) {
                response.headers_mut().insert(ALLOW, allow);
            }
            recorded_now(span, response)
        }
        Lookup::NotFound => {
            recorded_now(span, HttpError::new(StatusCode::NOT_FOUND, "Not Found").into_response())
        }
    }
}

/// The request's span in the loop's recording (`kairos_rt::record`), ended when the handler's
/// response is ready — its head, not the end of a streamed body. Only a recording loop pays
/// for the extra future.
fn recorded(
    span: kairos_rt::record::RequestSpan,
    label: Option<kairos_rt::task::Label>,
    response: ResponseFuture,
) -> ResponseFuture {
    Box::pin(async move {
        let response = response.await;
        span.finish(label, response.status().as_u16());
        response
    })
}

/// A response made without a route (404, 405), with its span when the loop records.
fn recorded_now(
    span: Option<kairos_rt::record::RequestSpan>,
    response: Response,
) -> ResponseFuture {
    if let Some(span) = span {
        span.finish(None, response.status().as_u16());
    }
    Box::pin(std::future::ready(response))
}
