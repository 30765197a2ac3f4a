//! [`Operation`]: one route's entry of the document, as its extractors, its return type and
//! its [`RouteDocs`](super::RouteDocs) write it.

use http::StatusCode;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// Where a parameter is read from: OpenAPI's `in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamIn {
    /// A `{name}` segment of the path ([`Path`](crate::Path)); always required.
    Path,
    /// The query string ([`Query`](crate::Query)).
    Query,
    /// A header ([`Headers`](crate::Headers)); a field `x_token` is the header `x-token`.
    Header,
    /// A cookie ([`Cookies`](crate::Cookies)); a field is the cookie of its name.
    Cookie,
}

impl ParamIn {
    /// OpenAPI's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

/// One route's operation in the OpenAPI document, while it is being described.
///
/// The document is made from the route table, and each route describes itself: each of the
/// handler's arguments writes what it reads ([`FromRequestParts::openapi`] and
/// [`FromRequest::openapi`]: parameters, a request body), its return type writes what it
/// answers ([`IntoResponse::openapi`]), and the route's [`RouteDocs`](super::RouteDocs) add
/// what no type can say (a summary, tags, another response). These methods are what those
/// implementations call; an extractor of your own calls them too:
///
/// ```
/// use kairos_web::http::request::Parts;
/// use kairos_web::openapi::{Operation, ParamIn};
/// use kairos_web::{FromRequestParts, HttpError};
/// use serde_json::json;
///
/// /// The `X-Request-Id` header, when there is one.
/// struct RequestId(Option<String>);
///
/// impl FromRequestParts for RequestId {
///     const NEEDS_ROUTE_CONTEXT: bool = false;
///
///     async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
///         let id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok());
///         Ok(RequestId(id.map(str::to_owned)))
///     }
///
///     fn openapi(operation: &mut Operation<'_>) {
///         operation.parameter(ParamIn::Header, "x-request-id", false, json!({"type": "string"}));
///     }
/// }
/// ```
///
/// [`FromRequestParts::openapi`]: crate::FromRequestParts::openapi
/// [`FromRequest::openapi`]: crate::FromRequest::openapi
/// [`IntoResponse::openapi`]: crate::IntoResponse::openapi
pub struct Operation<'a> {
    generator: &'a mut SchemaGenerator,
    path_params: &'a [String],
    pub(super) success: StatusCode,
    pub(super) parameters: Vec<Value>,
    pub(super) request_body: Option<Value>,
    pub(super) responses: Map<String, Value>,
    pub(super) validates: bool,
    pub(super) uses_http_error: bool,
    pub(super) meta: super::route::RouteMeta,
    /// The security schemes the operation's extractors use, by name, for
    /// `components/securitySchemes`.
    pub(super) security_schemes: Map<String, Value>,
    /// The operation's security requirement: each scheme it needs, with the scopes.
    pub(super) security: Vec<(String, Vec<String>)>,
}

impl std::fmt::Debug for Operation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("path_params", &self.path_params)
            .field("parameters", &self.parameters)
            .field("request_body", &self.request_body)
            .field("responses", &self.responses)
            .finish_non_exhaustive()
    }
}

impl<'a> Operation<'a> {
    pub(super) fn new(generator: &'a mut SchemaGenerator, path_params: &'a [String]) -> Self {
        Operation {
            generator,
            path_params,
            success: StatusCode::OK,
            parameters: Vec::new(),
            request_body: None,
            responses: Map::new(),
            validates: false,
            uses_http_error: false,
            meta: super::route::RouteMeta::default(),
            security_schemes: Map::new(),
            security: Vec::new(),
        }
    }

    /// The names of the route's path parameters, in the order of its pattern
    /// (`/items/{id}/{*rest}`: `id`, `rest`).
    pub fn path_params(&self) -> &[String] {
        self.path_params
    }

    /// The status a successful answer has (200 unless the route says otherwise with
    /// [`RouteDocs::status_code`](super::RouteDocs::status_code)): the one a return type
    /// describes itself under.
    pub fn success_status(&self) -> StatusCode {
        self.success
    }

