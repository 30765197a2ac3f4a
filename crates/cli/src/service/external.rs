//! Outbound calls under a semaphore (section 6.3): `n` calls to the upstream's `/async`, never
//! more than `limit` in flight — in this process (`scope=process`, the chapter's
//! `asyncio.Semaphore`), or across every instance sharing the service's Redis
//! (`scope=fleet`: kairos-cache's `FleetSemaphore`); and, with `rate`, at most `rate` such
//! requests per second across the fleet (`FleetRateLimit`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos::http::Client;
use kairos::sync::combinator::try_gather;
use kairos::sync::Semaphore;
use kairos::web::http::StatusCode;
use kairos::web::validation::{Errors, Validate};
use kairos::web::{HttpError, Json, Query, State, Valid, WorkerState};
use kairos_cache::{Fleet, FleetPermit, FleetSemaphore, RateDecision};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{int, total_within, Settings, MAX_MS, MAX_TOTAL_MS};

/// The most calls one request may make.
const MAX_CALLS: u64 = 100;

/// The highest `rate` a request may ask for.
const MAX_RATE: u64 = 1000;

/// The longest a call waits for a fleet permit: the other instances' calls are not bounded
/// by this request's parameters, so the wait is, by the longest any request may last.
const FLEET_WAIT: Duration = Duration::from_millis(MAX_TOTAL_MS);

/// Whose calls `limit` counts — a `Literal["process", "fleet"]` (the variants' notes are
/// comments, not docs: documented variants would make the schema a `oneOf`, not an `enum`).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum Scope {
    // This process's calls: an in-process `Semaphore(limit)` per request, as the chapter's.
    #[default]
    Process,
    // Every instance's calls with the same `limit`: one `FleetSemaphore` in the service's
    // Redis, named `external:limit=N`.
    Fleet,
}

/// `/external` parameters: `n` 1..=100 (20), `limit` 1..=100 (5), `ms` 0..=10 000 (200),
/// `scope` (process), `rate` 0..=1000 (0: none), and `⌈n / limit⌉ × ms` at most
/// `MAX_TOTAL_MS`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct ExternalQuery {
    /// How many calls to make.
    #[serde(default = "int::<20>")]
    #[schemars(range(min = 1, max = MAX_CALLS))]
    n: u64,
    /// The semaphore's size: the most calls in flight at once (in this request with
    /// `scope=process`, in every instance's requests with the same limit with `scope=fleet`).
    #[serde(default = "int::<5>")]
    #[schemars(range(min = 1, max = MAX_CALLS))]
    limit: u64,
    /// Whose calls `limit` counts: this request's (`process`, an `asyncio.Semaphore`), or
    /// those of every instance sharing the service's Redis (`fleet`: needs `--cache-url
    /// redis://...`; FIFO across the fleet; a killed instance's permits come back after
    /// `--fleet-lease-ms`).
    #[serde(default)]
    scope: Scope,
    /// At most this many `/external` requests asking for the same rate per second, across
    /// the fleet (a sliding window in the service's Redis); past it, 429 with `Retry-After`.
    /// 0: no rate limit.
    #[serde(default)]
    #[schemars(range(max = MAX_RATE))]
    rate: u64,
    /// How long the upstream takes to answer each call, in milliseconds; `⌈n / limit⌉ × ms`
    /// may be at most 60 000.
    #[serde(default = "int::<200>")]
    #[schemars(range(max = MAX_MS))]
    ms: u64,
}

impl Validate for ExternalQuery {
    fn validate(&self, errors: &mut Errors) {
        // ⌈n / limit⌉ rounds of `ms` each.
        total_within(errors, "ms", self.n.div_ceil(self.limit).saturating_mul(self.ms));
    }
}

/// Counts calls in flight and remembers the most at once; decremented on drop so that a
/// cancelled call leaves the count right.
struct InFlight(Rc<(Cell<u64>, Cell<u64>)>);

impl InFlight {
    fn enter(shared: &Rc<(Cell<u64>, Cell<u64>)>) -> InFlight {
        let now = shared.0.get() + 1;
        shared.0.set(now);
        shared.1.set(shared.1.get().max(now));
        InFlight(Rc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.set(self.0 .0.get() - 1);
    }
}

/// The service's connection to the fleet's Redis, when it has one (`--cache-url redis://`),
/// made once at startup and shared by every worker.
pub(crate) struct FleetLimits(pub(crate) Option<Fleet>);

impl FleetLimits {
    /// The fleet, or the 503 that says how to start the service with one.
    fn fleet(&self, what: &str) -> Result<&Fleet, HttpError> {
        self.0.as_ref().ok_or_else(|| {
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{what} needs the fleet's Redis: start kairos serve with --cache-url \
                     redis://HOST:PORT (every instance with the same one)"
                ),
            )
        })
    }
}

