//! [`RouteDocs`]: what a route's types cannot say about it — FastAPI's decorator arguments —
//! kept with its handler by [`Documented`].

use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use http::StatusCode;
use kairos_rt::task::Label;
use schemars::JsonSchema;

use super::Operation;
use crate::handler::{Handler, HandlerKind, ResponseFuture};
use crate::worker::WorkerContext;
use crate::Request;

/// A response declared on the route, described when the document is made.
#[derive(Clone)]
enum Declared {
    /// `.response::<T>(status)`: JSON of `T`'s schema.
    Json(StatusCode, fn(&mut Operation<'_>, StatusCode)),
    /// `.error(status, description)`: an `HttpError`.
    Error(StatusCode, String),
}

/// A route's metadata, as [`RouteDocs`] sets it.
#[derive(Clone, Default)]
pub(crate) struct RouteMeta {
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) operation_id: Option<String>,
    pub(crate) deprecated: bool,
    pub(crate) hidden: bool,
    status: Option<StatusCode>,
    responses: Vec<Declared>,
}

/// A handler with its route's documentation: made by the methods of [`RouteDocs`], and a
/// [`Handler`] like the one it wraps (same kind, same name, same extractors, same cost but
/// one `Arc` clone per request).
pub struct Documented<H, T> {
    handler: Arc<H>,
    meta: RouteMeta,
    _marker: PhantomData<fn() -> T>,
}

impl<H, T> std::fmt::Debug for Documented<H, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documented")
            .field("handler", &std::any::type_name::<H>())
            .field("summary", &self.meta.summary)
            .field("tags", &self.meta.tags)
            .finish_non_exhaustive()
    }
}

/// Marks the [`Handler`] implementation of [`Documented`].
#[doc(hidden)]
#[derive(Debug)]
pub struct WithDocs<T>(PhantomData<T>);

/// What a route says about itself in the OpenAPI document beyond what its types say —
/// FastAPI's decorator arguments — written on its handler where it is registered:
///
/// ```
/// use kairos_web::openapi::RouteDocs;
/// use kairos_web::{http::StatusCode, App, HttpError, Json, Path};
/// use schemars::JsonSchema;
/// use serde::Serialize;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Item { name: String }
///
/// async fn read_item(Path(item_id): Path<u32>) -> Result<Json<Item>, HttpError> {
///     match item_id {
///         1 => Ok(Json(Item { name: "pen".into() })),
///         _ => Err(HttpError::not_found("Item not found")),
///     }
/// }
///
/// // @app.get("/items/{item_id}", summary="Read an item", tags=["items"],
/// //          response_model=Item, responses={404: {"description": "No such item"}})
/// let app = App::new().get(
///     "/items/{item_id}",
///     read_item
///         .summary("Read an item")
///         .tag("items")
///         .response::<Item>(StatusCode::OK)
///         .error(StatusCode::NOT_FOUND, "No such item"),
/// );
/// let doc = app.openapi();
/// let get = &doc["paths"]["/items/{item_id}"]["get"];
/// assert_eq!(get["summary"], "Read an item");
/// assert_eq!(get["operationId"], "read_item_items__item_id__get");
/// assert_eq!(get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
///            "#/components/schemas/Item");
/// ```
///
/// Without any of them a route is still documented from its types: its summary is its
/// function's name in words (`read_item` → "Read Item", as FastAPI makes it) and its
/// operation id FastAPI's `{name}{path}_{method}`. FastAPI also takes the description from
/// the function's docstring; a Rust doc comment is gone at run time (only a macro on the
/// function could keep it), so give it with [`description`](RouteDocs::description). The doc
/// comments of a model's *fields* do reach the document: `schemars` puts them in the schema,
/// and a query parameter's becomes its description.
///
/// Implemented for every [`Handler`] (an `async fn`, [`sync`](crate::sync)`(f)`,
/// [`on_pool`](crate::on_pool)`(..)`, or one already [`Documented`]); each method returns
/// the handler [`Documented`], which is registered as the handler was.
pub trait RouteDocs<T>: Handler<T> {
    /// The operation's summary, the line Swagger UI shows beside the path (default: the
    /// function's name in words).
    fn summary(self, summary: impl Into<String>) -> Documented<Self, T> {
        documented(self, |meta| meta.summary = Some(summary.into()))
    }

    /// The operation's description (Markdown), FastAPI's docstring.
    fn description(self, description: impl Into<String>) -> Documented<Self, T> {
        documented(self, |meta| meta.description = Some(description.into()))
    }

    /// Adds a tag: the group the operation is listed under.
    fn tag(self, tag: impl Into<String>) -> Documented<Self, T> {
        documented(self, |meta| meta.tags.push(tag.into()))
    }

    /// The operation id (default: FastAPI's `{name}{path}_{method}`, each character that is
    /// not a letter, digit or `_` made `_`). Operation ids must be unique in the document.
    fn operation_id(self, id: impl Into<String>) -> Documented<Self, T> {
        documented(self, |meta| meta.operation_id = Some(id.into()))
    }

    /// Marks the operation deprecated (Swagger UI strikes it through). The route still works.
    fn deprecated(self) -> Documented<Self, T> {
        documented(self, |meta| meta.deprecated = true)
    }

    /// Leaves the route out of the document (FastAPI's `include_in_schema=False`). It is
    /// still served.
    fn hidden(self) -> Documented<Self, T> {
        documented(self, |meta| meta.hidden = true)
    }

