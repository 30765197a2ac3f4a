//! [`Path<T>`]: the route's `{name}` parameters.

use std::ops::Deref;

use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{de, field_error, FromRequestParts, RouteContext};
use crate::HttpError;

/// The route's path parameters, deserialized: a struct (by name), a tuple (in order), or a
/// single value when the route has one parameter.
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
/// A value that does not parse (`/items/abc`) is answered with 422,
/// `{"detail": [{"loc": ["path", "item_id"], "msg": "...", "type": "int_parsing"}]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T> Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequestParts for Path<T> {
    fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let context = RouteContext::of(parts, "Path<_>")?;
        de::from_pairs(context.params.iter().cloned()).map(Path).map_err(|e| field_error("path", e))
    }
}
