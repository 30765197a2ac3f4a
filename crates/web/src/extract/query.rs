//! [`Query<T>`]: the query string.

use std::ops::Deref;

use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{de, field_error, FromRequestParts};
use crate::HttpError;

/// The query string, deserialized into `T` (usually a struct): each field is a parameter,
/// parsed as the field's type. `Option` fields may be absent, `#[serde(default)]` ones take
/// their default, and a `Vec` field collects a repeated key (`?tag=a&tag=b`).
///
/// ```
/// use kairos_web::Query;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Page { skip: Option<u32>, limit: Option<u32> }
///
/// // async def list_items(skip: int = 0, limit: int = 10)
/// async fn list_items(Query(page): Query<Page>) -> String {
///     format!("{}..{}", page.skip.unwrap_or(0), page.limit.unwrap_or(10))
/// }
/// # drop(kairos_web::App::new().get("/items", list_items));
/// ```
///
/// A missing required field or a value that does not parse is answered with 422 naming it:
/// `{"detail": [{"loc": ["query", "ms"], "msg": "Field required", "type": "missing"}]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequestParts for Query<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded::parse(query.as_bytes()).into_owned();
        de::from_pairs(pairs).map(Query).map_err(|e| field_error("query", e))
    }
}
