//! The socket as hyper sees it: hyper 1.x's own `Read`/`Write` traits over a kairos
//! [`TcpStream`].
//!
//! Reads go through a buffer owned by the loop's thread and [`ReadBufCursor::put_slice`], the
//! safe way to fill hyper's possibly-uninitialised buffer: one `memcpy` of what was read (a
//! few hundred bytes for a typical request) in exchange for no `unsafe` in this crate.
//!
//! On the server, what is read passes the request [`Gate`] before hyper sees it (limits and
//! strict framing, see `server/gate.rs`). The adapter also keeps the server's bookkeeping of
//! the connection ([`Activity`]: when bytes last came, request heads delivered and parsed, a
//! refusal to answer) and lets a [`Coalescer`] hold back the answers to a pipelined batch
//! until its last one (see `coalesce.rs`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::rt::{Read, ReadBufCursor, Write};
use kairos_rt::net::TcpStream;

use crate::coalesce::{Batch, Coalescer, Sink};
use crate::server::gate::{Deliver, Gate, Passed, Refused};
use crate::server::ServerError;
use crate::transport::Transport;

/// The most one read takes from the socket.
const SCRATCH: usize = 16 * 1024;

/// After a refused request, how long closing waits for the client to stop sending (what it
/// sent after the refusal is read and dropped: closing with unread bytes would reset the
/// connection, and the reset can destroy the answer before the client reads it).
const LINGER: Duration = Duration::from_secs(2);

/// The most bytes dropped in one poll after a refusal, so that a client that keeps sending
/// does not hold the loop.
const DROP_PER_POLL: usize = 64 * 1024;

