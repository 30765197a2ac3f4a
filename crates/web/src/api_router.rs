//! [`ApiRouter`]: a group of routes with a prefix, tags, dependencies and documented
//! responses, included in an [`App`](crate::App) (FastAPI's `APIRouter`).
//!
//! A router is its own type, not an [`App`](crate::App): an App is what is served — it has
//! state, lifespans, the sync pool's settings, exception handlers — while a router is only
//! routes and what they share, so it cannot carry a setting that would be ignored where it is
//! included. (An App mounted in another with [`App::nest`](crate::App::nest) brings its states
//! and lifespans along; a router brings its routes' options.)
//!
//! What a router gives its routes is kept on each route as it is included ([`RouterOptions`]),
//! the outer router's first: tags in order, dependencies in order (each once), documented
//! responses by status (the inner router's description wins). Including a router in a router
//! nests its prefix.

use std::sync::Arc;

use bytes::Bytes;
use http_body::Body as HttpBody;
use kairos_http::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use http::{Method, StatusCode};

use crate::dependency::{Dependency, RouteDependency};
use crate::handler::{erase, Handler};
use crate::middleware::{BoxedLayer, Next};
use crate::router::Router;
use crate::{App, Request};

/// Routes under one prefix that share tags, dependencies and documented responses; included
/// in an [`App`](crate::App) with [`App::include_router`](crate::App::include_router).
///
/// ```
/// use kairos_web::dependency::Dependency;
/// use kairos_web::http::StatusCode;
/// use kairos_web::{ApiRouter, App, Headers, HttpError, Path, TestClient};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Token { x_token: String }
///
/// // A check for every route of the router: FastAPI's `dependencies=[Depends(verify_token)]`.
/// #[derive(Clone)]
/// struct VerifiedToken;
///
/// impl Dependency for VerifiedToken {
///     type Inputs = Headers<Token>;
///     async fn resolve(Headers(token): Headers<Token>) -> Result<Self, HttpError> {
///         match token.x_token.as_str() {
///             "fake-super-secret-token" => Ok(VerifiedToken),
///             _ => Err(HttpError::bad_request("X-Token header invalid")),
///         }
///     }
/// }
///
/// let items = ApiRouter::new()
///     .prefix("/items")
///     .tag("items")
///     .dependency::<VerifiedToken>()
///     .response(StatusCode::NOT_FOUND, "Not found")
///     .get("/", || async { "all items" })
///     .get("/{id}", |Path(id): Path<String>| async move { format!("item {id}") });
///
/// let app = App::new().get("/", || async { "open" }).include_router(items);
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/").send().text(), "open");
/// assert_eq!(client.get("/items/pen").send().status(), 422); // no token
/// let ok = client.get("/items/pen").header("x-token", "fake-super-secret-token").send();
/// assert_eq!(ok.text(), "item pen");
/// ```
#[derive(Clone, Default)]
pub struct ApiRouter {
    prefix: String,
    options: RouterOptions,
    routes: Router,
}

/// A response a route documents besides its own (FastAPI's `responses={404: {...}}`):
/// published by the OpenAPI document, not enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentedResponse {
    /// Its status.
    pub status: StatusCode,
    /// What it means, for the reader of the documentation.
    pub description: String,
}

/// What the routers a route was included through give it: kept on the route, to be run
/// (dependencies) and documented (tags, responses, dependencies' parameters).
#[derive(Clone, Default)]
pub(crate) struct RouterOptions {
    pub(crate) tags: Vec<String>,
    pub(crate) dependencies: Vec<RouteDependency>,
    pub(crate) responses: Vec<DocumentedResponse>,
    /// Middleware around each route, outermost first ([`ApiRouter::layer`]).
    pub(crate) layers: Vec<BoxedLayer>,
}

