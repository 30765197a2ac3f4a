//! Dependencies (FastAPI's `Depends`): values a handler needs that are made per request, from
//! the request and from other dependencies, once, and closed after it.
//!
//! A dependency is a type that implements [`Dependency`]: its
//! [`Inputs`](Dependency::Inputs) are extractors (`Query`, `Path`, `Headers`, `State`,
//! `WorkerState`, ... or a tuple of them, `Depends` of other dependencies included), made and
//! validated as a handler's arguments are — a bad query parameter of a dependency is in the
//! request's 422 with the handler's own — and [`resolve`](Dependency::resolve) makes the value
//! from them, with awaits if need be (a connection from a pool). A handler asks for one with
//! the extractor [`Depends<T>`], in any argument position.
//!
//! | FastAPI | kairos-web |
//! |---|---|
//! | `def get_db(...)`, `db = Depends(get_db)` | `impl Dependency for Db`, argument `Depends(db): Depends<Db>` |
//! | a dependency's own parameters (query, header, other `Depends`) | `type Inputs = (Query<Page>, Depends<Db>)` |
//! | `use_cache=True` (the default): one call per request | the value is made once per request and cloned for every other use |
//! | `Depends(dep, use_cache=False)` | [`Fresh<T>`]: a value of its own, torn down with the others |
//! | `yield` in a dependency: code after it runs once the response is done | [`Dependency::teardown`], after the handler's response (a streamed one: after its last chunk), told how the request ended ([`Outcome`]) |
//! | `app.dependency_overrides[get_db] = fake_db` | [`App::override_dependency::<Db>(...)`](crate::App::override_dependency) |
//! | `APIRouter(dependencies=[Depends(check)])`, `FastAPI(dependencies=[...])` | [`ApiRouter::dependency::<Check>()`](crate::ApiRouter::dependency), [`App::dependency::<Check>()`](crate::App::dependency) |
//!
//! ## One value per request, torn down after it
//!
//! The first use of a dependency in a request resolves it and keeps the value in the request's
//! scope; every other use in the same request — a second argument, a dependency of another
//! dependency, a router's check — gets a clone of it (so `T: Clone`: make a dependency a
//! handle, with what is costly to copy behind an `Rc` or an `Arc`). When the handler has
//! answered, the teardowns of the values the request made run, last resolved first, and the
//! response is sent after them — so a test that asks next sees them done. A streamed
//! response ([`StreamingResponse`](crate::StreamingResponse), [`Sse`](crate::Sse)) may
//! still use the values while it is sent: its teardowns run once its last chunk is out (in a
//! task of their own), as current FastAPI closes a `yield` dependency only once a
//! `StreamingResponse` has been sent. A request that ends otherwise runs them too: when the handler panics
//! (the request gets its 500) or the client leaves mid-request or mid-stream (the future or
//! the stream is dropped), the teardowns run in a task on the worker's loop, told
//! [`Outcome::Panicked`] or [`Outcome::Cancelled`] — the place to roll a transaction back
//! rather than commit it.
//!
//! The scope lives on the worker's thread, so a dependency need not be `Send` (a value
//! made from a `WorkerState` pool can hold an `Rc`); passed to a [`sync`](crate::sync)
//! handler, it must be, as every argument of one.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use kairos_web::dependency::{Dependency, Depends, Outcome};
//! use kairos_web::{App, HttpError, Headers, TestClient, WorkerState};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! // A pool per worker (not Send: it counts with a Cell).
//! #[derive(Default)]
//! struct Pool { open: Cell<u32> }
//!
//! // A session taken from the pool for one request, and given back after it.
//! #[derive(Clone)]
//! struct Session { pool: Rc<Pool> }
//!
//! impl Dependency for Session {
//!     type Inputs = WorkerState<Pool>;
//!
//!     async fn resolve(WorkerState(pool): WorkerState<Pool>) -> Result<Self, HttpError> {
//!         pool.open.set(pool.open.get() + 1); // await a free connection, say
//!         Ok(Session { pool })
//!     }
//!
//!     async fn teardown(self, outcome: Outcome) {
//!         // Commit on success, roll back otherwise; give the connection back either way.
//!         let _commit = matches!(outcome, Outcome::Responded(status) if status.is_success());
//!         self.pool.open.set(self.pool.open.get() - 1);
//!     }
//! }
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Auth { x_user: String }
//!
//! // A dependency of a dependency: the user is read with the session.
//! #[derive(Clone)]
//! struct User(String);
//!
//! impl Dependency for User {
//!     type Inputs = (Headers<Auth>, Depends<Session>);
//!
//!     async fn resolve((Headers(auth), _session): Self::Inputs) -> Result<Self, HttpError> {
//!         match auth.x_user.as_str() {
//!             "" => Err(HttpError::unauthorized("Not authenticated")),
//!             name => Ok(User(name.to_owned())),
//!         }
//!     }
//! }
//!
//! // The session is made once for this request, though both arguments need it.
//! async fn me(Depends(user): Depends<User>, Depends(session): Depends<Session>) -> String {
//!     format!("{} ({} session open)", user.0, session.pool.open.get())
//! }
//!
//! let app = App::new().worker_state(Pool::default).get("/me", me);
//! let client = TestClient::new(app);
//! assert_eq!(client.get("/me").header("x-user", "ada").send().text(), "ada (1 session open)");
//! assert_eq!(client.get("/me").send().status(), 422); // the header is missing
//! ```
//!
//! A dependency's cycle (`A` needs `B` needs `A`) does not compile: its future would be of
//! infinite size.

