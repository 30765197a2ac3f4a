//! What the peers share: the routes' answers, their parameters and ranges, the work behind
//! them, and the command line — one copy, so that axum and hyper answer what `kairos serve`
//! answers (`crates/cli/src/service`), byte for byte where the answer is deterministic.
//!
//! | piece | kairos' original |
//! |---|---|
//! | [`MsQuery`], [`ExternalQuery`], [`StreamQuery`], [`CpuQuery`] and their ranges | `service/{basics,external,stream,cpu}.rs`, `service::in_range` |
//! | [`ApiError`]: `{"detail": ...}` bodies, the 422 of one validation item | `kairos_web::HttpError` |
//! | [`Slept`], [`SyncSlept`], [`Elapsed`], [`ExternalAnswer`], [`CpuAnswer`] | the `json!` answers |
//! | [`sum_of_squares`], [`ticks`], [`external_calls`], [`sync_sleep`] | the routes' work |
//!
//! The peers have no process pool, so `/cpu?pool=process` (the default pool) is refused; see
//! [`CpuQuery::validate`].

use std::fmt::Write as _;
use std::borrow::Cow;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Serialize};

/// `/plaintext`'s body (TechEmpower's).
pub const PLAINTEXT: &str = "Hello, World!";

/// The content type of `/plaintext` (kairos-web's for a `&str`).
pub const TEXT: &str = "text/plain; charset=utf-8";

/// The content type of every JSON answer, errors included.
pub const JSON: &str = "application/json";

/// The headers of an SSE answer, as kairos-web's `Sse` sends them.
pub const SSE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
];

/// `/json`'s body.
#[derive(Serialize)]
pub struct Message {
    /// Always "Hello, World!".
    pub message: &'static str,
}

/// The port from the first argument (default 8000).
pub fn port() -> u16 {
    std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8000)
}

// ---------------------------------------------------------------------------------------------
// Ranges (kairos' `service` constants).

/// The longest sleep a request may ask for, in milliseconds.
pub const MAX_MS: u64 = 10_000;
/// The longest a request may be asked to last in total (`/stream`, `/external`).
pub const MAX_TOTAL_MS: u64 = 60_000;
/// The most upstream calls (and the highest limit) of one `/external`.
pub const MAX_CALLS: u64 = 100;
/// The most events of one `/stream`.
pub const MAX_EVENTS: u64 = 10_000;
/// The largest `/cpu` `n` (kairos' `cpu::MAX_N`).
pub const MAX_N: u64 = 5_000_000_000;
/// The sync-route tokens per loop (anyio's 40, kairos' `--sync-pool` default).
pub const SYNC_TOKENS: usize = 40;

// ---------------------------------------------------------------------------------------------
// Errors.

/// An error answer: a status and a JSON `{"detail": ...}` body, as kairos-web's `HttpError`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The body (JSON; its content type is [`JSON`]).
    pub body: String,
}

impl ApiError {
    /// `status` with `{"detail": detail}`.
    pub fn new(status: StatusCode, detail: &str) -> ApiError {
        ApiError { status, body: serde_json::json!({ "detail": detail }).to_string() }
    }

    /// FastAPI's 422 for query parameter `name`: `{"detail":[{"loc":["query",name],"msg":..,
    /// "type":..}]}`. kairos writes no `input` key (pydantic does), so neither do the peers.
    pub fn validation(name: &str, msg: &str, kind: &str) -> ApiError {
        let item = serde_json::json!({"loc": ["query", name], "msg": msg, "type": kind});
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: serde_json::json!({ "detail": [item] }).to_string(),
        }
    }

    /// `404 {"detail":"Not Found"}`, kairos-web's answer to an unknown path.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// `500` for a job that died on a pool (a panic), with the cause as detail like kairos.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &cause.to_string())
    }
}

/// A query value parsed as kairos-web parses a `u64` field: trimmed, else pydantic's
/// `int_parsing` 422 (so `-1` is an `int_parsing` error, not a range error, as in kairos).
fn parse_u64(name: &str, raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|raw| {
        raw.trim().parse().map_err(|_| {
            ApiError::validation(
                name,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
            )
        })
    })
    .transpose()
}