thread_local! {
    /// One read buffer per loop thread: reads never overlap within a loop.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// A connection's socket, adapted to hyper. Also records when bytes last arrived, which the
/// server's keep-alive timer reads, and coalesces the responses to pipelined requests (see
/// `coalesce.rs`).
pub struct HyperIo {
    stream: Transport,
    activity: Option<Rc<Activity>>,
    coalescer: Coalescer,
    /// The server's request gate; `None` for a client's connection.
    gate: Option<Gate>,
    /// After a refusal: until when closing drops what the client still sends.
    linger: Option<kairos_rt::time::Sleep>,
    /// Bytes read to tell HTTP/2 from HTTP/1.1, read again first.
    sniffed: Vec<u8>,
}

/// What the server's per-connection timer needs to know, kept up to date by reads and by
/// the request handler: when bytes last came, whether a request head is being read (and
/// since when), and how many requests are in progress.
#[derive(Debug)]
pub(crate) struct Activity {
    pub(crate) last_read: Cell<Instant>,
    /// When the first bytes of the next request head arrived (or the connection opened);
    /// `None` between requests and while one is in progress.
    pub(crate) head_started: Cell<Option<Instant>>,
    pub(crate) in_flight: Cell<usize>,
    /// Request heads delivered to hyper by reads and not yet parsed by it: pipelined requests
    /// hyper will answer without reading again.
    pub(crate) heads_pending: Cell<usize>,
    /// Request heads hyper has parsed: the number of the request being served.
    heads_parsed: Cell<u64>,
    /// Request heads delivered to hyper.
    heads_delivered: Cell<u64>,
    /// A request the gate refused: its number and the answer it gets.
    refusal: RefCell<Option<(u64, ServerError)>>,
    /// How many times the connection task has been polled; a deferred flush is honoured only
    /// within the poll that deferred it.
    pub(crate) polls: Cell<u64>,
    /// The number of the request that asked to switch protocols and whose answer the gate
    /// waits for (the gate decides; the request handler asks [`Activity::asks_upgrade`]).
    upgrade_head: Cell<Option<u64>>,
    /// The request that asked to switch protocols, while it is being answered.
    pub(crate) upgrade: RefCell<Option<crate::upgrade::Pending>>,
    /// Set when that request was answered `101`: the connection is handed over when hyper is
    /// done with it.
    pub(crate) switching: Cell<bool>,
    /// Set when it was answered otherwise: the gate scans what followed it as requests again.
    resume_gate: Cell<bool>,
    /// The read waiting for that answer.
    resume_waker: RefCell<Option<Waker>>,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Activity {
        Activity {
            last_read: Cell::new(now),
            head_started: Cell::new(Some(now)),
            in_flight: Cell::new(0),
            heads_pending: Cell::new(0),
            heads_parsed: Cell::new(0),
            heads_delivered: Cell::new(0),
            refusal: RefCell::new(None),
            polls: Cell::new(0),
            upgrade_head: Cell::new(None),
            upgrade: RefCell::new(None),
            switching: Cell::new(false),
            resume_gate: Cell::new(false),
            resume_waker: RefCell::new(None),
        }
    }

    /// Called when hyper has parsed a request head (it is about to call the service); returns
    /// the request's number on the connection, from 1.
    pub(crate) fn head_parsed(&self) -> u64 {
        self.heads_pending.set(self.heads_pending.get().saturating_sub(1));
        self.heads_parsed.set(self.heads_parsed.get() + 1);
        self.heads_parsed.get()
    }

    /// The error to answer request number `request` with, if the gate refused it (hyper was
    /// given a stand-in head in its place).
    pub(crate) fn refusal_for(&self, request: u64) -> Option<ServerError> {
        let mut refusal = self.refusal.borrow_mut();
        match &*refusal {
            Some((number, _)) if *number == request => refusal.take().map(|(_, error)| error),
            _ => None,
        }
    }

    /// Whether request `number` is the one the gate holds the connection for: it asked to
    /// switch protocols (HTTP/1.1, an `Upgrade` field, no body), as the gate read its head.
    pub(crate) fn asks_upgrade(&self, number: u64) -> bool {
        self.upgrade_head.get() == Some(number)
    }

    /// The request that asked to switch protocols was answered without switching: the gate
    /// reads on, and the read waiting for this is woken.
    pub(crate) fn resume(&self) {
        self.upgrade_head.set(None);
        self.resume_gate.set(true);
        if let Some(waker) = self.resume_waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Records what a read let through the gate.
    fn passed(&self, passed: Passed) {
        self.heads_pending.set(self.heads_pending.get() + passed.heads);
        self.heads_delivered.set(self.heads_delivered.get() + passed.heads as u64);
        if passed.suspended {
            // The gate holds what follows this head until its answer is known.
            self.upgrade_head.set(Some(self.heads_delivered.get()));
        }
        match passed.refused {
            Some(Refused::Request(error)) => {
                // The stand-in is the last head delivered.
                *self.refusal.borrow_mut() = Some((self.heads_delivered.get(), error));
            }
            Some(Refused::Body(reason)) => {
                tracing::debug!(target: "kairos::server", "request body refused: {reason}");
            }
            None => {}
        }
    }

    /// Called at the start of every poll of the connection task.
    pub(crate) fn next_poll(&self) {
        self.polls.set(self.polls.get().wrapping_add(1));
    }

    /// Where the connection stands in a pipelined batch.
    fn batch(&self) -> Batch {
        Batch { heads_pending: self.heads_pending.get(), poll: self.polls.get() }
    }
}

impl Sink for Transport {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }
}

impl HyperIo {
    /// Wraps a stream for hyper.
    pub fn new(stream: TcpStream) -> Self {
        HyperIo::over(Transport::Tcp(stream))
    }

    /// Wraps a transport (TCP or TLS) for hyper, as a client uses it.
    pub(crate) fn over(stream: Transport) -> Self {
        HyperIo {
            stream,
            activity: None,
            coalescer: Coalescer::default(),
            gate: None,
            linger: None,
            sniffed: Vec::new(),
        }
    }

    /// Wraps a served stream: its reads pass `gate`, and `activity` is kept up to date.
    /// `sniffed` are the first bytes, read to choose the protocol.
    pub(crate) fn server(
        stream: Transport,
        sniffed: Vec<u8>,
        activity: Rc<Activity>,
        gate: Option<Gate>,
    ) -> Self {
        HyperIo {
            stream,
            activity: Some(activity),
            coalescer: Coalescer::default(),
            gate,
            linger: None,
            sniffed,
        }
    }

    /// Gives up the stream for a connection that switched protocols, with the bytes the gate
    /// still held (read past the request, never shown to hyper).
    pub(crate) fn into_switched(mut self) -> (Transport, Vec<u8>) {
        let transport = std::mem::replace(&mut self.stream, Transport::Taken);
        (transport, self.gate.take().map(Gate::into_unread).unwrap_or_default())
    }

    /// Where the connection stands in a pipelined batch; `None` if nobody counts (a client).
    fn batch(&self) -> Option<Batch> {
        self.activity.as_ref().map(|activity| activity.batch())
    }
}

impl Read for HyperIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Responses owed go out before we wait for more requests — unless this very poll put
        // them off: hyper also reads in the middle of a batch (after parsing its last head, to
        // notice an early EOF), and the batch's last answer is yet to come. A full socket does
        // not stop the read: the task is registered for writability and comes back for the rest.
        if !this.coalescer.deferring_in(this.batch()) {
            if let Poll::Ready(Err(e)) = this.coalescer.poll_drain(cx, &mut this.stream) {
                return Poll::Ready(Err(e));
            }
        }
        if let Some(gate) = &mut this.gate {
            if gate.has_ready() {
                gate.deliver_ready(&mut Cursor(&mut buf));
                return Poll::Ready(Ok(()));
            }
            if gate.is_suspended() {
                // What follows a request that asked to switch protocols waits in the socket
                // until it is answered: the task is polled again when the answer is ready.
                let Some(activity) = this.activity.as_ref() else { return Poll::Pending };
                if !activity.resume_gate.take() {
                    // hyper takes this Pending to mean the socket will wake it: the answer
                    // does instead (`Activity::resume`).
                    *activity.resume_waker.borrow_mut() = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                let before = buf.remaining();
                activity.passed(gate.resume(&mut Cursor(&mut buf)));
                if buf.remaining() < before {
                    return Poll::Ready(Ok(()));
                }
            }
        }
        let mut dropped = 0;
        loop {
            let want = buf.remaining().min(SCRATCH);
            let read = SCRATCH_BUF.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let n = if this.sniffed.is_empty() {
                    std::task::ready!(this.stream.poll_read_buf(cx, &mut scratch[..want]))?
                } else {
                    let n = this.sniffed.len().min(want);
                    scratch[..n].copy_from_slice(&this.sniffed[..n]);
                    this.sniffed.drain(..n);
                    n
                };
                let delivered = match (&mut this.gate, &this.activity) {
                    (Some(gate), Some(activity)) if n > 0 => {
                        let before = buf.remaining();
                        activity.passed(gate.feed(&scratch[..n], &mut Cursor(&mut buf)));
                        before - buf.remaining()
                    }
                    _ => {
                        buf.put_slice(&scratch[..n]);
                        n
                    }
                };
                Poll::Ready(Ok::<_, io::Error>((n, delivered)))
            });
            let (n, delivered) = std::task::ready!(read)?;
            if n > 0 {
                if let Some(activity) = &this.activity {
                    let now = Instant::now();
                    activity.last_read.set(now);
                    if activity.in_flight.get() == 0 && activity.head_started.get().is_none() {
                        activity.head_started.set(Some(now));
                    }
                }
            }
            // Bytes the gate kept (an unfinished head) or dropped (after a refusal) are not
            // an end of input to hyper: read on until some pass or the socket has no more.
            if n == 0 || delivered > 0 {
                return Poll::Ready(Ok(()));
            }
            dropped += n;
            if dropped >= DROP_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

/// hyper's read buffer, as the gate delivers into it.
struct Cursor<'a, 'b>(&'a mut ReadBufCursor<'b>);

impl Deliver for Cursor<'_, '_> {
    fn room(&self) -> usize {
        self.0.remaining()
    }

    fn put(&mut self, bytes: &[u8]) {
        self.0.put_slice(bytes);
    }
}

impl HyperIo {
    /// After a refusal, before the socket closes: reads and drops what the client still
    /// sends, until it stops (end of input or an error) or [`LINGER`] has passed.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.gate.as_ref().is_some_and(Gate::is_closed) {
            return Poll::Ready(());
        }
        let linger = self.linger.get_or_insert_with(|| kairos_rt::sleep(LINGER));
        if Pin::new(linger).poll(cx).is_ready() {
            return Poll::Ready(());
        }
        SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut dropped = 0;
            loop {
                match self.stream.poll_read_buf(cx, &mut scratch[..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(n)) => {
                        dropped += n;
                        if dropped >= DROP_PER_POLL {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
    }
}

impl Write for HyperIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.coalescer.write_directly(this.batch(), buf.len()) {
            // The common case: nothing owed, no copy. Else what is owed goes first.
            std::task::ready!(this.coalescer.poll_drain(cx, &mut this.stream))?;
            return this.stream.poll_write_buf(cx, buf);
        }
        this.coalescer.poll_buffer(cx, &mut this.stream, &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.coalescer.write_directly(this.batch(), bufs.iter().map(|b| b.len()).sum()) {
            std::task::ready!(this.coalescer.poll_drain(cx, &mut this.stream))?;
            return this.stream.poll_write_bufs(cx, bufs);
        }
        this.coalescer.poll_buffer(cx, &mut this.stream, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let batch = this.batch();
        std::task::ready!(this.coalescer.poll_flush(cx, &mut this.stream, batch))?;
        this.stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.coalescer.poll_drain(cx, &mut this.stream))?;
        if this.linger.is_none() {
            std::task::ready!(this.stream.poll_close(cx))?;
        }
        std::task::ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

impl Drop for HyperIo {
    fn drop(&mut self) {
        if !self.coalescer.is_empty() {
            // hyper dropped the connection without a flush or shutdown (an error path): give
            // the client what fits in the socket now rather than nothing. Never waits.
            let cx = &mut Context::from_waker(Waker::noop());
            let _ = self.coalescer.poll_drain(cx, &mut self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Read as _;
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::time::Duration;

    use super::*;

    /// A served socket (wrapped for hyper, with the server's bookkeeping) and its client end.
    fn pair() -> (HyperIo, Rc<Activity>, StdStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let (served, _) = listener.accept().unwrap();
        served.set_nonblocking(true).unwrap();
        let activity = Rc::new(Activity::new(Instant::now()));
        let gate = Gate::new(crate::server::gate::Limits {
            max_head: 16 * 1024,
            max_request_line: 8 * 1024,
            max_fields: 100,
            max_body: None,
            strict: true,
        });
        let stream = Transport::Tcp(TcpStream::from_std(served).unwrap());
        let io = HyperIo::server(stream, Vec::new(), Rc::clone(&activity), Some(gate));
        (io, activity, client)
    }

    /// What the client can read now, without waiting. Empty is how the tests see that nothing
    /// was sent (loopback delivers at once, so a write would almost always show; a late one
    /// only weakens the check); what must arrive is waited for with [`receive`].
    fn received(client: &mut StdStream) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return all,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Reads until `expected` has arrived (or 10 s have passed, to fail rather than hang).
    fn receive(client: &mut StdStream, expected: &[u8]) {
        let mut all = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while all.len() < expected.len() && Instant::now() < deadline {
            all.extend(received(client));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(String::from_utf8_lossy(&all), String::from_utf8_lossy(expected));
    }

    /// hyper's part for one response: write it, then flush.
    async fn respond(io: &mut HyperIo, bytes: &[u8]) {
        let mut io = Pin::new(io);
        let n = poll_fn(|cx| io.as_mut().poll_write(cx, bytes)).await.unwrap();
        assert_eq!(n, bytes.len());
        poll_fn(|cx| io.as_mut().poll_flush(cx)).await.unwrap();
    }

    #[test]
    fn responses_to_a_pipelined_batch_leave_together_after_the_last() {
        kairos_rt::run(async {
            let (mut io, activity, mut client) = pair();
            activity.next_poll();
            activity.heads_pending.set(3); // a read delivered three heads
            for (i, answer) in [b"one;", b"two;"].iter().enumerate() {
                activity.head_parsed();
                respond(&mut io, *answer).await;
                assert_eq!(received(&mut client), b"", "answer {i} was written early");
            }
            activity.head_parsed();
            respond(&mut io, b"three;").await;
            receive(&mut client, b"one;two;three;");
        });
    }

    #[test]
    fn a_read_writes_what_is_owed_before_waiting_and_drop_writes_the_rest() {
        kairos_rt::run(async {
            let (mut io, activity, mut client) = pair();
            // A new socket's writability is learnt from the reactor; an empty write waits for
            // it, so the one-shot polls below find the socket known to be writable.
            respond(&mut io, b"").await;
            activity.next_poll();
            activity.heads_pending.set(2);
            activity.head_parsed();
            respond(&mut io, b"first;").await;
            // hyper reads in the same poll (it checks for an early EOF after its last head):
            // the batch is not over, nothing goes out yet.
            let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
            let polled =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_read(cx, buf.unfilled()))).await;
            assert!(polled.is_pending());
            assert_eq!(received(&mut client), b"");
            // In a later poll, hyper asks for more input: owed bytes go out before the read
            // waits.
            activity.next_poll();
            let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
            let polled =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_read(cx, buf.unfilled()))).await;
            assert!(polled.is_pending(), "nothing was sent, so the read waits");
            receive(&mut client, b"first;");

            activity.heads_pending.set(2);
            activity.head_parsed();
            respond(&mut io, b"second;").await;
            drop(io);
            receive(&mut client, b"second;");
        });
    }

    #[test]
    fn without_pipelining_writes_go_straight_to_the_socket() {
        kairos_rt::run(async {
            let (mut io, activity, mut client) = pair();
            activity.next_poll();
            let mut pinned = Pin::new(&mut io);
            poll_fn(|cx| pinned.as_mut().poll_write(cx, b"direct;")).await.unwrap();
            // Not even flushed yet: no head was pending, so nothing was buffered.
            receive(&mut client, b"direct;");
            assert!(io.coalescer.is_empty());
        });
    }
}
