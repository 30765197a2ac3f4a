//! kairos-http with a hand-routed service (no framework): `/plaintext` and `/json`.
use http::{header, HeaderValue, StatusCode};
use kairos_bench_peers::{port, Message, PLAINTEXT};
use kairos_http::{Body, Request, Response, Server, ServerConfig};

async fn handle(request: Request) -> Response {
    let (body, content_type) = match request.uri().path() {
        "/plaintext" => (Body::from(PLAINTEXT), "text/plain; charset=utf-8"),
        "/json" => (
            Body::from(serde_json::to_vec(&Message { message: PLAINTEXT }).unwrap()),
            "application/json",
        ),
        _ => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn main() {
    let config = ServerConfig {
        bind: ([127, 0, 0, 1], port()).into(),
        access_log: false,
        ..ServerConfig::default()
    };
    Server::new(config).start(|| handle).unwrap().wait();
}
