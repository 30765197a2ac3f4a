//! Health-check routes ([`HealthChecks`]): liveness and readiness, as Kubernetes' probes, a
//! load balancer's checks (haproxy's `option httpchk`) and systemd's watchdog scripts ask.
//!
//! They answer from the server's [`ServerHealth`] — not from anything the App keeps — because
//! the questions are about the server: is every worker's loop turning, and has the server
//! finished starting and not begun to stop? A blocked loop cannot answer for itself, so
//! liveness is answered by whichever worker takes the request and names the stuck one; with
//! one worker, a stuck loop answers nothing, and the probe's timeout is the verdict.

use kairos_http::server::{ServerHealth, STUCK_AFTER};
use serde::Serialize;

use crate::openapi::RouteDocs;
use crate::{App, HttpError, Json};

/// Where an App answers its health checks, given to [`App::health_checks`]. A path of
/// `None` serves nothing there.
///
/// | route | 200 | 503 |
/// |---|---|---|
/// | `liveness` (`/healthz`) | every worker's loop turned in the last second | one has not: `{"detail": "worker 1's event loop has not turned for 2300 ms: ..."}` |
/// | `readiness` (`/readyz`) | started, not shutting down | starting, or shutting down (from the signal on, while requests in progress finish) |
///
/// Restart on liveness failures, route traffic on readiness: a worker stuck in a handler is
/// a reason to restart, a server that drains is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChecks {
    /// Where liveness is answered (default `/healthz`).
    pub liveness: Option<String>,
    /// Where readiness is answered (default `/readyz`).
    pub readiness: Option<String>,
}

impl Default for HealthChecks {
    /// Kubernetes' conventional `/healthz` and `/readyz`.
    fn default() -> Self {
        HealthChecks { liveness: Some("/healthz".into()), readiness: Some("/readyz".into()) }
    }
}

/// Liveness's answer: every worker's loop is turning.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Alive {
    /// Always `alive`.
    pub status: &'static str,
    /// The server's workers (each a thread with its loop); `null` for a server without a
    /// supervisor (embedded with `Server::serve`).
    pub workers: Option<usize>,
}

/// Readiness's answer: the server takes requests.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
}

/// `GET liveness`.
async fn liveness() -> Result<Json<Alive>, HttpError> {
    let Some(health) = ServerHealth::current() else {
        return Ok(Json(Alive { status: "alive", workers: None }));
    };
    let stuck = health.stuck_workers(STUCK_AFTER);
    if stuck.is_empty() {
        return Ok(Json(Alive { status: "alive", workers: Some(health.workers()) }));
    }
    let detail: Vec<String> = stuck.iter().map(ToString::to_string).collect();
    Err(HttpError::new(http::StatusCode::SERVICE_UNAVAILABLE, detail.join("; ")))
}

/// `GET readiness`.
async fn readiness() -> Result<Json<Ready>, HttpError> {
    match ServerHealth::current().map_or(Ok(()), |health| health.readiness()) {
        Ok(()) => Ok(Json(Ready { status: "ready" })),
        Err(why) => Err(HttpError::new(http::StatusCode::SERVICE_UNAVAILABLE, why.to_string())),
    }
}

/// The routes of `checks`, documented under the tag `health`.
pub(crate) fn add(app: App, checks: &HealthChecks) -> App {
    let app = match &checks.liveness {
        Some(path) => app.get(
            path,
            liveness
                .summary("Liveness: every worker's event loop is turning")
                .description(
                    "503 names each worker whose loop has not turned for a second (something \
                     blocks it). Restart the server when this fails for a while.",
                )
                .tag("health")
                .operation_id("liveness")
                .response::<Alive>(http::StatusCode::OK)
                .error(http::StatusCode::SERVICE_UNAVAILABLE, "A worker's event loop is stuck"),
        ),
        None => app,
    };
    match &checks.readiness {
        Some(path) => app.get(
            path,
            readiness
                .summary("Readiness: send this server requests")
                .description(
                    "503 while the server starts, and from the moment a graceful shutdown \
                     begins — while the requests in progress finish — so a load balancer \
                     sends new requests elsewhere.",
                )
                .tag("health")
                .operation_id("readiness")
                .response::<Ready>(http::StatusCode::OK)
                .error(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "Starting, or shutting down: send requests elsewhere",
                ),
        ),
        None => app,
    }
}
