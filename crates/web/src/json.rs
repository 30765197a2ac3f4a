//! [`Json<T>`]: a JSON request body in, a JSON response out.

use std::ops::Deref;

use http::header::{self, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::extract::{read_body, FromRequest};
use crate::response::IntoResponse;
use crate::{HttpError, Request, Response};

/// JSON: as the last argument of a handler, the request body parsed into `T`; as a return
/// value, `T` serialized with `Content-Type: application/json`.
///
/// ```
/// use kairos_web::Json;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize)]
/// struct Item { name: String, price: f64 }
///
/// // @app.post("/items") async def create(item: Item) -> Item
/// async fn create(Json(item): Json<Item>) -> Json<Item> {
///     Json(item)
/// }
/// # drop(kairos_web::App::new().post("/items", create));
/// ```
///
/// A body that is not JSON, or does not fit `T`, is answered with 422 saying where:
/// `{"detail": [{"loc": ["body", "price"], "msg": "...", "type": "type_error"}]}`. The
/// `Content-Type` is not checked (FastAPI parses JSON without it too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Json<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let bytes = read_body(request).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(HttpError::validation(vec!["body".into()], "Field required", "missing"));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut deserializer).map(Json).map_err(body_error)
    }
}

/// A FastAPI-style 422 from a JSON error: where (`["body", "items", 0, "price"]`) and why.
fn body_error(error: serde_path_to_error::Error<serde_json::Error>) -> HttpError {
    use serde_path_to_error::Segment;
    let mut loc = vec![Value::from("body")];
    for segment in error.path().iter() {
        match segment {
            Segment::Seq { index } => loc.push(Value::from(*index)),
            Segment::Map { key } => loc.push(Value::from(key.as_str())),
            Segment::Enum { variant } => loc.push(Value::from(variant.as_str())),
            Segment::Unknown => {}
        }
    }
    let inner = error.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return HttpError::validation(loc, format!("JSON decode error: {inner}"), "json_invalid");
    }
    // serde_json appends " at line L column C"; the location is in `loc` already.
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        loc.push(Value::from(field));
        return HttpError::validation(loc, "Field required", "missing");
    }
    let kind = if message.starts_with("invalid type") { "type_error" } else { "value_error" };
    HttpError::validation(loc, message, kind)
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
}
