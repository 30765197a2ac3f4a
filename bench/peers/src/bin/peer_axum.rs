//! axum 0.8 on tokio's multi-threaded runtime (one worker per core `taskset` allows): the
//! benchmarked routes of `kairos serve`, with its answers (see the library's docs).
//!
//! How each route runs here, against kairos:
//! - `/async`: `tokio::time::sleep` on a worker;
//! - `/sync` (FastAPI's `def`): `spawn_blocking` under `Semaphore(40)`, anyio's 40 tokens; the
//!   answer names tokio's blocking thread (`tokio-rt-worker`);
//! - `/bad`: `std::thread::sleep` inside the async handler, blocking one worker on purpose
//!   (tokio has other workers, so unlike kairos' single loop the rest of the server goes on);
//! - `/good`: the same sleep through `spawn_blocking`;
//! - `/external`: one hyper-util client for the process, calls under `Semaphore(limit)`;
//! - `/stream`: axum's `Sse`, plus kairos' `x-accel-buffering: no`;
//! - `/cpu`: `pool=thread` is `spawn_blocking` under `Semaphore(cores)` — a CPU pool of one
//!   thread per core shared by the process, like kairos'; `pool=inline` blocks the worker;
//!   `pool=process` is a 422 (this peer has no process pool);
//! - `/contract` (POST): a validated JSON body through two dependencies (`contract.rs`);
//! - `/items/{id}` (sqlx `Any`, `$DATABASE_URL`) and `/cached` (moka): issue 13 (`data.rs`);
//! - around every route, kairos serve's middleware: a request id (tower-http), an access log and
//!   compression (tower-http).
#[path = "peer_axum/contract.rs"]
mod contract;
#[path = "peer_axum/data.rs"]
mod data;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures_util::StreamExt;
use kairos_bench_peers::{
    cores, external_calls, port, sum_of_squares, sync_sleep, upstream_base, upstream_client,
    ApiError, CpuAnswer, CpuPool, CpuQuery, Elapsed, ExternalAnswer, ExternalQuery, FromQuery,
    Message, MsQuery, Slept, StreamQuery, SyncSlept, UpstreamClient, JSON, PLAINTEXT, SSE_HEADERS,
    SYNC_TOKENS,
};
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// What the handlers share.
struct AppState {
    client: UpstreamClient,
    upstream: String,
    sync_tokens: Semaphore,
    cpu_pool: Semaphore,
}

/// The library's error as an axum response (a newtype: both the trait and the type are
/// foreign here).
struct Rejected(ApiError);

impl From<ApiError> for Rejected {
    fn from(error: ApiError) -> Rejected {
        Rejected(error)
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        (self.0.status, [(header::CONTENT_TYPE, JSON)], self.0.body).into_response()
    }
}

/// The query string as one of the library's parameter structs: axum's `Query<T>` with its
/// `query` feature (off in bench/peers/Cargo.toml) — the same job, with the same parser as the
/// hyper peer. Never rejects: the values are validated by each handler, with kairos' 422.
struct Params<T>(T);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for Params<T> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params<T>, Infallible> {
        Ok(Params(T::from_query(parts.uri.query().unwrap_or(""))))
    }
}

/// A blocking job that panicked.
fn died(error: tokio::task::JoinError) -> Rejected {
    Rejected(ApiError::internal(error))
}

type Answer<T> = Result<Json<T>, Rejected>;

async fn plaintext() -> &'static str {
    PLAINTEXT
}

async fn json() -> Json<Message> {
    Json(Message { message: PLAINTEXT })
}

async fn async_sleep(Params(q): Params<MsQuery>) -> Answer<Slept> {
    let ms = q.validate(1000)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Json(Slept { slept_ms: ms, kind: "async" }))
}

