//! Validation, declared once on the type: its JSON Schema is the rule.
//!
//! A model derives `Deserialize` and [`JsonSchema`]; its constraints are
//! `schemars` attributes, which are also what its published schema says — nothing is written
//! twice:
//!
//! ```
//! use kairos_web::{App, Json, TestClient};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! enum Size { #[serde(rename = "a")] A, #[serde(rename = "b")] B }
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Order {
//!     #[schemars(length(min = 3, max = 50))]
//!     name: String,
//!     #[schemars(range(min = 1))]
//!     quantity: u32,
//!     size: Size,
//!     #[serde(default)]
//!     #[schemars(length(max = 5))]
//!     tags: Vec<String>,
//!     note: Option<String>,
//! }
//!
//! async fn order(Json(order): Json<Order>) -> String {
//!     format!("{} x {}", order.quantity, order.name)
//! }
//!
//! let client = TestClient::new(App::new().post("/orders", order));
//! let bad = client.post("/orders").body(r#"{"name": "ab", "quantity": 0, "size": "c"}"#).send();
//! assert_eq!(bad.status(), 422);
//! let detail = &bad.json::<serde_json::Value>()["detail"];
//! assert_eq!(detail[0]["msg"], "String should have at least 3 characters");
//! assert_eq!(detail[1]["msg"], "Input should be greater than or equal to 1");
//! assert_eq!(detail[2]["msg"], "Input should be 'a' or 'b'");
//! ```
//!
//! ## What is checked, and how it is reported
//!
//! [`Json<T>`](crate::Json), [`Query<T>`](crate::Query), [`Path<T>`](crate::Path) and
//! [`Headers<T>`](crate::Headers) validate what they receive against `T`'s schema before
//! serde reads it, and a request that does not fit gets FastAPI's 422 listing **every** bad
//! value, each in pydantic v2's shape ([`ValidationItem`]):
//!
//! | declared (schemars) | JSON Schema | pydantic `type` of the error |
//! |---|---|---|
//! | the field's Rust type | `type` | `int_parsing`, `int_from_float`, `float_parsing`, `bool_parsing`, `string_type`, `list_type`, `model_attributes_type`, ... |
//! | a field without `Option` or `#[serde(default)]` | `required` | `missing` |
//! | `range(min = 1)`, `range(max = 9)` (and `u8`..`u64`'s own bounds) | `minimum`, `maximum` | `greater_than_equal`, `less_than_equal` |
//! | `extend("exclusiveMinimum" = 0)`, `extend("exclusiveMaximum" = 1)` | `exclusiveMinimum`, `exclusiveMaximum` | `greater_than`, `less_than` |
//! | `extend("multipleOf" = 5)` | `multipleOf` | `multiple_of` |
//! | `length(min = 3)`, `length(max = 50)` on a string | `minLength`, `maxLength` | `string_too_short`, `string_too_long` |
//! | `regex(pattern = r"^\d+$")` | `pattern` | `string_pattern_mismatch` |
//! | `length(min = 1)`, `length(max = 5)` on a list | `minItems`, `maxItems` | `too_short`, `too_long` |
//! | a unit enum (a named type, as Python's `Enum`) | `$ref` to `enum` (or `oneOf` of `const`s) | `enum` |
//! | values on the field (`Literal[...]`): `extend("enum" = ["a", "b"])`, `extend("const" = "x")`, an enum marked `#[schemars(inline)]` | `enum`, `const` inline | `literal_error` |
//! | `#[serde(deny_unknown_fields)]` | `additionalProperties: false` | `extra_forbidden` |
//! | a nested model, an `Option`, a list of models | `$ref`, `anyOf` with `null`, `items` | the nested value's own errors, at its `loc` |
//!
//! The messages are pydantic's word for word ("Input should be greater than or equal to 1",
//! "Field required", "String should have at least 3 characters", ...), with its `ctx`
//! (`{"ge": 1}`) and the client's own `input`. One value has at most one item — the first
//! pydantic would report (for a number: `multiple_of`, `le`, `lt`, `ge`, `gt`; for a string:
//! `min_length`, `max_length`, `pattern`) — and the items follow the model's field order
//! (within a nested model, its schema's property order, which is alphabetical).
//! A body that is not JSON is `json_invalid`, "JSON decode error", at `["body", offset]`
//! with the parser's reason in `ctx.error`, as FastAPI answers.
//!
//! Values are read in pydantic's **lax mode**: a query parameter, header or path segment
//! `"5"` is the integer 5 (blanks, a sign, `1_000` and `"1.0"` too), `"yes"`/`"on"`/`"1"`
//! are `true`; in a JSON body too, a string `"5"` fills an integer field, `5.0` an integer,
//! `0`/`1` a boolean. A string that does not read as its field's type is reported with the
//! client's text (`int_parsing`, `"input": "abc"`). Two things pydantic takes that JSON cannot
//! carry are reported instead: `inf`/`nan` for a float field without bounds (`finite_number`;
//! with bounds, pydantic's own `less_than_equal`...), and an integer past 64 bits (as the bound
//! of its Rust type: `less_than_equal` 18446744073709551615).
//!
//! `loc` is `["body", field, ...]` (nested fields and list indexes follow), `["query", name]`,
//! `["path", name]` or `["header", name]` — a header's name with `-` as FastAPI writes it
//! (`x_token` is `x-token`). When several extractors of one handler reject a request, their
//! items are answered together, in the order of the handler's arguments.
//!
//! ## Rules a schema cannot say
//!
//! A check across fields, or against something a schema has no word for, is a [`Validate`]
//! impl, run after the schema's rules and serde have passed, and asked for by wrapping the
//! extractor in [`Valid`]: `Valid(Json(range)): Valid<Json<Range>>`. Its errors are pydantic's
//! `value_error` items ("Value error, ..."), in the same list shape.
//!
//! ## Cost
//!
//! Each model type's schema is generated and compiled to a validator once, on its first
//! request, and kept for the life of the process (per-thread caches make finding it a hash
//! lookup without a lock). A valid body is parsed once into a `serde_json::Value`, checked by
//! the compiled validator without building any error, and read by serde from that value; the
//! error report, lax reading of a body and the messages are made only for a request that
//! fails. Errors a schema is missing in its attributes (a `regex` that does not compile) are
//! logged with the type's name, and its requests answered 500.
//!
//! The schema is [`schema_for`]'s, with [`schema_settings`]: JSON Schema 2020-12, the dialect
//! of OpenAPI 3.1, so the document of the routes can be made from the same schemas.

mod lax;
mod model;
mod report;

use std::fmt::Display;
use std::ops::Deref;

use http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) use model::field_order;
pub use model::{schema_for, schema_settings};

