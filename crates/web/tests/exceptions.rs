//! Exception handlers (FastAPI's `@app.exception_handler`), black-box over real loopback
//! sockets: an error type answered the App's way, and the framework's own 404, 405, 422 and
//! 500 bodies replaced.

use kairos_web::http::StatusCode;
use kairos_web::{sync, ApiRouter, App, Exception, Html, HttpError, Json, Path, Query, TestClient};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug)]
enum StoreError {
    OutOfStock { item: String },
    Closed,
}

impl Exception for StoreError {}

#[derive(Deserialize, JsonSchema)]
struct Order {
    #[schemars(range(min = 1))]
    quantity: u32,
}

async fn buy(Path(item): Path<String>, Query(order): Query<Order>) -> Result<String, StoreError> {
    match item.as_str() {
        "closed" => Err(StoreError::Closed),
        "pen" => Ok(format!("{} pens", order.quantity)),
        _ => Err(StoreError::OutOfStock { item }),
    }
}

fn store_error(error: StoreError) -> (StatusCode, Json<Value>) {
    match error {
        StoreError::OutOfStock { item } => {
            (StatusCode::CONFLICT, Json(json!({ "error": "out_of_stock", "item": item })))
        }
        StoreError::Closed => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "closed" }))),
    }
}

fn app() -> App {
    App::new()
        .get("/buy/{item}", buy)
        // A sync handler's error and a router's route take the same way.
        .get("/sync-buy", sync(|| -> Result<&'static str, StoreError> { Err(StoreError::Closed) }))
        .include_router(ApiRouter::new().prefix("/v2").get("/buy/{item}", buy))
        .get("/teapot", || async { Err::<(), _>(HttpError::new(StatusCode::IM_A_TEAPOT, "short")) })
        .get("/panic", || async {
            if true {
                panic!("boom");
            }
            "unreachable"
        })
        .exception_handler(store_error)
}

#[test]
fn a_custom_exception_is_answered_by_its_handler_wherever_it_is_returned() {
    let client = TestClient::new(app());
    let response = client.get("/buy/ink?quantity=2").send();
    assert_eq!(response.status(), 409);
    assert_eq!(response.json::<Value>(), json!({ "error": "out_of_stock", "item": "ink" }));
    assert_eq!(client.get("/buy/closed?quantity=1").send().status(), 503);
    assert_eq!(client.get("/sync-buy").send().status(), 503);
    assert_eq!(client.get("/v2/buy/ink?quantity=2").send().status(), 409);
    assert_eq!(client.get("/buy/pen?quantity=2").send().text(), "2 pens");
}

#[test]
fn an_exception_without_a_handler_is_a_500() {
    let client = TestClient::new(App::new().get("/buy/{item}", buy));
    let response = client.get("/buy/ink?quantity=2").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
}

#[test]
fn without_status_handlers_the_frameworks_errors_keep_fastapis_bodies() {
    let client = TestClient::new(app());
    assert_eq!(client.get("/nope").send().text(), r#"{"detail":"Not Found"}"#);
    let response = client.get("/buy/pen?quantity=0").send();
    assert_eq!(response.status(), 422);
    assert_eq!(response.json::<Value>()["detail"][0]["loc"], json!(["query", "quantity"]));
    assert_eq!(client.get("/teapot").send().text(), r#"{"detail":"short"}"#);
}

#[test]
fn the_bodies_of_404_405_422_and_500_are_replaced_app_wide() {
    let app = app()
        .status_handler(StatusCode::NOT_FOUND, |error: HttpError| {
            (
                StatusCode::NOT_FOUND,
                Html(format!("<p>{}</p>", error.detail().as_str().unwrap_or(""))),
            )
        })
        .status_handler(StatusCode::METHOD_NOT_ALLOWED, |_: HttpError| {
            (StatusCode::METHOD_NOT_ALLOWED, "no such method")
        })
        .status_handler(StatusCode::UNPROCESSABLE_ENTITY, |error: HttpError| {
            let items = error.validation_items().unwrap_or_default();
            let errors: Vec<Value> =
                items.iter().map(|item| json!({ "field": item.loc, "why": item.kind })).collect();
            (StatusCode::BAD_REQUEST, Json(json!({ "errors": errors })))
        })
        .status_handler(StatusCode::INTERNAL_SERVER_ERROR, |_: HttpError| {
            (StatusCode::INTERNAL_SERVER_ERROR, "sorry")
        });
    let client = TestClient::new(app);

    // The router's 404, and a handler's own: both are 404s of the App.
    let response = client.get("/nope").send();
    assert_eq!(
        (response.status(), response.text()),
        (StatusCode::NOT_FOUND, "<p>Not Found</p>".into())
    );
    assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));

    let response = client.delete("/buy/pen").send();
    assert_eq!(response.status(), 405);
    assert_eq!(response.text(), "no such method");

    let response = client.get("/buy/pen?quantity=0").send();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>(),
        json!({ "errors": [{ "field": ["query", "quantity"], "why": "greater_than_equal" }] })
    );

    // A panic's 500, which the server answers.
    let response = client.get("/panic").send();
    assert_eq!(
        (response.status(), response.text()),
        (StatusCode::INTERNAL_SERVER_ERROR, "sorry".into())
    );

    // Statuses without a handler, and custom exceptions, are as before.
    assert_eq!(client.get("/teapot").send().text(), r#"{"detail":"short"}"#);
    assert_eq!(client.get("/buy/ink?quantity=2").send().status(), 409);
}

#[test]
fn a_handler_for_http_error_takes_every_status_without_its_own() {
    let app = app()
        .exception_handler(|error: HttpError| {
            (error.status(), format!("error {}: {}", error.status().as_u16(), error.detail()))
        })
        .status_handler(StatusCode::NOT_FOUND, |_: HttpError| (StatusCode::NOT_FOUND, "gone"));
    let client = TestClient::new(app);
    assert_eq!(client.get("/teapot").send().text(), r#"error 418: "short""#);
    assert_eq!(client.get("/nope").send().text(), "gone");
}
