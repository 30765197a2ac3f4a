//! [`Headers<T>`]: typed access to request headers.

use std::ops::Deref;

use http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::FromRequestParts;
use crate::openapi::{Operation, ParamIn};
use crate::{validation, HttpError};

/// Request headers validated against `T`'s JSON Schema and deserialized into `T`: each field
/// is a header whose name is the field's with `_` read as `-` — FastAPI's `Header()`
/// convention, so `user_agent` is `User-Agent` and `x_token` is `X-Token` (case does not
/// matter). `Option` fields may be absent; a repeated header fills a `Vec` field. For the raw
/// headers, take a `HeaderMap`.
///
/// ```
/// use kairos_web::Headers;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Auth {
///     #[schemars(length(min = 8))]
///     x_token: String,
///     user_agent: Option<String>,
/// }
///
/// // async def read(x_token: Annotated[str, Header(min_length=8)],
/// //                user_agent: Annotated[str | None, Header()] = None)
/// async fn read(Headers(auth): Headers<Auth>) -> String {
///     format!("{} via {:?}", auth.x_token, auth.user_agent)
/// }
/// # drop(kairos_web::App::new().get("/", read));
/// ```
///
/// A missing required header is answered with 422, named as FastAPI names it:
/// `{"detail": [{"type": "missing", "loc": ["header", "x-token"], "msg": "Field required",
/// "input": null}]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<T>(pub T);

impl<T> Deref for Headers<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequestParts for Headers<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let pairs = validation::header_pairs::<T>(&parts.headers)?;
        validation::from_pairs("header", pairs).map(Headers)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.parameters_of::<T>(ParamIn::Header);
    }
}
