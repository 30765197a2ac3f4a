//! Validation declared once, on the type: every bad value of a request in one 422, each item in
//! pydantic v2's shape and words — over real loopback sockets.

use kairos_web::validation::{Errors, Validate};
use kairos_web::{App, Headers, Json, Path, Query, TestClient, Valid};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(rename_all = "lowercase")]
enum Size {
    A,
    B,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[allow(dead_code)] // its fields are here to be validated, the handlers read few of them
struct Line {
    #[schemars(regex(pattern = r"^[A-Z]{3}-\d+$"))]
    sku: String,
    #[schemars(extend("exclusiveMinimum" = 0))]
    price: f64,
}

/// `Literal["fast", "slow"]`: values listed on the field, not a named type.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
enum Speed {
    Fast,
    Slow,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Order {
    #[schemars(length(min = 3, max = 10))]
    name: String,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "one")]
    quantity: u32,
    size: Size,
    #[schemars(length(min = 1, max = 3))]
    lines: Vec<Line>,
    #[schemars(extend("multipleOf" = 5))]
    #[serde(default)]
    discount: u8,
    gift: Option<bool>,
    #[schemars(extend("const" = "v1"))]
    #[serde(default = "v1")]
    version: String,
    speed: Option<Speed>,
}

fn v1() -> String {
    "v1".into()
}

async fn create(Json(order): Json<Order>) -> String {
    format!(
        "{} x{} {:?} {} {:?}",
        order.name,
        order.quantity,
        order.size,
        order.lines.len(),
        order.gift
    )
}

#[derive(Deserialize, JsonSchema)]
struct Search {
    #[schemars(range(min = 1, max = 10_000))]
    ms: u64,
    #[serde(default)]
    exact: bool,
    #[schemars(range(min = 0.0, max = 5.0))]
    scale: Option<f64>,
    #[serde(default)]
    #[schemars(length(max = 2))]
    tag: Vec<u32>,
}

async fn search(Query(q): Query<Search>) -> String {
    format!("{} {} {:?} {:?}", q.ms, q.exact, q.scale, q.tag)
}

#[derive(Deserialize, JsonSchema)]
struct Auth {
    #[schemars(length(min = 8))]
    x_token: String,
    x_retries: Option<u8>,
}

#[derive(Deserialize, JsonSchema)]
struct Range {
    start: u32,
    end: u32,
}

impl Validate for Range {
    fn validate(&self, errors: &mut Errors) {
        if self.end < self.start {
            errors.add(["end"], "end must not be before start", self.end);
        }
    }
}

fn app() -> App {
    App::new()
        .post("/orders", create)
        .get("/search", search)
        .get("/auth", |Headers(auth): Headers<Auth>| async move {
            format!("{} {:?}", auth.x_token.len(), auth.x_retries)
        })
        .get("/items/{id}/{name}", |Path((id, name)): Path<(u32, String)>| async move {
            format!("{id} {name}")
        })
        .put(
            "/orders/{id}",
            |Path(id): Path<u16>, Query(q): Query<Search>, Json(order): Json<Order>| async move {
                format!("{id} {} {}", q.ms, order.name)
            },
        )
        .post("/range", |Valid(Json(r)): Valid<Json<Range>>| async move {
            (r.end - r.start).to_string()
        })
        .get("/range", |Valid(Query(r)): Valid<Query<Range>>| async move {
            (r.end - r.start).to_string()
        })
}

fn detail(response: kairos_web::TestResponse) -> Value {
    assert_eq!(response.status(), 422, "{}", response.text());
    response.json::<Value>()["detail"].clone()
}

const GOOD: &str = r#"{"name": "pens", "size": "a", "lines": [{"sku": "PEN-1", "price": 1.5}]}"#;

#[test]
fn a_valid_body_passes_with_its_defaults() {
    let client = TestClient::new(app());
    assert_eq!(client.post("/orders").body(GOOD).send().text(), "pens x1 A 1 None");
}

