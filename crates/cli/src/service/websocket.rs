//! WebSockets (FastAPI's `@app.websocket`): `/ws/echo`, and `/ws/ticks`, the WebSocket twin of
//! `/stream`. Each socket is a task on the worker's loop; see `kairos::web::websocket`.

use std::time::{Duration, Instant};

use kairos::web::validation::{Errors, Validate};
use kairos::web::websocket::{close_code, Message, WebSocket, WebSocketUpgrade};
use kairos::web::{Query, Response, Valid};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{int, total_within, MAX_MS};

/// The largest message `/ws/echo` takes: 1 MiB (the default of Python's `websockets`); a
/// larger one closes the socket with 1009.
pub(crate) const ECHO_MAX_MESSAGE: usize = 1 << 20;

/// The most ticks one socket is sent, as `/stream`'s events.
const MAX_TICKS: u64 = 10_000;

/// The subprotocol in which `/ws/ticks` sends each tick as JSON (`{"tick": 3, "of": 10}`);
/// without it, a tick is its number as text, as `/stream`'s `data:` lines.
pub(crate) const TICKS_JSON: &str = "ticks.json";

/// `/ws/echo`: every text and binary message back as it came, until the client closes.
pub(crate) async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(ECHO_MAX_MESSAGE).on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if message.is_data() && socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// `/ws/ticks` parameters: `/stream`'s, with its limits — `n` 1..=10 000 (100),
/// `interval_ms` 0..=10 000 (100), and `n × interval_ms` at most 60 000.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct TicksQuery {
    /// How many ticks to send.
    #[serde(default = "int::<100>")]
    #[schemars(range(min = 1, max = MAX_TICKS))]
    n: u64,
    /// The pause before each tick after the first, in milliseconds; `n × interval_ms` may be
    /// at most 60 000.
    #[serde(default = "int::<100>")]
    #[schemars(range(max = MAX_MS))]
    interval_ms: u64,
}

impl Validate for TicksQuery {
    fn validate(&self, errors: &mut Errors) {
        total_within(errors, "interval_ms", self.n.saturating_mul(self.interval_ms));
    }
}

/// `/ws/ticks?n=&interval_ms=`: ticks `0` … `n-1`, one every `interval_ms` (the first at once),
/// then a `1000 done` close. Between ticks the session reads, so the client's pings are
/// answered and its close ends the ticks early. A bad query is a 422 before any upgrade.
pub(crate) async fn ticks(
    ws: WebSocketUpgrade,
    Valid(Query(TicksQuery { n, interval_ms })): Valid<Query<TicksQuery>>,
) -> Response {
    let ws = ws.protocols([TICKS_JSON]);
    let json = ws.selected_protocol() == Some(TICKS_JSON);
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        let interval = Duration::from_millis(interval_ms);
        for tick in 0..n {
            if tick > 0 && !wait_reading(&mut socket, interval).await {
                return;
            }
            let message = if json {
                serde_json::json!({"tick": tick, "of": n}).to_string()
            } else {
                tick.to_string()
            };
            if socket.send(message).await.is_err() {
                return;
            }
        }
        let _ = socket.close(close_code::NORMAL, "done").await;
    })
}

/// Lets `interval` pass while reading what the client sends (and dropping it); `false` if the
/// socket closed or failed meanwhile.
async fn wait_reading(socket: &mut WebSocket, interval: Duration) -> bool {
    let deadline = Instant::now() + interval;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // `recv` may be cut short by the timeout: nothing it read is lost.
        match kairos::rt::timeout(left, socket.recv()).await {
            Err(_elapsed) => return true,
            Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return false,
            Ok(Some(Ok(_))) => {}
        }
    }
}
