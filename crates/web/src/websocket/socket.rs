//! [`WebSocket`]: one open socket, as its session holds it — and the connection state it
//! shares with the task that closes it.

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use async_tungstenite::tungstenite::{self, Error};
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::Sink;
use kairos_http::upgrade::Upgraded;
use kairos_rt::io::{AsyncRead, AsyncWrite};

use super::{close_code, CloseFrame, Message, WsError};

/// An open WebSocket: what a session (the function given to
/// [`WebSocketUpgrade::on_upgrade`](super::WebSocketUpgrade::on_upgrade)) receives from and
/// sends to.
///
/// ```
/// use kairos_web::websocket::{Message, WebSocket};
///
/// // Echo until the client closes; the close reply is sent for the session.
/// async fn echo(mut socket: WebSocket) {
///     while let Some(Ok(message)) = socket.recv().await {
///         if message.is_data() && socket.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
/// ```
///
/// Every method is a future the session awaits on its loop, like any other I/O:
///
/// - [`recv`](Self::recv) waits for the next message; `None` once the socket is closed.
///   Reading is also what answers the client's pings (with pongs) and its close frame (with
///   the close reply): a session that only sends should still read — race `recv` against its
///   own work — or the client's pings go unanswered.
/// - [`send`](Self::send) returns once the message is written to the connection, so a client
///   that reads slowly slows its session down instead of filling the server's memory: what
///   waits in the server for one socket is the message being sent, never a queue of them.
///   [`feed`](Self::feed) and [`flush`](Self::flush) are the same in two steps, to write
///   several small messages at once; `feed` waits once the write buffer holds
///   [`write_buffer_size`](super::WebSocketUpgrade::write_buffer_size) bytes.
/// - [`close`](Self::close) sends a close frame; the client's reply (and anything it sent
///   before it) is still read by `recv`, which then returns `None`.
///
/// A session that returns without closing gets a `1000` close; one that panics, `1011`; one
/// cut short by the server's graceful shutdown, `1001` (see the [module](super)).
pub struct WebSocket {
    conn: Rc<RefCell<Conn>>,
    protocol: Option<String>,
    peer: Option<SocketAddr>,
    close_timeout: Duration,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(super) fn new(
        conn: Rc<RefCell<Conn>>,
        protocol: Option<String>,
        peer: Option<SocketAddr>,
        close_timeout: Duration,
    ) -> WebSocket {
        WebSocket { conn, protocol, peer, close_timeout }
    }

    /// Runs one poll of an operation on the connection, noting who waits for it.
    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Conn, &mut Context<'_>) -> T,
    ) -> T {
        let mut conn = self.conn.borrow_mut();
        conn.remember(cx);
        poll(&mut conn, cx)
    }

    /// The next message: `Some(Ok(..))`, `Some(Err(..))` once if the socket failed (then
    /// `None`), and `None` once it is closed — after the close handshake, or if the client
    /// vanished. An error the client caused ([`WsError::close_code`]) has already been
    /// answered with its close frame when it is returned.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            let next = poll_fn(|cx| self.poll_with(cx, Conn::poll_next)).await?;
            match next {
                Ok(message) => {
                    if let Some(message) = Message::from_frame(message) {
                        return Some(Ok(message));
                    }
                }
                Err(error) => {
                    let error = WsError::reading(error);
                    if let Some(code) = error.close_code() {
                        self.fail(code).await;
                    }
                    return Some(Err(error));
                }
            }
        }
    }

    /// Sends `message` and waits until it is written to the connection (see the type's docs
    /// on backpressure). `Err(WsError::Closed)` once a close frame was sent or received.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), WsError> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues `message` without writing it out, unless the write buffer already holds
    /// [`write_buffer_size`](super::WebSocketUpgrade::write_buffer_size) bytes: then it
    /// waits until they are written. [`flush`](Self::flush) writes what is queued.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<(), WsError> {
        let mut frame = Some(checked(message.into())?.into_frame());
        poll_fn(|cx| self.poll_with(cx, |conn, cx| conn.poll_send(cx, &mut frame)))
            .await
            .map_err(WsError::writing)
    }

    /// Writes whatever [`feed`](Self::feed) queued, and waits until it is written.
    pub async fn flush(&mut self) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_with(cx, Conn::poll_flush)).await.map_err(WsError::writing)
    }

    /// Sends a ping; the client's pong comes back through [`recv`](Self::recv) as
    /// [`Message::Pong`]. At most 125 bytes.
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), WsError> {
        self.send(Message::Ping(payload.into())).await
    }

    /// Starts the close handshake with `code` ([`close_code`], or 3000–4999 of your own) and
    /// `reason` (at most 123 bytes): sends the close frame and waits until it is written.
    /// [`recv`](Self::recv) still returns what the client sent before its reply, then `None`.
    /// Closing a socket that is already closing does nothing.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let closing = {
            let conn = self.conn.borrow();
            conn.sent_close || conn.received_close
        };
        if closing {
            return self.flush().await.or(Ok(()));
        }
        self.send(Message::Close(Some(CloseFrame::new(code, reason)))).await
    }

    /// The subprotocol chosen in the handshake
    /// ([`WebSocketUpgrade::protocols`](super::WebSocketUpgrade::protocols)), if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The address of the connection's peer (a proxy's, behind one); `None` over a Unix
    /// socket, whose peer has none.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Fails the connection after the client broke a rule: a close frame with `code`, written
    /// within the close timeout; nothing more is read.
    async fn fail(&mut self, code: u16) {
        let reason = match code {
            close_code::TOO_BIG => "message too big",
            close_code::INVALID_DATA => "invalid UTF-8",
            _ => "protocol error",
        };
        let mut frame =
            Some(tungstenite::Message::Close(Some(tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })));
        self.conn.borrow_mut().failed = true;
        let written = poll_fn(|cx| {
            self.poll_with(cx, |conn, cx| {
                ready!(conn.poll_send(cx, &mut frame))?;
                conn.poll_flush(cx)
            })
        });
        let _ = kairos_rt::timeout(self.close_timeout, written).await;
    }
}