/// `value` if it lies in `lo..=hi`, else the 422 kairos' `in_range` answers.
fn in_range(name: &str, value: u64, lo: u64, hi: u64) -> Result<u64, ApiError> {
    if value < lo {
        let msg = format!("Input should be greater than or equal to {lo}");
        return Err(ApiError::validation(name, &msg, "greater_than_equal"));
    }
    if value > hi {
        let msg = format!("Input should be less than or equal to {hi}");
        return Err(ApiError::validation(name, &msg, "less_than_equal"));
    }
    Ok(value)
}

/// kairos' `total_within`: parameters that together ask for more than [`MAX_TOTAL_MS`].
fn total_within(name: &str, total_ms: u64) -> Result<(), ApiError> {
    if total_ms <= MAX_TOTAL_MS {
        return Ok(());
    }
    let msg = format!(
        "the request would last {total_ms} ms; the parameters together may ask for at most \
         {MAX_TOTAL_MS} ms"
    );
    Err(ApiError::validation(name, &msg, "value_error"))
}

// ---------------------------------------------------------------------------------------------
// Query strings. Both peers fill these structs with `FromQuery::from_query` (axum's `Query`
// extractor is behind its `query` feature, which bench/peers/Cargo.toml leaves off; the
// structs derive `Deserialize` so that turning it on is a one-line change in the axum peer).
// The fields are strings so that a value that is not a number gets kairos' 422, not a
// framework's 400; `validate` parses every field first and checks ranges second, as kairos
// does (deserialization, then `in_range`).

/// A parameter struct made from a raw query string.
pub trait FromQuery {
    /// From a raw query string (`a=1&b=2`, without the `?`).
    fn from_query(query: &str) -> Self;
}

/// The last value of `name` in a query string (kairos takes the last of a repeated key),
/// `application/x-www-form-urlencoded`-decoded.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.rsplit('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (!pair.is_empty() && decode(key) == name).then(|| decode(value).into_owned())
    })
}

/// `+` is a space and `%XX` a byte; a `%` not followed by two hex digits stays as it is.
fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['+', '%']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `?ms=` of `/async`, `/sync`, `/bad`, `/good`: 0..=10 000, each route with its default.
#[derive(Debug, Default, Deserialize)]
pub struct MsQuery {
    /// Milliseconds to sleep.
    pub ms: Option<String>,
}

impl FromQuery for MsQuery {
    fn from_query(query: &str) -> MsQuery {
        MsQuery { ms: query_value(query, "ms") }
    }
}

impl MsQuery {
    /// The sleep in milliseconds, `default` when absent.
    pub fn validate(&self, default: u64) -> Result<u64, ApiError> {
        let ms = parse_u64("ms", self.ms.as_deref())?;
        in_range("ms", ms.unwrap_or(default), 0, MAX_MS)
    }
}

/// `/external` parameters: `n` 1..=100 (20), `limit` 1..=100 (5), `ms` 0..=10 000 (200).
#[derive(Debug, Default, Deserialize)]
pub struct ExternalQuery {
    /// Calls to make.
    pub n: Option<String>,
    /// Calls in flight at most.
    pub limit: Option<String>,
    /// The upstream's sleep per call.
    pub ms: Option<String>,
}

/// Validated `/external` parameters.
#[derive(Debug, Clone, Copy)]
pub struct External {
    /// Calls to make.
    pub n: u64,
    /// Calls in flight at most.
    pub limit: u64,
    /// The upstream's sleep per call.
    pub ms: u64,
}

impl FromQuery for ExternalQuery {
    fn from_query(query: &str) -> ExternalQuery {
        ExternalQuery {
            n: query_value(query, "n"),
            limit: query_value(query, "limit"),
            ms: query_value(query, "ms"),
        }
    }
}

impl ExternalQuery {
    /// The parameters in their ranges, the calls' total time within [`MAX_TOTAL_MS`].
    pub fn validate(&self) -> Result<External, ApiError> {
        let n = parse_u64("n", self.n.as_deref())?;
        let limit = parse_u64("limit", self.limit.as_deref())?;
        let ms = parse_u64("ms", self.ms.as_deref())?;
        let n = in_range("n", n.unwrap_or(20), 1, MAX_CALLS)?;
        let limit = in_range("limit", limit.unwrap_or(5), 1, MAX_CALLS)?;
        let ms = in_range("ms", ms.unwrap_or(200), 0, MAX_MS)?;
        total_within("ms", n.div_ceil(limit).saturating_mul(ms))?;
        Ok(External { n, limit, ms })
    }
}

