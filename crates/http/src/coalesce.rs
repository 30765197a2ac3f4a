//! Write coalescing for pipelined requests: the answers to a batch of requests that arrived in
//! one read leave in one write.
//!
//! hyper flushes after every response. When a client pipelines (sends several requests in one
//! write, as HTTP/1.1 allows and load generators do), that is one `write` system call per
//! response, although the answers to a whole batch could leave in one. hyper's own remedy,
//! `pipeline_flush(true)`, loses the 431 and 400 answers for a request it refuses (see
//! `server/connection.rs`), so the server coalesces one layer down, in the socket adapter
//! ([`HyperIo`](crate::HyperIo)), with a [`Coalescer`]:
//!
//! - the request gate counts the heads each read delivered (exactly: it follows the framing,
//!   see `server/gate.rs`), and the server counts the heads hyper has parsed (it calls the
//!   service once per head); what is left is [`Batch::heads_pending`];
//! - while heads are delivered but not yet parsed, hyper is about to answer another request
//!   in this same poll, so a flush only moves the response into a buffer of ours;
//! - the flush after the batch's last response writes everything in one system call.
//!
//! It can never strand bytes: a flush is put off only within the poll of the connection that
//! began the deferral (the server counts its polls, [`Batch::poll`]), the task is woken so
//! that it is polled again in any case, and every later read, flush or shutdown writes what is
//! buffered first. A miscount (a head the gate passed that waits for room in hyper's buffer)
//! costs one extra poll, never a response. A connection without pipelining never defers and never copies:
//! with nothing buffered and no head pending, writes go straight to the socket.

use std::io;
use std::ops::Deref;
use std::task::{Context, Poll};

/// The most response bytes buffered at once: past it a write waits for the socket (a client
/// that pipelines but never reads must not grow the buffer), and no single write is copied
/// beyond it (hyper takes a short write and offers the rest again).
pub(crate) const MAX_BUFFERED: usize = 64 * 1024;

/// Buffer capacity kept between batches; a batch that needed more gives it back, so that a
/// connection does not hold its largest batch's memory while it idles.
pub(crate) const KEPT_CAPACITY: usize = 8 * 1024;

/// Where a connection stands in a pipelined batch, as the server counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch {
    /// Request heads delivered by reads and not yet parsed by hyper.
    pub(crate) heads_pending: usize,
    /// Which poll of the connection task this is.
    pub(crate) poll: u64,
}

/// Where buffered bytes go: the socket, or a fake in tests.
pub(crate) trait Sink {
    /// Writes some of `buf`; `Pending` (with the task registered) if it cannot now.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
}

/// The response bytes of a batch, held back until its last answer. `batch` is `None` for a
/// connection whose heads nobody counts (the client's): it never defers.
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    /// Response bytes accepted from hyper and not yet written.
    pending: Vec<u8>,
    /// The connection poll in which a flush was last put off, if bytes are still pending from
    /// it.
    deferred_in: Option<u64>,
}

impl Coalescer {
    /// Whether bytes are buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a response just handed over may wait in the buffer: hyper has pipelined
    /// requests still to parse, and this is the poll that started deferring (or none did).
    fn may_defer(&self, batch: Option<Batch>) -> bool {
        let Some(batch) = batch else { return false };
        batch.heads_pending > 0 && (self.deferred_in.is_none() || self.deferring_in(Some(batch)))
    }

    /// Whether a write of `len` bytes goes to the sink (after what is owed) rather than into
    /// the buffer: when nothing may be deferred and either nothing is owed (no copy) or it
    /// would not fit. The last answer of a batch joins the others, so the flush that follows
    /// writes the whole batch at once.
    pub(crate) fn write_directly(&self, batch: Option<Batch>, len: usize) -> bool {
        !self.may_defer(batch)
            && (self.pending.is_empty() || self.pending.len() + len > MAX_BUFFERED)
    }

