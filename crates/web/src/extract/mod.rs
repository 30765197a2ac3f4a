//! Extractors: what a handler's arguments are made from.
//!
//! A handler's arguments are extractors, run in order before it is called. A request that does
//! not fit is answered for the handler, which is not called: with a 422 that lists every bad
//! value of every extractor (as FastAPI's), or the first other rejection (a 413, ...). `T` of
//! `Path`, `Query`, `Headers` and `Json` derives `Deserialize` and `schemars::JsonSchema`: its
//! schema, with the constraints declared on its fields, is what the request is validated
//! against ([`validation`](crate::validation)).
//!
//! | argument | made from | when it does not fit |
//! |---|---|---|
//! | [`Path<T>`] | the route's `{name}` parameters (a struct by name, a tuple in order, or one value) | 422, `loc: ["path", name]` |
//! | [`Query<T>`] | the query string | 422, `loc: ["query", name]` |
//! | [`Headers<T>`] | the headers, `user_agent` ← `User-Agent` (FastAPI's `Header()`) | 422, `loc: ["header", name]` (`x-token` for `x_token`) |
//! | [`Cookies<T>`](crate::Cookies) | the cookies, by field name (FastAPI's `Cookie()`); [`CookieJar`](crate::cookies::CookieJar), [`SignedCookieJar`](crate::cookies::SignedCookieJar), [`PrivateCookieJar`](crate::cookies::PrivateCookieJar) and [`Session`](crate::session::Session) take them all ([`cookies`](crate::cookies), [`session`](crate::session)) | `Cookies<T>`: 422, `loc: ["cookie", name]`; the others never reject (a bad cookie reads as absent) but are 500 without their keys or layer |
//! | [`State<T>`] | the value given to [`App::with_state`](crate::App::with_state) | 500 (a programming error, logged) |
//! | [`WorkerState<T>`] | the value [`App::worker_state`](crate::App::worker_state)'s factory made on this worker (`async` handlers only) | 500 (a programming error, logged) |
//! | [`Depends<T>`](crate::Depends) | the request's [`Dependency`](crate::Dependency) `T`, made once per request from extractors of its own | its inputs' 422, or its own error |
//! | [`BackgroundTasks`](crate::BackgroundTasks) | the request's queue of tasks to run after its response | — |
//! | `HeaderMap`, `Method`, `Uri` | the request head | — |
//! | [`Json<T>`](crate::Json) (last) | the body, as JSON | 422, `loc: ["body", ...]`; 413 past the server's limit |
//! | [`Form<T>`](crate::Form) (last) | an `application/x-www-form-urlencoded` body, or a multipart body's text fields | 422, `loc: ["body", name]`; 413 past a limit |
//! | [`FormData`](crate::FormData) (last) | a `multipart/form-data` body, whole: text fields and [`UploadFile`](crate::UploadFile)s spooled to memory or disk | 413 past a limit of the route; 400 if malformed; 422 for a field not allowed |
//! | [`Multipart`](crate::Multipart) (last) | a `multipart/form-data` body, streamed part by part | as `FormData`, at the part that breaks the rule |
//! | `Bytes`, `String` (last) | the body, raw | 413 past the limit; 422 if not UTF-8 |
//! | [`Request`] (last) | the whole request | — |
//!
//! Only the last argument may read the body ([`FromRequest`]); the others see the head
//! ([`FromRequestParts`]). Implement either trait for your own extractors.

mod client;
mod header;
mod path;
mod query;
mod state;
mod worker_state;

use std::future::Future;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

pub use client::{ClientAddr, RequestUrl};
pub use header::Headers;
pub use path::Path;
pub use query::Query;
pub use state::State;
pub(crate) use state::StateMap;
pub use worker_state::WorkerState;

use crate::openapi::Operation;
use crate::{HttpError, Request};

/// An extractor that needs only the request head: any argument of a handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be made from a request's head, so it cannot be this argument",
    label = "not an extractor of the request's head",
    note = "only a handler's last argument may read the body (`Json<T>`, `Bytes`, `String`, \
            `Request`): move it last",
    note = "for a type of your own, implement `FromRequestParts` (or `FromRequest` to read the \
            body, as the last argument)"
)]
pub trait FromRequestParts: Sized {
    /// Whether this extractor reads the route's context — its path parameters ([`Path`]), the
    /// App's state ([`State`]) or the worker's ([`WorkerState`]) — from the request's extensions. The router puts that
    /// context into a request only for handlers with such an extractor (one allocation less
    /// per request for the others). Keep the default, `true`, unless yours reads neither.
    const NEEDS_ROUTE_CONTEXT: bool = true;

    /// Makes `Self` from the head, or answers the request with an error. Write it as an
    /// `async fn`: most extractors never await and are ready at once (the future is part of
    /// the handler's, not boxed), while one that must wait — a [`Depends`](crate::Depends)
    /// whose dependency takes a connection from a pool — can, in any argument position.
    fn from_request_parts(parts: &mut Parts) -> impl Future<Output = Result<Self, HttpError>>;