impl RouterOptions {
    /// These options, outer, around `inner`'s: tags and dependencies of both, these first;
    /// responses of both, `inner`'s on a clash of statuses.
    pub(crate) fn around(&self, inner: &RouterOptions) -> RouterOptions {
        let mut merged = self.clone();
        for tag in &inner.tags {
            if !merged.tags.contains(tag) {
                merged.tags.push(tag.clone());
            }
        }
        for dependency in &inner.dependencies {
            crate::dependency::add_once(&mut merged.dependencies, dependency.clone());
        }
        for response in &inner.responses {
            merged.responses.retain(|r| r.status != response.status);
            merged.responses.push(response.clone());
        }
        merged.layers.extend(inner.layers.iter().cloned());
        merged
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.dependencies.is_empty()
            && self.responses.is_empty()
            && self.layers.is_empty()
    }
}

impl ApiRouter {
    /// A router with no prefix, tags, dependencies nor routes.
    pub fn new() -> ApiRouter {
        ApiRouter::default()
    }

    /// The prefix of every route of the router: its `/{id}` is served at `/items/{id}`, its
    /// `/` at `/items`.
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/` or ends with `/`.
    pub fn prefix(mut self, prefix: &str) -> ApiRouter {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/'),
            "router prefix {prefix:?} must start with '/' and not end with it (like \"/items\")"
        );
        self.prefix = prefix.to_owned();
        self
    }

    /// A tag of every route of the router (the OpenAPI document groups operations by tag).
    pub fn tag(mut self, tag: &str) -> ApiRouter {
        if !self.options.tags.iter().any(|t| t == tag) {
            self.options.tags.push(tag.to_owned());
        }
        self
    }

    /// A dependency run before the handler of every route of the router, in the order
    /// added, each once per request: a check that rejects the request with its error (an
    /// auth check's 401), or a value the handlers may also ask for with
    /// [`Depends<T>`](crate::Depends) (they get the same one). Its inputs' 422 answers the
    /// request before the handler's arguments are read.
    pub fn dependency<T: Dependency>(mut self) -> ApiRouter {
        crate::dependency::add_once(&mut self.options.dependencies, RouteDependency::of::<T>());
        self
    }

    /// Adds middleware around each route of the router — a [`from_fn`](crate::middleware::from_fn)
    /// or any tower `Layer` — inside the App's layers and those of the routers this one is
    /// included in, outside the routes' own; the first added is outermost. It runs for the
    /// requests routed to the router's routes only (a 404 or a 405 never reaches a router):
    /// CORS, which must answer preflights for any path, belongs on the App. See
    /// [`middleware`](crate::middleware).
    pub fn layer<L, B>(mut self, layer: L) -> ApiRouter
    where
        L: Layer<Next> + Send + Sync + 'static,
        L::Service: Service<Request, Response = http::Response<B>> + Clone + 'static,
        <L::Service as Service<Request>>::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        self.options.layers.push(BoxedLayer::new(layer));
        self
    }

    /// A response every route of the router documents besides its own (FastAPI's
    /// `responses={404: {"description": "Not found"}}`), for the OpenAPI document.
    pub fn response(mut self, status: StatusCode, description: &str) -> ApiRouter {
        self.options.responses.retain(|r| r.status != status);
        self.options
            .responses
            .push(DocumentedResponse { status, description: description.to_owned() });
        self
    }

    /// Adds a route for `method` on `path`, below the prefix; as [`App::route`](crate::App::route).
    pub fn route<H: Handler<T>, T: 'static>(
        mut self,
        method: Method,
        path: &str,
        handler: H,
    ) -> ApiRouter {
        self.routes.add(method, path, erase(handler));
        self
    }

    // The method shorthands are written out here as on `App` rather than made by a macro:
    // a handler that does not fit is reported at these signatures, and a macro's `$Builder`
    // and expansion notes would stand in the newcomer's error (tests/ui pins them).

    /// A `GET` route (also answers `HEAD`).
    pub fn get<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> ApiRouter {
        self.route(Method::GET, path, handler)
    }

    /// A `POST` route.
    pub fn post<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> ApiRouter {
        self.route(Method::POST, path, handler)
    }

    /// A `PUT` route.
    pub fn put<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> ApiRouter {
        self.route(Method::PUT, path, handler)
    }

    /// A `PATCH` route.
    pub fn patch<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> ApiRouter {
        self.route(Method::PATCH, path, handler)
    }

    /// A `DELETE` route.
    pub fn delete<H: Handler<T>, T: 'static>(self, path: &str, handler: H) -> ApiRouter {
        self.route(Method::DELETE, path, handler)
    }

    /// Includes `other`'s routes in this router, below both prefixes, with both routers'
    /// tags, dependencies and responses (this one's first).
    ///
    /// # Panics
    ///
    /// If a route clashes with one of this router's.
    pub fn include_router(mut self, other: ApiRouter) -> ApiRouter {
        other.include_into(&mut self.routes);
        self
    }

    /// Adds the routes to `table`, below the prefix, with the router's options around theirs.
    pub(crate) fn include_into(self, table: &mut Router) {
        table.include(&self.prefix, self.routes, &Arc::new(self.options));
    }
}

impl std::fmt::Debug for ApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRouter")
            .field("prefix", &self.prefix)
            .field("tags", &self.options.tags)
            .field("routes", &self.routes.routes())
            .finish()
    }
}

impl App {
    /// Adds every route of `router` (FastAPI's `app.include_router(router)`): below its
    /// prefix, each with the router's tags, dependencies and documented responses. The App's
    /// own [`dependency`](App::dependency)s run first.
    ///
    /// # Panics
    ///
    /// If a route clashes with one of the App's.
    pub fn include_router(mut self, router: ApiRouter) -> App {
        router.include_into(&mut self.router);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Lookup;

    #[derive(Clone)]
    struct Outer;
    #[derive(Clone)]
    struct Inner;

    macro_rules! no_op_dependency {
        ($($T:ty),*) => {$(
            impl Dependency for $T {
                type Inputs = ();
                async fn resolve((): ()) -> Result<Self, crate::HttpError> {
                    Ok(Self)
                }
            }
        )*};
    }
    no_op_dependency!(Outer, Inner);

    fn options(table: &Router, path: &str) -> (Vec<String>, Vec<&'static str>, Vec<(u16, String)>) {
        let Lookup::Found(route, _) = table.lookup(&Method::GET, path) else {
            panic!("no route at {path}");
        };
        let options = &route.options;
        (
            options.tags.clone(),
            options.dependencies.iter().map(|d| d.name.rsplit("::").next().unwrap()).collect(),
            options.responses.iter().map(|r| (r.status.as_u16(), r.description.clone())).collect(),
        )
    }

    #[test]
    fn an_included_routers_routes_get_its_prefix_and_options_the_outer_first() {
        let inner = ApiRouter::new()
            .prefix("/items")
            .tag("items")
            .tag("shared")
            .dependency::<Inner>()
            .dependency::<Outer>()
            .response(StatusCode::NOT_FOUND, "No such item")
            .get("/", || async { "" })
            .get("/{id}", || async { "" });
        let outer = ApiRouter::new()
            .prefix("/api")
            .tag("shared")
            .tag("api")
            .dependency::<Outer>()
            .response(StatusCode::NOT_FOUND, "Not found")
            .response(StatusCode::FORBIDDEN, "Forbidden")
            .get("/health", || async { "" })
            .include_router(inner);
        let mut table = Router::default();
        outer.include_into(&mut table);

        let paths: Vec<String> = table.routes().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/api/health", "/api/items", "/api/items/{id}"]);
        let (tags, dependencies, responses) = options(&table, "/api/items/7");
        assert_eq!(tags, ["shared", "api", "items"]);
        assert_eq!(dependencies, ["Outer", "Inner"], "each once, the outer router's first");
        assert_eq!(responses, [(403, "Forbidden".into()), (404, "No such item".into())]);
        let (tags, dependencies, _) = options(&table, "/api/health");
        assert_eq!((tags, dependencies), (vec!["shared".into(), "api".into()], vec!["Outer"]));
    }

    #[test]
    #[should_panic(expected = "must start with '/' and not end with it")]
    fn a_prefix_ending_with_a_slash_is_refused() {
        let _ = ApiRouter::new().prefix("/items/");
    }
}
