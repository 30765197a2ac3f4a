//! kairos-web (the framework: router, extractors, responses): `/plaintext` and `/json`.
use kairos_bench_peers::{port, Message, PLAINTEXT};
use kairos_http::ServerConfig;
use kairos_web::{App, Json};

async fn plaintext() -> &'static str {
    PLAINTEXT
}

async fn json() -> Json<Message> {
    Json(Message { message: PLAINTEXT })
}

fn main() {
    let app = App::new().get("/plaintext", plaintext).get("/json", json);
    let config = ServerConfig {
        bind: ([127, 0, 0, 1], port()).into(),
        access_log: false,
        ..ServerConfig::default()
    };
    app.serve(config).unwrap().wait();
}
