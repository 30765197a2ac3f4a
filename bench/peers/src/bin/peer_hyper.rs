//! Bare hyper 1.x (http1, `service_fn`, a `match` on the path): the benchmarked routes of
//! `kairos serve`, with its answers (see the library's docs).
//!
//! The shape of kairos' `--workers 0`: one tokio current-thread runtime per core (`taskset`
//! respected), each on its own thread with its own `SO_REUSEPORT` listener on the same port,
//! so the kernel spreads connections and a connection never leaves its thread.
//!
//! Per runtime, as kairos has per worker loop: the `/external` client (its pooled connections
//! belong to that runtime) and the `/sync` tokens (`Semaphore(40)`) with the runtime's own
//! blocking pool behind them. Per process, as kairos: the `/cpu?pool=thread` pool, one thread
//! per core (a `Semaphore(cores)` shared by all runtimes in front of `spawn_blocking`).
//! `/bad` and `/cpu?pool=inline` block the runtime they run on, and so every connection of
//! that thread, exactly as they block a kairos worker loop.
//!
//! hyper's http1 defaults, plus `pipeline_flush(true)`: hyper's own switch for pipelined
//! clients (one write for a batch of answers instead of one per answer), as hyper's entries
//! in pipelined benchmarks set it, so that the peer is hyper at its best. kairos-http leaves
//! it off (with it, hyper 1.12 never sends the 431/400 for a request it refuses) and batches
//! in its own I/O layer instead, see `crates/http/src/io.rs`.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kairos_bench_peers::{
    cores, external_calls, port, reuseport_listeners, sum_of_squares, sync_sleep, ticks,
    upstream_base, upstream_client, ApiError, CpuAnswer, CpuPool, CpuQuery, Elapsed, ExternalQuery,
    FromQuery, Message, MsQuery, Slept, StreamQuery, UpstreamClient, JSON, PLAINTEXT, SSE_HEADERS,
    SYNC_TOKENS, TEXT,
};
use tokio::sync::Semaphore;

/// A whole body for everything but `/stream`, which is the only one boxed.
type Body = Either<Full<Bytes>, BoxBody<Bytes, Infallible>>;

/// One runtime's share of the server.
struct Worker {
    client: UpstreamClient,
    upstream: Arc<str>,
    sync_tokens: Semaphore,
    cpu_pool: Arc<Semaphore>,
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => respond(StatusCode::OK, JSON, bytes),
        Err(e) => error(ApiError::internal(e)),
    }
}

fn error(error: ApiError) -> Response<Body> {
    respond(error.status, JSON, error.body)
}

/// Routes one request; every error, a 422 included, is a response.
async fn handle(
    request: Request<hyper::body::Incoming>,
    worker: Arc<Worker>,
) -> Result<Response<Body>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response =
            error(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let query = request.uri().query().unwrap_or("");
    let answer = match request.uri().path() {
        "/plaintext" => Ok(respond(StatusCode::OK, TEXT, Bytes::from_static(PLAINTEXT.as_bytes()))),
        "/json" => Ok(json(&Message { message: PLAINTEXT })),
        "/async" => async_sleep(MsQuery::from_query(query)).await,
        "/sync" => sync(MsQuery::from_query(query), &worker).await,
        "/bad" => bad(MsQuery::from_query(query)),
        "/good" => good(MsQuery::from_query(query)).await,
        "/external" => external(ExternalQuery::from_query(query), &worker).await,
        "/stream" => stream(StreamQuery::from_query(query)),
        "/cpu" => cpu(CpuQuery::from_query(query), &worker).await,
        _ => Err(ApiError::not_found()),
    };
    Ok(answer.unwrap_or_else(error))
}

async fn async_sleep(q: MsQuery) -> Result<Response<Body>, ApiError> {
    let ms = q.validate(1000)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(json(&Slept { slept_ms: ms, kind: "async" }))
}

async fn sync(q: MsQuery, worker: &Worker) -> Result<Response<Body>, ApiError> {
    let ms = q.validate(1000)?;
    let _token = worker.sync_tokens.acquire().await.expect("the semaphore is never closed");
    let answer =
        tokio::task::spawn_blocking(move || sync_sleep(ms)).await.map_err(ApiError::internal)?;
    Ok(json(&answer))
}

fn bad(q: MsQuery) -> Result<Response<Body>, ApiError> {
    let ms = q.validate(2000)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    Ok(json(&Elapsed { elapsed_s: started.elapsed().as_secs_f64(), result: "bad" }))
}

async fn good(q: MsQuery) -> Result<Response<Body>, ApiError> {
    let ms = q.validate(2000)?;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .map_err(ApiError::internal)?;
    Ok(json(&Elapsed { elapsed_s: started.elapsed().as_secs_f64(), result: "good" }))
}

async fn external(q: ExternalQuery, worker: &Worker) -> Result<Response<Body>, ApiError> {
    let params = q.validate()?;
    Ok(json(&external_calls(&worker.client, &worker.upstream, params).await?))
}

fn stream(q: StreamQuery) -> Result<Response<Body>, ApiError> {
    let (n, interval) = q.validate()?;
    let frames = ticks(n, interval).map(|i| Ok(Frame::data(Bytes::from(format!("data: {i}\n\n")))));
    let mut response = Response::new(Either::Right(BodyExt::boxed(StreamBody::new(frames))));
    for (name, value) in SSE_HEADERS {
        response.headers_mut().insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

async fn cpu(q: CpuQuery, worker: &Worker) -> Result<Response<Body>, ApiError> {
    let (n, pool) = q.validate()?;
    let started = Instant::now();
    let result = match pool {
        CpuPool::Thread => {
            let _thread = worker.cpu_pool.acquire().await.expect("the semaphore is never closed");
            tokio::task::spawn_blocking(move || sum_of_squares(n))
                .await
                .map_err(ApiError::internal)?
        }
        CpuPool::Inline => sum_of_squares(n),
    };
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(json(&CpuAnswer { elapsed_s, n, pool: pool.name(), result }))
}

/// One runtime: accepts on its own listener and serves each connection as a task.
fn run(
    index: usize,
    listener: std::net::TcpListener,
    upstream: Arc<str>,
    cpu_pool: Arc<Semaphore>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(format!("peer-hyper-{index}-blocking"))
        .build()
        .expect("cannot build a tokio runtime");
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("cannot register the listener");
        let worker = Arc::new(Worker {
            client: upstream_client(),
            upstream,
            sync_tokens: Semaphore::new(SYNC_TOKENS),
            cpu_pool,
        });
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of descriptors or an aborted handshake: the listener itself is fine.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let worker = Arc::clone(&worker);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| handle(request, Arc::clone(&worker)));
                let _ = hyper::server::conn::http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn main() {
    let port = port();
    let workers = cores();
    let listeners = reuseport_listeners(port, workers)
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    let bound = listeners[0].local_addr().map_or(port, |a| a.port());
    let upstream: Arc<str> = upstream_base(bound).into();
    let cpu_pool = Arc::new(Semaphore::new(workers));
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let (upstream, cpu_pool) = (Arc::clone(&upstream), Arc::clone(&cpu_pool));
            std::thread::Builder::new()
                .name(format!("peer-hyper-{index}"))
                .spawn(move || run(index, listener, upstream, cpu_pool))
                .expect("cannot start a worker thread")
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}
