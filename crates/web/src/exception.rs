//! Exception handlers (FastAPI's `@app.exception_handler`): an error type answered the App's
//! way, wherever a handler returns it, and the bodies of the framework's own errors (404,
//! 405, 422, 500) replaced app-wide.
//!
//! An error type becomes an [`Exception`] with one line, `impl Exception for MyError {}`;
//! then a handler may return `Result<T, MyError>`, and [`App::exception_handler`] says what
//! the response is. Every [`HttpError`] — returned by a handler, a rejection by an extractor
//! (422), the router's 404 and 405, the 500 of a panic — is an exception as well, of its
//! status: [`App::status_handler`] replaces the response for one status, and
//! `App::exception_handler::<HttpError>` for all of them (FastAPI's
//! `exception_handler(HTTPException)`).
//!
//! How: a response made from an exception carries the error (in its extensions: one
//! allocation, on error responses only), and the App's service hands it to the handler
//! registered for its type or status once the response is made. An App without handlers
//! does not look; an exception no handler takes is answered `500` and logged with the type
//! to register. The handlers are plain functions of the error (FastAPI's also get the
//! request: a handler here that needs it can be given what it needs inside the error).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::StatusCode;

use crate::handler::ResponseFuture;
use crate::response::IntoResponse;
use crate::{App, HttpError, Response};

/// An error type a handler may return (`Result<T, Self>`), answered by the handler the App
/// registered for it with [`App::exception_handler`](crate::App::exception_handler) (FastAPI's
/// custom exception class with its `@app.exception_handler`). Implement it with no items:
///
/// ```
/// use kairos_web::http::StatusCode;
/// use kairos_web::{App, Exception, Json, Path, TestClient};
///
/// #[derive(Debug)]
/// struct UnicornError { name: String }
///
/// impl Exception for UnicornError {}
///
/// async fn unicorn(Path(name): Path<String>) -> Result<String, UnicornError> {
///     if name == "yolo" {
///         return Err(UnicornError { name });
///     }
///     Ok(format!("unicorn {name}"))
/// }
///
/// let app = App::new()
///     .get("/unicorns/{name}", unicorn)
///     .exception_handler(|error: UnicornError| {
///         let message = format!("Oops! {} did something. There goes a rainbow...", error.name);
///         (StatusCode::IM_A_TEAPOT, Json(serde_json::json!({ "message": message })))
///     });
/// let client = TestClient::new(app);
/// let response = client.get("/unicorns/yolo").send();
/// assert_eq!(response.status(), 418);
/// assert_eq!(response.json::<serde_json::Value>()["message"],
///            "Oops! yolo did something. There goes a rainbow...");
/// ```
///
/// An exception the App has no handler for is answered `500`, and the log names its type.
pub trait Exception: Send + 'static {}

#[diagnostic::do_not_recommend]
impl<E: Exception> IntoResponse for E {
    fn into_response(self) -> Response {
        raised(HttpError::internal().render(), self)
    }
}

/// `response`, carrying `error` for the App's exception handlers.
pub(crate) fn raised<E: Send + 'static>(mut response: Response, error: E) -> Response {
    let raised = Raised(Arc::new(RaisedSlot {
        error: Mutex::new(Some(Box::new(error))),
        type_name: std::any::type_name::<E>(),
        unhandled_is_an_error: TypeId::of::<E>() != TypeId::of::<HttpError>(),
    }));
    response.extensions_mut().insert(raised);
    response
}

/// The error a response was made from, in its extensions (which must be `Clone + Send +
/// Sync`: hence the shared slot, taken once).
#[derive(Clone)]
struct Raised(Arc<RaisedSlot>);

struct RaisedSlot {
    error: Mutex<Option<Box<dyn Any + Send>>>,
    type_name: &'static str,
    unhandled_is_an_error: bool,
}

