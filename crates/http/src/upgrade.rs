//! Switching protocols (RFC 9110 §7.8): how a service takes over an HTTP/1.1 connection — the
//! WebSocket handshake's way.
//!
//! A request that carries an `Upgrade` header reaches the service with an [`OnUpgrade`] in its
//! extensions. The service claims it ([`OnUpgrade::claim`]), answers `101 Switching
//! Protocols`, and awaits the claim on a task of its own: once the server has written the 101,
//! the connection's stream is handed over as an [`Upgraded`] — a `futures-io` byte stream,
//! over TLS if the connection was, with whatever bytes the client had already sent after its
//! request. If the answer is not 101, the claim resolves to an error and the connection goes
//! on serving HTTP.
//!
//! ```no_run
//! use kairos_http::upgrade::OnUpgrade;
//! use kairos_http::{Body, Request, Response};
//! use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn service(request: Request) -> Response {
//!     let Some(claim) = request.extensions().get::<OnUpgrade>().and_then(|on| on.claim().ok())
//!     else {
//!         return Response::new(Body::from("send Upgrade: echo"));
//!     };
//!     kairos_rt::spawn(async move {
//!         let Ok(mut stream) = claim.await else { return };
//!         let mut buf = [0; 1024];
//!         while let Ok(n @ 1..) = stream.read(&mut buf).await {
//!             if stream.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//!     .detach();
//!     let mut response = Response::new(Body::empty());
//!     *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
//!     response.headers_mut().insert(http::header::UPGRADE, "echo".parse().unwrap());
//!     response.headers_mut().insert(http::header::CONNECTION, "upgrade".parse().unwrap());
//!     response
//! }
//! ```
//!
//! An upgraded connection still counts as open: against `max_connections`, and in the drain
//! of a graceful shutdown, which waits for it (up to `graceful_shutdown_timeout`) — so a
//! protocol should watch [`Upgraded::shutting_down`] and close (a WebSocket with `1001`).
//!
//! Why a claim rather than a value in the extensions: the stream belongs to the loop that
//! accepted it (it is not `Send`), and request extensions must be. The [`OnUpgrade`] in the
//! extensions is only a ticket naming the connection; it is redeemed on the same loop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use futures_io::{AsyncRead, AsyncWrite};

use crate::server::ConnectionHold;
use crate::transport::Transport;

thread_local! {
    /// The connections of this loop whose request asked to switch protocols, by number,
    /// until the claim is made or the connection ends.
    static WAITING: RefCell<HashMap<u64, Rc<Slot>>> = RefCell::new(HashMap::new());
    static NEXT_TICKET: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

/// In a request's extensions when the request asked to switch protocols (an HTTP/1.1
/// `Upgrade` header): the ticket for taking over its connection. See the module docs.
#[derive(Clone, Debug)]
pub struct OnUpgrade {
    ticket: u64,
    thread: ThreadId,
}

/// Why a connection could not be taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeError {
    /// [`OnUpgrade::claim`] was called on another thread than the loop that accepted the
    /// connection: claim it in the service, before handing work elsewhere.
    WrongLoop,
    /// The connection was already claimed, or has ended.
    Gone,
    /// The response was not `101 Switching Protocols`: the connection stays HTTP.
    NotSwitched,
    /// The connection failed before the switch (the client left, or writing the 101 failed).
    ConnectionLost,
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeError::WrongLoop => {
                "an upgrade must be claimed on the loop that accepted the connection (claim it \
                 in the service, before moving work to another thread)"
            }
            UpgradeError::Gone => "the connection was already claimed, or has ended",
            UpgradeError::NotSwitched => {
                "the response was not 101 Switching Protocols, so the connection stays HTTP"
            }
            UpgradeError::ConnectionLost => "the connection failed before switching protocols",
        })
    }
}

impl std::error::Error for UpgradeError {}

impl OnUpgrade {
    /// Claims the connection: the returned future resolves once the server has written the
    /// service's `101` response, to the connection's stream. Call it on the request's loop
    /// (in the service) — once; await it on a task of your own, since the 101 is written only
    /// after the service has returned it.
    pub fn claim(&self) -> Result<Claim, UpgradeError> {
        if thread::current().id() != self.thread {
            return Err(UpgradeError::WrongLoop);
        }
        WAITING
            .with(|waiting| waiting.borrow_mut().remove(&self.ticket))
            .map(|slot| Claim { slot })
            .ok_or(UpgradeError::Gone)
    }
}

