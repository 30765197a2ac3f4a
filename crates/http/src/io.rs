//! The socket as hyper sees it: hyper 1.x's own `Read`/`Write` traits over a kairos
//! [`TcpStream`].
//!
//! Reads go through a buffer owned by the loop's thread and [`ReadBufCursor::put_slice`], the
//! safe way to fill hyper's possibly-uninitialised buffer: one `memcpy` of what was read (a
//! few hundred bytes for a typical request) in exchange for no `unsafe` in this crate.
//!
//! **Write coalescing for pipelined requests.** hyper flushes after every response. When a
//! client pipelines (sends several requests in one write, as HTTP/1.1 allows and load
//! generators do), that is one `write` system call per response, although the answers to a
//! whole batch could leave in one. hyper's own remedy, `pipeline_flush(true)`, loses the 431
//! and 400 answers for a request it refuses (see `server/connection.rs`), so the server
//! coalesces here instead, one layer down:
//!
//! - each read counts the request heads it delivered (`\r\n\r\n`), and the server counts the
//!   heads hyper has parsed (it calls the service once per head), both in [`Activity`];
//! - while heads are delivered but not yet parsed, hyper is about to answer another request
//!   in this same poll, so a flush only moves the response into a buffer of ours;
//! - the flush after the batch's last response writes everything in one system call.
//!
//! It can never strand bytes: a flush is put off only within the poll of the connection that
//! began the deferral (the server counts its polls), the task is woken so that it is polled
//! again in any case, and every later read, flush or shutdown writes what is buffered first.
//! A miscount (a body that happens to contain `\r\n\r\n`) costs one extra poll, never a
//! response. A connection without pipelining never defers and never copies: with nothing
//! buffered and no head pending, writes go straight to the socket as before.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use hyper::rt::{Read, ReadBufCursor, Write};
use kairos_rt::net::TcpStream;
use memchr::memmem;

/// The most one read takes from the socket.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    /// One read buffer per loop thread: reads never overlap within a loop.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// How many request heads end in `bytes` (occurrences of `\r\n\r\n`), with a substring
/// searcher built once (building one per read cost more than the search, and a search per
/// line feed cost ~270 instructions per pipelined request).
fn count_heads(bytes: &[u8]) -> usize {
    static HEAD_END: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\r\n\r\n"));
    HEAD_END.find_iter(bytes).count()
}

/// The most response bytes buffered at once: past it a write waits for the socket (a client
/// that pipelines but never reads must not grow the buffer), and no single write is copied
/// beyond it (hyper takes a short write and offers the rest again).
const MAX_BUFFERED: usize = 64 * 1024;

/// Buffer capacity kept between batches; a batch that needed more gives it back, so that a
/// connection does not hold its largest batch's memory while it idles.
const KEPT_CAPACITY: usize = 8 * 1024;

/// A connection's socket, adapted to hyper. Also records when bytes last arrived, which the
/// server's keep-alive timer reads, and coalesces the responses to pipelined requests (see
/// the module docs).
pub struct HyperIo {
    stream: TcpStream,
    activity: Option<Rc<Activity>>,
    /// Response bytes accepted from hyper and not yet written to the socket.
    pending: Vec<u8>,
    /// The connection poll (`Activity::polls`) in which a flush was last put off, if bytes are
    /// still pending from it.
    deferred_in: Option<u64>,
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
    /// How many times the connection task has been polled; a deferred flush is honoured only
    /// within the poll that deferred it.
    pub(crate) polls: Cell<u64>,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Activity {
        Activity {
            last_read: Cell::new(now),
            head_started: Cell::new(Some(now)),
            in_flight: Cell::new(0),
            heads_pending: Cell::new(0),
            polls: Cell::new(0),
        }
    }

    /// Called when hyper has parsed a request head (it is about to call the service).
    pub(crate) fn head_parsed(&self) {
        self.heads_pending.set(self.heads_pending.get().saturating_sub(1));
    }

    /// Called at the start of every poll of the connection task.
    pub(crate) fn next_poll(&self) {
        self.polls.set(self.polls.get().wrapping_add(1));
    }
}

impl HyperIo {
    /// Wraps a stream for hyper.
    pub fn new(stream: TcpStream) -> Self {
        HyperIo { stream, activity: None, pending: Vec::new(), deferred_in: None }
    }

    pub(crate) fn with_activity(stream: TcpStream, activity: Rc<Activity>) -> Self {
        HyperIo { stream, activity: Some(activity), pending: Vec::new(), deferred_in: None }
    }