    /// The status of a successful answer (FastAPI's `status_code=`; default 200): where the
    /// return type's description goes. Only the document: the handler's answer says the
    /// status the client gets (`(StatusCode::CREATED, Json(item))`).
    fn status_code(self, status: StatusCode) -> Documented<Self, T> {
        documented(self, |meta| meta.status = Some(status))
    }

    /// Documents the answer `status` as JSON of `R`'s schema (FastAPI's `response_model=`
    /// for the success status, `responses=` for the others). A handler returning
    /// [`Json<R>`](crate::Json) describes its answer as JSON, but not `R`'s schema: `Json`
    /// answers any `Serialize` type, and which of them derive `JsonSchema` cannot be asked at
    /// compile time without specialization; this says it.
    fn response<R: JsonSchema>(self, status: StatusCode) -> Documented<Self, T> {
        documented(self, |meta| {
            meta.responses.push(Declared::Json(status, |operation, status| {
                operation.json_response::<R>(status)
            }))
        })
    }

    /// Documents an error answer: `status`, in [`HttpError`](crate::HttpError)'s shape
    /// `{"detail": ...}`, with `description` saying when (FastAPI's `responses={404:
    /// {"description": ...}}`).
    fn error(self, status: StatusCode, description: impl Into<String>) -> Documented<Self, T> {
        documented(self, |meta| meta.responses.push(Declared::Error(status, description.into())))
    }
}

impl<H: Handler<T>, T> RouteDocs<T> for H {}

/// `handler` documented, with `change` made to its metadata.
fn documented<H: Handler<T>, T>(
    handler: H,
    change: impl FnOnce(&mut RouteMeta),
) -> Documented<H, T> {
    let mut meta = RouteMeta::default();
    change(&mut meta);
    Documented { handler: Arc::new(handler), meta, _marker: PhantomData }
}

/// The same methods on a handler already [`Documented`] add to its metadata (inherent
/// methods come before the trait's): a chain of them makes one wrapper, not one each.
impl<H, T> Documented<H, T> {
    fn change(mut self, change: impl FnOnce(&mut RouteMeta)) -> Self {
        change(&mut self.meta);
        self
    }

    /// As [`RouteDocs::summary`].
    pub fn summary(self, summary: impl Into<String>) -> Self {
        self.change(|meta| meta.summary = Some(summary.into()))
    }

    /// As [`RouteDocs::description`].
    pub fn description(self, description: impl Into<String>) -> Self {
        self.change(|meta| meta.description = Some(description.into()))
    }

    /// As [`RouteDocs::tag`].
    pub fn tag(self, tag: impl Into<String>) -> Self {
        self.change(|meta| meta.tags.push(tag.into()))
    }

    /// As [`RouteDocs::operation_id`].
    pub fn operation_id(self, id: impl Into<String>) -> Self {
        self.change(|meta| meta.operation_id = Some(id.into()))
    }

    /// As [`RouteDocs::deprecated`].
    pub fn deprecated(self) -> Self {
        self.change(|meta| meta.deprecated = true)
    }

    /// As [`RouteDocs::hidden`].
    pub fn hidden(self) -> Self {
        self.change(|meta| meta.hidden = true)
    }

    /// As [`RouteDocs::status_code`].
    pub fn status_code(self, status: StatusCode) -> Self {
        self.change(|meta| meta.status = Some(status))
    }

    /// As [`RouteDocs::response`].
    pub fn response<R: JsonSchema>(self, status: StatusCode) -> Self {
        self.change(|meta| {
            meta.responses.push(Declared::Json(status, |operation, status| {
                operation.json_response::<R>(status)
            }))
        })
    }

    /// As [`RouteDocs::error`].
    pub fn error(self, status: StatusCode, description: impl Into<String>) -> Self {
        self.change(|meta| meta.responses.push(Declared::Error(status, description.into())))
    }

    /// Applies the metadata to an operation its handler has described.
    fn apply(&self, operation: &mut Operation<'_>) {
        let meta = &self.meta;
        let into = &mut operation.meta;
        if meta.summary.is_some() {
            into.summary.clone_from(&meta.summary);
        }
        if meta.description.is_some() {
            into.description.clone_from(&meta.description);
        }
        if meta.operation_id.is_some() {
            into.operation_id.clone_from(&meta.operation_id);
        }
        for tag in &meta.tags {
            if !into.tags.contains(tag) {
                into.tags.push(tag.clone());
            }
        }
        into.deprecated |= meta.deprecated;
        into.hidden |= meta.hidden;
        for declared in &meta.responses {
            match declared {
                Declared::Json(status, describe) => describe(operation, *status),
                Declared::Error(status, description) => {
                    operation.error_response(*status, description)
                }
            }
        }
    }
}

// Not listed among `Handler`'s implementations when a handler does not fit: the mistake is in
// the function, whose own message says what to do.
#[diagnostic::do_not_recommend]
impl<H: Handler<T>, T: 'static> Handler<WithDocs<T>> for Documented<H, T> {
    fn kind(&self) -> HandlerKind {
        self.handler.kind()
    }

    fn needs_route_context(&self) -> bool {
        self.handler.needs_route_context()
    }

    fn name(&self) -> &'static str {
        self.handler.name()
    }

    fn openapi(&self, operation: &mut Operation<'_>) {
        // The success status first: the return type describes itself under it.
        if let Some(status) = self.meta.status {
            operation.success = status;
        }
        self.handler.openapi(operation);
        self.apply(operation);
    }

    fn layers(&self) -> Vec<crate::middleware::BoxedLayer> {
        self.handler.layers()
    }

    fn call(
        self: Arc<Self>,
        request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        Arc::clone(&self.handler).call(request, worker, label)
    }
}
