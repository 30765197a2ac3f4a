//! The reactor: the loop's `epoll` (through mio) and the readiness of each registered source.
//!
//! Sources are registered edge-triggered. Each keeps readiness bits and one waker per
//! direction. An I/O operation that hits `WouldBlock` clears its direction's bits and parks
//! its waker; the next edge reported by `epoll_wait` sets them again and wakes it. Because the
//! loop is single-threaded, no event can slip in between an operation's `WouldBlock` and its
//! clearing: events are only read between polls.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Token};
use slab::Slab;

/// The token of the loop's own `mio::Waker` (cross-thread unpark).
pub(crate) const UNPARK_TOKEN: Token = Token(usize::MAX);

/// Which half of a source an operation waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

const READABLE: u8 = 0b0001;
const WRITABLE: u8 = 0b0010;
const READ_CLOSED: u8 = 0b0100;
const WRITE_CLOSED: u8 = 0b1000;
const ERROR: u8 = 0b1_0000;

impl Direction {
    /// The readiness bits that let an operation in this direction make progress.
    fn mask(self) -> u8 {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

#[derive(Default)]
struct IoSlot {
    readiness: u8,
    readers: Waiters,
    writers: Waiters,
}

/// The tasks waiting on one direction of a source. Usually one; several when tasks share a
/// socket (`Rc<UdpSocket>` with many receivers, several acceptors on one listener), and all
/// of them are woken by an edge. The first waiter needs no allocation.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Waiters {
    fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take());
        out.append(&mut self.more);
    }

    fn clear(&mut self) {
        self.first = None;
        self.more.clear();
    }
}

/// One loop's reactor.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<Events>,
    sources: RefCell<Slab<IoSlot>>,
    /// Wakers collected while dispatching, woken after the borrows end.
    to_wake: RefCell<Vec<Waker>>,
}