/// Refuses what the protocol does not allow a server to send, before anything is queued.
fn checked(message: Message) -> Result<Message, WsError> {
    match &message {
        Message::Ping(data) | Message::Pong(data) if data.len() > 125 => {
            Err(WsError::ControlTooLong(data.len()))
        }
        Message::Close(Some(frame)) if !close_code::is_sendable(frame.code) => {
            Err(WsError::InvalidClose(format!(
                "code {} may not be sent (use 1000–1003, 1007–1014 or 3000–4999)",
                frame.code
            )))
        }
        Message::Close(Some(frame)) if frame.reason.len() > 123 => {
            Err(WsError::InvalidClose(format!(
                "the reason is {} bytes; a close frame's reason is at most 123",
                frame.reason.len()
            )))
        }
        _ => Ok(message),
    }
}

/// The connection under a [`WebSocket`]: tungstenite's stream and where the close handshake
/// stands. Shared with the session's task, which closes it when the session ends (or is cut
/// short); each operation borrows it for one poll, never across an await.
pub(super) struct Conn {
    /// `None` once the session's task has closed the connection.
    stream: Option<WebSocketStream<Upgraded>>,
    /// A close frame was queued by the server.
    pub(super) sent_close: bool,
    /// The client's close frame arrived.
    pub(super) received_close: bool,
    /// Nothing more will be read: the close handshake ended, or the connection failed.
    pub(super) read_ended: bool,
    /// The server failed the connection (the client broke a rule): no close reply is awaited.
    pub(super) failed: bool,
    /// The last waker of an operation on the socket: woken when the connection is closed
    /// under it (a socket moved to another task then learns that it is gone).
    waker: Option<Waker>,
}

impl Conn {
    pub(super) fn new(stream: WebSocketStream<Upgraded>) -> Conn {
        Conn {
            stream: Some(stream),
            sent_close: false,
            received_close: false,
            read_ended: false,
            failed: false,
            waker: None,
        }
    }

    /// Notes the waker of the session's own operation (not of the closing task's).
    fn remember(&mut self, cx: &Context<'_>) {
        if !self.waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
    }

    /// The next message as tungstenite reads it (answering pings and the close frame as it
    /// goes); `None` once reading has ended.
    pub(super) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<tungstenite::Message, Error>>> {
        let Some(stream) = self.stream.as_mut().filter(|_| !self.read_ended) else {
            return Poll::Ready(None);
        };
        let next = ready!(Pin::new(stream).poll_next(cx));
        match &next {
            Some(Ok(tungstenite::Message::Close(_))) => self.received_close = true,
            Some(Ok(_)) => {}
            None | Some(Err(_)) => self.read_ended = true,
        }
        Poll::Ready(next)
    }

    /// Queues `frame` (taken once there is room), without flushing.
    pub(super) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        frame: &mut Option<tungstenite::Message>,
    ) -> Poll<Result<(), Error>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Err(Error::AlreadyClosed));
        };
        ready!(Pin::new(&mut *stream).poll_ready(cx))?;
        if let Some(frame) = frame.take() {
            if matches!(frame, tungstenite::Message::Close(_)) {
                self.sent_close = true;
            }
            Pin::new(stream).start_send(frame)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued (pongs and close replies included).
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Err(Error::AlreadyClosed)),
        }
    }

    /// Shuts the connection's sending side (the server's FIN, after its close frame).
    pub(super) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream.get_mut()).poll_close(cx).map(|_| ()),
            None => Poll::Ready(()),
        }
    }

    /// Reads and drops what the client still sends, until its FIN: closing a socket with
    /// unread bytes would reset the connection, and a reset can destroy the close frame
    /// before the client reads it.
    pub(super) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(stream) = self.stream.as_mut() else { return Poll::Ready(()) };
        let mut scratch = [0u8; 1024];
        loop {
            match ready!(Pin::new(stream.get_mut()).poll_read(cx, &mut scratch)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
    }

    /// Closes the connection (the server's drain counts it closed) and wakes whoever waits on
    /// it.
    pub(super) fn finish(&mut self) {
        self.stream = None;
        self.read_ended = true;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}
