//! Issue 14's middleware benchmark: `GET /plaintext` on kairos-web and on axum, either bare
//! or through the same three tower-http layers — a request id (set and propagated), a trace
//! span, CORS — added the way a user adds them (one `.layer` call each).
//!
//! And `GET /json100k` — a ~100 KB JSON document ([`catalogue_json`]) — through each one's
//! compression: kairos-web's `Compression` and tower-http's `CompressionLayer`, both at their
//! default levels.
//!
//! `peer_middleware FRAMEWORK MODE PORT`: FRAMEWORK is `kairos` (one worker, one loop) or
//! `axum` (tokio's multi-thread runtime); MODE is `none`, `layers` or `compression`. No
//! tracing subscriber is installed in either: the trace layer's spans cost what they cost
//! with logging off.

use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method};
use kairos_bench_peers::{catalogue_json, PLAINTEXT};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static("http://localhost:3000")]))
        .allow_methods([Method::GET, Method::POST])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: peer_middleware kairos|axum none|layers|compression PORT";
    let (framework, mode, port) = match &args[1..] {
        [framework, mode, port] => (framework.as_str(), mode.as_str(), port.parse::<u16>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let mode = match mode {
        "none" => Mode::None,
        "layers" => Mode::Layers,
        "compression" => Mode::Compression,
        _ => panic!("{usage}"),
    };
    // No log in either: kairos-web installs its default stderr log only when none is set.
    tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default()).unwrap();
    match framework {
        "kairos" => kairos(mode, port),
        "axum" => axum(mode, port),
        _ => panic!("{usage}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    None,
    Layers,
    Compression,
}

fn kairos(mode: Mode, port: u16) {
    use kairos_web::App;
    let catalogue = kairos_web::Bytes::from(catalogue_json());
    let json100k = move || {
        let body = catalogue.clone();
        async move { ([("content-type", "application/json")], body) }
    };
    let mut app = App::new().get("/plaintext", || async { PLAINTEXT }).get("/json100k", json100k);
    if mode == Mode::Compression {
        app = app.layer(kairos_web::middleware::Compression::new());
    }
    if mode == Mode::Layers {
        app = app
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(TraceLayer::new_for_http())
            .layer(cors());
    }
    let config = kairos_http::ServerConfig {
        bind: ([127, 0, 0, 1], port).into(),
        workers: 1,
        access_log: false,
        ..kairos_http::ServerConfig::default()
    };
    app.serve(config).expect("kairos-web serves").wait();
}

#[tokio::main]
async fn axum(mode: Mode, port: u16) {
    let catalogue = bytes::Bytes::from(catalogue_json());
    let json100k = move || {
        let body = catalogue.clone();
        async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
    };
    let mut app = Router::new()
        .route("/plaintext", get(|| async { PLAINTEXT }))
        .route("/json100k", get(json100k));
    if mode == Mode::Compression {
        app = app.layer(tower_http::compression::CompressionLayer::new());
    }
    if mode == Mode::Layers {
        // axum's `layer` wraps what was added before: the last call is outermost, so the
        // calls are in the reverse order of kairos' (outermost first) for the same stack.
        app = app
            .layer(cors())
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app).await.unwrap();
}