    /// Whether bytes are buffered by a deferral made in the connection's current poll (then a
    /// read must not write them: the batch's last answer is yet to come).
    pub(crate) fn deferring_in(&self, batch: Option<Batch>) -> bool {
        match (batch, self.deferred_in) {
            (Some(batch), Some(poll)) => poll == batch.poll,
            _ => false,
        }
    }

    /// Writes out everything buffered; `Pending` (with the task registered by the sink) if it
    /// is full.
    pub(crate) fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut impl Sink,
    ) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match sink.poll_write(cx, &self.pending) {
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
    pub(crate) fn poll_buffer<B: Deref<Target = [u8]>>(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut impl Sink,
        bytes: &[B],
    ) -> Poll<io::Result<usize>> {
        if self.pending.len() >= MAX_BUFFERED {
            std::task::ready!(self.poll_drain(cx, sink))?;
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

    /// hyper's flush: puts it off while the batch has answers to come (waking the task, so
    /// that the next poll writes what is here whatever hyper does), else drains.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut impl Sink,
        batch: Option<Batch>,
    ) -> Poll<io::Result<()>> {
        if self.pending.is_empty() {
            return Poll::Ready(Ok(())); // unbuffered writes went to the kernel already
        }
        if self.may_defer(batch) {
            if self.deferred_in.is_none() {
                cx.waker().wake_by_ref();
                self.deferred_in = batch.map(|batch| batch.poll);
            }
            return Poll::Ready(Ok(()));
        }
        self.poll_drain(cx, sink)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::*;

    /// A sink that takes at most `room` more bytes, then is full (`Pending`) until the test
    /// gives it more room.
    struct Fake {
        written: Vec<u8>,
        writes: usize,
        room: usize,
    }

    impl Fake {
        fn new() -> Fake {
            Fake { written: Vec::new(), writes: 0, room: usize::MAX }
        }
    }

    impl Sink for Fake {
        fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.room == 0 {
                return Poll::Pending;
            }
            let n = buf.len().min(self.room);
            self.written.extend_from_slice(&buf[..n]);
            self.room -= n;
            self.writes += 1;
            Poll::Ready(Ok(n))
        }
    }

    /// Counts wakes: a deferral must wake the task.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Waker, Arc<Wakes>) {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        (Waker::from(Arc::clone(&wakes)), wakes)
    }

    /// What the adapter does for one write from hyper: straight to the sink or into the buffer.
    fn write(
        coalescer: &mut Coalescer,
        cx: &mut Context<'_>,
        sink: &mut Fake,
        batch: Option<Batch>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        if coalescer.write_directly(batch, bytes.len()) {
            std::task::ready!(coalescer.poll_drain(cx, sink))?;
            return sink.poll_write(cx, bytes);
        }
        coalescer.poll_buffer(cx, sink, &[bytes])
    }

    /// hyper's part for one response: write it, then flush.
    fn respond(
        coalescer: &mut Coalescer,
        cx: &mut Context<'_>,
        sink: &mut Fake,
        batch: Option<Batch>,
        bytes: &[u8],
    ) {
        assert!(
            matches!(write(coalescer, cx, sink, batch, bytes), Poll::Ready(Ok(n)) if n == bytes.len())
        );
        assert!(matches!(coalescer.poll_flush(cx, sink, batch), Poll::Ready(Ok(()))));
    }

    fn batch(heads_pending: usize, poll: u64) -> Option<Batch> {
        Some(Batch { heads_pending, poll })
    }

    #[test]
    fn the_answers_to_a_batch_leave_in_one_write_after_the_last() {
        let (waker, wakes) = waker();
        let cx = &mut Context::from_waker(&waker);
        let (mut coalescer, mut sink) = (Coalescer::default(), Fake::new());
        // A read delivered three heads; hyper parses one, answers, flushes; and so on.
        respond(&mut coalescer, cx, &mut sink, batch(2, 1), b"one;");
        respond(&mut coalescer, cx, &mut sink, batch(1, 1), b"two;");
        assert_eq!(sink.writes, 0, "an answer was written before the batch ended");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the first deferral wakes the task");
        // The last answer joins the others (nothing goes out at its write)...
        let last = write(&mut coalescer, cx, &mut sink, batch(0, 1), b"three;");
        assert!(matches!(last, Poll::Ready(Ok(6))));
        assert_eq!(sink.writes, 0, "the batch was split");
        // ...and the flush after it sends the whole batch at once.
        assert!(coalescer.poll_flush(cx, &mut sink, batch(0, 1)).is_ready());
        assert_eq!((sink.written.as_slice(), sink.writes), (&b"one;two;three;"[..], 1));
        assert!(coalescer.is_empty());
    }

    #[test]
    fn a_deferral_is_honoured_only_within_the_poll_that_made_it() {
        let (waker, _) = waker();
        let cx = &mut Context::from_waker(&waker);
        let (mut coalescer, mut sink) = (Coalescer::default(), Fake::new());
        // Miscounted: a body held "\r\n\r\n", so a head seems to be pending that never comes.
        respond(&mut coalescer, cx, &mut sink, batch(1, 7), b"only;");
        assert!(sink.written.is_empty());
        assert!(coalescer.deferring_in(batch(1, 7)), "a read in this poll must not write it");
        // The task is polled again (the deferral woke it) and hyper flushes: out it goes.
        assert!(!coalescer.deferring_in(batch(1, 8)));
        assert!(coalescer.poll_flush(cx, &mut sink, batch(1, 8)).is_ready());
        assert_eq!(sink.written, b"only;");
    }

    #[test]
    fn without_a_batch_writes_go_straight_to_the_sink_uncopied() {
        let (waker, wakes) = waker();
        let cx = &mut Context::from_waker(&waker);
        let (mut coalescer, mut sink) = (Coalescer::default(), Fake::new());
        assert!(coalescer.write_directly(None, 100), "uncounted connections never defer");
        respond(&mut coalescer, cx, &mut sink, batch(0, 1), b"alone;");
        assert_eq!((sink.written.as_slice(), sink.writes), (&b"alone;"[..], 1));
        assert!(coalescer.pending.capacity() == 0, "nothing was copied");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_large_answer_is_buffered_a_bounded_piece_at_a_time_and_the_memory_given_back() {
        let (waker, _) = waker();
        let cx = &mut Context::from_waker(&waker);
        let (mut coalescer, mut sink) = (Coalescer::default(), Fake::new());
        let big = vec![b'x'; 1 << 20];
        let took = write(&mut coalescer, cx, &mut sink, batch(1, 1), &big);
        assert!(matches!(took, Poll::Ready(Ok(MAX_BUFFERED))), "copied only up to the bound");
        // Full: the next deferred write must first make room, and waits while the sink is full.
        sink.room = 0;
        assert!(write(&mut coalescer, cx, &mut sink, batch(1, 1), b"more").is_pending());
        // The batch ends: what is owed goes out first, then the rest straight to the sink.
        sink.room = usize::MAX;
        let mut sent = MAX_BUFFERED;
        while sent < big.len() {
            match write(&mut coalescer, cx, &mut sink, batch(0, 1), &big[sent..]) {
                Poll::Ready(Ok(n)) => sent += n,
                other => panic!("{other:?}"),
            }
        }
        assert!(coalescer.poll_flush(cx, &mut sink, batch(0, 1)).is_ready());
        assert_eq!(sink.written.len(), big.len());
        assert!(coalescer.is_empty());
        assert!(coalescer.pending.capacity() <= KEPT_CAPACITY, "{}", coalescer.pending.capacity());
    }

    #[test]
    fn a_sink_that_takes_nothing_is_an_error_not_a_loop() {
        struct Zero;
        impl Sink for Zero {
            fn poll_write(&mut self, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(0))
            }
        }
        let (waker, _) = waker();
        let cx = &mut Context::from_waker(&waker);
        let mut coalescer = Coalescer::default();
        assert!(coalescer.poll_buffer(cx, &mut Zero, &[&b"owed"[..]]).is_ready());
        let drained = coalescer.poll_drain(cx, &mut Zero);
        assert!(matches!(drained, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WriteZero));
    }
}