#[test]
fn three_bad_fields_are_three_items_in_pydantics_exact_shape_and_field_order() {
    let client = TestClient::new(app());
    let body = r#"{"size": "c", "quantity": 0, "name": "ab",
                   "lines": [{"sku": "PEN-1", "price": 1}]}"#;
    // Each item's keys in pydantic's order, as FastAPI writes them.
    assert!(
        client.post("/orders").body(body).send().text().starts_with(
            r#"{"detail":[{"type":"string_too_short","loc":["body","name"],"msg":"String should have at least 3 characters","input":"ab","ctx":{"min_length":3}},"#
        ),
    );
    assert_eq!(
        detail(client.post("/orders").body(body).send()),
        json!([
            {"type": "string_too_short", "loc": ["body", "name"],
             "msg": "String should have at least 3 characters", "input": "ab",
             "ctx": {"min_length": 3}},
            {"type": "greater_than_equal", "loc": ["body", "quantity"],
             "msg": "Input should be greater than or equal to 1", "input": 0, "ctx": {"ge": 1}},
            {"type": "enum", "loc": ["body", "size"], "msg": "Input should be 'a' or 'b'",
             "input": "c", "ctx": {"expected": "'a' or 'b'"}},
        ])
    );
}

#[test]
fn nested_models_lists_and_every_keyword_report_at_their_loc() {
    let client = TestClient::new(app());
    let body = json!({
        "name": "a very long name",
        "size": "b",
        "lines": [{"sku": "PEN-1", "price": 2}, {"sku": "pen", "price": 0}, {"price": "x"}],
        "discount": 7,
        "gift": "perhaps",
        "version": "v2",
        "speed": "warp",
        "colour": "red",
    });
    assert_eq!(
        detail(client.post("/orders").json(&body).send()),
        json!([
            {"type": "string_too_long", "loc": ["body", "name"],
             "msg": "String should have at most 10 characters", "input": "a very long name",
             "ctx": {"max_length": 10}},
            // Within a nested model, in the order of its schema's properties (alphabetical).
            {"type": "greater_than", "loc": ["body", "lines", 1, "price"],
             "msg": "Input should be greater than 0", "input": 0, "ctx": {"gt": 0}},
            {"type": "string_pattern_mismatch", "loc": ["body", "lines", 1, "sku"],
             "msg": "String should match pattern '^[A-Z]{3}-\\d+$'", "input": "pen",
             "ctx": {"pattern": "^[A-Z]{3}-\\d+$"}},
            {"type": "missing", "loc": ["body", "lines", 2, "sku"], "msg": "Field required",
             "input": {"price": "x"}},
            {"type": "float_parsing", "loc": ["body", "lines", 2, "price"],
             "msg": "Input should be a valid number, unable to parse string as a number",
             "input": "x"},
            {"type": "multiple_of", "loc": ["body", "discount"],
             "msg": "Input should be a multiple of 5", "input": 7, "ctx": {"multiple_of": 5}},
            {"type": "bool_parsing", "loc": ["body", "gift"],
             "msg": "Input should be a valid boolean, unable to interpret input",
             "input": "perhaps"},
            {"type": "literal_error", "loc": ["body", "version"], "msg": "Input should be 'v1'",
             "input": "v2", "ctx": {"expected": "'v1'"}},
            {"type": "literal_error", "loc": ["body", "speed"],
             "msg": "Input should be 'fast' or 'slow'", "input": "warp",
             "ctx": {"expected": "'fast' or 'slow'"}},
            {"type": "extra_forbidden", "loc": ["body", "colour"],
             "msg": "Extra inputs are not permitted", "input": "red"},
        ])
    );
    let too_many = json!({"name": "pens", "size": "a", "lines": [
        {"sku": "PEN-1", "price": 1}, {"sku": "PEN-2", "price": 1},
        {"sku": "PEN-3", "price": 1}, {"sku": "PEN-4", "price": 1}]});
    assert_eq!(
        detail(client.post("/orders").json(&too_many).send()),
        json!([{"type": "too_long", "loc": ["body", "lines"],
                "msg": "List should have at most 3 items after validation, not 4",
                "input": too_many["lines"],
                "ctx": {"field_type": "List", "max_length": 3, "actual_length": 4}}])
    );
    let wrong_shape = detail(client.post("/orders").body("[1, 2]").send());
    assert_eq!(wrong_shape[0]["type"], "model_attributes_type");
    assert_eq!(wrong_shape[0]["loc"], json!(["body"]));
}

