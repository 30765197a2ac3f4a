//! OpenAPI 3.1 from the route table, and its pages: nothing is declared twice.
//!
//! [`App::openapi`](crate::App::openapi) makes the document of every route, and a served App
//! answers it at `/openapi.json`, with Swagger UI at `/docs` and ReDoc at `/redoc` — FastAPI's
//! three URLs, each movable or turned off with [`App::docs`](crate::App::docs)
//! ([`DocsConfig`]). The pages' scripts and styles are in the binary (vendored from npm in
//! `crates/web/assets/`, versions in [`SWAGGER_UI_VERSION`] and [`REDOC_VERSION`]) and served
//! by the App under the pages' URLs: the docs work with no internet, and load nothing from
//! anywhere else.
//!
//! ## Where each part of the document comes from
//!
//! | in the document | comes from |
//! |---|---|
//! | `paths`, methods | the route table, in registration order (`{*rest}` is written `{rest}`) |
//! | `parameters` | the handler's [`Path<T>`](crate::Path), [`Query<T>`](crate::Query), [`Headers<T>`](crate::Headers), [`Cookies<T>`](crate::Cookies): one per field of `T`, with its schema — type, `minimum`/`maximum`, `minLength`, `pattern`, `enum`, default, the field's doc comment — and `required` as validation requires it; a header `x_token` is `x-token` |
//! | `requestBody` | [`Json<T>`](crate::Json): `application/json`, a `$ref` to `T` in `components/schemas`; `String` (`text/plain`), `Bytes` (`application/octet-stream`) |
//! | `responses` | the handler's return type (`String`: `text/plain`; `Json<_>`: `application/json`; `Html`; `Sse`: `text/event-stream`...), under 200 or [`RouteDocs::status_code`]; [`RouteDocs::response`] and [`RouteDocs::error`] for more; `422` with FastAPI's `HTTPValidationError` on every route whose input is validated |
//! | `summary`, `operationId` | [`RouteDocs`], or FastAPI's defaults from the function's name: "Read Item", `read_item_items__item_id__get` |
//! | `description`, `tags`, `deprecated` | [`RouteDocs`] |
//! | `components/schemas` | every model a route refers to, by [`schema_for`](crate::validation::schema_for)'s rules: the schema that validates the requests is the one published |
//!
//! Each extractor describes itself ([`FromRequestParts::openapi`](crate::FromRequestParts::openapi),
//! [`FromRequest::openapi`](crate::FromRequest::openapi)), as does each response type
//! ([`IntoResponse::openapi`](crate::IntoResponse::openapi)); a handler collects its
//! arguments' descriptions in order, then its return type's, and its route's [`RouteDocs`]
//! come last. An extractor of your own writes its part with [`Operation`]'s methods.
//!
//! ```
//! use kairos_web::openapi::RouteDocs;
//! use kairos_web::{App, Json, Query, TestClient};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Page {
//!     /// How many items to skip.
//!     #[serde(default)]
//!     skip: u32,
//!     #[schemars(range(min = 1, max = 100))]
//!     limit: u32,
//! }
//!
//! #[derive(Deserialize, Serialize, JsonSchema)]
//! struct Item {
//!     #[schemars(length(min = 1))]
//!     name: String,
//! }
//!
//! async fn list_items(Query(page): Query<Page>) -> Json<Vec<String>> {
//!     Json(vec![format!("{}..{}", page.skip, page.skip + page.limit)])
//! }
//! async fn create_item(Json(item): Json<Item>) -> Json<Item> {
//!     Json(item)
//! }
//!
//! let app = App::new()
//!     .get("/items", list_items.tag("items"))
//!     .post("/items", create_item.tag("items").summary("Create an item"));
//!
//! let doc = app.openapi();
//! let list = &doc["paths"]["/items"]["get"];
//! assert_eq!(list["summary"], "List Items");
//! assert_eq!(list["parameters"][0]["description"], "How many items to skip.");
//! assert_eq!(list["parameters"][1]["required"], true);
//! assert_eq!(list["parameters"][1]["schema"]["maximum"], 100);
//! assert_eq!(list["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
//!            "#/components/schemas/HTTPValidationError");
//! let create = &doc["paths"]["/items"]["post"];
//! assert_eq!(create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
//!            "#/components/schemas/Item");
//! assert_eq!(doc["components"]["schemas"]["Item"]["properties"]["name"]["minLength"], 1);
//!
//! // Served, with the pages:
//! let client = TestClient::new(app);
//! assert_eq!(client.get("/openapi.json").send().json::<serde_json::Value>(), doc);
//! assert!(client.get("/docs").send().text().contains("swagger-ui-bundle.js"));
//! ```
//!
//! ## What the document cannot know
//!
//! - A [`Json<T>`](crate::Json) *answer*'s schema: `Json` answers any `Serialize` type, and
//!   whether `T` also derives `JsonSchema` cannot be asked at compile time (that takes
//!   specialization); the answer is documented as JSON of any shape unless the route says
//!   [`.response::<T>(status)`](RouteDocs::response).
//! - The statuses a handler picks at run time (`(StatusCode::CREATED, body)`, an
//!   `HttpError`): say them with [`RouteDocs::status_code`] and [`RouteDocs::error`].
//! - A function's doc comment: gone at run time. The summary defaults to its name; a
//!   description is [`RouteDocs::description`].
//! - One schema serves requests and answers: a model is published as requests read it (a
//!   `#[serde(default)]` field is not required), where FastAPI can publish two.
//!
//! The document is made once, when the App starts serving: the route table is fixed by then.

mod docs;
mod document;
mod operation;
mod route;

pub(crate) use docs::mount;
pub use docs::{DocsConfig, REDOC_VERSION, SWAGGER_UI_VERSION};
pub(crate) use document::document;
pub use operation::{Operation, ParamIn};
pub use route::{Documented, RouteDocs, WithDocs};
