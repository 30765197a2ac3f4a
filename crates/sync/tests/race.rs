//! Specs for `race()`.

mod support;

use std::future::{pending, ready};
use std::pin::Pin;
use std::task::Poll;

use futures::executor::block_on;
use futures::future::{Either, FusedFuture};
use kairos_sync::combinator::race;
use support::{poll_once, probes, send};

#[test]
fn race_returns_the_winner_and_its_index_and_cancels_the_losers_at_once() {
    let (stats, [a, b, c], probes) = probes::<&str, 3>();
    let mut first = race(probes);
    assert_eq!(poll_once(Pin::new(&mut first)), Poll::Pending);

    send(b, "b");
    assert_eq!(poll_once(Pin::new(&mut first)), Poll::Ready((1, "b")));
    // Cancelled before `race` returned, while `first` is still alive.
    assert_eq!((stats.finished(), stats.cancelled()), (1, 2));
    assert!(a.is_canceled() && c.is_canceled(), "the losers can never be polled again");
    assert!(first.is_terminated());
}

#[test]
fn race_over_borrows_leaves_the_losers_pending_and_awaitable() {
    // asyncio.wait(return_when=FIRST_COMPLETED): the losers live on.
    let (stats, [a, b], [mut slow, mut fast]) = probes::<&str, 2>();
    let mut first = race([&mut slow, &mut fast]);
    assert_eq!(poll_once(Pin::new(&mut first)), Poll::Pending);
    send(b, "fast");
    assert_eq!(poll_once(Pin::new(&mut first)), Poll::Ready((1, "fast")));
    drop(first);

    assert_eq!(stats.cancelled(), 0, "a borrow was dropped, not the future");
    assert!(!a.is_canceled());
    send(a, "slow");
    assert_eq!(block_on(&mut slow), "slow");
    assert_eq!(stats.finished(), 2);
}

#[test]
fn a_loser_can_race_again() {
    let (_, [a, b, c], [mut x, mut y, mut z]) = probes::<char, 3>();
    send(c, 'z');
    assert_eq!(block_on(race([&mut x, &mut y, &mut z])), (2, 'z'));
    send(a, 'x');
    assert_eq!(block_on(race([&mut x, &mut y])), (0, 'x'));
    send(b, 'y');
    assert_eq!(block_on(race([&mut y])), (0, 'y'));
}

#[test]
fn futures_of_different_types_race_through_either() {
    let never = Either::Left(pending::<u8>());
    let now = Either::Right(ready(7));
    assert_eq!(block_on(race([never, now])), (1, 7));
}

#[test]
#[should_panic(expected = "race() needs at least one future")]
fn race_of_nothing_panics() {
    drop(race(Vec::<std::future::Ready<u8>>::new()));
}

#[test]
#[should_panic(expected = "`Race` polled after completion")]
fn polling_a_finished_race_panics() {
    let mut first = race([ready(1)]);
    assert_eq!(poll_once(Pin::new(&mut first)), Poll::Ready((0, 1)));
    let _ = poll_once(Pin::new(&mut first));
}

#[test]
fn race_is_unpin_even_over_unpinnable_futures() {
    fn assert_unpin<T: Unpin>(_: &T) {}
    assert_unpin(&race([async { 1 }]));
}