mod check;
mod inputs;
mod overrides;
pub(crate) mod scope;

use std::future::Future;

use http::request::Parts;
use http::StatusCode;

pub(crate) use check::{add_once, checked, checks, RouteDependency};
pub use inputs::DependencyInputs;
use overrides::{resolve_override, DependencyOverrides};
use scope::RequestScope;
pub(crate) use scope::Scoped;

use crate::extract::FromRequestParts;
use crate::{App, HttpError};

/// A value made per request for the handlers that ask for it with [`Depends<Self>`]: FastAPI's
/// dependency function, as a type. See [the module](self) for the model and an example.
///
/// `Inputs` are what `resolve` is made from: any extractor of the request's head, or a tuple
/// of them — other dependencies with `Depends<U>`, the App's state with `State<S>`, the
/// worker's with `WorkerState<W>`, parameters with `Query`, `Path` and `Headers` (validated,
/// their 422 items joining the request's). `()` for none. The body belongs to the handler: a
/// dependency cannot read it.
///
/// `Clone`, because the value is made once per request and each use gets a clone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a dependency, so it cannot be `Depends<{Self}>`",
    label = "not a `Dependency`",
    note = "implement `Dependency` for it: `type Inputs` (the extractors it is made from) and \
            `async fn resolve(inputs: Self::Inputs) -> Result<Self, HttpError>`; it must be \
            `Clone` (each use in a request gets a clone of the one value)"
)]
pub trait Dependency: Clone + 'static {
    /// The extractors the value is made from: one, a tuple of up to 8, or `()`.
    type Inputs: DependencyInputs;

    /// Makes the value, or answers the request with an error (a `401` from an auth check, a
    /// `503` when no connection came): the handler is not called then.
    fn resolve(inputs: Self::Inputs) -> impl Future<Output = Result<Self, HttpError>>;

    /// Closes what `resolve` opened (the code after a FastAPI dependency's `yield`): called
    /// once per request that resolved the value, with that value, after the handler, however
    /// the request ended. The default does nothing.
    ///
    /// It runs on the worker's loop. After a response, it is awaited before the response is
    /// sent; after a streamed response's last chunk, a panic or a client that left, in a task
    /// of its own. A teardown that panics is logged, and the others run on.
    fn teardown(self, outcome: Outcome) -> impl Future<Output = ()> {
        let _ = outcome;
        scope::NothingToClose
    }
}

