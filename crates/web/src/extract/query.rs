//! [`Query<T>`]: the query string.

use std::ops::Deref;

use http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::FromRequestParts;
use crate::openapi::{Operation, ParamIn};
use crate::{validation, HttpError};

/// The query string, validated against `T`'s JSON Schema and deserialized into `T` (usually
/// a struct): each field is a parameter, read as the field's type in pydantic's lax mode
/// (`"5"` → 5, `"yes"` → true). `Option` fields may be absent, `#[serde(default)]` ones take
/// their default, and a `Vec` field collects a repeated key (`?tag=a&tag=b`); for a scalar,
/// the last value of a repeated key counts. Constraints are `#[schemars(...)]` attributes
/// (see [`validation`]).
///
/// ```
/// use kairos_web::Query;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// fn ten() -> u32 { 10 }
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Page {
///     #[serde(default)]
///     skip: u32,
///     #[serde(default = "ten")]
///     #[schemars(range(min = 1, max = 100))]
///     limit: u32,
/// }
///
/// // async def list_items(skip: int = 0, limit: Annotated[int, Query(ge=1, le=100)] = 10)
/// async fn list_items(Query(page): Query<Page>) -> String {
///     format!("{}..{}", page.skip, page.skip + page.limit)
/// }
/// # drop(kairos_web::App::new().get("/items", list_items));
/// ```
///
/// Every missing required field and every value that does not fit is answered in one 422:
/// `{"detail": [{"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should
/// be less than or equal to 100", "input": "500", "ctx": {"le": 100}}]}` (`input` is the
/// parameter's text, as FastAPI gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequestParts for Query<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded::parse(query.as_bytes()).into_owned();
        validation::from_pairs("query", pairs).map(Query)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.parameters_of::<T>(ParamIn::Query);
    }
}
