//! WebSockets: a route that switches its connection to RFC 6455 — FastAPI's `@app.websocket`.
//!
//! ## The model
//!
//! A WebSocket starts as an HTTP request — a `GET` with `Upgrade: websocket` — routed like any
//! other to an `async` handler, whose [`WebSocketUpgrade`] argument checks the handshake
//! (anything else is answered 400, 405 or 426 before the handler runs). The handler answers
//! with [`WebSocketUpgrade::on_upgrade`]: the `101 Switching Protocols`, and the **session**,
//! the function that will talk on the socket.
//!
//! ```
//! use kairos_web::websocket::{WebSocket, WebSocketUpgrade};
//! use kairos_web::{App, Response};
//!
//! // @app.websocket("/ws/echo")
//! // async def echo(websocket: WebSocket):
//! //     await websocket.accept()
//! //     async for message in websocket.iter_text():
//! //         await websocket.send_text(message)
//! async fn echo(ws: WebSocketUpgrade) -> Response {
//!     ws.on_upgrade(|mut socket: WebSocket| async move {
//!         while let Some(Ok(message)) = socket.recv().await {
//!             if message.is_data() && socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! # drop(App::new().get("/ws/echo", echo));
//! ```
//!
//! **A WebSocket is a task on the loop.** The session runs as a task of its own on the worker
//! that accepted the connection, spawned by `on_upgrade` and started once the server has
//! written the 101 and handed the connection over (kairos-http's
//! [`upgrade`](kairos_http::upgrade)). So it is like an `async` handler that lasts: it must
//! never block (the stall detector names its route if it does), every `recv` and `send` is an
//! await that lets the worker's other requests and sockets run, and a thousand open sockets
//! are a thousand tasks, not a thousand threads. A panic in a session is caught and logged,
//! and its socket closed with 1011; the worker serves on.
//!
//! **Backpressure.** [`WebSocket::send`] returns once the message is written to the
//! connection — into the kernel's send buffer. A client that reads slowly fills that buffer,
//! and then `send` waits: the session is slowed to the client's pace, and the server holds,
//! per socket, the message being sent and the kernel's buffer, never a growing queue. Incoming
//! messages are read only when the session asks ([`WebSocket::recv`]), so a fast client is
//! held back the same way, by TCP; and no message larger than
//! [`max_message_size`](WebSocketUpgrade::max_message_size) is ever assembled.
//!
//! **Closing.** Either side starts the close handshake with a close frame carrying a code
//! ([`close_code`]) and a reason; the other answers with its own, then the server ends the
//! connection. The session sees the client's frame as [`Message::Close`] (the reply is sent for
//! it) and then `recv` returns `None`; it closes with [`WebSocket::close`]. What is not said
//! explicitly, the session's task says when the session ends:
//!
//! | how the session ends | close code sent |
//! |---|---|
//! | it returns without closing | 1000 (normal) |
//! | it panics | 1011 (internal error), and the panic is logged |
//! | the server begins a graceful shutdown | 1001 (going away): the session is dropped where it waits — its destructors run — then the socket closes |
//! | the client sent a message over the limit | 1009 (message too big) |
//! | the client broke the protocol (an unmasked frame, reserved bits) | 1002 (protocol error) |
//! | the client sent text that is not UTF-8 | 1007 (invalid data) |
//!
//! The last three are also returned by `recv` as a [`WsError`], after the close frame was
//! sent. A graceful shutdown waits for its sockets to close (each within its
//! [`close_timeout`](WebSocketUpgrade::close_timeout)), up to the server's
//! `graceful_shutdown_timeout`.
//!
//! Frames are tungstenite's (through `async-tungstenite`, over the futures-io stream the
//! upgrade hands over): masking, fragmentation, UTF-8, limits and the automatic pong. No
//! extension (`permessage-deflate`) is negotiated.
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `handshake.rs` | the request a handshake must be, the answers to one that is not, `Sec-WebSocket-Accept`, the choice of a subprotocol |
//! | `upgrade.rs` | [`WebSocketUpgrade`]: the extractor, its limits, `on_upgrade` |
//! | `session.rs` | the session's task: the claim, the function run under a panic guard, the race with shutdown, the closing handshake |
//! | `socket.rs` | [`WebSocket`]: `recv`, `send`, `feed`, `flush`, `ping`, `close`; the connection's state |
//! | `message.rs` | [`Message`], [`CloseFrame`], [`close_code`] |
//! | `error.rs` | [`WsError`] |

mod error;
mod handshake;
mod message;
mod session;
mod socket;
mod upgrade;

pub use error::WsError;
pub use message::{close_code, CloseFrame, Message, Utf8Bytes};
pub use socket::WebSocket;
pub use upgrade::{
    WebSocketUpgrade, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_READ_BUFFER_SIZE, DEFAULT_WRITE_BUFFER_SIZE,
};
