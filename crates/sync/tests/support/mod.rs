//! Controllable futures for the combinator specs.
//!
//! A [`Probe`] completes when its oneshot sender sends, counts how often it is polled, and
//! counts itself as *cancelled* if it is dropped before it completed. Its sender doubles as a
//! witness: `is_canceled()` turns true once the probe is gone, so it can never be polled again.

// Each spec file uses a different part of this module.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::channel::oneshot;

/// Counters shared by a group of probes.
#[derive(Default)]
pub(crate) struct Stats {
    polls: Cell<usize>,
    finished: Cell<usize>,
    cancelled: Cell<usize>,
}

impl Stats {
    /// Polls of every probe in the group, added up.
    pub(crate) fn polls(&self) -> usize {
        self.polls.get()
    }

    /// Probes that completed.
    pub(crate) fn finished(&self) -> usize {
        self.finished.get()
    }

    /// Probes dropped before they completed.
    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.get()
    }
}

/// A future that completes with whatever its sender sends.
pub(crate) struct Probe<T> {
    rx: oneshot::Receiver<T>,
    stats: Rc<Stats>,
    finished: bool,
}

impl<T> Future for Probe<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        assert!(!self.finished, "a probe was polled after it completed");
        self.stats.polls.set(self.stats.polls.get() + 1);
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(value)) => {
                self.finished = true;
                self.stats.finished.set(self.stats.finished.get() + 1);
                Poll::Ready(value)
            }
            Poll::Ready(Err(oneshot::Canceled)) => panic!("a probe's sender was dropped"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Probe<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.stats.cancelled.set(self.stats.cancelled.get() + 1);
        }
    }
}

/// `N` probes sharing one set of counters, with their senders in the same order.
pub(crate) fn probes<T, const N: usize>() -> (Rc<Stats>, [oneshot::Sender<T>; N], [Probe<T>; N]) {
    let stats = Rc::new(Stats::default());
    let mut senders = Vec::with_capacity(N);
    let probes = std::array::from_fn(|_| {
        let (tx, rx) = oneshot::channel();
        senders.push(tx);
        Probe { rx, stats: Rc::clone(&stats), finished: false }
    });
    let senders = senders.try_into().unwrap_or_else(|_| unreachable!("N senders were made"));
    (stats, senders, probes)
}

/// One probe with counters of its own.
pub(crate) fn probe<T>() -> (Rc<Stats>, oneshot::Sender<T>, Probe<T>) {
    let (stats, [tx], [probe]) = probes();
    (stats, tx, probe)
}

/// Polls `future` once, as a loop would after a wake.
pub(crate) fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Sends `value` and insists the receiving probe is still there to get it.
pub(crate) fn send<T>(tx: oneshot::Sender<T>, value: T) {
    assert!(tx.send(value).is_ok(), "the probe was already dropped");
}

/// Returns `Pending` once, after waking its task: a future that gives the loop a turn.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
