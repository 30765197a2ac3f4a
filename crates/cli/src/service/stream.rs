//! Server-sent events from an async generator (section 7.1).

use std::time::Duration;

use futures_util::stream;
use kairos::web::sse::{Event, Sse};
use kairos::web::{HttpError, Query};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{in_range, total_within, MAX_MS};

/// The most events one stream sends.
const MAX_EVENTS: u64 = 10_000;

/// `/stream` parameters: `n` 1..=10 000, `interval_ms` 0..=10 000.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct StreamQuery {
    n: Option<u64>,
    interval_ms: Option<u64>,
}

/// `data: 0` … `data: n-1`, one every `interval_ms`; each is sent as soon as it is made, and
/// the generator is dropped when the client leaves.
pub(crate) async fn stream(
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl futures_core::Stream<Item = Event>>, HttpError> {
    let n = in_range("n", q.n.unwrap_or(100), 1, MAX_EVENTS)?;
    let interval_ms = in_range("interval_ms", q.interval_ms.unwrap_or(100), 0, MAX_MS)?;
    total_within("interval_ms", n.saturating_mul(interval_ms))?;
    let interval = Duration::from_millis(interval_ms);
    Ok(Sse::new(stream::unfold(0, move |i| async move {
        if i >= n {
            return None;
        }
        // The first event goes at once: time to first event is the point of streaming.
        if i > 0 {
            kairos::rt::sleep(interval).await;
        }
        Some((Event::default().data(i.to_string()), i + 1))
    })))
}
