//! [`Path<T>`]: the route's `{name}` parameters.

use std::ops::Deref;

use http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{FromRequestParts, RouteContext};
use crate::openapi::{Operation, ParamIn};
use crate::{validation, HttpError};

/// The route's path parameters (percent-decoded), validated against `T`'s JSON Schema and
/// deserialized: a struct (by name), a tuple (in order), or a single value when the route
/// has one parameter. Each is read as its type in pydantic's lax mode.
///
/// ```
/// use kairos_web::{App, Path};
///
/// // @app.get("/items/{item_id}") async def read_item(item_id: int)
/// async fn read_item(Path(item_id): Path<u32>) -> String {
///     format!("item {item_id}")
/// }
/// let app = App::new().get("/items/{item_id}", read_item);
/// # drop(app);
/// ```
///
/// A value that does not fit (`/items/abc`, `/items/-1`) is answered with 422:
/// `{"detail": [{"type": "int_parsing", "loc": ["path", "item_id"], "msg": "Input should be
/// a valid integer, unable to parse string as an integer", "input": "abc"}]}`. For
/// constraints, extract a struct whose fields carry `#[schemars(...)]` attributes (see
/// [`validation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T> Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequestParts for Path<T> {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let context = RouteContext::of(parts, "Path<_>")?;
        validation::from_pairs("path", context.params.iter().cloned()).map(Path)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.parameters_of::<T>(ParamIn::Path);
    }
}
