//! Server-sent events: [`Sse`], a streaming response of [`Event`]s with keep-alive comments.
//!
//! The wire format (WHATWG HTML, "server-sent events"): each event is `field: value` lines
//! and a blank line; a multi-line `data` becomes one `data:` line per line; a line starting
//! with `:` is a comment, which clients ignore — kairos sends one (`: keep-alive`) whenever the
//! stream has been quiet for the keep-alive interval, so that proxies and clients do not time
//! the connection out, and so that a client that went away is noticed even on a quiet stream.

use std::fmt::Write as _;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{self, HeaderValue};
use kairos_http::Body;
use kairos_rt::time::Sleep;
use serde::Serialize;

use crate::response::IntoResponse;
use crate::Response;

/// Keep-alive comments are sent after this long without an event, by default.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One server-sent event.
///
/// ```
/// use std::time::Duration;
/// use kairos_web::sse::Event;
///
/// let event = Event::default().event("tick").id("7").retry(Duration::from_secs(2)).data("a\nb");
/// assert_eq!(event.to_string(), "event: tick\nid: 7\nretry: 2000\ndata: a\ndata: b\n\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
}

/// Line breaks in a single-line field would end it early; they become spaces.
fn one_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

impl Event {
    /// The event's data; each line (split on `\n`, `\r\n` or `\r`) is sent as its own `data:`
    /// line, and the client joins them back with `\n`.
    pub fn data(mut self, data: impl Into<String>) -> Event {
        self.data = Some(data.into());
        self
    }

    /// The event's data as JSON (one line).
    ///
    /// # Errors
    ///
    /// If `value` cannot be serialized (a map with non-string keys, a failing `Serialize`).
    pub fn json_data<T: Serialize>(self, value: &T) -> Result<Event, serde_json::Error> {
        Ok(self.data(serde_json::to_string(value)?))
    }

    /// The event's type (`event:`): the client's `addEventListener(type, ...)`.
    pub fn event(mut self, event: &str) -> Event {
        self.event = Some(one_line(event));
        self
    }

    /// The event's id (`id:`): the client sends it back as `Last-Event-ID` on reconnecting.
    pub fn id(mut self, id: &str) -> Event {
        self.id = Some(one_line(id).replace('\0', ""));
        self
    }

    /// How long the client waits before reconnecting (`retry:`, in milliseconds).
    pub fn retry(mut self, retry: Duration) -> Event {
        self.retry = Some(retry);
        self
    }

    /// A comment (`: text`), ignored by clients.
    pub fn comment(mut self, comment: &str) -> Event {
        self.comment = Some(comment.to_owned());
        self
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = |text: &str| -> Vec<String> {
            text.replace("\r\n", "\n").replace('\r', "\n").split('\n').map(str::to_owned).collect()
        };
        let mut out = String::new();
        if let Some(comment) = &self.comment {
            for line in lines(comment) {
                let _ = writeln!(out, ": {line}");
            }
        }
        if let Some(event) = &self.event {
            let _ = writeln!(out, "event: {event}");
        }
        if let Some(id) = &self.id {
            let _ = writeln!(out, "id: {id}");
        }
        if let Some(retry) = self.retry {
            let _ = writeln!(out, "retry: {}", retry.as_millis());
        }
        if let Some(data) = &self.data {
            for line in lines(data) {
                let _ = writeln!(out, "data: {line}");
            }
        }
        out.push('\n');
        f.write_str(&out)
    }
}

/// A server-sent-events response: `Content-Type: text/event-stream`, `Cache-Control:
/// no-cache`, `X-Accel-Buffering: no` (so nginx does not buffer it), each event sent as it
/// comes, and a keep-alive comment after [`DEFAULT_KEEP_ALIVE`] of silence.
///
/// When the client goes away the stream is dropped, and with it the generator.
///
/// ```
/// use std::time::Duration;
/// use futures_util::stream;
/// use kairos_web::sse::{Event, Sse};
///
/// async fn ticks() -> Sse<impl futures_core::Stream<Item = Event>> {
///     let events = stream::unfold(0u32, |n| async move {
///         kairos_rt::sleep(Duration::from_secs(1)).await;
///         Some((Event::default().event("tick").id(&n.to_string()).data(n.to_string()), n + 1))
///     });
///     Sse::new(events).keep_alive(Duration::from_secs(10))
/// }
/// # drop(kairos_web::App::new().get("/ticks", ticks));
/// ```
#[derive(Debug)]
pub struct Sse<S> {
    events: S,
    keep_alive: Option<Duration>,
}

impl<S: Stream<Item = Event> + 'static> Sse<S> {
    /// A response streaming `events`, with keep-alive comments every 15 s of silence.
    pub fn new(events: S) -> Sse<S> {
        Sse { events, keep_alive: Some(DEFAULT_KEEP_ALIVE) }
    }

    /// Sends a keep-alive comment after `interval` without an event.
    pub fn keep_alive(mut self, interval: Duration) -> Sse<S> {
        self.keep_alive = Some(interval);
        self
    }

    /// Sends no keep-alive comments.
    pub fn no_keep_alive(mut self) -> Sse<S> {
        self.keep_alive = None;
        self
    }
}

impl<S: Stream<Item = Event> + 'static> IntoResponse for Sse<S> {
    fn into_response(self) -> Response {
        let keep_alive = self.keep_alive.map(|interval| (interval, kairos_rt::sleep(interval)));
        let body = Body::from_stream(SseStream { events: Box::pin(self.events), keep_alive });
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }

    fn openapi(operation: &mut crate::openapi::Operation<'_>) {
        operation.success(Some(("text/event-stream", serde_json::json!({"type": "string"}))));
    }
}

/// The events as bytes, with keep-alive comments in the silences.
struct SseStream<S> {
    events: Pin<Box<S>>,
    keep_alive: Option<(Duration, Sleep)>,
}

const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

impl<S: Stream<Item = Event>> Stream for SseStream<S> {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(event)) => {
                if let Some((interval, sleep)) = &mut this.keep_alive {
                    sleep.reset(Instant::now() + *interval);
                }
                Poll::Ready(Some(Ok(Bytes::from(event.to_string()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let Some((interval, sleep)) = &mut this.keep_alive else { return Poll::Pending };
                if Pin::new(&mut *sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                sleep.reset(Instant::now() + *interval);
                // Poll again so that the new deadline is armed with this task's waker.
                let _ = Pin::new(&mut *sleep).poll(cx);
                Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE_COMMENT))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_field_by_field() {
        let cases: &[(Event, &str)] = &[
            (Event::default().data("hello"), "data: hello\n\n"),
            (Event::default().data("a\r\nb\rc\nd"), "data: a\ndata: b\ndata: c\ndata: d\n\n"),
            (Event::default().data(""), "data: \n\n"),
            (Event::default().event("x\ny").data("1"), "event: x y\ndata: 1\n\n"),
            (Event::default().comment("hi"), ": hi\n\n"),
            (Event::default().retry(Duration::from_millis(1500)), "retry: 1500\n\n"),
        ];
        for (event, expected) in cases {
            assert_eq!(event.to_string(), *expected);
        }
        let json = Event::default().json_data(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(json.to_string(), "data: {\"a\":1}\n\n");
    }
}
