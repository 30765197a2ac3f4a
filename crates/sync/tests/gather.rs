//! Specs for `gather()` and `try_gather()`.

mod support;

use std::cell::Cell;
use std::future::{ready, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use futures::executor::block_on;
use futures::future::FusedFuture;
use kairos_sync::combinator::{gather, try_gather};
use support::{poll_once, probes, send};

#[test]
fn gather_returns_outputs_in_input_order_whatever_the_completion_order() {
    let (_, [a, b, c], probes) = probes::<&str, 3>();
    let mut all = gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);

    send(c, "c");
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(a, "a");
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(b, "b");
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(vec!["a", "b", "c"]));
}

#[test]
fn gather_keeps_every_error_in_its_slot_and_runs_everything_to_completion() {
    let (stats, [a, b, c], probes) = probes::<Result<u32, String>, 3>();
    let mut all = gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);

    // An early error does not end the gather: the others go on running.
    send(a, Err("a failed".to_string()));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(c, Ok(3));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(b, Err("b failed".to_string()));

    assert_eq!(
        poll_once(Pin::new(&mut all)),
        Poll::Ready(vec![Err("a failed".to_string()), Err("b failed".to_string()), Ok(3)])
    );
    assert_eq!((stats.finished(), stats.cancelled()), (3, 0));
}

#[test]
fn gather_of_nothing_is_an_empty_vec_at_once() {
    let mut none = gather(Vec::<std::future::Ready<u8>>::new());
    assert_eq!(poll_once(Pin::new(&mut none)), Poll::Ready(vec![]));
}

#[test]
fn dropping_a_pending_gather_cancels_every_future_still_running() {
    let (stats, [a, b, c], probes) = probes::<u8, 3>();
    let mut all = gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(b, 2);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);

    drop(all);
    assert_eq!((stats.finished(), stats.cancelled()), (1, 2));
    assert!(a.is_canceled() && c.is_canceled(), "the unfinished probes are gone");
}

#[test]
fn gather_polls_only_the_futures_that_were_woken() {
    let (stats, senders, probes) = probes::<usize, 1000>();
    let mut senders = Vec::from(senders);
    let mut all = gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    assert_eq!(stats.polls(), 1000, "the first poll starts every future");

    send(senders.swap_remove(500), 500);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    assert_eq!(stats.polls(), 1001, "a wake polls the woken future alone");
    assert_eq!(stats.finished(), 1);
}

#[test]
fn gather_of_100_000_ready_futures_finishes() {
    // Linear work, not quadratic: this would crawl if every wake polled every future.
    let outputs = block_on(gather((0..100_000u32).map(|i| async move { i * 2 })));
    assert_eq!(outputs.len(), 100_000);
    assert!(outputs.iter().enumerate().all(|(i, &out)| out == i as u32 * 2));

    let values = block_on(try_gather((0..100_000u32).map(|i| ready(Ok::<_, ()>(i)))));
    assert_eq!(values.map(|v| v.len()), Ok(100_000));
}

#[test]
fn gather_accepts_borrowed_non_send_futures() {
    // An `Rc` held across an await (not `Send`) and a borrow of a local (not `'static`).
    async fn count(s: &str, counter: Rc<Cell<usize>>) -> usize {
        support::yield_now().await;
        counter.set(counter.get() + 1);
        s.len()
    }
    let local = String::from("borrowed");
    let counter = Rc::new(Cell::new(0));
    let lengths =
        block_on(gather([count(&local, counter.clone()), count("four", counter.clone())]));
    assert_eq!(lengths, vec![8, 4]);
    assert_eq!(counter.get(), 2);
}

#[test]
fn gather_and_try_gather_are_unpin_even_over_unpinnable_futures() {
    fn assert_unpin<T: Unpin>(_: &T) {}
    let unpinnable = || async { Ok::<u8, ()>(1) };
    let all = gather([unpinnable()]);
    let ok = try_gather([unpinnable()]);
    assert_unpin(&all);
    assert_unpin(&ok);
}

#[test]
fn a_finished_gather_says_it_is_terminated() {
    let mut all = gather([ready(1)]);
    assert!(!all.is_terminated());
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(vec![1]));
    assert!(all.is_terminated());
}

#[test]
#[should_panic(expected = "`Gather` polled after completion")]
fn polling_a_finished_gather_panics() {
    let mut all = gather([ready(1)]);
    let _ = poll_once(Pin::new(&mut all));
    let _ = poll_once(Pin::new(&mut all));
}

#[test]
fn try_gather_returns_every_value_in_input_order() {
    let (_, [a, b], probes) = probes::<Result<&str, ()>, 2>();
    let mut all = try_gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(b, Ok("b"));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(a, Ok("a"));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(Ok(vec!["a", "b"])));
}

#[test]
fn try_gather_returns_the_first_error_and_cancels_the_others_at_once() {
    let (stats, [a, b, c, d], probes) = probes::<Result<u32, &str>, 4>();
    let mut all = try_gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    send(d, Ok(4));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);
    let polls_before = stats.polls();

    send(c, Err("c failed"));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(Err("c failed")));

    // Cancelled before `try_gather` returned, while `all` is still alive: a and b were running.
    assert_eq!((stats.finished(), stats.cancelled()), (2, 2));
    assert!(a.is_canceled() && b.is_canceled(), "they can never be polled again");
    assert_eq!(stats.polls(), polls_before + 1, "only the failing future was polled");
    drop(all);
    assert_eq!(stats.cancelled(), 2);
}

#[test]
fn try_gather_picks_the_first_error_by_completion_order_not_input_order() {
    let (stats, [a, b, c], probes) = probes::<Result<u32, &str>, 3>();
    let mut all = try_gather(probes);
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Pending);

    // c fails first; a fails later, but by then the gather is over.
    send(c, Err("c failed first"));
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(Err("c failed first")));
    assert!(a.send(Err("a failed later")).is_err(), "a was cancelled");
    assert!(b.is_canceled());
    assert_eq!(stats.cancelled(), 2);
}

#[test]
fn try_gather_of_nothing_is_ok_and_empty_at_once() {
    let mut none = try_gather(Vec::<std::future::Ready<Result<u8, ()>>>::new());
    assert_eq!(poll_once(Pin::new(&mut none)), Poll::Ready(Ok(vec![])));
}

#[test]
#[should_panic(expected = "`TryGather` polled after completion")]
fn polling_a_finished_try_gather_panics() {
    let mut all = try_gather([ready(Err::<u8, _>("boom"))]);
    assert!(!all.is_terminated());
    assert_eq!(poll_once(Pin::new(&mut all)), Poll::Ready(Err("boom")));
    assert!(all.is_terminated());
    let _ = poll_once(Pin::new(&mut all));
}

/// Both return plain futures: they compose with anything that takes one.
#[test]
fn gather_results_can_be_awaited_from_any_executor() {
    fn boxed<'a, T>(f: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
        Box::pin(f)
    }
    let mixed = vec![boxed(async { 1 }), boxed(ready(2))];
    assert_eq!(block_on(gather(mixed)), vec![1, 2]);
}