use self::model::{Kind, Shape};
use self::report::Origin;
use crate::extract::{FromRequest, FromRequestParts};
use crate::{Headers, HttpError, Json, Path, Query, Request, ValidationItem};

/// What [`Query`], [`Path`] and [`Headers`] do with their string pairs, for pairs from
/// elsewhere: reads them into `T` — each value in lax mode as `T`'s schema types it (a
/// repeated key fills a list), checked against the schema, deserialized — or answers the 422
/// of every bad value, each `loc` starting with `source` (`"query"`, `"path"`, `"header"`).
///
/// ```
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Page { #[schemars(range(max = 100))] limit: u32 }
///
/// let pairs = [("limit".to_owned(), "5".to_owned())];
/// let page: Page = kairos_web::validation::from_pairs("query", pairs).unwrap();
/// assert_eq!(page.limit, 5);
/// let error = kairos_web::validation::from_pairs::<Page>("query", [("limit".into(), "500".into())])
///     .err()
///     .unwrap();
/// assert_eq!(error.detail()[0]["type"], "less_than_equal");
/// ```
pub fn from_pairs<T: DeserializeOwned + JsonSchema + 'static>(
    source: &'static str,
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<T, HttpError> {
    let model = compiled::<T>()?;
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in pairs {
        match params.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => params.push((key, vec![value])),
        }
    }
    let instance = match model.shape {
        Shape::Object => Value::Object(
            params
                .iter()
                .map(|(name, values)| (name.clone(), read(model.kind_of(name, 0), values)))
                .collect(),
        ),
        Shape::Tuple => Value::Array(
            params
                .iter()
                .enumerate()
                .map(|(index, (_, values))| read(model.kind_of("", index), values))
                .collect(),
        ),
        Shape::Single => match params.as_slice() {
            [(_, values)] => read(model.kind_of("", 0), values),
            _ => {
                tracing::error!(
                    target: "kairos::web",
                    "{source} parameters of `{}`: {} parameters for a single value; extract a \
                     tuple or a struct instead",
                    model.name,
                    params.len()
                );
                return Err(HttpError::internal());
            }
        },
    };
    if model.validator.is_valid(&instance)
        && let Ok(value) = T::deserialize(&instance)
    {
        return Ok(value);
    }
    let origin = Origin { source, params: Some(&params), originals: &[] };
    let items = report::errors(model, &instance, &origin);
    if !items.is_empty() {
        return Err(HttpError::validation_errors(items));
    }
    deserialize_checked(source, &instance, &[])
}