#[test]
fn a_body_is_read_in_lax_mode_and_reports_what_the_client_sent() {
    let client = TestClient::new(app());
    // "5" for an integer, 3.0 for an integer, 1 for a boolean: pydantic's lax mode takes them.
    let lax = r#"{"name": "pens", "quantity": "5", "discount": 10.0, "gift": 1, "size": "b",
                  "lines": [{"sku": "PEN-1", "price": "0.5"}]}"#;
    assert_eq!(client.post("/orders").body(lax).send().text(), "pens x5 B 1 Some(true)");
    let bad = r#"{"name": "pens", "quantity": "500", "size": "b", "discount": 2.5,
                  "lines": [{"sku": "PEN-1", "price": 1}]}"#;
    assert_eq!(
        detail(client.post("/orders").body(bad).send()),
        json!([
            {"type": "less_than_equal", "loc": ["body", "quantity"],
             "msg": "Input should be less than or equal to 100", "input": "500",
             "ctx": {"le": 100}},
            {"type": "int_from_float", "loc": ["body", "discount"],
             "msg": "Input should be a valid integer, got a number with a fractional part",
             "input": 2.5},
        ])
    );
}

#[test]
fn a_body_that_is_not_json_is_json_invalid_with_the_parsers_reason() {
    let client = TestClient::new(app());
    assert_eq!(
        detail(client.post("/orders").body(r#"{"name": }"#).send()),
        json!([{"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error",
                "input": {}, "ctx": {"error": "expected value"}}])
    );
    assert_eq!(
        detail(client.post("/orders").body("").send()),
        json!([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}])
    );
}

#[test]
fn query_parameters_are_read_in_lax_mode_with_every_error_listed() {
    let client = TestClient::new(app());
    let get = |path: &str| client.get(path).send().text();
    assert_eq!(get("/search?ms=5"), "5 false None []");
    assert_eq!(get("/search?ms=%205%20&exact=yes&scale=0.5"), "5 true Some(0.5) []");
    assert_eq!(get("/search?ms=1.0&exact=ON&tag=1&tag=2"), "1 true None [1, 2]");
    assert_eq!(get("/search?ms=1_0&ms=+7"), "7 false None []");
    assert_eq!(
        detail(client.get("/search?ms=abc&exact=maybe&scale=9&tag=1&tag=x&tag=3").send()),
        json!([
            {"type": "int_parsing", "loc": ["query", "ms"],
             "msg": "Input should be a valid integer, unable to parse string as an integer",
             "input": "abc"},
            {"type": "bool_parsing", "loc": ["query", "exact"],
             "msg": "Input should be a valid boolean, unable to interpret input",
             "input": "maybe"},
            {"type": "less_than_equal", "loc": ["query", "scale"],
             "msg": "Input should be less than or equal to 5", "input": "9",
             "ctx": {"le": 5.0}},
            {"type": "too_long", "loc": ["query", "tag"],
             "msg": "List should have at most 2 items after validation, not 3",
             "input": ["1", "x", "3"],
             "ctx": {"field_type": "List", "max_length": 2, "actual_length": 3}},
            {"type": "int_parsing", "loc": ["query", "tag", 1],
             "msg": "Input should be a valid integer, unable to parse string as an integer",
             "input": "x"},
        ])
    );
    assert_eq!(
        detail(client.get("/search").send()),
        json!([{"type": "missing", "loc": ["query", "ms"], "msg": "Field required",
                "input": null}])
    );
    // Past 64 bits, an integer is still compared with its bound, as pydantic's are.
    assert_eq!(
        detail(client.get("/search?ms=99999999999999999999999").send()),
        json!([{"type": "less_than_equal", "loc": ["query", "ms"],
                "msg": "Input should be less than or equal to 10000",
                "input": "99999999999999999999999", "ctx": {"le": 10000}}])
    );
    // A list too long: pydantic's too_long with the list as input.
    assert_eq!(
        detail(client.get("/search?ms=1&tag=1&tag=2&tag=3").send())[0]["input"],
        json!(["1", "2", "3"])
    );
}

#[test]
fn infinities_and_nan_are_compared_with_the_bounds_as_pydantic_does() {
    let client = TestClient::new(app());
    let first = |path: &str| {
        let detail = detail(client.get(path).send());
        (detail[0]["type"].clone(), detail[0]["input"].clone())
    };
    assert_eq!(first("/search?ms=1&scale=inf"), (json!("less_than_equal"), json!("inf")));
    assert_eq!(first("/search?ms=1&scale=-inf"), (json!("greater_than_equal"), json!("-inf")));
    assert_eq!(first("/search?ms=1&scale=nan"), (json!("less_than_equal"), json!("nan")));
}

#[test]
fn headers_and_paths_are_named_as_fastapi_names_them() {
    let client = TestClient::new(app());
    assert_eq!(
        client.get("/auth").header("X-Token", "12345678").header("x-retries", "3").send().text(),
        "8 Some(3)"
    );
    assert_eq!(
        detail(client.get("/auth").header("X-Token", "short").header("X-Retries", "300").send()),
        json!([
            {"type": "string_too_short", "loc": ["header", "x-token"],
             "msg": "String should have at least 8 characters", "input": "short",
             "ctx": {"min_length": 8}},
            {"type": "less_than_equal", "loc": ["header", "x-retries"],
             "msg": "Input should be less than or equal to 255", "input": "300",
             "ctx": {"le": 255}},
        ])
    );
    assert_eq!(client.get("/items/7/pen").send().text(), "7 pen");
    assert_eq!(
        detail(client.get("/items/-7/pen").send()),
        json!([{"type": "greater_than_equal", "loc": ["path", "id"],
                "msg": "Input should be greater than or equal to 0", "input": "-7",
                "ctx": {"ge": 0}}])
    );
}

#[test]
fn the_errors_of_every_extractor_are_answered_together() {
    let client = TestClient::new(app());
    let response = client.put("/orders/70000?ms=0").body(r#"{"name": "pens"}"#).send();
    let locs: Vec<Value> =
        detail(response).as_array().unwrap().iter().map(|i| i["loc"].clone()).collect();
    assert_eq!(
        locs,
        vec![
            json!(["path", "id"]),
            json!(["query", "ms"]),
            json!(["body", "size"]),
            json!(["body", "lines"]),
        ]
    );
}

#[test]
fn custom_validators_run_after_the_schema_and_report_in_the_same_shape() {
    let client = TestClient::new(app());
    assert_eq!(client.post("/range").body(r#"{"start": 2, "end": 5}"#).send().text(), "3");
    assert_eq!(
        detail(client.post("/range").body(r#"{"start": 5, "end": 2}"#).send()),
        json!([{"type": "value_error", "loc": ["body", "end"],
                "msg": "Value error, end must not be before start", "input": 2,
                "ctx": {"error": "end must not be before start"}}])
    );
    assert_eq!(
        detail(client.get("/range?start=5&end=2").send())[0]["loc"],
        json!(["query", "end"])
    );
    // The schema's errors come first; the custom check runs only on a value that passed.
    assert_eq!(detail(client.get("/range?start=x&end=2").send())[0]["type"], "int_parsing");
}

#[test]
fn a_models_schema_is_the_one_it_is_validated_against() {
    let schema = kairos_web::validation::schema_for::<Order>();
    assert_eq!(schema["properties"]["name"]["minLength"], 3);
    assert_eq!(schema["properties"]["quantity"]["maximum"], 100);
    assert_eq!(schema["properties"]["discount"]["maximum"], 255);
    assert_eq!(schema["required"], json!(["name", "size", "lines"]));
    assert_eq!(schema["$defs"]["Line"]["properties"]["price"]["exclusiveMinimum"], 0);
}