    /// The schema of `T` as the document refers to it: a `$ref` into `components/schemas`
    /// for a named model (which is added there), the schema itself for a simple type. Made
    /// with [`validation::schema_settings`](crate::validation::schema_settings), so it is the
    /// schema requests are validated against.
    pub fn schema_for<T: JsonSchema + ?Sized>(&mut self) -> Value {
        openapi_schema(self.generator.subschema_for::<T>().to_value())
    }

    /// Adds a parameter (replacing one of the same name and place). `schema` is its JSON
    /// Schema, with its constraints; a `description` or `deprecated` in it is also put on the
    /// parameter. A path parameter is always required.
    pub fn parameter(&mut self, place: ParamIn, name: &str, required: bool, schema: Value) {
        let schema = openapi_schema(schema);
        let mut parameter = Map::new();
        parameter.insert("name".into(), name.into());
        parameter.insert("in".into(), place.as_str().into());
        parameter.insert("required".into(), (required || place == ParamIn::Path).into());
        for lifted in ["description", "deprecated"] {
            if let Some(value) = schema.get(lifted) {
                parameter.insert(lifted.into(), value.clone());
            }
        }
        parameter.insert("schema".into(), schema);
        self.parameters.retain(|p| !(p["name"] == name && p["in"] == place.as_str()));
        self.parameters.push(Value::Object(parameter));
    }

