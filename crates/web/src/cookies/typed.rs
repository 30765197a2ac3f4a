//! [`Cookies<T>`]: named cookies as a typed, validated struct (FastAPI's `Cookie()`).

use std::ops::Deref;

use http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::request_cookies;
use crate::extract::FromRequestParts;
use crate::openapi::{Operation, ParamIn};
use crate::{validation, HttpError};

/// Request cookies validated against `T`'s JSON Schema and deserialized into `T`, a struct
/// whose fields are cookies of the same name (`#[serde(rename = "...")]` for a name that is no
/// Rust identifier): FastAPI's `Cookie()` parameters. Each value is read as its field's type
/// in pydantic's lax mode, as a query parameter is (`"5"` → 5), after its percent-decoding and
/// without a pair of surrounding double quotes; `Option` fields may be absent, and the
/// constraints are `#[schemars(...)]` attributes (see [`validation`](crate::validation)).
///
/// ```
/// use kairos_web::{App, Cookies, TestClient};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Prefs {
///     #[schemars(length(min = 2, max = 5))]
///     lang: String,
///     /// Items per page.
///     #[schemars(range(min = 1, max = 100))]
///     page_size: Option<u32>,
/// }
///
/// // async def read(lang: Annotated[str, Cookie(min_length=2, max_length=5)],
/// //                page_size: Annotated[int | None, Cookie(ge=1, le=100)] = None)
/// async fn read(Cookies(prefs): Cookies<Prefs>) -> String {
///     format!("{} {:?}", prefs.lang, prefs.page_size)
/// }
///
/// let client = TestClient::new(App::new().get("/", read));
/// let ok = client.get("/").header("cookie", "lang=en; page_size=20; other=x").send();
/// assert_eq!(ok.text(), "en Some(20)");
/// let bad = client.get("/").header("cookie", "page_size=0").send();
/// assert_eq!(bad.status(), 422);
/// let detail = bad.json::<serde_json::Value>()["detail"].clone();
/// assert_eq!(detail[0]["loc"], serde_json::json!(["cookie", "lang"]));
/// assert_eq!(detail[0]["type"], "missing");
/// assert_eq!(detail[1]["loc"], serde_json::json!(["cookie", "page_size"]));
/// assert_eq!(detail[1]["type"], "greater_than_equal");
/// ```
///
/// Every missing required cookie and every value that does not fit is answered in one 422,
/// `loc: ["cookie", name]`, with the rest of the request's items. Only the cookies `T` has
/// fields for are read: a browser sends every cookie of its site, so the others are no error
/// even for a `#[serde(deny_unknown_fields)]` struct (a map takes them all). In the OpenAPI
/// document, each field is a parameter `in: cookie`, with its schema and doc comment. A
/// malformed pair in the `Cookie` header is skipped, as the [module](super) says; when a name
/// comes twice, the last value counts (a `Vec` field takes them all).
///
/// For signed or encrypted cookies, take a [`SignedCookieJar`](super::SignedCookieJar) or a
/// [`PrivateCookieJar`](super::PrivateCookieJar): their values are not validated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies<T>(pub T);

impl<T> Deref for Cookies<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> FromRequestParts for Cookies<T> {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        // A struct's fields, in serde's names; none for a map, which takes every cookie.
        let fields = validation::field_order::<T>();
        let pairs = request_cookies(&parts.headers)
            .filter(|cookie| fields.is_empty() || fields.contains(&cookie.name()))
            .map(|cookie| {
                let (name, value) = cookie.name_value_trimmed();
                (name.to_owned(), value.to_owned())
            });
        validation::from_pairs("cookie", pairs).map(Cookies)
    }

    fn openapi(operation: &mut Operation<'_>) {
        operation.parameters_of::<T>(ParamIn::Cookie);
    }
}
