//! Issue 14's middleware benchmark: `GET /plaintext` on kairos-web and on axum, either bare
//! or through the same three tower-http layers — a request id (set and propagated), a trace
//! span, CORS — added the way a user adds them (one `.layer` call each).
//!
//! `peer_middleware FRAMEWORK MODE PORT`: FRAMEWORK is `kairos` (one worker, one loop) or
//! `axum` (tokio's multi-thread runtime); MODE is `none` or `layers`. No tracing subscriber
//! is installed in either: the trace layer's spans cost what they cost with logging off.

use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method};
use kairos_bench_peers::PLAINTEXT;
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
    let usage = "usage: peer_middleware kairos|axum none|layers PORT";
    let (framework, mode, port) = match &args[1..] {
        [framework, mode, port] => (framework.as_str(), mode.as_str(), port.parse::<u16>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let layered = match mode {
        "none" => false,
        "layers" => true,
        _ => panic!("{usage}"),
    };
    // No log in either: kairos-web installs its default stderr log only when none is set.
    tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default()).unwrap();
    match framework {
        "kairos" => kairos(layered, port),
        "axum" => axum(layered, port),
        _ => panic!("{usage}"),
    }
}

fn kairos(layered: bool, port: u16) {
    use kairos_web::App;
    let mut app = App::new().get("/plaintext", || async { PLAINTEXT });
    if layered {
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
async fn axum(layered: bool, port: u16) {
    let mut app = Router::new().route("/plaintext", get(|| async { PLAINTEXT }));
    if layered {
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
