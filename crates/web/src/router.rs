//! The route table: method and path to handler, with `matchit` doing the path matching.
//!
//! Paths are `matchit` patterns: `/items/{id}` (one segment), `/static/{*rest}` (the rest).
//! A request whose path matches no route gets `404`; one whose path matches but whose method
//! does not gets `405` with an `Allow` header listing the methods that would. `HEAD` is served
//! by the `GET` handler (hyper sends no body for it).
//!
//! Each route carries a [`Label`] — `GET /items/{id} → my_service::get_item` — made once when
//! the route is added; the handler's future runs under it, so a stall report names the route
//! and the handler, and [`LoopStats::slow_polls_by_label`](kairos_rt::LoopStats) counts stalls
//! per route.

use std::fmt;
use std::sync::Arc;

use http::Method;
use kairos_rt::task::Label;

use crate::api_router::RouterOptions;
use crate::handler::{ErasedHandler, HandlerKind};
use crate::middleware::BoxedLayer;

/// One row of the route table: [`App::routes`](crate::App::routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The method.
    pub method: Method,
    /// The path pattern, with `{name}` parameters.
    pub path: String,
    /// Where the handler runs.
    pub kind: HandlerKind,
    /// The handler's name: its function's path.
    pub handler: &'static str,
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} {:<30} {:<6} {}", self.method, self.path, self.kind, self.handler)
    }
}

#[derive(Clone)]
struct Endpoint {
    path: String,
    methods: Vec<Route>,
}

/// A method's handler on an endpoint, and the label its requests run under.
#[derive(Clone)]
pub(crate) struct Route {
    method: Method,
    pub(crate) handler: Arc<dyn ErasedHandler>,
    pub(crate) label: Label,
    /// What the [`ApiRouter`](crate::ApiRouter)s it was included through give it: tags,
    /// dependencies, documented responses, layers.
    pub(crate) options: Arc<RouterOptions>,
    /// For a route with layers (its routers' or its own), the index of its chain among those
    /// each worker builds ([`Router::number_chains`]).
    pub(crate) chain: Option<usize>,
}

/// Paths to endpoints; each endpoint has a handler per method.
#[derive(Clone, Default)]
pub(crate) struct Router {
    matcher: matchit::Router<usize>,
    endpoints: Vec<Endpoint>,
}

/// What a request's method and path found.
pub(crate) enum Lookup<'a> {
    Found(&'a Route, Vec<(String, String)>),
    MethodNotAllowed(String),
    NotFound,
}

impl Router {
    /// Adds a route.
    ///
    /// # Panics
    ///
    /// If the pattern is invalid or conflicts with another (`/{id}` beside `/{name}`), or the
    /// method is already registered on this path: routes are fixed at start-up, so this is a
    /// programming error, reported at once.
    pub(crate) fn add(&mut self, method: Method, path: &str, handler: Arc<dyn ErasedHandler>) {
        self.add_with(method, path, handler, Arc::default());
    }

    /// Adds a route with the options of the routers it was included through.
    fn add_with(
        &mut self,
        method: Method,
        path: &str,
        handler: Arc<dyn ErasedHandler>,
        options: Arc<RouterOptions>,
    ) {
        assert!(path.starts_with('/'), "route path {path:?} must start with '/'");
        let index = match self.endpoints.iter().position(|e| e.path == path) {
            Some(index) => index,
            None => {
                let index = self.endpoints.len();
                if let Err(e) = self.matcher.insert(path, index) {
                    panic!("cannot add route {method} {path}: {e}; change the path pattern");
                }
                self.endpoints.push(Endpoint { path: path.to_owned(), methods: Vec::new() });
                index
            }
        };
        let endpoint = &mut self.endpoints[index];
        assert!(
            !endpoint.methods.iter().any(|r| r.method == method),
            "route {method} {path} is registered twice; remove one"
        );
        let label = Label::new(format!("{method} {path} → {}", handler.name()));
        endpoint.methods.push(Route { method, handler, label, options, chain: None });
    }