    /// Adds one parameter per value `T` is read from, as [`Query`](crate::Query),
    /// [`Path`](crate::Path) and [`Headers`](crate::Headers) read them: a struct's fields (in
    /// declaration order; required as its schema says; `x_token` as the header `x-token`), a
    /// tuple's items (named by the route's path parameters, in order), or a single value (the
    /// route's one path parameter). Each parameter's schema is its field's, with the field's
    /// constraints (`minimum`, `maxLength`, `pattern`, `enum`...), default and doc comment.
    /// Marks the operation as one that answers 422.
    pub fn parameters_of<T: JsonSchema + DeserializeOwned>(&mut self, place: ParamIn) {
        self.validates = true;
        let schema = self.inline_schema_of::<T>();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            // In declaration order, as FastAPI lists them (the schema's map is sorted).
            let order = crate::validation::field_order::<T>();
            let mut fields: Vec<(&String, &Value)> = properties.iter().collect();
            fields.sort_by_key(|(name, _)| {
                order.iter().position(|field| field == name).unwrap_or(order.len())
            });
            for (field, property) in fields {
                let name =
                    if place == ParamIn::Header { field.replace('_', "-") } else { field.clone() };
                let required = required.contains(&field.as_str());
                self.parameter(place, &name, required, property.clone());
            }
        } else if let Some(items) = schema.get("prefixItems").and_then(Value::as_array) {
            let names = self.path_params.to_vec();
            for (name, item) in names.iter().zip(items) {
                self.parameter(place, name, true, item.clone());
            }
        } else if place == ParamIn::Path && self.path_params.len() == 1 {
            let name = self.path_params[0].clone();
            self.parameter(place, &name, true, schema);
        }
    }

    /// Sets the request body: `schema` under `media_type`, required.
    pub fn body(&mut self, media_type: &str, schema: Value) {
        self.request_body = Some(json!({
            "required": true,
            "content": {media_type: {"schema": openapi_schema(schema)}},
        }));
    }

    /// Sets the request body to JSON of `T`'s schema (a `$ref` to the model), as
    /// [`Json<T>`](crate::Json) reads it. Marks the operation as one that answers 422.
    pub fn json_body<T: JsonSchema + ?Sized>(&mut self) {
        self.validates = true;
        let schema = self.schema_for::<T>();
        self.body("application/json", schema);
    }

    /// Adds the response `status` with its `description` (kept if it has one already), and
    /// no body.
    pub fn response(&mut self, status: StatusCode, description: &str) {
        self.responses
            .entry(status.as_str())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a response object")
            .entry("description")
            .or_insert_with(|| description.into());
    }

    /// Describes the body of the response `status`: `schema` under `media_type` (replacing
    /// what that media type had).
    pub fn response_body(&mut self, status: StatusCode, media_type: &str, schema: Value) {
        let description = default_description(status, self.success);
        self.response(status, &description);
        let response = self.responses[status.as_str()].as_object_mut().expect("a response object");
        let content = response.entry("content").or_insert_with(|| json!({}));
        content[media_type] = json!({"schema": openapi_schema(schema)});
    }

    /// Describes the successful answer (at [`success_status`](Self::success_status)): what a
    /// return type's [`IntoResponse::openapi`](crate::IntoResponse::openapi) calls. `None`
    /// for an answer without a body.
    pub fn success(&mut self, body: Option<(&str, Value)>) {
        let status = self.success;
        match body {
            Some((media_type, schema)) => self.response_body(status, media_type, schema),
            None => self.response(status, &default_description(status, status)),
        }
    }

    /// Describes the response `status` as JSON of `T`'s schema.
    pub fn json_response<T: JsonSchema + ?Sized>(&mut self, status: StatusCode) {
        let schema = self.schema_for::<T>();
        self.response_body(status, "application/json", schema);
    }

    /// Describes the response `status` as an [`HttpError`](crate::HttpError):
    /// `{"detail": ...}`, with `description` saying when it happens.
    pub fn error_response(&mut self, status: StatusCode, description: &str) {
        self.uses_http_error = true;
        self.response(status, description);
        let schema = json!({"$ref": "#/components/schemas/HTTPError"});
        self.response_body(status, "application/json", schema);
    }

    /// Declares that the operation needs the security scheme `name` (an OpenAPI Security
    /// Scheme Object, such as `{"type": "http", "scheme": "bearer"}`), with these `scopes`
    /// (OAuth2's; none for the others). The scheme goes into `components/securitySchemes` —
    /// which is what gives Swagger UI its Authorize button — and the requirement into the
    /// operation's `security`; a second declaration of the same scheme adds its scopes.
    pub fn security(&mut self, name: &str, scheme: Value, scopes: &[&str]) {
        self.security_schemes.insert(name.to_owned(), scheme);
        let scopes = scopes.iter().map(|scope| (*scope).to_owned());
        match self.security.iter_mut().find(|(existing, _)| existing == name) {
            Some((_, listed)) => {
                for scope in scopes {
                    if !listed.contains(&scope) {
                        listed.push(scope);
                    }
                }
            }
            None => self.security.push((name.to_owned(), scopes.collect())),
        }
    }

    /// Marks the operation as one whose input is validated, so that the document lists its
    /// 422 answer (FastAPI's `HTTPValidationError`). The extractors of
    /// [`parameters_of`](Self::parameters_of) and [`json_body`](Self::json_body) mark it
    /// themselves.
    pub fn validates(&mut self) {
        self.validates = true;
    }

    /// Leaves the route out of the document: for an extractor that makes its route no HTTP
    /// operation (a [`WebSocketUpgrade`](crate::WebSocketUpgrade)'s), as FastAPI leaves out
    /// its WebSocket routes. A handler hides its own route with
    /// [`RouteDocs::hidden`](super::RouteDocs::hidden).
    pub fn hide(&mut self) {
        self.meta.hidden = true;
    }

    /// `T`'s own schema (not a `$ref` to it), with the generator's transforms applied (the
    /// integer types' bounds): the fields become parameters one by one.
    fn inline_schema_of<T: JsonSchema + ?Sized>(&mut self) -> Value {
        let mut schema = T::json_schema(self.generator);
        for transform in self.generator.transforms_mut() {
            transform.transform(&mut schema);
        }
        openapi_schema(schema.to_value())
    }
}

/// OpenAPI's description of a status: FastAPI's "Successful Response" for the success, the
/// reason phrase for the others.
pub(super) fn default_description(status: StatusCode, success: StatusCode) -> String {
    if status == success {
        "Successful Response".to_owned()
    } else {
        status.canonical_reason().unwrap_or("Response").to_owned()
    }
}

/// A JSON Schema as the document writes it: the schema `true` (anything) as `{}`.
fn openapi_schema(schema: Value) -> Value {
    match schema {
        Value::Bool(true) => json!({}),
        other => other,
    }
}
