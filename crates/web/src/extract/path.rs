//! [`Path<T>`]: the route's `{name}` parameters.

use std::ops::Deref;
use std::sync::Arc;

use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{de, field_error, FromRequestParts};
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

/// The matched route's parameters (percent-decoded), put in the request's extensions by the
/// router.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathParams(pub(crate) Arc<[(String, String)]>);

impl<T: DeserializeOwned> FromRequestParts for Path<T> {
    fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let Some(params) = parts.extensions.get::<PathParams>() else {
            tracing::error!(
                target: "kairos::web",
                "Path<_> used outside a routed request; only handlers registered on an App see path parameters"
            );
            return Err(HttpError::internal());
        };
        de::from_pairs(params.0.iter().cloned()).map(Path).map_err(|e| field_error("path", e))
    }
}
