//! A WebSocket's session: the task on the worker's loop that takes the connection over after
//! the 101, runs the route's function on it, and closes it — `1000` when the function returns,
//! `1011` when it panics, `1001` when the server shuts down first.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::task::{ready, Poll};
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::tungstenite::{self, Error};
use async_tungstenite::WebSocketStream;
use futures_util::FutureExt;
use kairos_http::upgrade::Claim;

use super::close_code;
use super::socket::{Conn, WebSocket};

/// What a session is opened with: the codec's limits and how long a close may take.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) codec: WebSocketConfig,
    pub(super) close_timeout: Duration,
}

/// How a session ended.
enum Ended {
    /// The function returned.
    Returned,
    /// The function panicked (the message is logged).
    Panicked,
    /// The server began a graceful shutdown; the function was dropped where it waited.
    ShuttingDown,
}

/// Waits for the connection (the claim resolves once the 101 is written), runs `session` on
/// it, and closes it.
pub(super) async fn run<F, Fut>(
    claim: Claim,
    settings: Settings,
    protocol: Option<String>,
    session: F,
) where
    F: FnOnce(WebSocket) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let upgraded = match claim.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            // A middleware answered for the route, or the client left before the 101.
            tracing::debug!(target: "kairos::web", "WebSocket not opened: {error}");
            return;
        }
    };
    let peer = upgraded.peer_addr();
    let shutting_down = upgraded.shutting_down();
    let stream =
        WebSocketStream::from_raw_socket(upgraded, Role::Server, Some(settings.codec)).await;
    let conn = Rc::new(RefCell::new(Conn::new(stream)));
    let socket = WebSocket::new(Rc::clone(&conn), protocol, peer, settings.close_timeout);

    let ended = {
        // Called inside the guarded future, so a panic in the call itself is caught too.
        let mut session =
            pin!(AssertUnwindSafe(async move { session(socket).await }).catch_unwind());
        let mut shutting_down = pin!(shutting_down);
        poll_fn(|cx| {
            if let Poll::Ready(result) = session.as_mut().poll(cx) {
                return Poll::Ready(match result {
                    Ok(()) => Ended::Returned,
                    Err(payload) => {
                        let message = kairos_rt::task::panic_message(payload.as_ref());
                        tracing::error!(
                            target: "kairos::web",
                            "WebSocket session with {peer:?} panicked: {message}; closing it with 1011"
                        );
                        Ended::Panicked
                    }
                });
            }
            match shutting_down.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Ended::ShuttingDown),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
        // The session's future is dropped here, before the close: its destructors run first
        // (Rust's `finally`), and it holds the connection no more.
    };
    let (code, reason) = match ended {
        Ended::Returned => (close_code::NORMAL, ""),
        Ended::Panicked => (close_code::INTERNAL, "internal error"),
        Ended::ShuttingDown => (close_code::GOING_AWAY, "server shutting down"),
    };
    close(&conn, code, reason, settings.close_timeout).await;
}

/// The closing handshake from the server's side, within `limit` in all: the close frame
/// (unless one was sent, or the client's came first and only its reply is due), the client's
/// reply, the server's FIN, the client's FIN; then the connection is dropped.
async fn close(conn: &RefCell<Conn>, code: u16, reason: &str, limit: Duration) {
    let closing = async {
        let (sent, received, failed) = {
            let conn = conn.borrow();
            (conn.sent_close, conn.received_close, conn.failed)
        };
        let mut frame = (!sent && !received).then(|| {
            tungstenite::Message::Close(Some(tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: reason.into(),
            }))
        });
        let written = poll_fn(|cx| {
            let mut conn = conn.borrow_mut();
            ready!(conn.poll_send(cx, &mut frame))?;
            conn.poll_flush(cx)
        })
        .await;
        // An error: the connection is gone, or the handshake is over; either way, on to the end.
        let gone = matches!(written, Err(Error::Io(_)));
        if !failed && !gone {
            // The client's reply, past whatever it sent before it.
            while let Some(Ok(_)) = poll_fn(|cx| conn.borrow_mut().poll_next(cx)).await {}
        }
        poll_fn(|cx| conn.borrow_mut().poll_shutdown(cx)).await;
        poll_fn(|cx| conn.borrow_mut().poll_drain(cx)).await;
    };
    let _ = kairos_rt::timeout(limit, closing).await;
    conn.borrow_mut().finish();
}