/// `/stream` parameters: `n` 1..=10 000 (100), `interval_ms` 0..=10 000 (100).
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    /// Events to send.
    pub n: Option<String>,
    /// Milliseconds between events.
    pub interval_ms: Option<String>,
}

impl FromQuery for StreamQuery {
    fn from_query(query: &str) -> StreamQuery {
        StreamQuery { n: query_value(query, "n"), interval_ms: query_value(query, "interval_ms") }
    }
}

impl StreamQuery {
    /// `(n, interval)`, the stream's whole length within [`MAX_TOTAL_MS`].
    pub fn validate(&self) -> Result<(u64, Duration), ApiError> {
        let n = parse_u64("n", self.n.as_deref())?;
        let interval_ms = parse_u64("interval_ms", self.interval_ms.as_deref())?;
        let n = in_range("n", n.unwrap_or(100), 1, MAX_EVENTS)?;
        let interval_ms = in_range("interval_ms", interval_ms.unwrap_or(100), 0, MAX_MS)?;
        total_within("interval_ms", n.saturating_mul(interval_ms))?;
        Ok((n, Duration::from_millis(interval_ms)))
    }
}

/// `/cpu` parameters: `n` 0..=200 000 000 (10 000 000), `pool` (`process`).
#[derive(Debug, Default, Deserialize)]
pub struct CpuQuery {
    /// The sum runs over `0..n`.
    pub n: Option<String>,
    /// Where it runs.
    pub pool: Option<String>,
}

/// Where `/cpu` runs its sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPool {
    /// On a pool of threads, one per core, shared by the whole process (kairos' CPU pool).
    Thread,
    /// On the thread serving the request, blocking it (the lesson's mistake).
    Inline,
}

impl CpuPool {
    /// The name in the answer.
    pub fn name(self) -> &'static str {
        match self {
            CpuPool::Thread => "thread",
            CpuPool::Inline => "inline",
        }
    }
}

impl FromQuery for CpuQuery {
    fn from_query(query: &str) -> CpuQuery {
        CpuQuery { n: query_value(query, "n"), pool: query_value(query, "pool") }
    }
}

