//! Server-sent events from an async generator (section 7.1).

use std::time::Duration;

use futures_util::stream;
use kairos::web::sse::{Event, Sse};
use kairos::web::validation::{Errors, Validate};
use kairos::web::{Query, Valid};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{int, total_within, MAX_MS};

/// The most events one stream sends.
const MAX_EVENTS: u64 = 10_000;

/// `/stream` parameters: `n` 1..=10 000 (100), `interval_ms` 0..=10 000 (100), and
/// `n × interval_ms` at most `MAX_TOTAL_MS`.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct StreamQuery {
    /// How many events to send.
    #[serde(default = "int::<100>")]
    #[schemars(range(min = 1, max = MAX_EVENTS))]
    n: u64,
    /// The pause before each event, in milliseconds; `n × interval_ms` may be at most 60 000.
    #[serde(default = "int::<100>")]
    #[schemars(range(max = MAX_MS))]
    interval_ms: u64,
}

impl Validate for StreamQuery {
    fn validate(&self, errors: &mut Errors) {
        total_within(errors, "interval_ms", self.n.saturating_mul(self.interval_ms));
    }
}

/// `data: 0` … `data: n-1`, one every `interval_ms`; each is sent as soon as it is made, and
/// the generator is dropped when the client leaves.
pub(crate) async fn stream(
    Valid(Query(StreamQuery { n, interval_ms })): Valid<Query<StreamQuery>>,
) -> Sse<impl futures_core::Stream<Item = Event>> {
    let interval = Duration::from_millis(interval_ms);
    Sse::new(stream::unfold(0, move |i| async move {
        if i >= n {
            return None;
        }
        // The first event goes at once: time to first event is the point of streaming.
        if i > 0 {
            kairos::rt::sleep(interval).await;
        }
        Some((Event::default().data(i.to_string()), i + 1))
    }))
}