    /// Describes what this extractor reads in the route's OpenAPI operation (parameters,
    /// with [`Operation::parameters_of`] or [`Operation::parameter`]). Nothing by default:
    /// `State`, `HeaderMap`... read nothing a client chooses.
    fn openapi(operation: &mut Operation<'_>) {
        let _ = operation;
    }
}

/// An extractor that may consume the body: only the last argument of a handler.
///
/// `M` only tells apart the blanket implementation for [`FromRequestParts`] types; leave it
/// to its default when implementing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be made from a request, so it cannot be a handler's argument",
    label = "not an extractor",
    note = "arguments are extractors: `Path<T>`, `Query<T>`, `Headers<T>`, `State<T>`, \
            `WorkerState<T>`, `HeaderMap`, `Method`, `Uri`, and last `Json<T>`, `Bytes`, \
            `String` or `Request`; `T` of `Path`/`Query`/`Headers`/`Json` derives `Deserialize` \
            and `schemars::JsonSchema` (its schema is what the request is validated against)",
    note = "for a type of your own, implement `FromRequestParts` (or `FromRequest`)"
)]
pub trait FromRequest<M = ViaRequest>: Sized {
    /// As [`FromRequestParts::NEEDS_ROUTE_CONTEXT`]: keep `true` unless this extractor reads
    /// neither path parameters nor state.
    const NEEDS_ROUTE_CONTEXT: bool = true;

    /// Makes `Self` from the request, or answers it with an error.
    fn from_request(request: Request) -> impl Future<Output = Result<Self, HttpError>>;

    /// Describes what this extractor reads in the route's OpenAPI operation (a body, with
    /// [`Operation::body`] or [`Operation::json_body`]). Nothing by default.
    fn openapi(operation: &mut Operation<'_>) {
        let _ = operation;
    }
}

/// What the router knows about a request that its extractors may need: the matched route's
/// parameters (percent-decoded), the App's states and the id of the worker serving it. Put
/// in the request's extensions, once, for handlers that need it.
#[derive(Clone, Debug)]
pub(crate) struct RouteContext {
    pub(crate) params: Vec<(String, String)>,
    pub(crate) states: StateMap,
    pub(crate) worker: u64,
    /// The client's address, from the request's body (where the server keeps it).
    pub(crate) client: Option<std::net::SocketAddr>,
    /// The scheme the client used, from the request's body (where the server keeps it).
    pub(crate) scheme: Option<http::uri::Scheme>,
    /// The App's root path ([`App::root_path`](crate::App::root_path)).
    pub(crate) root_path: Option<std::sync::Arc<str>>,
    /// The route's label, for a task the request spawns that should be reported under it
    /// (a WebSocket's session).
    pub(crate) label: kairos_rt::task::Label,
}

impl RouteContext {
    /// The context of a routed request, or the 500 for an extractor used outside one
    /// (`what` names the extractor in the log).
    pub(crate) fn of<'a>(parts: &'a Parts, what: &str) -> Result<&'a RouteContext, HttpError> {
        parts.extensions.get::<RouteContext>().ok_or_else(|| {
            tracing::error!(
                target: "kairos::web",
                "{what} used outside a routed request; only handlers registered on an App see it"
            );
            HttpError::internal()
        })
    }
}

/// Marks the [`FromRequest`] implementations that read the body.
#[derive(Debug)]
pub enum ViaRequest {}

/// Marks the [`FromRequest`] implementation that every [`FromRequestParts`] type gets.
#[derive(Debug)]
pub enum ViaParts {}

impl<T: FromRequestParts> FromRequest<ViaParts> for T {
    const NEEDS_ROUTE_CONTEXT: bool = T::NEEDS_ROUTE_CONTEXT;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let (mut parts, _body) = request.into_parts();
        T::from_request_parts(&mut parts).await
    }

    fn openapi(operation: &mut Operation<'_>) {
        T::openapi(operation);
    }
}

impl FromRequestParts for HeaderMap {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(parts.headers.clone())
    }
}

impl FromRequestParts for Method {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(parts.method.clone())
    }
}

impl FromRequestParts for Uri {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(parts.uri.clone())
    }
}

impl FromRequest for Request {
    async fn from_request(request: Request) -> Result<Self, HttpError> {
        Ok(request)
    }
}

/// Reads the whole body within the server's limit (413 past it).
pub(crate) async fn read_body(request: Request) -> Result<Bytes, HttpError> {
    request.into_body().bytes().await.map_err(HttpError::from)
}

impl FromRequest for Bytes {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        read_body(request).await
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.body("application/octet-stream", serde_json::json!({"type": "string"}));
    }
}

impl FromRequest for String {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let bytes = read_body(request).await?;
        String::from_utf8(bytes.into()).map_err(|_| {
            HttpError::validation(
                vec!["body".into()],
                "Input should be a valid string, unable to parse raw data as a unicode string",
                "string_unicode",
            )
        })
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.validates();
        operation.body("text/plain", serde_json::json!({"type": "string"}));
    }
}
