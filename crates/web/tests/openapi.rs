//! OpenAPI from the route table: each route's parameters, body and answers from its types,
//! its metadata from `RouteDocs`, and the document and its pages served by the App with
//! nothing loaded from elsewhere.

use kairos_web::http::StatusCode;
use kairos_web::openapi::{DocsConfig, RouteDocs};
use kairos_web::{sync, App, Headers, HttpError, Json, Path, Query, State, TestClient, Valid};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

fn ten() -> u32 {
    10
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)] // read by the schema, not by the handlers
struct Page {
    /// How many items to skip.
    #[serde(default)]
    skip: u32,
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 100))]
    limit: u32,
    #[schemars(length(min = 3, max = 50), regex(pattern = r"^[a-z]+$"))]
    q: Option<String>,
    #[serde(default)]
    tag: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Auth {
    #[schemars(length(min = 8))]
    x_token: String,
    user_agent: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Size {
    S,
    M,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Item {
    #[schemars(length(min = 1))]
    name: String,
    #[schemars(range(min = 0.0))]
    price: f64,
    size: Size,
}

impl kairos_web::Validate for Item {
    fn validate(&self, _errors: &mut kairos_web::validation::Errors) {}
}

async fn list_items(Query(_page): Query<Page>, Headers(_auth): Headers<Auth>) -> Json<Vec<Item>> {
    Json(Vec::new())
}

async fn read_item(Path(item_id): Path<u32>) -> Result<Json<Item>, HttpError> {
    Err(HttpError::not_found(format!("no item {item_id}")))
}

fn create_item(Valid(Json(item)): Valid<Json<Item>>) -> (StatusCode, Json<Item>) {
    (StatusCode::CREATED, Json(item))
}

async fn pair(Path((a, b)): Path<(String, u8)>) -> String {
    format!("{a}{b}")
}

async fn raw(request: kairos_web::Request) -> String {
    request.uri().path().to_owned()
}

async fn stats(State(_n): State<u32>) -> kairos_web::Html<&'static str> {
    kairos_web::Html("<p>ok</p>")
}

fn app() -> App {
    App::new()
        .with_state(7u32)
        .get("/items", list_items.tag("items"))
        .get(
            "/items/{item_id}",
            read_item
                .tag("items")
                .summary("Read one item")
                .description("The item, by its id.")
                .response::<Item>(StatusCode::OK)
                .error(StatusCode::NOT_FOUND, "No such item"),
        )
        .post(
            "/items",
            sync(create_item).tag("items").status_code(StatusCode::CREATED).deprecated(),
        )
        .get("/pair/{a}/{b}", pair.operation_id("pair"))
        .get("/files/{*rest}", raw)
        .get("/stats", stats)
        .get("/secret", stats.hidden())
}

fn param<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {operation:#}"))
}

#[test]
fn query_and_header_parameters_carry_their_fields_schemas() {
    let doc = app().openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["tags"], json!([{"name": "items"}]), "each tag once, in registration order");
    let list = &doc["paths"]["/items"]["get"];
    assert_eq!(list["summary"], "List Items");
    assert_eq!(list["operationId"], "list_items_items_get");
    assert_eq!(list["tags"], json!(["items"]));
    let names: Vec<&Value> =
        list["parameters"].as_array().unwrap().iter().map(|p| &p["name"]).collect();
    assert_eq!(
        names,
        ["skip", "limit", "q", "tag", "x-token", "user-agent"],
        "in argument and field order"
    );

    let skip = param(list, "skip");
    assert_eq!(skip["in"], "query");
    assert_eq!(skip["required"], false);
    assert_eq!(skip["description"], "How many items to skip.");
    assert_eq!(skip["schema"]["minimum"], 0);
    let limit = param(list, "limit");
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(100))
    );
    assert_eq!(limit["schema"]["default"], 10);
    let q = param(list, "q");
    assert_eq!(q["schema"]["minLength"], 3);
    assert_eq!(q["schema"]["maxLength"], 50);
    assert_eq!(q["schema"]["pattern"], "^[a-z]+$");
    assert_eq!(param(list, "tag")["schema"]["type"], "array");

    let token = param(list, "x-token");
    assert_eq!((&token["in"], &token["required"]), (&json!("header"), &json!(true)));
    assert_eq!(token["schema"]["minLength"], 8);
    assert_eq!(param(list, "user-agent")["required"], false);

    assert_eq!(
        list["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/HTTPValidationError"
    );
    assert_eq!(list["responses"]["200"]["description"], "Successful Response");
    assert!(list["responses"]["200"]["content"]["application/json"].is_object());
}

