//! Specs for `gather!` and `try_gather!`.

mod support;

use std::cell::Cell;
use std::future::{pending, ready, IntoFuture};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use futures::executor::block_on;
use kairos_sync::{gather, try_gather};
use support::{poll_once, probe, probes, send};

#[test]
fn gather_of_one_is_a_one_tuple() {
    assert_eq!(block_on(gather!(ready(1))), (1,));
    assert_eq!(block_on(gather!(async { "trailing comma" },)), ("trailing comma",));
}

#[test]
fn gather_of_two_mixed_types() {
    let (number, text) = block_on(gather!(async { 7u64 }, async { String::from("seven") }));
    assert_eq!((number, text.as_str()), (7, "seven"));
}

#[test]
fn gather_of_twelve_mixed_types() {
    let outputs = block_on(gather!(
        ready(1u8),
        async { -2i16 },
        ready(3u32),
        async { 4u64 },
        ready('5'),
        async { "6" },
        ready(String::from("7")),
        async { vec![8u8] },
        ready(Some(9u8)),
        async { Err::<u8, _>("10") },
        ready(true),
        async {},
    ));
    assert_eq!(
        outputs,
        (1, -2, 3, 4, '5', "6", "7".to_string(), vec![8], Some(9), Err("10"), true, ())
    );
}

#[test]
fn gather_returns_argument_order_and_keeps_errors() {
    let (stats_a, a_tx, a) = probe::<Result<u8, String>>();
    let (stats_b, b_tx, b) = probe::<&str>();
    let mut both = pin!(gather!(a, b));
    assert_eq!(poll_once(both.as_mut()), Poll::Pending);

    send(a_tx, Err("a failed".to_string()));
    assert_eq!(poll_once(both.as_mut()), Poll::Pending, "an error does not end gather!");
    send(b_tx, "b");
    assert_eq!(poll_once(both.as_mut()), Poll::Ready((Err("a failed".to_string()), "b")));
    assert_eq!(stats_a.polls(), 2, "a finished future is not polled again");
    assert_eq!(stats_b.polls(), 3, "an unfinished one is polled on every wake");
}

#[test]
fn gather_evaluates_its_arguments_at_once_but_runs_nothing_until_awaited() {
    let made = Cell::new(0);
    let ran = Cell::new(0);
    let make = |n: u8| {
        made.set(made.get() + 1);
        let ran = &ran;
        async move {
            ran.set(ran.get() + 1);
            n
        }
    };
    let both = gather!(make(1), make(2));
    assert_eq!((made.get(), ran.get()), (2, 0));
    assert_eq!(block_on(both), (1, 2));
    assert_eq!(ran.get(), 2);
}

#[test]
fn dropping_a_pending_gather_macro_cancels_the_futures_still_running() {
    let (stats, [a, b, c], [x, y, z]) = probes::<u8, 3>();
    let mut all = Box::pin(gather!(x, y, z));
    assert_eq!(poll_once(all.as_mut()), Poll::Pending);
    send(a, 1);
    assert_eq!(poll_once(all.as_mut()), Poll::Pending);

    drop(all);
    assert_eq!((stats.finished(), stats.cancelled()), (1, 2));
    assert!(b.is_canceled() && c.is_canceled());
}

#[test]
fn try_gather_of_mixed_types_returns_values_in_argument_order() {
    let outputs = block_on(try_gather!(
        ready(Ok::<_, String>(1u8)),
        async { Ok(String::from("two")) },
        async {
            support::yield_now().await;
            Ok('3')
        },
    ));
    assert_eq!(outputs, Ok((1, "two".to_string(), '3')));
}

#[test]
fn try_gather_of_one_and_of_twelve() {
    assert_eq!(block_on(try_gather!(ready(Ok::<_, ()>(1)),)), Ok((1,)));
    let twelve = block_on(try_gather!(
        ready(Ok::<_, ()>(1u8)),
        ready(Ok(2u16)),
        ready(Ok(3u32)),
        ready(Ok(4u64)),
        ready(Ok('5')),
        ready(Ok("6")),
        ready(Ok(7i8)),
        ready(Ok(vec![8])),
        ready(Ok(Some(9))),
        ready(Ok(10.0)),
        ready(Ok(true)),
        async { Ok(()) },
    ));
    assert_eq!(twelve, Ok((1, 2, 3, 4, '5', "6", 7, vec![8], Some(9), 10.0, true, ())));
}

#[test]
fn try_gather_short_circuits_and_cancels_the_rest_at_once() {
    let (stats_a, a_tx, a) = probe::<Result<u8, &str>>();
    let (stats_b, b_tx, b) = probe::<Result<String, &str>>();
    let (stats_c, c_tx, c) = probe::<Result<bool, &str>>();
    let mut all = pin!(try_gather!(a, b, c));
    assert_eq!(poll_once(all.as_mut()), Poll::Pending);

    send(b_tx, Err("b failed"));
    assert_eq!(poll_once(all.as_mut()), Poll::Ready(Err("b failed")));
    // Cancelled before the error came back, while `all` is still alive.
    assert_eq!((stats_a.cancelled(), stats_c.cancelled()), (1, 1));
    assert_eq!(stats_b.finished(), 1);
    assert!(a_tx.is_canceled() && c_tx.is_canceled(), "they can never be polled again");
}

#[test]
fn try_gather_waits_for_every_success() {
    let (_, a_tx, a) = probe::<Result<u8, ()>>();
    let mut all = pin!(try_gather!(a, ready(Ok("ready"))));
    assert_eq!(poll_once(all.as_mut()), Poll::Pending);
    send(a_tx, Ok(1));
    assert_eq!(poll_once(all.as_mut()), Poll::Ready(Ok((1, "ready"))));
}

#[test]
fn macros_accept_borrowed_non_send_futures_and_into_future() {
    struct Later(u8);
    impl IntoFuture for Later {
        type Output = u8;
        type IntoFuture = std::future::Ready<u8>;
        fn into_future(self) -> Self::IntoFuture {
            ready(self.0)
        }
    }
    let local = String::from("local");
    let shared = Rc::new(5);
    let borrowing = async { local.len() };
    let not_send = async {
        let held = Rc::clone(&shared);
        support::yield_now().await;
        *held
    };
    assert_eq!(block_on(gather!(borrowing, not_send, Later(3))), (5, 5, 3));
}

#[test]
fn macros_are_hygienic() {
    // Names the expansion uses internally do not capture the caller's.
    let fut = ready(1);
    let cx = 2;
    let all_done = 3;
    let outcome = 4;
    let error = 5;
    assert_eq!(block_on(gather!(fut, async move { cx }, ready(all_done))), (1, 2, 3));
    let got = block_on(try_gather!(ready(Ok::<_, ()>(outcome)), async move { Ok(error) }));
    assert_eq!(got, Ok((4, 5)));
}

#[test]
fn try_gather_returns_the_first_error_even_when_another_never_finishes() {
    let never = async {
        pending::<()>().await;
        Ok::<u8, &str>(0)
    };
    assert_eq!(block_on(try_gather!(never, ready(Err::<u8, _>("boom")))), Err("boom"));
}
