//! Middleware over real sockets: `from_fn`, tower-http's layers as they are, the order of
//! App, router and route layers, and what layers see of errors, panics and dependencies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{Method, StatusCode};
use kairos_web::middleware::{from_fn, Next, RouteLayer, Timeout};
use kairos_web::{ApiRouter, App, Bytes, Dependency, HttpError, Request, Response, TestClient};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A middleware that writes `name` into `x-trail` on the way in and out, so a response
/// tells the order its layers ran in.
fn trail(
    name: &'static str,
) -> impl Fn(Request, Next) -> futures::future::LocalBoxFuture<'static, Response> + Clone {
    move |mut request: Request, next: Next| {
        Box::pin(async move {
            let seen = request
                .headers()
                .get("x-trail")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let value = HeaderValue::from_str(&format!("{seen}>{name}")).unwrap();
            request.headers_mut().insert("x-trail", value);
            let mut response = next.run(request).await;
            let back = response
                .headers()
                .get("x-trail")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let value = HeaderValue::from_str(&format!("{back}<{name}")).unwrap();
            response.headers_mut().insert("x-trail", value);
            response
        })
    }
}

/// Answers with the trail the request arrived with.
async fn echo_trail(request: Request) -> String {
    request.headers().get("x-trail").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[test]
fn layers_run_outermost_first_app_then_router_then_route() {
    let router = ApiRouter::new()
        .prefix("/r")
        .layer(from_fn(trail("router1")))
        .layer(from_fn(trail("router2")))
        .get("/x", echo_trail.layer(from_fn(trail("route1"))).layer(from_fn(trail("route2"))));
    let app = App::new()
        .layer(from_fn(trail("app1")))
        .layer(from_fn(trail("app2")))
        .include_router(router)
        .get("/plain", echo_trail);
    let client = TestClient::new(app);

    let response = client.get("/r/x").send();
    assert_eq!(response.text(), ">app1>app2>router1>router2>route1>route2");
    assert_eq!(response.header("x-trail"), Some("<route2<route1<router2<router1<app2<app1"));
    // A route outside the router sees the App's layers only.
    assert_eq!(client.get("/plain").send().text(), ">app1>app2");
    // A request that matches no route meets the App's layers, never a router's.
    let missing = client.get("/nowhere").send();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("x-trail"), Some("<app2<app1"));
}

#[test]
fn a_middleware_can_answer_without_calling_the_route() {
    let called = Arc::new(AtomicUsize::new(0));
    let route_calls = Arc::clone(&called);
    let gate = from_fn(|request: Request, next: Next| async move {
        if request.headers().contains_key("x-let-in") {
            Ok(next.run(request).await)
        } else {
            Err(HttpError::new(StatusCode::FORBIDDEN, "Not let in"))
        }
    });
    let app = App::new().layer(gate).get("/", move || {
        route_calls.fetch_add(1, Ordering::SeqCst);
        async { "inside" }
    });
    let client = TestClient::new(app);
    let refused = client.get("/").send();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.text(), r#"{"detail":"Not let in"}"#);
    assert_eq!(called.load(Ordering::SeqCst), 0, "the route must not run");
    assert_eq!(client.get("/").header("x-let-in", "1").send().text(), "inside");
    assert_eq!(called.load(Ordering::SeqCst), 1);
}

#[test]
fn cors_answers_a_preflight_for_a_route_without_options_and_refuses_other_origins() {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static("http://good.test")]))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([HeaderName::from_static("content-type")]);
    let app = App::new().layer(cors).post("/items", |body: String| async move { body });
    let client = TestClient::new(app);

    let preflight = client
        .request(Method::OPTIONS, "/items")
        .header("origin", "http://good.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("http://good.test"));
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET,POST"));

    let simple = client.post("/items").header("origin", "http://good.test").body("x").send();
    assert_eq!(simple.text(), "x");
    assert_eq!(simple.header("access-control-allow-origin"), Some("http://good.test"));

    let other = client.post("/items").header("origin", "http://evil.test").body("x").send();
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn request_ids_trace_set_header_and_sensitive_headers_work_unmodified() {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
    use tower_http::set_header::SetResponseHeaderLayer;
    use tower_http::trace::TraceLayer;

    // One ServiceBuilder: one layer as far as the App is concerned.
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ));
    let app = App::new().layer(stack).get("/", |request: Request| async move {
        let id = request.headers()["x-request-id"].to_str().unwrap().to_owned();
        let sensitive = request.headers().get(AUTHORIZATION).is_some_and(|v| v.is_sensitive());
        format!("{id} {sensitive}")
    });
    let client = TestClient::new(app);

    let response = client.get("/").header("authorization", "Bearer x").send();
    let id = response.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID");
    assert_eq!(response.text(), format!("{id} true"));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    // A client's own id is kept.
    let given = client.get("/").header("x-request-id", "abc-123").send();
    assert_eq!(given.header("x-request-id"), Some("abc-123"));
    assert_ne!(client.get("/").send().header("x-request-id"), Some(id.as_str()));
}

#[test]
fn normalize_path_and_validate_request_work_on_the_app() {
    use tower_http::normalize_path::NormalizePathLayer;
    use tower_http::validate_request::ValidateRequestHeaderLayer;

    let app = App::new()
        .layer(NormalizePathLayer::trim_trailing_slash())
        .layer(ValidateRequestHeaderLayer::accept("application/json"))
        .get("/items", || async { kairos_web::Json(serde_json::json!([1, 2])) });
    let client = TestClient::new(app);
    assert_eq!(client.get("/items/").header("accept", "application/json").send().text(), "[1,2]");
    assert_eq!(client.get("/items").header("accept", "text/html").send().status(), 406);
}