    /// Whether a response just handed over may wait in the buffer: hyper has pipelined
    /// requests still to parse, and this is the poll that started deferring (or none did).
    fn may_defer(&self) -> bool {
        let Some(activity) = &self.activity else { return false };
        activity.heads_pending.get() > 0
            && (self.deferred_in.is_none() || self.deferring_in_this_poll())
    }

    /// Whether a write of `len` bytes goes to the socket (after what is owed) rather than
    /// into the buffer: when nothing may be deferred and either nothing is owed (no copy) or
    /// it would not fit. The last answer of a batch joins the others, so the flush that
    /// follows writes the whole batch at once.
    fn write_directly(&self, len: usize) -> bool {
        !self.may_defer() && (self.pending.is_empty() || self.pending.len() + len > MAX_BUFFERED)
    }

    /// Whether bytes are buffered by a deferral made in the connection's current poll.
    fn deferring_in_this_poll(&self) -> bool {
        match (&self.activity, self.deferred_in) {
            (Some(activity), Some(poll)) => poll == activity.polls.get(),
            _ => false,
        }
    }

    /// Writes out everything buffered; `Pending` (with the task registered for writability) if
    /// the socket is full.
    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match self.stream.poll_write_buf(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pending.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.deferred_in = None;
        if self.pending.capacity() > KEPT_CAPACITY {
            self.pending.shrink_to(KEPT_CAPACITY);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes what fits of `bytes` into the buffer (at most up to [`MAX_BUFFERED`]), first
    /// making room by writing if it is full; returns how much it took.
    fn poll_buffer<B: Deref<Target = [u8]>>(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[B],
    ) -> Poll<io::Result<usize>> {
        if self.pending.len() >= MAX_BUFFERED {
            std::task::ready!(self.poll_write_pending(cx))?;
        }
        let room = MAX_BUFFERED - self.pending.len();
        let mut taken = 0;
        for part in bytes {
            let take = part.len().min(room - taken);
            self.pending.extend_from_slice(&part[..take]);
            taken += take;
            if taken == room {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
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
        if !this.deferring_in_this_poll() {
            if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
                return Poll::Ready(Err(e));
            }
        }
        let want = buf.remaining().min(SCRATCH);
        let polled = SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            match this.stream.poll_read_buf(cx, &mut scratch[..want]) {
                Poll::Ready(Ok(n)) => {
                    buf.put_slice(&scratch[..n]);
                    // hyper reads only once its buffer holds no complete head, so the heads
                    // it has yet to parse are exactly those in these bytes.
                    if let Some(activity) = &this.activity {
                        activity.heads_pending.set(count_heads(&scratch[..n]));
                    }
                    Poll::Ready(Ok(n))
                }
                other => other,
            }
        });
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    if let Some(activity) = &this.activity {
                        let now = Instant::now();
                        activity.last_read.set(now);
                        if activity.in_flight.get() == 0 && activity.head_started.get().is_none() {
                            activity.head_started.set(Some(now));
                        }
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Write for HyperIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_directly(buf.len()) {
            // The common case: nothing owed, no copy. Else what is owed goes first.
            std::task::ready!(this.poll_write_pending(cx))?;
            return this.stream.poll_write_buf(cx, buf);
        }
        this.poll_buffer(cx, &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_directly(bufs.iter().map(|b| b.len()).sum()) {
            std::task::ready!(this.poll_write_pending(cx))?;
            return this.stream.poll_write_bufs(cx, bufs);
        }
        this.poll_buffer(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            return Poll::Ready(Ok(())); // unbuffered writes went to the kernel already
        }
        if this.may_defer() {
            if this.deferred_in.is_none() {
                // The safety net: whatever hyper does next, the task is polled again, and the
                // next poll writes what is still here.
                cx.waker().wake_by_ref();
                this.deferred_in = this.activity.as_ref().map(|a| a.polls.get());
            }
            return Poll::Ready(Ok(()));
        }
        this.poll_write_pending(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_write_pending(cx))?;
        match this.stream.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for HyperIo {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            // hyper dropped the connection without a flush or shutdown (an error path): give
            // the client what fits in the socket now rather than nothing. Never waits.
            let _ = self.poll_write_pending(&mut Context::from_waker(Waker::noop()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Read as _;
    use std::net::{TcpListener, TcpStream as StdStream};

    use super::*;

    /// A served socket (wrapped for hyper, with the server's bookkeeping) and its client end.
    fn pair() -> (HyperIo, Rc<Activity>, StdStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let (served, _) = listener.accept().unwrap();
        served.set_nonblocking(true).unwrap();
        let activity = Rc::new(Activity::new(Instant::now()));
        let io = HyperIo::with_activity(TcpStream::from_std(served).unwrap(), Rc::clone(&activity));
        (io, activity, client)
    }

    /// What the client can read now, without waiting.
    fn received(client: &mut StdStream) -> Vec<u8> {
        std::thread::sleep(std::time::Duration::from_millis(20)); // loopback delivery
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

    /// hyper's part for one response: write it, then flush.
    async fn respond(io: &mut HyperIo, bytes: &[u8]) {
        let mut io = Pin::new(io);
        let n = poll_fn(|cx| io.as_mut().poll_write(cx, bytes)).await.unwrap();
        assert_eq!(n, bytes.len());
        poll_fn(|cx| io.as_mut().poll_flush(cx)).await.unwrap();
    }

    #[test]
    fn heads_are_counted_by_their_blank_line() {
        assert_eq!(count_heads(b""), 0);
        assert_eq!(count_heads(b"GET / HTTP/1.1\r\nHost: a\r\n"), 0);
        assert_eq!(count_heads(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 1);
        assert_eq!(count_heads(b"\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET"), 3);
        assert_eq!(count_heads(b"\n\r\n"), 0);
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
                assert_eq!(
                    received(&mut client),
                    b"",
                    "answer {i} was written before the batch ended"
                );
            }
            activity.head_parsed();
            // The last answer joins the others (nothing goes out at its write) and the flush
            // after it sends the whole batch.
            let mut pinned = Pin::new(&mut io);
            poll_fn(|cx| pinned.as_mut().poll_write(cx, b"three;")).await.unwrap();
            assert_eq!(received(&mut client), b"", "the batch was split");
            poll_fn(|cx| pinned.as_mut().poll_flush(cx)).await.unwrap();
            assert_eq!(received(&mut client), b"one;two;three;");
        });
    }

    #[test]
    fn a_deferred_response_goes_out_on_the_next_poll_even_if_no_head_comes() {
        kairos_rt::run(async {
            let (mut io, activity, mut client) = pair();
            activity.next_poll();
            activity.heads_pending.set(2); // miscounted: a body held "\r\n\r\n"
            activity.head_parsed();
            respond(&mut io, b"only;").await;
            assert_eq!(received(&mut client), b"");
            // The connection task is polled again (the deferral woke it) and hyper flushes.
            activity.next_poll();
            poll_fn(|cx| Pin::new(&mut io).poll_flush(cx)).await.unwrap();
            assert_eq!(received(&mut client), b"only;");
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
            assert_eq!(received(&mut client), b"first;");

            activity.heads_pending.set(2);
            activity.head_parsed();
            respond(&mut io, b"second;").await;
            drop(io);
            assert_eq!(received(&mut client), b"second;");
        });
    }

    #[test]
    fn a_large_answer_is_buffered_a_bounded_piece_at_a_time_and_the_memory_given_back() {
        kairos_rt::run(async {
            let (mut io, activity, mut client) = pair();
            respond(&mut io, b"").await; // learn writability (see above)
            activity.next_poll();
            activity.heads_pending.set(2);
            activity.head_parsed();
            let big = vec![b'x'; 1 << 20];
            let mut pinned = Pin::new(&mut io);
            let took = poll_fn(|cx| pinned.as_mut().poll_write(cx, &big)).await.unwrap();
            assert_eq!(took, MAX_BUFFERED, "one write is copied only up to the bound");
            // The batch ends (its last head parsed): nothing may wait now, so what is owed
            // goes out first, then the rest straight to the socket.
            activity.head_parsed();
            let mut sent = took;
            let mut seen = 0;
            let mut buf = vec![0u8; 1 << 16];
            while sent < big.len() || seen < big.len() {
                if sent < big.len() {
                    let n = poll_fn(|cx| match pinned.as_mut().poll_write(cx, &big[sent..]) {
                        Poll::Pending => Poll::Ready(0), // socket full: let the client read
                        Poll::Ready(r) => Poll::Ready(r.unwrap()),
                    })
                    .await;
                    sent += n;
                }
                if sent == big.len() {
                    poll_fn(|cx| match pinned.as_mut().poll_flush(cx) {
                        Poll::Pending => Poll::Ready(()),
                        Poll::Ready(r) => {
                            r.unwrap();
                            Poll::Ready(())
                        }
                    })
                    .await;
                }
                match client.read(&mut buf) {
                    Ok(n) => seen += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => kairos_rt::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(pinned.pending.is_empty());
            assert!(pinned.pending.capacity() <= KEPT_CAPACITY, "{}", pinned.pending.capacity());
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
            assert_eq!(received(&mut client), b"direct;");
            assert!(io.pending.is_empty());
        });
    }
}