impl RaisedSlot {
    fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for RaisedSlot {
    fn drop(&mut self) {
        // Still here when its response is dropped (sent): no handler took it.
        let error = self.error.get_mut().unwrap_or_else(|e| e.into_inner());
        if self.unhandled_is_an_error && error.is_some() {
            tracing::error!(
                target: "kairos::web",
                "a handler returned the exception {}, and the App has no handler for it: \
                 answered 500; register one with App::exception_handler::<{}>",
                self.type_name,
                self.type_name
            );
        }
    }
}

/// A handler of an exception, its type forgotten.
type ByType = Arc<dyn Fn(Box<dyn Any + Send>) -> Response + Send + Sync>;
/// A handler of the [`HttpError`]s of one status.
type ByStatus = Arc<dyn Fn(HttpError) -> Response + Send + Sync>;

/// The App's exception handlers, by the exception's type and by an `HttpError`'s status.
#[derive(Clone, Default)]
pub(crate) struct ExceptionHandlers {
    by_type: HashMap<TypeId, ByType>,
    by_status: HashMap<StatusCode, ByStatus>,
}

impl ExceptionHandlers {
    /// Answers exceptions of type `E` with `handler` (replacing one for `E`).
    pub(crate) fn add_for_type<E, R>(&mut self, handler: impl Fn(E) -> R + Send + Sync + 'static)
    where
        E: Send + 'static,
        R: IntoResponse,
    {
        let handler: ByType =
            Arc::new(move |error: Box<dyn Any + Send>| match error.downcast::<E>() {
                Ok(error) => handler(*error).into_response(),
                Err(_) => HttpError::internal().render(),
            });
        self.by_type.insert(TypeId::of::<E>(), handler);
    }

    /// Answers the `HttpError`s of `status` with `handler` (replacing one for `status`).
    pub(crate) fn add_for_status<R: IntoResponse>(
        &mut self,
        status: StatusCode,
        handler: impl Fn(HttpError) -> R + Send + Sync + 'static,
    ) {
        self.by_status.insert(status, Arc::new(move |error| handler(error).into_response()));
    }

    /// Adds `other`'s handlers for the types and statuses this one has none for.
    pub(crate) fn add_missing(&mut self, other: ExceptionHandlers) {
        for (type_id, handler) in other.by_type {
            self.by_type.entry(type_id).or_insert(handler);
        }
        for (status, handler) in other.by_status {
            self.by_status.entry(status).or_insert(handler);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_type.is_empty() && self.by_status.is_empty()
    }

    /// `response`, or the handler's for the exception it was made from.
    pub(crate) fn handle(&self, mut response: Response) -> Response {
        let Some(Raised(slot)) = response.extensions_mut().remove::<Raised>() else {
            return response;
        };
        let Some(error) = slot.take() else { return response };
        let error = match error.downcast::<HttpError>() {
            Ok(error) => {
                if let Some(handler) = self.by_status.get(&error.status()) {
                    return handler(*error);
                }
                error as Box<dyn Any + Send>
            }
            Err(error) => error,
        };
        match self.by_type.get(&(*error).type_id()) {
            Some(handler) => handler(error),
            None => {
                // Back in its slot, so that its drop logs it if it should.
                *slot.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                response.extensions_mut().insert(Raised(slot));
                response
            }
        }
    }

    /// `response` once made, through the handlers; as it is if there are none.
    pub(crate) fn around(self: &Arc<Self>, response: ResponseFuture) -> ResponseFuture {
        if self.is_empty() {
            return response;
        }
        let handlers = Arc::clone(self);
        Box::pin(async move { handlers.handle(response.await) })
    }

    /// The response for an error the server answers by itself (a panic's 500), through the
    /// handlers.
    pub(crate) fn handle_ready(&self, response: Response) -> Response {
        if self.is_empty() {
            return response;
        }
        self.handle(response)
    }
}

impl std::fmt::Debug for ExceptionHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionHandlers")
            .field("types", &self.by_type.len())
            .field("statuses", &self.by_status.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl App {
    /// Answers every exception of type `E` a handler returns (`Err(error)` of a
    /// `Result<T, E>`) with `handler`'s response (FastAPI's `@app.exception_handler(E)`). `E`
    /// is an [`Exception`] (see there for an example), or [`HttpError`]: then every
    /// `HttpError` the App answers — a handler's, an extractor's 422, the router's 404 and
    /// 405, a panic's 500 — that no [`status_handler`](App::status_handler) takes. One
    /// handler per type (a second replaces the first).
    pub fn exception_handler<E, R>(
        mut self,
        handler: impl Fn(E) -> R + Send + Sync + 'static,
    ) -> App
    where
        E: Send + 'static,
        R: IntoResponse,
    {
        self.exceptions.add_for_type(handler);
        self
    }

    /// Answers every [`HttpError`] of `status` with `handler`'s response: the App's own body
    /// for a 404 (the router's, and handlers' `HttpError::not_found`), a 405, the 422 of a
    /// request that does not fit its extractors (their items: [`HttpError::validation_items`]),
    /// the 500 of a panic (Starlette's `exception_handlers={404: ...}`). One handler per
    /// status (a second replaces the first).
    ///
    /// ```
    /// use kairos_web::http::StatusCode;
    /// use kairos_web::{App, Html, HttpError, Path, TestClient};
    ///
    /// let app = App::new()
    ///     .get("/items/{id}", |Path(id): Path<u32>| async move { id.to_string() })
    ///     .status_handler(StatusCode::NOT_FOUND, |_: HttpError| {
    ///         (StatusCode::NOT_FOUND, Html("<h1>Nothing here</h1>"))
    ///     })
    ///     .status_handler(StatusCode::UNPROCESSABLE_ENTITY, |error: HttpError| {
    ///         let fields: Vec<String> = error.validation_items().unwrap_or_default().iter()
    ///             .map(|item| item.loc.last().map(ToString::to_string).unwrap_or_default())
    ///             .collect();
    ///         (StatusCode::BAD_REQUEST, format!("bad: {}", fields.join(", ")))
    ///     });
    /// let client = TestClient::new(app);
    /// assert_eq!(client.get("/nope").send().text(), "<h1>Nothing here</h1>");
    /// let bad = client.get("/items/x").send();
    /// assert_eq!((bad.status(), bad.text()), (StatusCode::BAD_REQUEST, r#"bad: "id""#.into()));
    /// ```
    pub fn status_handler<R: IntoResponse>(
        mut self,
        status: StatusCode,
        handler: impl Fn(HttpError) -> R + Send + Sync + 'static,
    ) -> App {
        self.exceptions.add_for_status(status, handler);
        self
    }
}
