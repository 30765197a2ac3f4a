//! The service's middleware, outermost first: a request id for every request (taken from the
//! client's `x-request-id` or made), the access log that names it, CORS for the origins given
//! with `--cors-origin`, and compression (gzip, br, zstd) of answers past 1 KiB — `/stream`'s
//! events are left as they are, each sent the moment it is made.

use std::sync::Arc;
use std::time::Instant;

use kairos::web::http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use kairos::web::http::Method;
use kairos::web::middleware::{from_fn, Compression, Next};
use kairos::web::{App, Request, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// `app` with the service's middleware around it.
/// `unlogged`: paths the access log leaves out (the health checks, asked every second).
pub(crate) fn around(app: App, cors_origins: &[HeaderValue], unlogged: Arc<[String]>) -> App {
    let app = app
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(from_fn(move |request: Request, next: Next| {
            let unlogged = Arc::clone(&unlogged);
            async move { access_log(request, next, &unlogged).await }
        }));
    let app = match cors(cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(Compression::new())
}

/// One line per request at INFO, target `kairos::access`: the client's address and scheme
/// (behind a trusted proxy, the ones it forwarded), method, path, status, the time to the
/// response's head and the request id, as
/// `198.51.100.7:0 https "GET /items/1" 200 0.4ms id=6f1c...`.
async fn access_log(request: Request, next: Next, unlogged: &[String]) -> Response {
    // Only when its lines would be written: at `--log-level warn` this costs one check.
    if !tracing::enabled!(target: "kairos::access", tracing::Level::INFO)
        || unlogged.iter().any(|path| path == request.uri().path())
    {
        return next.run(request).await;
    }
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let client = request.body().client_addr().map_or_else(|| "-".to_owned(), |a| a.to_string());
    let scheme = request.body().scheme().map_or("-", |scheme| scheme.as_str()).to_owned();
    let id = request.headers().get(X_REQUEST_ID).cloned();
    let response = next.run(request).await;
    let id = id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-");
    tracing::info!(
        target: "kairos::access",
        "{client} {scheme} \"{method} {path}\" {} {:.1}ms id={id}",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The CORS layer for `origins` (`*`: any origin, without credentials), or none when no
/// origin is given: a browser then refuses every cross-origin read, the safe default.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().cloned())
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([CONTENT_TYPE, AUTHORIZATION, X_REQUEST_ID])
            .expose_headers([X_REQUEST_ID])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