/// The semaphore the calls share: this request's, or the fleet's.
enum Limiter {
    Process(Semaphore),
    Fleet(FleetSemaphore),
}

/// A held permit of either kind; released when dropped.
struct Held {
    _process: Option<kairos::sync::Permit>,
    _fleet: Option<FleetPermit>,
}

/// Why a call failed: the upstream (502) or the fleet's Redis (503).
enum CallError {
    Upstream(String),
    Fleet(String),
}

impl Limiter {
    async fn acquire(&self) -> Result<Held, CallError> {
        match self {
            Limiter::Process(semaphore) => semaphore
                .acquire()
                .await
                .map(|permit| Held { _process: Some(permit), _fleet: None })
                .map_err(|e| CallError::Upstream(format!("{e:?}"))),
            Limiter::Fleet(semaphore) => {
                match kairos::rt::timeout(FLEET_WAIT, semaphore.acquire()).await {
                    Ok(Ok(permit)) => Ok(Held { _process: None, _fleet: Some(permit) }),
                    Ok(Err(error)) => Err(CallError::Fleet(error.to_string())),
                    Err(_) => Err(CallError::Fleet(format!(
                        "the fleet's {} permits stayed busy for {FLEET_WAIT:?}; retry later",
                        semaphore.permits()
                    ))),
                }
            }
        }
    }
}

/// `n` calls to `{upstream}/async?ms=…` under a semaphore of `limit` permits, this
/// request's or the fleet's (`scope`): `{"n", "limit", "ms", "scope", "max_in_flight",
/// "elapsed_s"}`, where `max_in_flight` counts this request's calls. The target is the
/// configured upstream, never a URL from the request, so the route cannot be used to reach
/// anything else.
pub(crate) async fn external(
    Valid(Query(q)): Valid<Query<ExternalQuery>>,
    State(settings): State<Settings>,
    State(fleet): State<FleetLimits>,
    WorkerState(client): WorkerState<Client>,
) -> Result<Json<Value>, HttpError> {
    let ExternalQuery { n, limit, ms, scope, rate } = q;
    let url = format!("{}/async?ms={ms}", settings.upstream.url()?.trim_end_matches('/'));
    if rate > 0 {
        within_rate(fleet.fleet("rate")?, rate).await?;
    }
    let limiter = match scope {
        Scope::Process => Limiter::Process(Semaphore::new(limit as usize)),
        Scope::Fleet => Limiter::Fleet(
            fleet
                .fleet("scope=fleet")?
                .semaphore(&format!("external:limit={limit}"), limit as u32)
                .lease(settings.fleet_lease),
        ),
    };
    let counts = Rc::new((Cell::new(0), Cell::new(0)));
    let started = Instant::now();
    let calls = (0..n).map(|_| async {
        let _permit = limiter.acquire().await?;
        let _in_flight = InFlight::enter(&counts);
        let upstream = |e: &dyn std::fmt::Display| CallError::Upstream(e.to_string());
        let response = client.get(&url).await.map_err(|e| upstream(&e))?;
        if !response.status().is_success() {
            return Err(upstream(&format!("upstream answered {}", response.status())));
        }
        response.bytes().await.map_err(|e| upstream(&e))
    });
    try_gather(calls).await.map_err(|e| match e {
        CallError::Upstream(e) => {
            HttpError::new(StatusCode::BAD_GATEWAY, format!("a call to the upstream failed: {e}"))
        }
        CallError::Fleet(e) => HttpError::new(StatusCode::SERVICE_UNAVAILABLE, e),
    })?;
    Ok(Json(json!({"n": n, "limit": limit, "ms": ms, "scope": scope,
                   "max_in_flight": counts.1.get(),
                   "elapsed_s": started.elapsed().as_secs_f64()})))
}

/// Counts this request against `rate` per second across the fleet: a 429 with `Retry-After`
/// (whole seconds, at least one) past it, a 503 if Redis does not answer.
async fn within_rate(fleet: &Fleet, rate: u64) -> Result<(), HttpError> {
    let limit =
        fleet.rate_limit(&format!("external:rate={rate}"), rate as u32, Duration::from_secs(1));
    match limit.try_acquire().await {
        Ok(RateDecision::Allowed { .. }) => Ok(()),
        Ok(RateDecision::Limited { retry_after }) => {
            let seconds = retry_after.as_millis().div_ceil(1000).max(1);
            Err(HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("more than {rate} requests per second across the fleet; retry after {retry_after:?}"),
            )
            .with_header("retry-after", &seconds.to_string()))
        }
        Err(error) => Err(HttpError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())),
    }
}