    /// Every route of `other`, under `prefix`.
    pub(crate) fn nest(&mut self, prefix: &str, other: Router) {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/'),
            "nest prefix {prefix:?} must start with '/' and not end with it (like \"/api\")"
        );
        for endpoint in other.endpoints {
            let path = if endpoint.path == "/" {
                prefix.to_owned()
            } else {
                format!("{prefix}{}", endpoint.path)
            };
            for route in endpoint.methods {
                self.add_with(route.method, &path, route.handler, route.options);
            }
        }
    }

    /// Every route of `other`, under `prefix` (`""` for none), with `options` around its own:
    /// an [`ApiRouter`](crate::ApiRouter) included.
    pub(crate) fn include(&mut self, prefix: &str, other: Router, options: &Arc<RouterOptions>) {
        for endpoint in other.endpoints {
            let path = match (prefix, endpoint.path.as_str()) {
                ("", path) => path.to_owned(),
                (prefix, "/") => prefix.to_owned(),
                (prefix, path) => format!("{prefix}{path}"),
            };
            for route in endpoint.methods {
                let options = if route.options.is_empty() {
                    Arc::clone(options)
                } else {
                    Arc::new(options.around(&route.options))
                };
                self.add_with(route.method, &path, route.handler, options);
            }
        }
    }

    /// These routes with `options` around each route's own: the routes of an App nested in
    /// another, with that App's dependencies and layers.
    pub(crate) fn wrapped(self, options: RouterOptions) -> Router {
        if options.is_empty() {
            return self;
        }
        let mut table = Router::default();
        table.include("", self, &Arc::new(options));
        table
    }

    /// Numbers the routes that have layers — their routers' then their own, outermost first —
    /// and returns them in that order: each worker builds their chains once, and a request
    /// routed to one runs its chain.
    pub(crate) fn number_chains(&mut self) -> Vec<(Route, Vec<BoxedLayer>)> {
        let mut chains = Vec::new();
        for route in self.endpoints.iter_mut().flat_map(|e| e.methods.iter_mut()) {
            let mut layers = route.options.layers.clone();
            layers.extend(route.handler.layers());
            if !layers.is_empty() {
                route.chain = Some(chains.len());
                chains.push((route.clone(), layers));
            }
        }
        chains
    }

    pub(crate) fn routes(&self) -> Vec<RouteInfo> {
        self.endpoints
            .iter()
            .flat_map(|e| {
                e.methods.iter().map(|route| RouteInfo {
                    method: route.method.clone(),
                    path: e.path.clone(),
                    kind: route.handler.kind(),
                    handler: route.handler.name(),
                })
            })
            .collect()
    }

    /// Every route's path, method, handler and the options of the routers it came through, in
    /// registration order: what the OpenAPI document is made from.
    pub(crate) fn operations(
        &self,
    ) -> impl Iterator<Item = (&str, &Method, &dyn ErasedHandler, &RouterOptions)> {
        self.endpoints.iter().flat_map(|e| {
            e.methods
                .iter()
                .map(|route| (e.path.as_str(), &route.method, &*route.handler, &*route.options))
        })
    }

    /// The index of the endpoint (path pattern) that `path` matches, among
    /// [`templates`](Router::templates): a lookup that allocates nothing (matchit keeps a
    /// few parameters inline), for counting a request under its route's template.
    pub(crate) fn endpoint_at(&self, path: &str) -> Option<usize> {
        self.matcher.at(path).ok().map(|found| *found.value)
    }

    /// Every endpoint's path pattern (`/items/{id}`), by index.
    pub(crate) fn templates(&self) -> Vec<Box<str>> {
        self.endpoints.iter().map(|e| e.path.as_str().into()).collect()
    }

    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let Ok(found) = self.matcher.at(path) else { return Lookup::NotFound };
        let endpoint = &self.endpoints[*found.value];
        let route = endpoint.methods.iter().find(|r| r.method == method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| endpoint.methods.iter().find(|r| r.method == Method::GET))
                .flatten()
        });
        match route {
            Some(route) => {
                let params = found
                    .params
                    .iter()
                    .map(|(name, value)| {
                        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                        (name.to_owned(), value.into_owned())
                    })
                    .collect();
                Lookup::Found(route, params)
            }
            None => {
                let mut allow: Vec<&str> =
                    endpoint.methods.iter().map(|r| r.method.as_str()).collect();
                if allow.contains(&"GET") && !allow.contains(&"HEAD") {
                    allow.push("HEAD");
                }
                Lookup::MethodNotAllowed(allow.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::erase;

    fn router(routes: &[(Method, &str)]) -> Router {
        let mut router = Router::default();
        for (method, path) in routes {
            router.add(method.clone(), path, erase(|| async { "" }));
        }
        router
    }

    #[test]
    fn lookups_find_params_refuse_methods_and_miss_paths() {
        let r = router(&[
            (Method::GET, "/items/{id}"),
            (Method::PUT, "/items/{id}"),
            (Method::POST, "/items"),
            (Method::GET, "/files/{*path}"),
        ]);
        let cases: &[(Method, &str, &str)] = &[
            (Method::GET, "/items/42", "found id=42"),
            (Method::HEAD, "/items/42", "found id=42"),
            (Method::GET, "/items/a%20b", "found id=a b"),
            (Method::DELETE, "/items/42", "405 GET, PUT, HEAD"),
            (Method::GET, "/items", "405 POST"),
            (Method::GET, "/files/a/b.txt", "found path=a/b.txt"),
            (Method::GET, "/nope", "404"),
            (Method::GET, "/items/42/extra", "404"),
        ];
        for (method, path, expected) in cases {
            let got = match r.lookup(method, path) {
                Lookup::Found(_, params) => format!(
                    "found {}",
                    params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
                ),
                Lookup::MethodNotAllowed(allow) => format!("405 {allow}"),
                Lookup::NotFound => "404".to_owned(),
            };
            assert_eq!(&got, expected, "{method} {path}");
        }
    }

    #[test]
    fn nesting_prefixes_every_route() {
        let mut outer = router(&[(Method::GET, "/")]);
        outer.nest("/api", router(&[(Method::GET, "/"), (Method::GET, "/users/{id}")]));
        let paths: Vec<String> = outer.routes().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/", "/api", "/api/users/{id}"]);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_route_registered_twice_is_refused() {
        router(&[(Method::GET, "/a"), (Method::GET, "/a")]);
    }
}
