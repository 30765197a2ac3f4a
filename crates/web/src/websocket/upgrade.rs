//! [`WebSocketUpgrade`]: the extractor that accepts a WebSocket handshake, and its answer —
//! the 101 — which opens the session.

use std::future::Future;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::request::Parts;
use http::StatusCode;
use kairos_http::upgrade::{Claim, OnUpgrade, UpgradeError};
use kairos_rt::task::Label;

use super::handshake::{self, Handshake, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL};
use super::session::{self, Settings};
use super::WebSocket;
use crate::extract::{FromRequestParts, RouteContext};
use crate::openapi::Operation;
use crate::{HttpError, Response};

/// The largest message a client may send by default: 16 MiB, uvicorn's `--ws-max-size`. A
/// message is held whole in memory before the session sees it, so this bounds what one socket
/// can make the server hold (tungstenite's own default is 64 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The largest frame by default: 16 MiB, tungstenite's (a frame beyond the message limit is
/// refused anyway, from its header, before it is read).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// How many bytes [`WebSocket::feed`] queues before it waits for the connection: 64 KiB, the
/// write limit of Python's `websockets` (uvicorn's WebSocket library).
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 64 << 10;
/// The read buffer each socket holds from its first read, and how much one read takes: 16 KiB
/// (one TLS record), where tungstenite's 128 KiB would make a thousand idle sockets hold
/// 128 MB. Larger messages still arrive whole, a read at a time.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 16 << 10;
/// How long closing a socket may take — sending the close frame, the client's reply, the
/// connection's end — before the server drops the connection: 5 s.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A valid WebSocket handshake, as a handler's argument (FastAPI's `@app.websocket` route):
/// [`on_upgrade`](Self::on_upgrade) answers it with the 101 and runs the session.
///
/// ```
/// use kairos_web::websocket::{WebSocket, WebSocketUpgrade};
/// use kairos_web::{App, Response};
///
/// async fn chat(ws: WebSocketUpgrade) -> Response {
///     ws.protocols(["chat.v2", "chat.v1"])
///         .max_message_size(64 * 1024)
///         .on_upgrade(|mut socket: WebSocket| async move {
///             let greeting = format!("speaking {:?}", socket.selected_protocol());
///             if socket.send(greeting).await.is_ok() {
///                 while let Some(Ok(message)) = socket.recv().await {
///                     if message.is_data() && socket.send(message).await.is_err() {
///                         break;
///                     }
///                 }
///             }
///         })
/// }
///
/// let app = App::new().get("/chat", chat);
/// // A WebSocket route is not an HTTP operation: the OpenAPI document leaves it out.
/// assert!(app.openapi()["paths"].get("/chat").is_none());
/// ```
///
/// A request that is not a valid handshake never reaches the handler; it is answered in the
/// App's error shape, as RFC 6455 §4.2 says:
///
/// | the request | answer |
/// |---|---|
/// | not `GET` | 405, `Allow: GET` |
/// | no `Upgrade: websocket` (a plain HTTP request) | 426, `Upgrade: websocket` |
/// | not HTTP/1.1 (HTTP/1.0, or HTTP/2: RFC 8441 is not served) | 400 |
/// | no `upgrade` token in `Connection` | 400 |
/// | `Sec-WebSocket-Version` missing or not 13 | 426, `Sec-WebSocket-Version: 13` |
/// | `Sec-WebSocket-Key` missing, or not 16 bytes in base64 | 400 |
///
/// The other extractors of the route run as for any request, so a [`Query<T>`](crate::Query)
/// beside it validates the handshake's query string (a 422 before anything is upgraded).
///
/// Only `async` handlers take it: the connection belongs to the worker's loop.
pub struct WebSocketUpgrade {
    handshake: Handshake,
    claim: Claim,
    protocol: Option<String>,
    max_message_size: usize,
    max_frame_size: usize,
    write_buffer_size: usize,
    read_buffer_size: usize,
    close_timeout: Duration,
    label: Label,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("offered", &self.handshake.offered)
            .field("protocol", &self.protocol)
            .field("max_message_size", &self.max_message_size)
            .field("max_frame_size", &self.max_frame_size)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// The subprotocols this route speaks, preferred first: the session speaks the first of
    /// them that the client offered in `Sec-WebSocket-Protocol`
    /// ([`WebSocket::selected_protocol`]), named in the 101; none if the client offered none
    /// of them.
    pub fn protocols<I, S>(mut self, protocols: I) -> WebSocketUpgrade
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let ours: Vec<String> = protocols.into_iter().map(Into::into).collect();
        self.protocol = handshake::choose(&ours, &self.handshake.offered).cloned();
        self
    }

    /// The subprotocol chosen so far ([`protocols`](Self::protocols)).
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> &[String] {
        &self.handshake.offered
    }

    /// The largest message the client may send, in bytes ([`DEFAULT_MAX_MESSAGE_SIZE`]); a
    /// larger one closes the socket with 1009. Also bounds a single frame.
    pub fn max_message_size(mut self, bytes: usize) -> WebSocketUpgrade {
        self.max_message_size = bytes;
        self
    }

    /// The largest frame the client may send, in bytes ([`DEFAULT_MAX_FRAME_SIZE`]); a
    /// larger one closes the socket with 1009.
    pub fn max_frame_size(mut self, bytes: usize) -> WebSocketUpgrade {
        self.max_frame_size = bytes;
        self
    }

    /// How many bytes [`WebSocket::feed`] may queue before it waits for them to be written
    /// ([`DEFAULT_WRITE_BUFFER_SIZE`]). [`WebSocket::send`] always waits.
    pub fn write_buffer_size(mut self, bytes: usize) -> WebSocketUpgrade {
        self.write_buffer_size = bytes;
        self
    }

    /// The socket's read buffer, and the most one read takes ([`DEFAULT_READ_BUFFER_SIZE`]):
    /// memory per open socket against reads per large message.
    pub fn read_buffer_size(mut self, bytes: usize) -> WebSocketUpgrade {
        self.read_buffer_size = bytes.max(1);
        self
    }

    /// How long closing the socket may take before the connection is dropped
    /// ([`DEFAULT_CLOSE_TIMEOUT`]).
    pub fn close_timeout(mut self, timeout: Duration) -> WebSocketUpgrade {
        self.close_timeout = timeout;
        self
    }

    /// Accepts the handshake: returns the `101 Switching Protocols` to answer with, and
    /// spawns `session` on the worker's loop as a task of its own, which gets the
    /// [`WebSocket`] once the 101 is written. The handler returns at once; the session lives
    /// as long as the socket, beside the worker's other requests and sessions.
    ///
    /// If something else is answered in the end (a middleware replaced the 101), the session
    /// never starts and the connection stays HTTP.
    pub fn on_upgrade<F, Fut>(self, session: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let mut response = Response::new(kairos_http::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, self.handshake.accept);
        if let Some(protocol) = &self.protocol {
            // Chosen from the client's own header values, so valid in one.
            if let Ok(value) = HeaderValue::try_from(protocol.as_str()) {
                headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
            }
        }
        let mut codec = WebSocketConfig::default();
        codec.max_message_size = Some(self.max_message_size);
        // A frame is held whole before its message is checked: the message limit bounds it too.
        codec.max_frame_size = Some(self.max_frame_size.min(self.max_message_size));
        codec.write_buffer_size = self.write_buffer_size;
        codec.read_buffer_size = self.read_buffer_size;
        let settings = Settings { codec, close_timeout: self.close_timeout };
        // Under the route's label, so that the stall detector names the route of a session
        // that blocks the loop.
        let task = self.label.scope(session::run(self.claim, settings, self.protocol, session));
        kairos_rt::spawn_named("websocket session", task).detach();
        response
    }
}

impl FromRequestParts for WebSocketUpgrade {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let handshake = handshake::check(parts)?;
        let ticket = parts.extensions.get::<OnUpgrade>().ok_or_else(|| {
            HttpError::bad_request(
                "this request cannot switch protocols: a WebSocket handshake has no body",
            )
        })?;
        let claim = ticket.claim().map_err(|error| match error {
            UpgradeError::WrongLoop => {
                tracing::error!(target: "kairos::web", "WebSocketUpgrade: {error}");
                HttpError::internal()
            }
            _ => {
                HttpError::bad_request(format!("this connection cannot switch protocols: {error}"))
            }
        })?;
        let label = match parts.extensions.get::<RouteContext>() {
            Some(context) => context.label,
            None => Label::new("WebSocket session"),
        };
        Ok(WebSocketUpgrade {
            handshake,
            claim,
            protocol: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            write_buffer_size: DEFAULT_WRITE_BUFFER_SIZE,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            label,
        })
    }

    /// A WebSocket route is no HTTP operation: it is left out of the document, as FastAPI
    /// leaves out its `@app.websocket` routes.
    fn openapi(operation: &mut Operation<'_>) {
        operation.hide();
    }
}