/// How a request ended, for [`Dependency::teardown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler answered (or a rejection did, before it ran) with this status.
    Responded(StatusCode),
    /// The handler panicked; the client gets a 500.
    Panicked,
    /// The request was dropped before it was answered, or its streamed response before its
    /// end: the client went away, or the server stopped.
    Cancelled,
}

/// An argument whose value is the request's [`Dependency`] `T`: resolved on first use in the
/// request, a clone of that value on every other.
///
/// ```
/// use kairos_web::dependency::{Dependency, Depends};
/// use kairos_web::{App, HttpError, Query};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Clone, Deserialize, JsonSchema)]
/// struct Page {
///     #[serde(default)]
///     skip: u32,
///     #[schemars(range(max = 100))]
///     #[serde(default = "ten")]
///     limit: u32,
/// }
/// fn ten() -> u32 { 10 }
///
/// // FastAPI's `common_parameters`: a dependency shared by many routes.
/// impl Dependency for Page {
///     type Inputs = Query<Page>;
///     async fn resolve(Query(page): Query<Page>) -> Result<Self, HttpError> {
///         Ok(page)
///     }
/// }
///
/// async fn items(Depends(page): Depends<Page>) -> String {
///     format!("items {}..{}", page.skip, page.skip + page.limit)
/// }
/// let app = App::new().get("/items", items);
/// # let client = kairos_web::TestClient::new(app);
/// # assert_eq!(client.get("/items?skip=5").send().text(), "items 5..15");
/// # assert_eq!(client.get("/items?limit=500").send().status(), 422);
/// ```
#[derive(Debug, Clone)]
pub struct Depends<T>(pub T);

impl<T> std::ops::Deref for Depends<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Dependency> FromRequestParts for Depends<T> {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        resolve::<T>(parts, true).await.map(Depends)
    }

    /// The dependency's inputs are the route's parameters too.
    fn openapi(operation: &mut crate::openapi::Operation<'_>) {
        <T::Inputs as DependencyInputs>::openapi(operation);
    }
}

/// An argument whose value is a new one of the [`Dependency`] `T`, made for this use even if
/// the request made one already (FastAPI's `Depends(dep, use_cache=False)`): a second
/// transaction beside the request's, a fresh nonce. Its own inputs are shared as ever (a
/// `Depends<U>` among them is the request's `U`), and it is torn down with the request's
/// other values; the first value of `T` a request makes, fresh or not, is the one later
/// [`Depends<T>`] get.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use kairos_web::dependency::{Dependency, Depends, Fresh};
/// use kairos_web::{App, HttpError, TestClient};
///
/// static NEXT: AtomicU32 = AtomicU32::new(1);
///
/// #[derive(Clone)]
/// struct Ticket(u32);
///
/// impl Dependency for Ticket {
///     type Inputs = ();
///     async fn resolve((): ()) -> Result<Self, HttpError> {
///         Ok(Ticket(NEXT.fetch_add(1, Ordering::Relaxed)))
///     }
/// }
///
/// async fn tickets(Depends(a): Depends<Ticket>, Fresh(b): Fresh<Ticket>, Depends(c): Depends<Ticket>) -> String {
///     format!("{} {} {}", a.0, b.0, c.0)
/// }
/// let client = TestClient::new(App::new().get("/", tickets));
/// assert_eq!(client.get("/").send().text(), "1 2 1");
/// ```
#[derive(Debug, Clone)]
pub struct Fresh<T>(pub T);

impl<T> std::ops::Deref for Fresh<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Dependency> FromRequestParts for Fresh<T> {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        resolve::<T>(parts, false).await.map(Fresh)
    }

    fn openapi(operation: &mut crate::openapi::Operation<'_>) {
        <T::Inputs as DependencyInputs>::openapi(operation);
    }
}

