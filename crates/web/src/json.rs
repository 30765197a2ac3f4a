//! [`Json<T>`]: a JSON request body in, a JSON response out.

use std::ops::Deref;

use http::header::{self, HeaderValue};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::extract::{read_body, FromRequest};
use crate::openapi::Operation;
use crate::response::IntoResponse;
use crate::{validation, HttpError, Request, Response};

/// JSON: as the last argument of a handler, the request body validated against `T`'s JSON
/// Schema and parsed into `T`; as a return value, `T` serialized with
/// `Content-Type: application/json`.
///
/// ```
/// use kairos_web::Json;
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize, JsonSchema)]
/// struct Item {
///     #[schemars(length(min = 1))]
///     name: String,
///     #[schemars(range(min = 0.0))]
///     price: f64,
/// }
///
/// // @app.post("/items") async def create(item: Item) -> Item
/// async fn create(Json(item): Json<Item>) -> Json<Item> {
///     Json(item)
/// }
/// # drop(kairos_web::App::new().post("/items", create));
/// ```
///
/// To be read from a body, `T` derives `Deserialize` and `JsonSchema` (its constraints are
/// `#[schemars(...)]` attributes: see [`validation`]); to be answered, `Serialize`. A body
/// that is not JSON, or does not fit `T`, is answered with 422 listing every bad value in
/// pydantic's shape: `{"detail": [{"type": "greater_than_equal", "loc": ["body", "price"],
/// "msg": "Input should be greater than or equal to 0", "input": -1, "ctx": {"ge": 0.0}}]}`.
/// An empty body is `missing` at `["body"]`. The `Content-Type` is not checked (FastAPI
/// parses JSON without it too). For the raw JSON, take `Json<serde_json::Value>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequest for Json<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let bytes = read_body(request).await?;
        validation::from_json(&bytes).map(Json)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.json_body::<T>();
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = Response::new(bytes.into());
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            Err(e) => {
                tracing::error!(target: "kairos::web", "a Json response failed to serialize: {e}");
                HttpError::internal().into_response()
            }
        }
    }

    /// JSON, of any shape: whether `T` has a schema cannot be asked here (see
    /// [`RouteDocs::response`](crate::openapi::RouteDocs::response) to give it).
    fn openapi(operation: &mut Operation<'_>) {
        operation.success(Some(("application/json", serde_json::json!({}))));
    }
}
