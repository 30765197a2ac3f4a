//! `/debug/trace`: the recording of every worker's loop and every pool, as a Trace Event
//! Format file — open it in Perfetto's UI (ui.perfetto.dev, "Open trace file") or let
//! `/debug/timeline` draw it.

use std::time::Duration;

use kairos::rt::record::{self, Window};
use kairos::web::http::header::CONTENT_TYPE;
use kairos::web::{HttpError, Query, Response};
use schemars::JsonSchema;
use serde::Deserialize;

/// `?seconds=` or `?since_us=` of `/debug/trace`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct TraceWindow {
    /// The last this many seconds (0.1 to 60; 2 by default).
    #[schemars(range(min = 0.1, max = 60.0))]
    seconds: Option<f64>,
    /// Instead: everything after this instant on the trace's clock, in microseconds — the
    /// `otherData.end_us` of the previous answer, for a view that follows the loop live.
    #[schemars(range(min = 0.0))]
    since_us: Option<f64>,
}

/// The trace of the last seconds. Built on a thread of the loop's default pool: a busy
/// server's trace is megabytes of JSON, which the loop must not stop to write.
pub(crate) async fn debug_trace(Query(window): Query<TraceWindow>) -> Result<Response, HttpError> {
    if !record::is_recording() {
        return Err(HttpError::new(
            kairos::web::http::StatusCode::SERVICE_UNAVAILABLE,
            "nothing is being recorded: start kairos serve with --record-events N (N > 0)",
        ));
    }
    let window = match (window.since_us, window.seconds) {
        (Some(since), _) => Window::since_micros(since),
        (None, seconds) => Window::last(Duration::from_secs_f64(seconds.unwrap_or(2.0))),
    };
    // Publish this loop's last events: the export runs on another thread.
    record::publish();
    let trace = kairos::rt::to_thread(move || record::chrome_trace(window))
        .await
        .map_err(|_| HttpError::internal())?;
    let mut response = Response::new(trace.into());
    response.headers_mut().insert(CONTENT_TYPE, "application/json".parse().expect("valid"));
    Ok(response)
}