/// The header fields `T` reads, as [`Headers`] names them (`x_token` for `X-Token`), with
/// their values: only the headers `T` has a field for are copied, so a request's other
/// headers cost nothing. A `T` that takes any name (a map) gets every header.
pub(crate) fn header_pairs<T: DeserializeOwned + JsonSchema + 'static>(
    headers: &http::HeaderMap,
) -> Result<Vec<(String, String)>, HttpError> {
    let model = compiled::<T>()?;
    let text = |value: &http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    let takes_any_name = model.kinds.iter().any(|(name, _)| name.is_empty());
    if model.shape != Shape::Object || takes_any_name {
        return Ok(headers
            .iter()
            .map(|(name, value)| (name.as_str().replace('-', "_"), text(value)))
            .collect());
    }
    let mut pairs = Vec::new();
    for ((field, _), header) in model.kinds.iter().zip(&model.header_names) {
        // A name that is no header name finds nothing (the lookup parses it on the stack,
        // allocating nothing, where `HeaderName::from_bytes` would copy a non-standard one).
        for value in headers.get_all(header.as_str()) {
            pairs.push((field.clone(), text(value)));
        }
    }
    Ok(pairs)
}

/// The value of one parameter: its last value read as `kind`, or all of them for a list.
fn read(kind: Option<&Kind>, values: &[String]) -> Value {
    match kind {
        Some(Kind::List(item)) => {
            values.iter().map(|v| read(Some(item), std::slice::from_ref(v))).collect()
        }
        kind => {
            let text = values.last().map_or("", String::as_str);
            kind.and_then(|kind| lax::read(kind, text)).unwrap_or_else(|| Value::from(text))
        }
    }
}

/// What [`Json`] does with a body, for JSON from elsewhere (a message, a file): parses it,
/// checks it against `T`'s schema and deserializes it, or answers the 422 of every bad value
/// (`loc` from `"body"`).
///
/// ```
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Item { #[schemars(length(min = 1))] name: String }
///
/// let item: Item = kairos_web::validation::from_json(br#"{"name": "pen"}"#).unwrap();
/// assert_eq!(item.name, "pen");
/// let error = kairos_web::validation::from_json::<Item>(br#"{"name": ""}"#).err().unwrap();
/// assert_eq!(error.detail()[0]["type"], "string_too_short");
/// ```
pub fn from_json<T: DeserializeOwned + JsonSchema + 'static>(bytes: &[u8]) -> Result<T, HttpError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(HttpError::validation(vec!["body".into()], "Field required", "missing"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| json_invalid(bytes, &e))?;
    let model = compiled::<T>()?;
    if model.validator.is_valid(&value)
        && let Ok(value) = T::deserialize(&value)
    {
        return Ok(value);
    }
    // The slow way, for a body that does not fit as sent: lax mode, then every error.
    let mut value = value;
    let mut originals = Vec::new();
    lax::body(&model.schema, &model.schema, &mut value, &mut String::new(), &mut originals);
    let origin = Origin { source: "body", params: None, originals: &originals };
    let items = report::errors(model, &value, &origin);
    if !items.is_empty() {
        return Err(HttpError::validation_errors(items));
    }
    deserialize_checked("body", &value, &originals)
}