impl Reactor {
    /// Creates the reactor and the `mio::Waker` other threads use to unpark it.
    pub(crate) fn new(event_capacity: usize) -> io::Result<(Reactor, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let unpark = mio::Waker::new(poll.registry(), UNPARK_TOKEN)?;
        let reactor = Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(event_capacity)),
            sources: RefCell::new(Slab::new()),
            to_wake: RefCell::new(Vec::new()),
        };
        Ok((reactor, unpark))
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.sources.borrow().len()
    }

    /// Registers `source` for both directions; returns its key.
    pub(crate) fn register(&self, source: &mut impl Source) -> io::Result<usize> {
        let key = self.sources.borrow_mut().insert(IoSlot::default());
        let registered = self.poll.borrow().registry().register(
            source,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            self.sources.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// Deregisters `source` and frees its key. Waiting wakers are dropped.
    pub(crate) fn deregister(&self, source: &mut impl Source, key: usize) {
        let _ = self.poll.borrow().registry().deregister(source);
        self.sources.borrow_mut().try_remove(key);
    }

    /// Ready if the source can make progress in `direction`; otherwise parks the waker.
    pub(crate) fn poll_ready(
        &self,
        key: usize,
        direction: Direction,
        cx: &Context<'_>,
    ) -> Poll<()> {
        let mut sources = self.sources.borrow_mut();
        let slot = &mut sources[key];
        if slot.readiness & direction.mask() != 0 {
            return Poll::Ready(());
        }
        match direction {
            Direction::Read => slot.readers.register(cx.waker()),
            Direction::Write => slot.writers.register(cx.waker()),
        }
        Poll::Pending
    }

    /// Forgets the readiness of `direction` after an operation hit `WouldBlock`.
    pub(crate) fn clear_ready(&self, key: usize, direction: Direction) {
        self.clear_bits(key, direction.mask());
    }

    /// Forgets only that data (or room) is available, keeping the closed and error bits,
    /// which are final: a peer's FIN that came with the last data must still be seen.
    pub(crate) fn clear_available(&self, key: usize, direction: Direction) {
        let bit = match direction {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        };
        self.clear_bits(key, bit);
    }

    fn clear_bits(&self, key: usize, bits: u8) {
        if let Some(slot) = self.sources.borrow_mut().get_mut(key) {
            slot.readiness &= !bits;
        }
    }

    /// Waits for events up to `timeout` (`None`: until one comes) and wakes their waiters.
    pub(crate) fn turn(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut to_wake = self.to_wake.borrow_mut();
        {
            let mut sources = self.sources.borrow_mut();
            for event in events.iter() {
                let Some(slot) = sources.get_mut(event.token().0) else { continue };
                let mut bits = 0;
                if event.is_readable() {
                    bits |= READABLE;
                }
                if event.is_writable() {
                    bits |= WRITABLE;
                }
                if event.is_read_closed() {
                    bits |= READ_CLOSED;
                }
                if event.is_write_closed() {
                    bits |= WRITE_CLOSED;
                }
                if event.is_error() {
                    bits |= ERROR;
                }
                slot.readiness |= bits;
                if bits & Direction::Read.mask() != 0 {
                    slot.readers.take_into(&mut to_wake);
                }
                if bits & Direction::Write.mask() != 0 {
                    slot.writers.take_into(&mut to_wake);
                }
            }
        }
        for waker in to_wake.drain(..) {
            waker.wake();
        }
        Ok(())
    }

    /// Drops every parked waker (loop shutdown).
    pub(crate) fn clear_wakers(&self) {
        for (_, slot) in self.sources.borrow_mut().iter_mut() {
            slot.readers.clear();
            slot.writers.clear();
        }
    }
}

/// A source registered with the reactor of the loop it was created on.
///
/// Owns the source, so it can deregister it on drop. I/O types are `!Send`: a socket belongs
/// to the loop whose reactor watches it.
pub(crate) struct Registration<S: Source> {
    reactor: Rc<Reactor>,
    key: usize,
    source: S,
}

impl<S: Source> Registration<S> {
    /// Registers `source` with the current loop's reactor.
    pub(crate) fn new(mut source: S) -> io::Result<Self> {
        let reactor =
            crate::context::with_core(|core| Rc::clone(&core.reactor)).ok_or_else(|| {
                io::Error::other(
                "kairos I/O sources (sockets, pipes, kairos_rt::io::Async) need a running event \
                 loop; create them inside kairos_rt::run(...)",
            )
            })?;
        let key = reactor.register(&mut source)?;
        Ok(Registration { reactor, key, source })
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// Runs `op` until it does not hit `WouldBlock`, waiting for readiness in `direction`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.reactor.poll_ready(self.key, direction, cx).is_pending() {
                return Poll::Pending;
            }
            match op(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.clear_ready(self.key, direction);
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Forgets the readiness of `direction`, after an operation of the owner's hit
    /// `WouldBlock` outside [`poll_io`](Self::poll_io).
    pub(crate) fn clear_ready(&self, direction: Direction) {
        self.reactor.clear_ready(self.key, direction);
    }

    /// Forgets that data is available in `direction` (keeping closed and error bits).
    ///
    /// For a read that returned fewer bytes than asked: the socket is drained, and asking
    /// again would only earn a `WouldBlock` — one system call per request saved. Safe with
    /// edge-triggered epoll: data arriving later raises a new edge, and a FIN that came with
    /// the data stays recorded (regression test: `vectored_writes_and_half_close`).
    pub(crate) fn clear_available(&self, direction: Direction) {
        self.reactor.clear_available(self.key, direction);
    }

    /// Waits until the source is ready in `direction` (used for non-blocking connect).
    pub(crate) fn poll_ready(&self, cx: &Context<'_>, direction: Direction) -> Poll<()> {
        self.reactor.poll_ready(self.key, direction, cx)
    }
}

impl<S: Source> Drop for Registration<S> {
    fn drop(&mut self) {
        self.reactor.deregister(&mut self.source, self.key);
    }
}
