//! `/fanout`: `n` requests at once to one of this server's sleep routes, sent by the server
//! to itself, each one's time reported.
//!
//! Why a route for what a client could do: a browser opens at most six HTTP/1.1 connections
//! to one host, so the index page cannot show the sync pool's waves (40 `def` requests at a
//! time) by itself — a hundred `fetch`es would leave it six at a time. The server's own client
//! has no such limit. The target is this server and one of four routes chosen by name, never
//! a URL from the request, so the route reaches nothing else.

use std::time::Instant;

use kairos::http::Client;
use kairos::sync::combinator::gather;
use kairos::web::http::StatusCode;
use kairos::web::validation::{Errors, Validate};
use kairos::web::{HttpError, Json, Query, State, Valid, WorkerState};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{int, total_within, Settings, MAX_MS};

/// The most requests one fan-out sends.
const MAX_REQUESTS: u64 = 200;

/// Which route the fan-out calls: the four ways of waiting the chapter compares.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Target {
    /// `/async?ms=`: a sleep on the loop (all at once, one wave).
    Async,
    /// `/sync?ms=`: a `def` route, a sync-pool token each (waves of the pool's size).
    Sync,
    /// `/good?ms=`: a blocking sleep through `to_thread` (the default executor's waves).
    Good,
    /// `/bad?ms=`: a blocking sleep on the loop (one after another).
    Bad,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Async => "/async",
            Target::Sync => "/sync",
            Target::Good => "/good",
            Target::Bad => "/bad",
        }
    }
}

/// `/fanout` parameters: `route`, `n` 1..=200 (100), `ms` 0..=10 000 (300), and `n × ms` at
/// most 60 000 (`/bad`'s requests run one after another, so that is how long it may last).
#[derive(Deserialize, JsonSchema)]
pub(crate) struct FanoutQuery {
    /// The route each request asks for.
    route: Target,
    /// How many requests to send at once.
    #[serde(default = "int::<100>")]
    #[schemars(range(min = 1, max = MAX_REQUESTS))]
    n: u64,
    /// The `ms` each request asks its route to sleep.
    #[serde(default = "int::<300>")]
    #[schemars(range(max = MAX_MS))]
    ms: u64,
}

impl Validate for FanoutQuery {
    fn validate(&self, errors: &mut Errors) {
        total_within(errors, "ms", self.n.saturating_mul(self.ms));
    }
}

/// `n` requests to `/{route}?ms=` at once: `{"route", "n", "ms", "wall_s", "each_s",
/// "threads"}`, `each_s` sorted (waves show as steps), `threads` how many answers each
/// thread gave (a `def` route names its sync-pool thread).
pub(crate) async fn fanout(
    Valid(Query(q)): Valid<Query<FanoutQuery>>,
    State(settings): State<Settings>,
    WorkerState(client): WorkerState<Client>,
) -> Result<Json<Value>, HttpError> {
    let FanoutQuery { route, n, ms } = q;
    let url = format!("{}{}?ms={ms}", settings.upstream.url()?.trim_end_matches('/'), route.path());
    let started = Instant::now();
    let calls = (0..n).map(|_| async {
        let response = client.get(&url).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{} answered {status}", route.path()));
        }
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((started.elapsed().as_secs_f64(), answer["thread"].as_str().map(str::to_owned)))
    });
    let mut each = Vec::new();
    let mut threads = serde_json::Map::new();
    for outcome in gather(calls).await {
        let (took, thread) = outcome.map_err(|e| {
            HttpError::new(StatusCode::BAD_GATEWAY, format!("a request of the fan-out failed: {e}"))
        })?;
        each.push((took * 1000.0).round() / 1000.0);
        if let Some(thread) = thread {
            let count = threads.entry(thread).or_insert(json!(0));
            *count = json!(count.as_u64().unwrap_or(0) + 1);
        }
    }
    each.sort_by(f64::total_cmp);
    Ok(Json(json!({"route": route.path(), "n": n, "ms": ms,
                   "wall_s": started.elapsed().as_secs_f64(), "each_s": each,
                   "threads": threads})))
}
