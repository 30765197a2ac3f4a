//! kairos-sync does not depend on kairos-rt; these specs run its primitives and combinators
//! under other executors: `futures::executor::block_on` and a tokio runtime.

use std::cell::Cell;
use std::time::Duration;

use kairos_sync::combinator::{gather, try_gather};
use kairos_sync::{gather, Event, Queue, Semaphore};

mod support;
use support::yield_now;

/// The chapter's section 6.3 shape: 20 calls, never more than 5 in flight.
async fn twenty_calls_five_at_a_time(pause: impl AsyncFn()) -> (Vec<usize>, usize) {
    let semaphore = Semaphore::new(5);
    let in_flight = Cell::new(0);
    let peak = Cell::new(0);
    let calls = (0..20).map(|i| {
        let (semaphore, in_flight, peak) = (&semaphore, &in_flight, &peak);
        let pause = &pause;
        async move {
            let _permit = semaphore.acquire().await.unwrap();
            in_flight.set(in_flight.get() + 1);
            peak.set(peak.get().max(in_flight.get()));
            pause().await;
            in_flight.set(in_flight.get() - 1);
            i
        }
    });
    let done = gather(calls).await;
    (done, peak.get())
}

#[test]
fn semaphore_and_gather_under_futures_block_on() {
    let (done, peak) = futures::executor::block_on(twenty_calls_five_at_a_time(async || {
        yield_now().await;
        yield_now().await;
    }));
    assert_eq!(done, (0..20).collect::<Vec<_>>(), "gather keeps input order");
    assert_eq!(peak, 5, "five at a time, never more");
}

#[test]
fn semaphore_and_gather_under_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let (done, peak) = runtime.block_on(twenty_calls_five_at_a_time(async || {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }));
    assert_eq!(done, (0..20).collect::<Vec<_>>());
    assert_eq!(peak, 5);
}

#[test]
fn queue_event_and_the_macros_under_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    runtime.block_on(async {
        let queue = Queue::bounded(2);
        let ready = Event::new();
        let producer = async {
            ready.wait().await;
            for i in 0..10 {
                queue.put(i).await.unwrap();
            }
            queue.close();
        };
        let consumer = async {
            ready.set();
            let mut got = Vec::new();
            while let Ok(item) = queue.get().await {
                tokio::time::sleep(Duration::from_millis(1)).await;
                got.push(item);
            }
            got
        };
        let ((), got) = gather!(producer, consumer).await;
        assert_eq!(got, (0..10).collect::<Vec<_>>());

        let failing = try_gather([
            Box::pin(async { Ok(1) }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(async { Err("boom") }),
            Box::pin(std::future::pending()),
        ]);
        assert_eq!(failing.await, Err("boom"));
    });
}
