//! axum on tokio's multi-threaded runtime: `/plaintext` and `/json`.
use axum::{routing::get, Json, Router};
use kairos_bench_peers::{port, Message, PLAINTEXT};

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/plaintext", get(|| async { PLAINTEXT }))
        .route("/json", get(|| async { Json(Message { message: PLAINTEXT }) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
