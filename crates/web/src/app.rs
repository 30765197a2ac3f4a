//! [`App`]: routes, state and settings, and the service each worker runs.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};
use kairos_http::{RunningServer, Server, ServerConfig, ServerError};

use crate::extract::{RouteContext, StateMap};
use crate::handler::{erase, Handler, ResponseFuture};
use crate::response::IntoResponse;
use crate::router::{Lookup, RouteInfo, Router};
use crate::worker::{StateFactory, WorkerContext};
use crate::{HttpError, Request, Response};

/// anyio's default thread limiter: 40 tokens.
pub const DEFAULT_SYNC_TOKENS: usize = 40;
/// How long a request may wait for a sync token before it gets `503`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A web application: routes by method and path, shared state, and the settings of its sync
/// pool. Build it with the chained methods, then run it with [`serve`](App::serve), hand
/// [`into_make_service`](App::into_make_service) to a [`Server`], or test it with a
/// [`TestClient`](crate::TestClient).
///
/// Registering is cheap and happens once; a bad route (a conflicting pattern, the same method
/// twice) panics at once with what to change.
#[derive(Clone)]
pub struct App {
    router: Router,
    states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    worker_states: Vec<(TypeId, StateFactory)>,
    sync_tokens: usize,
    request_timeout: Duration,
}

/// The per-worker service an [`App`] becomes: what `make_service` returns for each worker.
pub type AppService = Box<dyn Fn(Request) -> ResponseFuture>;

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
            worker_states: Vec::new(),
            sync_tokens: DEFAULT_SYNC_TOKENS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Adds shared state, read by handlers with [`State<S>`](crate::State). One value per type
    /// (a second of the same type replaces the first); it lives in an `Arc`, shared by every
    /// worker.
    pub fn with_state<S: Send + Sync + 'static>(mut self, state: S) -> App {
        self.states.insert(TypeId::of::<S>(), Arc::new(state));
        self
    }

    /// Adds per-worker state, read by `async` handlers with
    /// [`WorkerState<T>`](crate::WorkerState): `make` runs once on each worker, on its own
    /// thread and loop, when the worker starts (and again for a worker that replaces a dead
    /// one), and its value lives as long as the worker. One factory per type (a second of the
    /// same type replaces the first); factories run in the order they were first added.
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
    /// A factory that panics takes its worker down as it starts; the server logs it and
    /// starts a replacement, which calls the factory again.
    pub fn worker_state<T, F>(mut self, make: F) -> App
    where
        T: 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        let factory: StateFactory = Arc::new(move || Rc::new(make()) as Rc<dyn Any>);
        let type_id = TypeId::of::<T>();
        match self.worker_states.iter_mut().find(|(id, _)| *id == type_id) {
            Some((_, existing)) => *existing = factory,
            None => self.worker_states.push((type_id, factory)),
        }
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

    /// Mounts every route of `other` under `prefix` (FastAPI's `include_router(prefix=...)`):
    /// `other`'s `/users/{id}` becomes `/api/users/{id}`, its `/` becomes `/api`. `other`'s
    /// states and worker states are added (this App's win on a clash); its sync settings are
    /// not used — this App's apply.
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/` or ends with `/`, or a route clashes.
    pub fn nest(mut self, prefix: &str, other: App) -> App {
        self.router.nest(prefix, other.router);
        for (type_id, state) in other.states {
            self.states.entry(type_id).or_insert(state);
        }
        for (type_id, factory) in other.worker_states {
            if !self.worker_states.iter().any(|(id, _)| *id == type_id) {
                self.worker_states.push((type_id, factory));
            }
        }
        self
    }

    /// The route table: method, path and handler kind of each route, in registration order.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.router.routes()
    }

    /// What [`Server::start`] takes: builds the App's service once per worker, on that
    /// worker's loop, each with its own sync limiter and pool and its own worker states. For
    /// the server's own answers (503, 413, 500) to have the App's shape, as with
    /// [`serve`](App::serve), give the server
    /// `.error_renderer(|error| HttpError::from(error).into_response())`.
    pub fn into_make_service(self) -> impl Fn() -> AppService + Send + Sync + Clone + 'static {
        let shared = Arc::new(Shared {
            router: self.router,
            states: StateMap(Arc::new(self.states)),
            worker_states: self.worker_states,
            sync_tokens: self.sync_tokens,
            request_timeout: self.request_timeout,
        });
        move || {
            let shared = Arc::clone(&shared);
            let worker = Rc::new(WorkerContext::new(
                shared.sync_tokens,
                shared.request_timeout,
                &shared.worker_states,
            ));
            Box::new(move |request| dispatch(&shared, &worker, request))
        }
    }

    /// Serves the App with `config` (workers, limits, address) until the server shuts down,
    /// the server's own answers (503, 413, 500) rendered as [`HttpError`]s.
    pub fn serve(self, config: ServerConfig) -> io::Result<RunningServer> {
        Server::new(config).error_renderer(render_server_error).start(self.into_make_service())
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.routes())
            .field("states", &self.states.len())
            .field("worker_states", &self.worker_states.len())
            .field("sync_tokens", &self.sync_tokens)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// The answers the server makes itself, in FastAPI's shape like every other error.
fn render_server_error(error: &ServerError) -> Response {
    HttpError::from(error).into_response()
}

/// What every worker shares.
struct Shared {
    router: Router,
    states: StateMap,
    worker_states: Vec<(TypeId, StateFactory)>,
    sync_tokens: usize,
    request_timeout: Duration,
}

/// Routes one request: 404, 405, or the handler.
///
/// A panicking handler needs nothing here: the server catches the panic around the whole
/// service and answers 500, rendered by [`render_server_error`] as FastAPI's
/// `{"detail": "Internal Server Error"}`.
fn dispatch(shared: &Shared, worker: &Rc<WorkerContext>, mut request: Request) -> ResponseFuture {
    match shared.router.lookup(request.method(), request.uri().path()) {
        Lookup::Found(route, params) => {
            let handler = &route.handler;
            if handler.needs_route_context() {
                let context =
                    RouteContext { params, states: shared.states.clone(), worker: worker.id() };
                request.extensions_mut().insert(context);
            }
            handler.call(request, Rc::clone(worker), route.label)
        }
        Lookup::MethodNotAllowed(allow) => {
            let mut response = HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .into_response();
            if let Ok(allow) = HeaderValue::try_from(allow) {
                response.headers_mut().insert(ALLOW, allow);
            }
            Box::pin(std::future::ready(response))
        }
        Lookup::NotFound => Box::pin(std::future::ready(
            HttpError::new(StatusCode::NOT_FOUND, "Not Found").into_response(),
        )),
    }
}