impl CpuQuery {
    /// `(n, pool)`.
    ///
    /// `pool=process` — also the default, as in kairos — is a 422 on `pool` (`literal_error`),
    /// not a 400: to a client this peer's `pool` is a `Literal['thread', 'inline']`, so asking
    /// for `process` is the same validation failure as asking for `gpu`, and FastAPI answers
    /// that with a 422. The message says why, so nobody mistakes it for a kairos bug.
    pub fn validate(&self) -> Result<(u64, CpuPool), ApiError> {
        let n = parse_u64("n", self.n.as_deref())?;
        let n = in_range("n", n.unwrap_or(10_000_000), 0, MAX_N)?;
        match self.pool.as_deref().unwrap_or("process") {
            "thread" => Ok((n, CpuPool::Thread)),
            "inline" => Ok((n, CpuPool::Inline)),
            "process" => Err(ApiError::validation(
                "pool",
                "this peer has no process pool: use pool=thread or pool=inline",
                "literal_error",
            )),
            _ => Err(ApiError::validation(
                "pool",
                "Input should be 'process', 'thread' or 'inline'",
                "literal_error",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers. kairos builds them with `json!`, whose map (serde_json without `preserve_order`)
// sorts its keys, so the fields here are declared in alphabetical order: same bytes.

/// `/async`: `{"slept_ms":..,"type":"async"}`.
#[derive(Debug, Serialize)]
pub struct Slept {
    /// The sleep.
    pub slept_ms: u64,
    /// Always "async".
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `/sync`: `{"slept_ms":..,"thread":..,"type":"sync"}`.
#[derive(Debug, Serialize)]
pub struct SyncSlept {
    /// The sleep.
    pub slept_ms: u64,
    /// The thread that slept.
    pub thread: String,
    /// Always "sync".
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `/bad`, `/good`: `{"elapsed_s":..,"result":..}`.
#[derive(Debug, Serialize)]
pub struct Elapsed {
    /// Seconds the route took.
    pub elapsed_s: f64,
    /// "bad" or "good".
    pub result: &'static str,
}

/// `/external`: `{"elapsed_s","limit","max_in_flight","ms","n"}`.
#[derive(Debug, Serialize)]
pub struct ExternalAnswer {
    /// Seconds all the calls took.
    pub elapsed_s: f64,
    /// The semaphore's size.
    pub limit: u64,
    /// The most calls in flight at once (never above `limit`).
    pub max_in_flight: u64,
    /// The upstream's sleep per call.
    pub ms: u64,
    /// Calls made.
    pub n: u64,
}

/// `/cpu`: `{"elapsed_s","n","pool","result"}`.
#[derive(Debug, Serialize)]
pub struct CpuAnswer {
    /// Seconds the sum took, waiting for the pool included.
    pub elapsed_s: f64,
    /// The sum ran over `0..n`.
    pub n: u64,
    /// Where it ran.
    pub pool: &'static str,
    /// The exact sum (a u128 cannot overflow for `n <= MAX_N`: see kairos' `cpu.rs`).
    pub result: u128,
}

// ---------------------------------------------------------------------------------------------
// The work.

/// The sum of `i * i` for `i` below `n`, exact — kairos' `cpu::sum_of_squares`, to the
/// `black_box`: without it a release build folds the loop into the closed form.
pub fn sum_of_squares(n: u64) -> u128 {
    (0..n).map(|i| u128::from(i) * u128::from(i)).fold(0, |sum, x| std::hint::black_box(sum + x))
}

/// `/sync`'s body, run on a blocking thread: sleep, then say which thread slept.
pub fn sync_sleep(ms: u64) -> SyncSlept {
    std::thread::sleep(Duration::from_millis(ms));
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    SyncSlept { slept_ms: ms, thread, kind: "sync" }
}

/// `0`, `1`, … `n-1`: the first at once, then one every `interval` (kairos' `/stream`
/// generator). The peers frame each as `data: i\n\n`. kairos-web's `Sse` would add a
/// `: keep-alive` comment after 15 s of silence, which an interval of at most 10 s never is,
/// so the peers send none.
pub fn ticks(n: u64, interval: Duration) -> impl Stream<Item = u64> + Send {
    futures_util::stream::unfold(0, move |i| async move {
        if i >= n {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        Some((i, i + 1))
    })
}

/// The HTTP client behind `/external` (hyper-util's pooled legacy client).
pub type UpstreamClient = Client<HttpConnector, Empty<Bytes>>;

/// A client whose idle connections expire on tokio's timer; cheap to clone (one pool).
pub fn upstream_client() -> UpstreamClient {
    Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).build_http()
}

/// The base URL `/external` calls: `KAIROS_UPSTREAM` if set, else this server on loopback.
///
/// # Panics
///
/// If `KAIROS_UPSTREAM` is not an `http://` URL, as kairos' `--upstream` refuses it.
pub fn upstream_base(port: u16) -> String {
    match std::env::var("KAIROS_UPSTREAM") {
        Ok(url) => {
            assert!(
                url.strip_prefix("http://").is_some_and(|rest| !rest.is_empty()),
                "KAIROS_UPSTREAM: expected an http:// base URL, such as http://127.0.0.1:8000"
            );
            url.trim_end_matches('/').to_owned()
        }
        Err(_) => format!("http://127.0.0.1:{port}"),
    }
}

/// Counts calls in flight and remembers the most at once; decremented on drop, so a call
/// dropped midway (a sibling failed) leaves the count right.
struct InFlight<'a>(&'a (AtomicU64, AtomicU64));

impl<'a> InFlight<'a> {
    fn enter(counts: &'a (AtomicU64, AtomicU64)) -> InFlight<'a> {
        let now = counts.0.fetch_add(1, Ordering::Relaxed) + 1;
        counts.1.fetch_max(now, Ordering::Relaxed);
        InFlight(counts)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `/external`'s work: `n` calls to `{base}/async?ms=` under `Semaphore(limit)`, all read to
/// the end; the first failure fails the request with kairos' 502 (the others are dropped).
pub async fn external_calls(
    client: &UpstreamClient,
    base: &str,
    External { n, limit, ms }: External,
) -> Result<ExternalAnswer, ApiError> {
    let uri: http::Uri = format!("{base}/async?ms={ms}")
        .parse()
        .map_err(|e| ApiError::internal(format!("bad upstream URL: {e}")))?;
    let semaphore = tokio::sync::Semaphore::new(limit as usize);
    let counts = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let calls = (0..n).map(|_| async {
        let _permit = semaphore.acquire().await.map_err(|e| e.to_string())?;
        let _in_flight = InFlight::enter(&counts);
        let response = client.get(uri.clone()).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("upstream answered {}", response.status()));
        }
        response.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok(())
    });
    futures_util::future::try_join_all(calls).await.map_err(|e| {
        ApiError::new(StatusCode::BAD_GATEWAY, &format!("a call to the upstream failed: {e}"))
    })?;
    Ok(ExternalAnswer {
        elapsed_s: started.elapsed().as_secs_f64(),
        limit,
        max_in_flight: counts.1.load(Ordering::Relaxed),
        ms,
        n,
    })
}

// ---------------------------------------------------------------------------------------------
// Listeners.

/// One listener per core on `127.0.0.1:port`, all with `SO_REUSEPORT` so that the kernel
/// spreads connections among them (kairos' `--workers`); port 0 picks one port for all.
/// Non-blocking, backlog 2048 (uvicorn's).
///
/// # Errors
///
/// If the port is taken by a socket without `SO_REUSEPORT`, or cannot be bound.
pub fn reuseport_listeners(port: u16, count: usize) -> std::io::Result<Vec<TcpListener>> {
    use socket2::{Domain, Socket, Type};
    let bind = |port: u16| -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
        socket.listen(2048)?;
        Ok(socket.into())
    };
    let first = bind(port)?;
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind(port)?);
    }
    Ok(listeners)
}

/// The cores this process may run on (`taskset` respected), at least one.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_the_last_wins() {
        assert_eq!(query_value("ms=5&n=1&ms=7", "ms").as_deref(), Some("7"));
        assert_eq!(query_value("a+b=%41%2", "a b").as_deref(), Some("A%2"));
        assert_eq!(query_value("ms", "ms").as_deref(), Some(""));
        assert_eq!(query_value("", "ms"), None);
        assert_eq!(query_value("m%73=%", "ms").as_deref(), Some("%"));
    }

    #[test]
    fn errors_have_kairos_shape() {
        let e = MsQuery { ms: Some("-1".into()) }.validate(0).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.body,
            r#"{"detail":[{"loc":["query","ms"],"msg":"Input should be a valid integer, unable to parse string as an integer","type":"int_parsing"}]}"#
        );
        let e = MsQuery { ms: Some(" 10001".into()) }.validate(0).unwrap_err();
        assert!(e.body.contains("less_than_equal"), "{}", e.body);
        let e = ExternalQuery {
            n: Some("100".into()),
            limit: Some("1".into()),
            ms: Some("1000".into()),
        }
        .validate()
        .unwrap_err();
        assert!(e.body.contains("value_error"), "{}", e.body);
        assert_eq!(ApiError::not_found().body, r#"{"detail":"Not Found"}"#);
    }

    #[test]
    fn answers_serialize_with_sorted_keys() {
        let s = serde_json::to_string(&Slept { slept_ms: 3, kind: "async" }).unwrap();
        assert_eq!(s, r#"{"slept_ms":3,"type":"async"}"#);
        assert_eq!(sum_of_squares(4), 14);
        assert_eq!(sum_of_squares(10_000_000), 333_333_283_333_335_000_000);
    }
}

/// Issue 14's compression benchmark's answer (`GET /json100k` of peer_middleware): 450 items of a made-up catalogue, 102,353 bytes (SHA-256 `0eade4f8...`).
/// Names repeat and values vary, as in an API's list: at the default levels gzip makes it
/// about 10 KB, brotli and zstd about 8 KB.
pub fn catalogue_json() -> String {
    let mut out = String::from("{\"items\":[");
    for i in 0..450u32 {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            "{{\"id\":{i},\"sku\":\"SKU-{:06}\",\"name\":\"Catalogue item {i}\",\
             \"price\":{}.{:02},\"in_stock\":{},\"tags\":[\"tag-{}\",\"tag-{}\"],\
             \"description\":\"Item {i} of the benchmark catalogue, described at length so \
             that the list reads like a real one.\"}}",
            (i * 7919) % 1_000_000,
            (i * 37) % 500,
            (i * 13) % 100,
            i % 3 != 0,
            i % 17,
            i % 29,
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("]}");
    out
}
