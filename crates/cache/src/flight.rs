//! One load per key at a time: the first request that misses leads (runs the loader), the
//! others wait for its outcome and share it.
//!
//! A cache is shared by every worker thread, and a loader may be `!Send` (it runs on its
//! caller's loop), so the coordination is a map of flights behind a `std` mutex, never held
//! across an await; waiters are woken by the leader's thread. moka's `get_with` does the same
//! for its own entries, but not for a Redis backend and not with a failure shared, so the
//! cache keeps one small map for both.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// What a finished load left: the value as JSON, or the failure's message.
pub(crate) type Outcome = Result<Arc<str>, Arc<str>>;

/// The loads in progress, by key.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

#[derive(Default)]
struct Flight {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None` while the load runs.
    settled: Option<Settled>,
    waiters: Vec<Waker>,
}

#[derive(Clone)]
enum Settled {
    Done(Outcome),
    /// The leader was dropped before it finished (its request was cancelled).
    Abandoned,
}

/// This caller's part in the key's load.
pub(crate) enum Role {
    /// Run the loader, then [`Leader::finish`].
    Leader(Leader),
    /// Await the leader's outcome (`None`: it was abandoned; try again).
    Waiter(Wait),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; a poisoned one still holds consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    /// Leads the load of `key` if none is in progress, else waits for it.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut map = lock(&self.map);
        if let Some(flight) = map.get(key) {
            return Role::Waiter(Wait { flight: Arc::clone(flight) });
        }
        let flight = Arc::new(Flight::default());
        map.insert(key.to_owned(), Arc::clone(&flight));
        Role::Leader(Leader {
            flights: Arc::clone(self),
            key: key.to_owned(),
            flight,
            finished: false,
        })
    }

    /// Keys with a load in progress (for tests).
    #[cfg(test)]
    fn in_progress(&self) -> usize {
        lock(&self.map).len()
    }
}

/// The caller that runs the key's loader. Dropped unfinished, it abandons the flight, and the
/// waiters try again (one of them leads).
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    flight: Arc<Flight>,
    finished: bool,
}

impl Leader {
    /// Publishes the load's outcome to the waiters and ends the flight.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.settle(Settled::Done(outcome));
    }

    fn settle(&self, settled: Settled) {
        {
            let mut map = lock(&self.flights.map);
            if map.get(&self.key).is_some_and(|flight| Arc::ptr_eq(flight, &self.flight)) {
                map.remove(&self.key);
            }
        }
        let waiters = {
            let mut state = lock(&self.flight.state);
            state.settled = Some(settled);
            std::mem::take(&mut state.waiters)
        };
        for waiter in waiters {
            waiter.wake();
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            self.settle(Settled::Abandoned);
        }
    }
}

/// Waits for a flight's outcome.
pub(crate) struct Wait {
    flight: Arc<Flight>,
}

impl Future for Wait {
    type Output = Option<Outcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outcome>> {
        let mut state = lock(&self.flight.state);
        match &state.settled {
            Some(Settled::Done(outcome)) => Poll::Ready(Some(outcome.clone())),
            Some(Settled::Abandoned) => Poll::Ready(None),
            None => {
                if !state.waiters.iter().any(|waker| waker.will_wake(cx.waker())) {
                    state.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// Polls `wait` once.
    async fn poll_once(wait: &mut Wait) -> Poll<Option<Outcome>> {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *wait).poll(cx))).await
    }

    #[test]
    fn the_first_leads_the_others_wait_and_share_its_outcome() {
        kairos_rt::run(async {
            let flights = Arc::new(Flights::default());
            let Role::Leader(leader) = flights.join("k") else { panic!("the first must lead") };
            let mut waits: Vec<Wait> = (0..3)
                .map(|_| match flights.join("k") {
                    Role::Waiter(wait) => wait,
                    Role::Leader(_) => panic!("a second leader"),
                })
                .collect();
            for wait in &mut waits {
                assert_eq!(poll_once(wait).await, Poll::Pending);
            }
            leader.finish(Ok(Arc::from("42")));
            assert_eq!(flights.in_progress(), 0);
            for wait in waits {
                assert_eq!(wait.await, Some(Ok(Arc::from("42"))));
            }
            // The next miss leads a new flight.
            assert!(matches!(flights.join("k"), Role::Leader(_)));
        });
    }

    #[test]
    fn a_dropped_leader_releases_its_waiters_to_try_again() {
        kairos_rt::run(async {
            let flights = Arc::new(Flights::default());
            let leader = flights.join("k");
            let Role::Waiter(wait) = flights.join("k") else { panic!("a second leader") };
            drop(leader);
            assert_eq!(wait.await, None);
            assert!(matches!(flights.join("k"), Role::Leader(_)));
        });
    }
}
