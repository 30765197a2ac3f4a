//! Specs for `as_completed()`.

mod support;

use std::future::ready;
use std::pin::pin;
use std::task::Poll;

use futures::executor::block_on;
use futures::stream::{FusedStream, Stream, StreamExt};
use kairos_sync::combinator::as_completed;
use support::{poll_once, probes, send};

#[test]
fn as_completed_yields_in_completion_order_with_input_indices() {
    let (_, [a, b, c], probes) = probes::<&str, 3>();
    let mut done = as_completed(probes);
    assert_eq!(done.len(), 3);

    block_on(async {
        send(c, "c");
        assert_eq!(done.next().await, Some((2, "c")));
        send(a, "a");
        assert_eq!(done.next().await, Some((0, "a")));
        assert_eq!(done.len(), 1);
        send(b, "b");
        assert_eq!(done.next().await, Some((1, "b")));
        assert!(done.is_empty());
        assert_eq!(done.next().await, None);
        assert_eq!(done.next().await, None, "and None for good");
    });
    assert!(done.is_terminated());
}

#[test]
fn as_completed_is_a_stream() {
    let done = as_completed((0..5).map(|i| ready(i * 10)));
    assert_eq!(done.size_hint(), (5, Some(5)));
    let mut items = block_on(done.collect::<Vec<_>>());
    items.sort();
    assert_eq!(items, vec![(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]);
}

#[test]
fn dropping_as_completed_cancels_the_futures_not_yet_yielded() {
    let (stats, [a, b, c], probes) = probes::<u8, 3>();
    let mut done = as_completed(probes);
    send(b, 1);
    assert_eq!(block_on(done.next()), Some((1, 1)));

    drop(done);
    assert_eq!(stats.cancelled(), 2);
    assert!(a.is_canceled() && c.is_canceled());
}

#[test]
fn an_abandoned_next_loses_nothing() {
    let (_, [a], probes) = probes::<u8, 1>();
    let mut done = as_completed(probes);
    {
        let next = pin!(done.next());
        assert_eq!(poll_once(next), Poll::Pending);
    } // dropped, as when a timeout wins a race against it
    send(a, 9);
    assert_eq!(block_on(done.next()), Some((0, 9)));
}

#[test]
fn as_completed_of_nothing_ends_at_once() {
    let mut done = as_completed(Vec::<std::future::Ready<u8>>::new());
    assert!(done.is_empty());
    assert_eq!(poll_once(pin!(done.next())), Poll::Ready(None));
}