fn compiled<T: DeserializeOwned + JsonSchema + 'static>() -> Result<&'static model::Model, HttpError>
{
    model::model::<T>().map_err(|message| {
        tracing::error!(target: "kairos::web", "{message}");
        HttpError::internal()
    })
}

/// serde's reading of a value the schema passed: it fails only where the type's
/// `Deserialize` checks more than its schema says (a `try_from`, a `deserialize_with`), and
/// that is pydantic's `value_error` of a custom validator.
fn deserialize_checked<T: DeserializeOwned>(
    source: &'static str,
    value: &Value,
    originals: &[(String, Value)],
) -> Result<T, HttpError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        use serde_path_to_error::Segment;
        let mut loc = vec![Value::from(source)];
        let mut pointer = String::new();
        let mut input = Some(value);
        for segment in error.path().iter() {
            match segment {
                Segment::Seq { index } => {
                    loc.push(Value::from(*index));
                    pointer.push_str(&format!("/{index}"));
                    input = input.and_then(|v| v.get(index));
                }
                Segment::Map { key } => {
                    loc.push(Value::from(key.as_str()));
                    pointer.push_str(&format!("/{key}"));
                    input = input.and_then(|v| v.get(key));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        let original = originals.iter().find(|(p, _)| *p == pointer).map(|(_, v)| v.clone());
        let input = original.or_else(|| input.cloned()).unwrap_or(Value::Null);
        let message = error.into_inner().to_string();
        HttpError::validation_errors(vec![value_error(loc, &message, input)])
    })
}

/// pydantic's item for a `ValueError` raised by a validator.
fn value_error(loc: Vec<Value>, message: &str, input: Value) -> ValidationItem {
    ValidationItem::new("value_error", loc, format!("Value error, {message}"))
        .input(input)
        .ctx(json!({ "error": message }))
}

/// FastAPI's 422 for a body that is not JSON: `loc` `["body", offset]` (in characters, where
/// the parser stopped), "JSON decode error", the parser's reason in `ctx.error`.
fn json_invalid(bytes: &[u8], error: &serde_json::Error) -> HttpError {
    // serde_json counts lines from 1 and columns (in bytes) from 1.
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(error.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let offset = (line_start + error.column().saturating_sub(1)).min(bytes.len());
    let chars = bytes[..offset].iter().filter(|b| (**b & 0xC0) != 0x80).count();
    let message = error.to_string();
    let reason = message.split(" at line ").next().unwrap_or(&message);
    let item = ValidationItem::new(
        "json_invalid",
        vec![Value::from("body"), Value::from(chars)],
        "JSON decode error",
    )
    .input(json!({}))
    .ctx(json!({ "error": reason }));
    HttpError::validation_errors(vec![item])
}

/// Checks a schema cannot express — across fields, against a list, anything — run after the
/// schema's rules and serde have passed, for an extractor wrapped in [`Valid`]: pydantic's
/// `@model_validator(mode="after")` and `@field_validator`.
///
/// ```
/// use kairos_web::validation::{Errors, Validate};
/// use kairos_web::{App, Json, TestClient, Valid};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Range { start: u32, end: u32 }
///
/// impl Validate for Range {
///     fn validate(&self, errors: &mut Errors) {
///         if self.end < self.start {
///             errors.add(["end"], "end must not be before start", self.end);
///         }
///     }
/// }
///
/// async fn span(Valid(Json(range)): Valid<Json<Range>>) -> String {
///     (range.end - range.start).to_string()
/// }
///
/// let client = TestClient::new(App::new().post("/span", span));
/// assert_eq!(client.post("/span").body(r#"{"start": 2, "end": 5}"#).send().text(), "3");
/// let bad = client.post("/span").body(r#"{"start": 5, "end": 2}"#).send();
/// assert_eq!(bad.json::<serde_json::Value>()["detail"][0], serde_json::json!({
///     "type": "value_error", "loc": ["body", "end"],
///     "msg": "Value error, end must not be before start", "input": 2,
///     "ctx": {"error": "end must not be before start"}}));
/// ```
pub trait Validate {
    /// Adds an error to `errors` for each rule the value breaks; none means it is valid.
    fn validate(&self, errors: &mut Errors);
}

/// The errors a [`Validate`] impl finds, each a pydantic `value_error` item under the
/// extractor's location (`["body", ...]`, `["query", ...]`).
#[derive(Debug)]
pub struct Errors {
    source: &'static str,
    items: Vec<ValidationItem>,
}

impl Errors {
    /// An error at `path` below the extractor's location (`["end"]`, `["items", 0, "price"]`;
    /// empty for the whole value), saying `message` about `input` (the offending value).
    pub fn add<P: Into<Value>>(
        &mut self,
        path: impl IntoIterator<Item = P>,
        message: impl Display,
        input: impl Into<Value>,
    ) {
        let mut loc = vec![Value::from(self.source)];
        loc.extend(path.into_iter().map(Into::into));
        self.items.push(value_error(loc, &message.to_string(), input.into()));
    }

    /// Whether no error has been added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// An extractor whose value is also checked by its model's [`Validate`] impl:
/// `Valid<Json<T>>`, `Valid<Query<T>>`, `Valid<Path<T>>`, `Valid<Headers<T>>`. What the
/// schema checks, the inner extractor has checked already; a request that breaks one of the
/// impl's rules gets a 422 with its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Valid<E>(pub E);

impl<E> Deref for Valid<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.0
    }
}