#[test]
fn path_parameters_are_named_by_the_pattern() {
    let doc = app().openapi();
    let read = &doc["paths"]["/items/{item_id}"]["get"];
    let id = param(read, "item_id");
    assert_eq!((&id["in"], &id["required"]), (&json!("path"), &json!(true)));
    assert_eq!(id["schema"]["maximum"], u32::MAX);

    let pair = &doc["paths"]["/pair/{a}/{b}"]["get"];
    assert_eq!(pair["operationId"], "pair");
    assert_eq!(param(pair, "a")["schema"]["type"], "string");
    assert_eq!(param(pair, "b")["schema"]["maximum"], 255);

    // Read by no extractor: declared as a string all the same, as OpenAPI requires.
    let files = &doc["paths"]["/files/{rest}"]["get"];
    assert_eq!(param(files, "rest")["schema"], json!({"type": "string"}));
    assert!(files["responses"].get("422").is_none(), "nothing validated, no 422");
    assert_eq!(files["responses"]["200"]["content"]["text/plain"]["schema"]["type"], "string");
}

#[test]
fn bodies_and_answers_refer_to_their_models() {
    let doc = app().openapi();
    let create = &doc["paths"]["/items"]["post"];
    assert_eq!(create["deprecated"], true);
    assert_eq!(create["requestBody"]["required"], true);
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert_eq!(create["responses"]["201"]["description"], "Successful Response");
    assert!(create["responses"].get("200").is_none());

    let read = &doc["paths"]["/items/{item_id}"]["get"];
    assert_eq!(read["summary"], "Read one item");
    assert_eq!(read["description"], "The item, by its id.");
    assert_eq!(
        read["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert_eq!(read["responses"]["404"]["description"], "No such item");
    assert_eq!(
        read["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/HTTPError"
    );

    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Item"]["title"], "Item");
    assert_eq!(schemas["Item"]["properties"]["name"]["minLength"], 1);
    assert_eq!(schemas["Item"]["properties"]["size"]["$ref"], "#/components/schemas/Size");
    assert_eq!(schemas["Size"]["enum"], json!(["s", "m"]));
    assert_eq!(schemas["ValidationError"]["required"], json!(["loc", "msg", "type"]));
    assert_eq!(
        schemas["HTTPValidationError"]["properties"]["detail"]["items"]["$ref"],
        "#/components/schemas/ValidationError"
    );
    assert!(!doc.to_string().contains("$defs"), "every model is in components/schemas");

    let stats = &doc["paths"]["/stats"]["get"];
    assert_eq!(stats["responses"]["200"]["content"]["text/html"]["schema"]["type"], "string");
    assert!(stats.get("parameters").is_none(), "State is not a parameter");
    assert!(doc["paths"].get("/secret").is_none(), "hidden");
}

#[test]
fn the_app_serves_the_document_and_its_pages() {
    let app = app();
    let doc = app.openapi();
    let client = TestClient::new(app);
    let served = client.get("/openapi.json").send();
    assert_eq!(served.header("content-type"), Some("application/json"));
    assert_eq!(served.json::<Value>(), doc);
    assert!(doc["paths"].get("/openapi.json").is_none(), "the docs' own routes are left out");

    for (page, asset, content_type) in [
        ("/docs", "/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/docs", "/docs/swagger-ui.css", "text/css; charset=utf-8"),
        ("/redoc", "/redoc/redoc.standalone.js", "text/javascript; charset=utf-8"),
    ] {
        let html = client.get(page).send();
        assert_eq!(html.status(), 200);
        assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
        let html = html.text();
        assert!(html.contains(&format!("\"{asset}\"")), "{page} loads {asset}:\n{html}");
        assert!(html.contains("/openapi.json"), "{page} reads the document");
        let served = client.get(asset).send();
        assert_eq!(served.status(), 200, "{asset}");
        assert_eq!(served.header("content-type"), Some(content_type), "{asset}");
        assert!(served.bytes().len() > 100_000, "{asset} is the whole file");
    }
    // The one image ReDoc's bundle loads from its vendor's CDN by itself is not loaded.
    let redoc = client.get("/redoc/redoc.standalone.js").send().text();
    assert!(!redoc.contains("cdn.redoc.ly") && redoc.contains("data:image/gif;base64,"));
}

/// Every URL a page refers to, in `src`/`href` attributes and the document's URL: each must be
/// the App's own (a path), so the page loads nothing from another host.
#[test]
fn the_pages_refer_to_no_other_host() {
    let client = TestClient::new(app());
    for page in ["/docs", "/redoc"] {
        let html = client.get(page).send().text();
        for scheme in ["http://", "https://", "//"] {
            let outside = html.match_indices(scheme).map(|(at, _)| &html[at.saturating_sub(30)..]);
            let found: Vec<&str> =
                outside.map(|context| &context[..context.len().min(80)]).collect();
            assert!(found.is_empty(), "{page} refers to {scheme}: {found:?}");
        }
        for attribute in ["src=\"", "href=\"", "spec-url=\""] {
            for (at, _) in html.match_indices(attribute) {
                let url = &html[at + attribute.len()..];
                let url = &url[..url.find('"').unwrap()];
                assert!(url.starts_with('/') || url == "data:,", "{page}: {attribute}{url}");
            }
        }
    }
}

#[test]
fn docs_urls_move_and_turn_off() {
    let moved = App::new().get("/", stats).docs(DocsConfig {
        title: "Shop <API>".into(),
        version: "2.0.0".into(),
        openapi_url: Some("/api/schema.json".into()),
        docs_url: Some("/api/docs".into()),
        redoc_url: None,
        ..DocsConfig::default()
    });
    assert_eq!(moved.openapi()["info"], json!({"title": "Shop <API>", "version": "2.0.0"}));
    let client = TestClient::new(moved);
    assert_eq!(client.get("/api/schema.json").send().status(), 200);
    let page = client.get("/api/docs").send().text();
    assert!(page.contains("Shop &lt;API&gt; - Swagger UI"), "{page}");
    assert!(page.contains("\"/api/schema.json\"") && page.contains("/api/docs/swagger-ui.css"));
    for gone in ["/openapi.json", "/docs", "/redoc", "/redoc/redoc.standalone.js"] {
        assert_eq!(client.get(gone).send().status(), 404, "{gone}");
    }

    // FastAPI(openapi_url=None): no document, so no pages either.
    let none =
        App::new().get("/", stats).docs(DocsConfig { openapi_url: None, ..DocsConfig::default() });
    let client = TestClient::new(none);
    for gone in ["/openapi.json", "/docs", "/redoc"] {
        assert_eq!(client.get(gone).send().status(), 404, "{gone}");
    }
}

#[test]
#[should_panic(expected = "GET /docs is where the App serves its API docs")]
fn a_route_on_a_docs_url_is_refused_with_what_to_change() {
    drop(TestClient::new(App::new().get("/docs", stats)));
}

#[test]
fn nested_routes_are_documented_under_their_prefix() {
    let app = App::new().nest("/api", App::new().get("/items/{item_id}", read_item));
    let doc = app.openapi();
    let read = &doc["paths"]["/api/items/{item_id}"]["get"];
    assert_eq!(read["operationId"], "read_item_api_items__item_id__get");
    assert_eq!(param(read, "item_id")["in"], "path");
}

/// A dependency's inputs, read through `Depends` or a router's check, are the route's
/// parameters too; a router's tags come first and its documented answers are listed.
#[test]
fn dependencies_and_routers_add_to_the_operation() {
    use kairos_web::{ApiRouter, Dependency, Depends};

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)] // read only to be documented
    struct Token {
        /// The caller's token.
        #[schemars(length(min = 8))]
        x_token: String,
    }

    #[derive(Clone)]
    struct Caller;

    impl Dependency for Caller {
        type Inputs = Headers<Token>;

        async fn resolve(_: Headers<Token>) -> Result<Self, HttpError> {
            Ok(Caller)
        }
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)] // read only to be documented
    struct Tenant {
        #[schemars(range(min = 1))]
        tenant: u32,
    }

    #[derive(Clone)]
    struct Scoped;

    impl Dependency for Scoped {
        type Inputs = (Query<Tenant>, Depends<Caller>);

        async fn resolve(_: Self::Inputs) -> Result<Self, HttpError> {
            Ok(Scoped)
        }
    }

    async fn whoami(Depends(_): Depends<Scoped>) -> &'static str {
        "you"
    }
    async fn health() -> &'static str {
        "ok"
    }

    let admin = ApiRouter::new()
        .prefix("/admin")
        .tag("admin")
        .dependency::<Caller>()
        .response(StatusCode::UNAUTHORIZED, "No or a bad token")
        .get("/health", health.tag("ops"));
    let doc = App::new().get("/whoami", whoami).include_router(admin).openapi();

    let whoami = &doc["paths"]["/whoami"]["get"];
    assert_eq!(param(whoami, "tenant")["in"], "query");
    assert_eq!(param(whoami, "tenant")["schema"]["minimum"], 1);
    assert_eq!(param(whoami, "x-token")["in"], "header", "the dependency's dependency's input");
    assert_eq!(param(whoami, "x-token")["schema"]["minLength"], 8);

    let health = &doc["paths"]["/admin/health"]["get"];
    assert_eq!(health["tags"], json!(["admin", "ops"]));
    assert_eq!(param(health, "x-token")["required"], true);
    assert_eq!(health["responses"]["401"]["description"], "No or a bad token");
}
