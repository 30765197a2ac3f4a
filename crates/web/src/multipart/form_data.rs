//! [`FormData`]: a whole multipart form, read before the handler runs.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{config_for, multipart_openapi, AppLimits, Multipart, MultipartLimits, UploadFile};
use crate::extract::FromRequest;
use crate::openapi::Operation;
use crate::{HttpError, Request, ValidationItem};

/// A whole `multipart/form-data` form (FastAPI's `UploadFile` and `Form()` parameters, and
/// Starlette's `await request.form()`): as the last argument of a handler, every part read
/// before the handler runs — the text fields as strings, the files as [`UploadFile`]s,
/// spooled to disk past the route's threshold.
///
/// `L` is the route's limits ([`MultipartLimits`]; by default the App's
/// [`MultipartConfig`](super::MultipartConfig)). A request over one is answered 413 and the
/// handler is not called; the files read until then are removed. A body that is not
/// multipart is an empty form.
///
/// ```
/// use kairos_web::{App, FormData, HttpError, TestClient};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Meta {
///     #[schemars(length(min = 1))]
///     title: String,
///     #[serde(default)]
///     public: bool,
/// }
///
/// // async def create(photo: UploadFile, title: str = Form(min_length=1), public: bool = Form(False))
/// async fn create(mut form: FormData) -> Result<String, HttpError> {
///     let meta: Meta = form.parse()?; // the text fields, validated as Form<Meta> would
///     let photo = form.take_file("photo")?;
///     Ok(format!("{} ({} bytes, public: {})", meta.title, photo.size(), meta.public))
/// }
///
/// let client = TestClient::new(App::new().post("/photos", create));
/// let body = "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nSea\r\n\
///             --b\r\nContent-Disposition: form-data; name=\"public\"\r\n\r\non\r\n\
///             --b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"sea.png\"\r\n\
///             \r\n\x01\x02\x03\r\n--b--\r\n";
/// let response = client.post("/photos")
///     .header("content-type", "multipart/form-data; boundary=b")
///     .body(body)
///     .send();
/// assert_eq!(response.text(), "Sea (3 bytes, public: true)");
///
/// // Without the file: FastAPI's 422.
/// let body = "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nSea\r\n--b--\r\n";
/// let response = client.post("/photos")
///     .header("content-type", "multipart/form-data; boundary=b")
///     .body(body)
///     .send();
/// assert_eq!(response.status(), 422);
/// assert_eq!(response.json::<serde_json::Value>()["detail"][0]["loc"],
///            serde_json::json!(["body", "photo"]));
/// ```
pub struct FormData<L = AppLimits> {
    texts: Vec<(String, String)>,
    files: Vec<UploadFile>,
    _limits: PhantomData<fn() -> L>,
}

impl<L> FormData<L> {
    /// The value of text field `name` (the last, if it came more than once, as Starlette's
    /// `form[name]`).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every text field, in the order they came, repeated names included.
    pub fn texts(&self) -> &[(String, String)] {
        &self.texts
    }

    /// The file of field `name` (the last, if it came more than once).
    pub fn file(&self, name: &str) -> Option<&UploadFile> {
        self.files.iter().rev().find(|f| f.name() == name)
    }

    /// Every file, in the order they came.
    pub fn files(&self) -> &[UploadFile] {
        &self.files
    }

    /// Takes the file of field `name` out of the form (the last, if it came more than once),
    /// or answers FastAPI's 422 for a missing `UploadFile`:
    /// `{"type": "missing", "loc": ["body", name], "msg": "Field required", "input": null}`.
    pub fn take_file(&mut self, name: &str) -> Result<UploadFile, HttpError> {
        match self.files.iter().rposition(|f| f.name() == name) {
            Some(index) => Ok(self.files.remove(index)),
            None => Err(HttpError::validation_errors(vec![ValidationItem::new(
                "missing",
                vec![Value::from("body"), Value::from(name)],
                "Field required",
            )])),
        }
    }

    /// Takes every file of field `name` out of the form, in the order they came
    /// (`files: list[UploadFile]`); none is an empty list.
    pub fn take_files(&mut self, name: &str) -> Vec<UploadFile> {
        let (taken, kept) =
            std::mem::take(&mut self.files).into_iter().partition(|f| f.name() == name);
        self.files = kept;
        taken
    }

    /// The text fields read into `T`, validated against its JSON Schema exactly as
    /// [`Form<T>`](crate::Form) reads a form: lax scalars, repeated names into `Vec` fields,
    /// an empty value as absent, every bad field in one 422 at `["body", name]`.
    pub fn parse<T: DeserializeOwned + JsonSchema + 'static>(&self) -> Result<T, HttpError> {
        crate::form::from_fields(self.texts.iter().cloned())
    }
}

impl<L> std::fmt::Debug for FormData<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormData").field("texts", &self.texts).field("files", &self.files).finish()
    }
}

impl<L: MultipartLimits> FromRequest for FormData<L> {
    async fn from_request(request: Request) -> Result<Self, HttpError> {
        let (parts, body) = request.into_parts();
        let config = config_for::<L>(&parts);
        let mut multipart = Multipart::<L>::new(&parts.headers, body, config)?;
        let mut form = FormData { texts: Vec::new(), files: Vec::new(), _limits: PhantomData };
        while let Some(field) = multipart.next_field().await? {
            if field.is_file() {
                form.files.push(field.spool().await?);
            } else {
                let name = field.name().to_owned();
                form.texts.push((name, field.text().await?));
            }
        }
        Ok(form)
    }

    fn openapi(operation: &mut Operation<'_>) {
        multipart_openapi(operation, serde_json::json!({"type": "object"}));
    }
}