/// The request's value of `T`: the one it made already (if `use_cache`), or the override's,
/// or a new one.
async fn resolve<T: Dependency>(parts: &mut Parts, use_cache: bool) -> Result<T, HttpError> {
    let scope = RequestScope::current::<T>()?;
    if use_cache && let Some(value) = scope.cached::<T>()? {
        return Ok(value);
    }
    let resolved = match resolve_override::<T>(parts).await {
        // Not torn down: the replacement opened nothing `T::teardown` should close.
        Some(replaced) => replaced.map(|value| (value, false)),
        None => match <T::Inputs as DependencyInputs>::from_request_parts(parts).await {
            Ok(inputs) => T::resolve(inputs).await.map(|value| (value, true)),
            Err(rejection) => Err(rejection),
        },
    };
    match resolved {
        Ok((value, tear_down)) => {
            scope.keep(value.clone(), tear_down);
            Ok(value)
        }
        Err(rejection) => {
            scope.failed::<T>();
            Err(rejection)
        }
    }
}

impl App {
    /// A dependency run before the handler of every route of the App — those added before
    /// and after, those of included routers and nested Apps — each once per request, in the
    /// order added and before the routers' (FastAPI's `FastAPI(dependencies=[...])`): a check
    /// that rejects the request with its error, or a value the handlers may also ask for with
    /// [`Depends<T>`] (they get the same one). Its inputs' 422 answers the request before the
    /// handler's arguments are read.
    ///
    /// ```
    /// use kairos_web::dependency::Dependency;
    /// use kairos_web::{App, HttpError, Query, TestClient};
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    ///
    /// #[derive(Clone, Deserialize, JsonSchema)]
    /// struct ApiKey { key: String }
    ///
    /// impl Dependency for ApiKey {
    ///     type Inputs = Query<ApiKey>;
    ///     async fn resolve(Query(key): Query<ApiKey>) -> Result<Self, HttpError> {
    ///         if key.key != "sesame" {
    ///             return Err(HttpError::forbidden("bad key"));
    ///         }
    ///         Ok(key)
    ///     }
    /// }
    ///
    /// let app = App::new().dependency::<ApiKey>().get("/", || async { "in" });
    /// let client = TestClient::new(app);
    /// assert_eq!(client.get("/?key=sesame").send().text(), "in");
    /// assert_eq!(client.get("/?key=nope").send().status(), 403);
    /// ```
    pub fn dependency<T: Dependency>(mut self) -> App {
        add_once(&mut self.dependencies, RouteDependency::of::<T>());
        self
    }

    /// Replaces the dependency `T` in every request of the App (FastAPI's
    /// `app.dependency_overrides[T] = replacement`): wherever `T` is asked for — by a
    /// handler, another dependency or a router — `replacement` makes it instead of
    /// [`T::resolve`](Dependency::resolve), once per request as ever. For tests: a fake
    /// database, a known user. The replacement's value is not torn down (it opened nothing
    /// `T::teardown` should close). A second override of `T` replaces the first.
    ///
    /// ```
    /// use kairos_web::dependency::{Dependency, Depends};
    /// use kairos_web::{App, HttpError, TestClient};
    ///
    /// #[derive(Clone)]
    /// struct CurrentUser(String);
    ///
    /// impl Dependency for CurrentUser {
    ///     type Inputs = ();
    ///     async fn resolve((): ()) -> Result<Self, HttpError> {
    ///         Err(HttpError::unauthorized("Not authenticated")) // asks the auth server, say
    ///     }
    /// }
    ///
    /// let app = || App::new().get("/me", |Depends(user): Depends<CurrentUser>| async move { user.0 });
    /// assert_eq!(TestClient::new(app()).get("/me").send().status(), 401);
    ///
    /// let app = app().override_dependency(|| async { Ok(CurrentUser("ada".into())) });
    /// assert_eq!(TestClient::new(app).get("/me").send().text(), "ada");
    /// ```
    pub fn override_dependency<T, F, Fut>(mut self, replacement: F) -> App
    where
        T: Dependency,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, HttpError>> + 'static,
    {
        DependencyOverrides::add(&mut self.states, replacement);
        self
    }
}
