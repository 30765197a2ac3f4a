//! Outbound calls under a semaphore (section 6.3): `n` calls to the upstream's `/async`, never
//! more than `limit` in flight.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use kairos::http::Client;
use kairos::sync::combinator::try_gather;
use kairos::sync::Semaphore;
use kairos::web::http::StatusCode;
use kairos::web::validation::{Errors, Validate};
use kairos::web::{HttpError, Json, Query, State, Valid, WorkerState};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{int, total_within, Settings, MAX_MS};

/// The most calls one request may make.
const MAX_CALLS: u64 = 100;

/// `/external` parameters: `n` 1..=100 (20), `limit` 1..=100 (5), `ms` 0..=10 000 (200), and
/// `⌈n / limit⌉ × ms` at most `MAX_TOTAL_MS`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct ExternalQuery {
    /// How many calls to make.
    #[serde(default = "int::<20>")]
    #[schemars(range(min = 1, max = MAX_CALLS))]
    n: u64,
    /// The semaphore's size: the most calls in flight at once.
    #[serde(default = "int::<5>")]
    #[schemars(range(min = 1, max = MAX_CALLS))]
    limit: u64,
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

/// `n` calls to `{upstream}/async?ms=…` under `Semaphore(limit)`:
/// `{"n", "limit", "max_in_flight", "elapsed_s"}`. The target is the configured upstream,
/// never a URL from the request, so the route cannot be used to reach anything else.
pub(crate) async fn external(
    Valid(Query(q)): Valid<Query<ExternalQuery>>,
    State(settings): State<Settings>,
    WorkerState(client): WorkerState<Client>,
) -> Result<Json<Value>, HttpError> {
    let ExternalQuery { n, limit, ms } = q;
    let url = format!("{}/async?ms={ms}", settings.upstream.url()?.trim_end_matches('/'));
    let semaphore = Semaphore::new(limit as usize);
    let counts = Rc::new((Cell::new(0), Cell::new(0)));
    let started = Instant::now();
    let calls = (0..n).map(|_| async {
        let _permit = semaphore.acquire().await.map_err(|e| format!("{e:?}"))?;
        let _in_flight = InFlight::enter(&counts);
        let response = client.get(&url).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("upstream answered {}", response.status()));
        }
        response.bytes().await.map_err(|e| e.to_string())
    });
    try_gather(calls).await.map_err(|e| {
        HttpError::new(StatusCode::BAD_GATEWAY, format!("a call to the upstream failed: {e}"))
    })?;
    Ok(Json(json!({"n": n, "limit": limit, "ms": ms, "max_in_flight": counts.1.get(),
                   "elapsed_s": started.elapsed().as_secs_f64()})))
}