#[test]
fn a_body_limit_on_one_route_answers_413_for_declared_and_chunked_bodies() {
    use tower_http::limit::RequestBodyLimitLayer;

    async fn size(body: Bytes) -> String {
        body.len().to_string()
    }
    let app =
        App::new().post("/small", size.layer(RequestBodyLimitLayer::new(16))).post("/large", size);
    let client = TestClient::new(app);
    assert_eq!(client.post("/small").body(vec![b'a'; 16]).send().text(), "16");
    // Declared too large: the layer refuses before the route reads anything.
    assert_eq!(client.post("/small").body(vec![b'a'; 17]).send().status(), 413);
    assert_eq!(client.post("/large").body(vec![b'a'; 17]).send().text(), "17");

    // Chunked, so the size is known only while reading: the route's extractor sees the
    // layer's LengthLimitError and answers 413 in the App's shape.
    let mut stream = TcpStream::connect(client.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let chunk = "a".repeat(20);
    write!(
        stream,
        "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         14\r\n{chunk}\r\n0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than this route accepts"), "{answer}");
}

#[test]
fn a_panic_inside_the_layers_is_a_500_the_layers_see_and_the_server_lives_on() {
    let app = App::new()
        .layer(from_fn(trail("outer")))
        .get("/boom", || async {
            if true {
                panic!("handler failed");
            }
            "never"
        })
        .get("/ok", || async { "ok" });
    let client = TestClient::new(app);
    let response = client.get("/boom").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
    assert_eq!(response.header("x-trail"), Some("<outer"));
    assert_eq!(client.get("/ok").send().text(), "ok");
}

#[test]
fn exception_handlers_run_inside_the_layers() {
    let app = App::new()
        .layer(from_fn(trail("outer")))
        .status_handler(StatusCode::NOT_FOUND, |_| (StatusCode::NOT_FOUND, "no such page"))
        .get(
            "/inner",
            (|| async { Err::<String, _>(HttpError::not_found("gone")) })
                .layer(from_fn(trail("route"))),
        );
    let client = TestClient::new(app);
    let missing = client.get("/missing").send();
    assert_eq!(missing.text(), "no such page");
    assert_eq!(missing.header("x-trail"), Some("<outer"));
    // The route's own layer sees the handled 404 too.
    let inner = client.get("/inner").send();
    assert_eq!(inner.text(), "no such page");
    assert_eq!(inner.header("x-trail"), Some("<route<outer"));
}

/// An App-wide check that refuses requests without a token.
#[derive(Clone)]
struct Token;

impl Dependency for Token {
    type Inputs = http::HeaderMap;

    async fn resolve(headers: http::HeaderMap) -> Result<Token, HttpError> {
        match headers.contains_key("x-token") {
            true => Ok(Token),
            false => Err(HttpError::new(StatusCode::UNAUTHORIZED, "No token")),
        }
    }
}

#[test]
fn layers_run_before_dependencies_so_cors_headers_are_on_their_rejections() {
    let app =
        App::new().layer(CorsLayer::permissive()).dependency::<Token>().get("/", || async { "in" });
    let client = TestClient::new(app);
    let refused = client.get("/").header("origin", "http://a.test").send();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn a_timeout_answers_408_and_drops_the_handler() {
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&drops);
    let app = App::new()
        .layer(Timeout::new(Duration::from_millis(100)))
        .get("/slow", move || {
            let guard = Dropped(Arc::clone(&counted));
            async move {
                kairos_web::rt::sleep(Duration::from_secs(3600)).await;
                drop(guard);
                "never"
            }
        })
        .get("/fast", || async { "fast" });
    let client = TestClient::new(app);
    let response = client.get("/slow").send();
    assert_eq!(response.status(), 408);
    assert_eq!(response.text(), r#"{"detail":"Request Timeout"}"#);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the handler's future is dropped");
    assert_eq!(client.get("/fast").send().text(), "fast");
}

#[test]
fn a_global_concurrency_limit_holds_across_requests() {
    use tower::limit::GlobalConcurrencyLimitLayer;

    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (Arc::clone(&inside), Arc::clone(&most));
    let app = App::new().get(
        "/",
        (move || {
            let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
            async move {
                let count = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(count, Ordering::SeqCst);
                kairos_web::rt::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                "done"
            }
        })
        .layer(GlobalConcurrencyLimitLayer::new(1)),
    );
    let client = TestClient::new(app);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| assert_eq!(client.get("/").send().text(), "done"));
        }
    });
    assert_eq!(most.load(Ordering::SeqCst), 1, "one request at a time in the route");
}

#[test]
fn a_failing_tower_service_is_a_500() {
    let failing = tower::layer::layer_fn(|_inner: Next| {
        tower::service_fn(|_request: Request| async {
            Err::<Response, _>(std::io::Error::other("the layer could not answer"))
        })
    });
    let app = App::new().layer(failing).get("/", || async { "never" });
    let client = TestClient::new(app);
    let response = client.get("/").send();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text(), r#"{"detail":"Internal Server Error"}"#);
}