/// A claimed connection, resolving to its [`Upgraded`] stream after the `101` has been
/// written (or to why not).
pub struct Claim {
    slot: Rc<Slot>,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").finish_non_exhaustive()
    }
}

impl Future for Claim {
    type Output = Result<Upgraded, UpgradeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.borrow_mut();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(_) => {
                *state = State::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            State::Switched(upgraded) => Poll::Ready(Ok(*upgraded)),
            State::Failed(error) => Poll::Ready(Err(error)),
            State::Taken => Poll::Ready(Err(UpgradeError::Gone)),
        }
    }
}

/// Where one connection's switch stands, shared by the connection's task and the claim.
pub(crate) struct Slot {
    state: RefCell<State>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

enum State {
    Waiting(Option<Waker>),
    Switched(Box<Upgraded>),
    Failed(UpgradeError),
    Taken,
}

/// The connection side of a request that asked to switch protocols.
#[derive(Debug)]
pub(crate) struct Pending {
    ticket: u64,
    slot: Rc<Slot>,
}

impl Pending {
    /// Registers a request that asked to switch protocols; returns the ticket for its
    /// extensions and what the connection keeps.
    pub(crate) fn register() -> (OnUpgrade, Pending) {
        let ticket = NEXT_TICKET.with(|next| {
            let ticket = next.get();
            next.set(ticket + 1);
            ticket
        });
        let slot = Rc::new(Slot { state: RefCell::new(State::Waiting(None)) });
        WAITING.with(|waiting| waiting.borrow_mut().insert(ticket, Rc::clone(&slot)));
        (OnUpgrade { ticket, thread: thread::current().id() }, Pending { ticket, slot })
    }

    /// Hands the connection over to its claim.
    pub(crate) fn switched(self, upgraded: Upgraded) {
        self.settle(State::Switched(Box::new(upgraded)));
    }

    /// The switch did not happen: the claim (if any) learns why.
    pub(crate) fn failed(self, error: UpgradeError) {
        self.settle(State::Failed(error));
    }

    fn settle(self, outcome: State) {
        WAITING.with(|waiting| waiting.borrow_mut().remove(&self.ticket));
        let previous = std::mem::replace(&mut *self.slot.state.borrow_mut(), outcome);
        if let State::Waiting(Some(waker)) = previous {
            waker.wake();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Settled or not, the ticket is not redeemable past the connection's life.
        WAITING.with(|waiting| waiting.borrow_mut().remove(&self.ticket));
        let mut state = self.slot.state.borrow_mut();
        if let State::Waiting(waker) = &mut *state {
            let waker = waker.take();
            *state = State::Failed(UpgradeError::ConnectionLost);
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// A connection that switched protocols: its byte stream (TCP or TLS), reading first what
/// the client sent before the switch. Closing it (or dropping it) closes the connection.
pub struct Upgraded {
    transport: Transport,
    /// Bytes the client sent past its request before the switch, read first.
    unread: Vec<u8>,
    unread_at: usize,
    peer: Option<SocketAddr>,
    hold: ConnectionHold,
}

impl Upgraded {
    pub(crate) fn new(
        transport: Transport,
        unread: Vec<u8>,
        peer: Option<SocketAddr>,
        hold: ConnectionHold,
    ) -> Upgraded {
        Upgraded { transport, unread, unread_at: 0, peer, hold }
    }

    /// The client's address; `None` over a Unix socket, whose peer has none.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether the connection is encrypted (it came over TLS).
    pub fn is_tls(&self) -> bool {
        !matches!(self.transport, Transport::Tcp(_) | Transport::Unix(_))
    }

    /// Resolves when the server begins a graceful shutdown: the moment to close the
    /// protocol politely (a WebSocket's `1001 Going Away`). The shutdown waits for the
    /// connection to close, up to its `graceful_shutdown_timeout`.
    pub fn shutting_down(&self) -> kairos_sync::event::Wait {
        self.hold.stopping()
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("transport", &self.transport)
            .field("peer", &self.peer)
            .field("unread", &(self.unread.len() - self.unread_at))
            .finish()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.unread_at < this.unread.len() {
            let n = buf.len().min(this.unread.len() - this.unread_at);
            buf[..n].copy_from_slice(&this.unread[this.unread_at..this.unread_at + n]);
            this.unread_at += n;
            if this.unread_at == this.unread.len() {
                this.unread = Vec::new();
                this.unread_at = 0;
            }
            return Poll::Ready(Ok(n));
        }
        this.transport.poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().transport.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().transport.poll_write_bufs(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().transport.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().transport.poll_close(cx)
    }
}