/// An extractor whose value is a model that [`Valid`] can check: which value, and where it
/// came from.
pub trait Validated {
    /// The model type.
    type Model: Validate;
    /// Where the value came from: the first part of its errors' `loc`.
    const SOURCE: &'static str;
    /// The value.
    fn model(&self) -> &Self::Model;
}

macro_rules! validated {
    ($($extractor:ident => $source:literal),*) => {$(
        impl<T: Validate> Validated for $extractor<T> {
            type Model = T;
            const SOURCE: &'static str = $source;
            fn model(&self) -> &T {
                &self.0
            }
        }
    )*};
}

validated!(Json => "body", Query => "query", Path => "path", Headers => "header");

fn check<E: Validated>(extracted: E) -> Result<Valid<E>, HttpError> {
    let mut errors = Errors { source: E::SOURCE, items: Vec::new() };
    extracted.model().validate(&mut errors);
    if errors.items.is_empty() {
        Ok(Valid(extracted))
    } else {
        Err(HttpError::validation_errors(errors.items))
    }
}

impl<E: FromRequestParts + Validated> FromRequestParts for Valid<E> {
    const NEEDS_ROUTE_CONTEXT: bool = E::NEEDS_ROUTE_CONTEXT;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        check(E::from_request_parts(parts).await?)
    }

    fn openapi(operation: &mut crate::openapi::Operation<'_>) {
        E::openapi(operation);
    }
}

impl<T> FromRequest for Valid<Json<T>>
where
    T: Validate + for<'de> Deserialize<'de> + JsonSchema + 'static,
{
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request(request: Request) -> Result<Self, HttpError> {
        check(Json::<T>::from_request(request).await?)
    }

    fn openapi(operation: &mut crate::openapi::Operation<'_>) {
        operation.json_body::<T>();
    }
}

#[cfg(test)]
mod header_lookup {
    /// `header_pairs` looks fields up by name without checking the name first: a field whose
    /// name is no header name (a serde rename with a space) must find nothing, not panic.
    #[test]
    fn a_name_that_is_no_header_name_finds_nothing() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-token", http::HeaderValue::from_static("t"));
        assert_eq!(headers.get_all("no such header!").iter().count(), 0);
        assert_eq!(headers.get_all("x-token").iter().count(), 1);
    }
}