async fn sync(State(state): State<Arc<AppState>>, Params(q): Params<MsQuery>) -> Answer<SyncSlept> {
    let ms = q.validate(1000)?;
    let _token = state.sync_tokens.acquire().await.expect("the semaphore is never closed");
    Ok(Json(tokio::task::spawn_blocking(move || sync_sleep(ms)).await.map_err(died)?))
}

async fn bad(Params(q): Params<MsQuery>) -> Answer<Elapsed> {
    let ms = q.validate(2000)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    Ok(Json(Elapsed { elapsed_s: started.elapsed().as_secs_f64(), result: "bad" }))
}

async fn good(Params(q): Params<MsQuery>) -> Answer<Elapsed> {
    let ms = q.validate(2000)?;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .map_err(died)?;
    Ok(Json(Elapsed { elapsed_s: started.elapsed().as_secs_f64(), result: "good" }))
}

async fn external(
    State(state): State<Arc<AppState>>,
    Params(q): Params<ExternalQuery>,
) -> Answer<ExternalAnswer> {
    let params = q.validate()?;
    Ok(Json(external_calls(&state.client, &state.upstream, params).await?))
}

async fn stream(Params(q): Params<StreamQuery>) -> Result<impl IntoResponse, Rejected> {
    let (n, interval) = q.validate()?;
    let events = kairos_bench_peers::ticks(n, interval)
        .map(|i| Ok::<_, Infallible>(Event::default().data(i.to_string())));
    // axum's `Sse` sets the first two of the three headers; the third is kairos'.
    let [_, _, (accel, no)] = SSE_HEADERS;
    Ok(([(accel, no)], Sse::new(events)))
}

async fn cpu(State(state): State<Arc<AppState>>, Params(q): Params<CpuQuery>) -> Answer<CpuAnswer> {
    let (n, pool) = q.validate()?;
    let started = Instant::now();
    let result = match pool {
        CpuPool::Thread => {
            let _thread = state.cpu_pool.acquire().await.expect("the semaphore is never closed");
            tokio::task::spawn_blocking(move || sum_of_squares(n)).await.map_err(died)?
        }
        CpuPool::Inline => sum_of_squares(n),
    };
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(Json(CpuAnswer { elapsed_s, n, pool: pool.name(), result }))
}

async fn not_found() -> Rejected {
    Rejected(ApiError::not_found())
}

/// kairos' body for a method a route does not serve (axum adds the `Allow` header).
async fn method_not_allowed() -> Rejected {
    Rejected(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"))
}

#[tokio::main]
async fn main() {
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    let upstream = upstream_base(listener.local_addr().map_or(port, |a| a.port()));
    // TCP_NODELAY as kairos and the hyper peer set it: responses are not held back by Nagle.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let state = Arc::new(AppState {
        client: upstream_client(),
        upstream,
        sync_tokens: Semaphore::new(SYNC_TOKENS),
        cpu_pool: Semaphore::new(cores()),
    });
    let app = Router::new()
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/async", get(async_sleep))
        .route("/sync", get(sync))
        .route("/bad", get(bad))
        .route("/good", get(good))
        .route("/external", get(external))
        .route("/stream", get(stream))
        .route("/cpu", get(cpu))
        .route("/contract", contract::route())
        .merge(data::routes(data::Data::open().await))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // kairos serve's middleware (crates/cli/src/service/middleware.rs), the same layers in
        // axum's order (its last `layer` is outermost): a request id set and propagated, an
        // access log naming it, and compression (tower-http's: gzip, br, zstd).
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(access_log))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    axum::serve(listener, app).await.expect("the server failed");
}

/// kairos serve's access log: one line per request at INFO, when INFO is on (it is not in
/// the benchmarks, as in kairos serve's `--log-level warn`).
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !tracing::enabled!(target: "kairos::access", tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let id = request.headers().get("x-request-id").cloned();
    let response = next.run(request).await;
    let id = id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-");
    tracing::info!(
        target: "kairos::access",
        "\"{method} {path}\" {} {:.1}ms id={id}",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}
