//! [`Form<T>`]: an HTML form's fields, read into a typed, validated model.

use std::ops::Deref;

use bytes::{Bytes, BytesMut};
use http::header;
use http_body_util::BodyExt;
use kairos_http::RequestBody;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::extract::FromRequest;
use crate::multipart::{
    body_error, check_declared_length, config_for, AppLimits, Multipart, MultipartError,
};
use crate::openapi::Operation;
use crate::{validation, HttpError, Request};

/// A form, FastAPI's `Form()` parameters: as the last argument of a handler, the fields of
/// an `application/x-www-form-urlencoded` body (what an HTML `<form method="post">` sends) —
/// or the text fields of a `multipart/form-data` one — validated against `T`'s JSON Schema
/// and deserialized into `T`, exactly as [`Query<T>`](crate::Query) reads a query string.
///
/// ```
/// use kairos_web::{App, Form, TestClient};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Login {
///     #[schemars(length(min = 3))]
///     username: String,
///     password: String,
///     #[serde(default)]
///     remember: bool,
/// }
///
/// // async def login(username: str = Form(min_length=3), password: str = Form(), remember: bool = Form(False))
/// async fn login(Form(login): Form<Login>) -> String {
///     format!("{} (remember: {})", login.username, login.remember)
/// }
///
/// let client = TestClient::new(App::new().post("/login", login));
/// let form = "application/x-www-form-urlencoded";
/// let ok = client.post("/login").header("content-type", form)
///     .body("username=ada&password=secret&remember=on").send();
/// assert_eq!(ok.text(), "ada (remember: true)");
///
/// let bad = client.post("/login").header("content-type", form).body("username=al").send();
/// assert_eq!(bad.status(), 422);
/// assert_eq!(bad.json::<serde_json::Value>(), serde_json::json!({"detail": [
///     {"type": "string_too_short", "loc": ["body", "username"],
///      "msg": "String should have at least 3 characters", "input": "al", "ctx": {"min_length": 3}},
///     {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": null},
/// ]}));
/// ```
///
/// Each field is read in pydantic's lax mode (`"3"` → 3, `"on"`/`"true"` → true), a `Vec`
/// field collects a repeated name (`tag=a&tag=b`), and for a scalar the last value counts. An
/// **empty value is absent**, as in FastAPI's forms (an HTML form sends a blank input as
/// `name=`): a required field is then `missing`, an optional one takes its default. Every bad
/// field is answered in one 422, each at `loc: ["body", name]` in pydantic v2's shape.
///
/// **Another `Content-Type`** (JSON, none at all) is read as an empty form, without reading
/// the body, as FastAPI does: the required fields are `missing` (422) — a client sees the
/// same answer from kairos as from FastAPI. (415 would say it more directly; parity won.)
///
/// The body is read within the server's `max_body_size` and the App's
/// [`MultipartConfig`](crate::MultipartConfig) `max_body_size` (413 past either); a multipart
/// form also within its field limits, and its file parts are skipped — take
/// [`FormData`](crate::FormData) to receive files, with [`FormData::parse`](crate::FormData::parse)
/// for its text fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T> Deref for Form<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequest for Form<T> {
    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let (parts, body) = request.into_parts();
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let essence = content_type.map(|t| t.split(';').next().unwrap_or("").trim());
        let config = config_for::<AppLimits>(&parts);
        let fields: Vec<(String, String)> = match essence {
            Some(t) if t.eq_ignore_ascii_case("application/x-www-form-urlencoded") => {
                check_declared_length(&parts.headers, config.max_body_size)?;
                let bytes = read_within(body, config.max_body_size).await?;
                form_urlencoded::parse(&bytes).into_owned().collect()
            }
            Some(t) if t.eq_ignore_ascii_case("multipart/form-data") => {
                let mut multipart = Multipart::<AppLimits>::new(&parts.headers, body, config)?;
                let mut fields = Vec::new();
                while let Some(field) = multipart.next_field().await? {
                    if !field.is_file() {
                        let name = field.name().to_owned();
                        fields.push((name, field.text().await?));
                    }
                }
                fields
            }
            _ => Vec::new(),
        };
        from_fields(fields).map(Form)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.validates();
        let schema = operation.schema_for::<T>();
        operation.body("application/x-www-form-urlencoded", schema);
    }
}

/// Form fields into `T`: an empty value is absent (FastAPI's forms), the rest as a query.
pub(crate) fn from_fields<T: DeserializeOwned + JsonSchema + 'static>(
    fields: impl IntoIterator<Item = (String, String)>,
) -> Result<T, HttpError> {
    validation::from_pairs("body", fields.into_iter().filter(|(_, value)| !value.is_empty()))
}

/// The whole body, within the server's limit and `limit` (413 past either).
async fn read_within(mut body: RequestBody, limit: Option<u64>) -> Result<Bytes, HttpError> {
    let mut data = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Ok(chunk) = frame.into_data() {
            if let Some(limit) = limit.filter(|limit| (data.len() + chunk.len()) as u64 > *limit) {
                return Err(MultipartError::BodyTooLarge { limit }.into());
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(data.freeze())
}
