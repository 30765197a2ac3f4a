//! The fleet's limits over a real Redis: several connections stand for several processes
//! (and one test kills a real child process). A semaphore's permits are never more than N
//! held, waiters get them in the order they came whatever their connection, a waiter that
//! leaves or a permit that is dropped leaves no trace, a killed process's permits and places
//! come back when their leases end, Redis gone is an error and not a hang, and the rate limit
//! counts across connections.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_cache::{Fleet, FleetError, FleetSemaphore, FleetSnapshot, RateDecision};
use kairos_fixtures::Redis;

/// The bound on anything that should happen "soon" (a background release, a grant): far
/// past what it takes on a loaded machine, so that only a hang fails.
const SOON: Duration = Duration::from_secs(20);

/// Polls the semaphore until `wanted` holds for its snapshot, or panics after [`SOON`].
async fn until(semaphore: &FleetSemaphore, wanted: impl Fn(FleetSnapshot) -> bool) {
    let started = Instant::now();
    loop {
        let snapshot = semaphore.snapshot().await.unwrap();
        if wanted(snapshot) {
            return;
        }
        assert!(started.elapsed() < SOON, "the semaphore stayed at {snapshot:?}");
        kairos_rt::sleep(Duration::from_millis(10)).await;
    }
}

/// Two connections to one Redis: two "processes" of a fleet.
async fn two_fleets(redis: &Redis) -> (Fleet, Fleet) {
    (Fleet::connect(&redis.url()).await.unwrap(), Fleet::connect(&redis.url()).await.unwrap())
}

#[test]
fn never_more_than_n_permits_across_connections() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let (one, other) = two_fleets(&redis).await;
        let semaphores = [one.semaphore("calls", 3), other.semaphore("calls", 3)];
        let (held, most, done) =
            (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let semaphore = semaphores[i % 2].clone();
                let (held, most, done) = (Rc::clone(&held), Rc::clone(&most), Rc::clone(&done));
                kairos_rt::spawn(async move {
                    let permit = semaphore.acquire().await.unwrap();
                    held.set(held.get() + 1);
                    most.set(most.get().max(held.get()));
                    // Held until three are (or all that are left), so that the count reaching
                    // three does not depend on the machine's speed; a bound in case it never
                    // does.
                    let waited = Instant::now();
                    while held.get() < 3.min(30 - done.get()) && waited.elapsed() < SOON {
                        kairos_rt::sleep(Duration::from_millis(5)).await;
                    }
                    held.set(held.get() - 1);
                    done.set(done.get() + 1);
                    assert!(permit.release().await.unwrap(), "the lease was kept");
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.get(), 3, "three at once, never four");
        assert_eq!(semaphores[0].snapshot().await.unwrap(), FleetSnapshot { held: 0, waiting: 0 });
    });
}

#[test]
fn waiters_get_permits_in_the_order_they_came_whatever_their_connection() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let (one, other) = two_fleets(&redis).await;
        let semaphores = [one.semaphore("fifo", 1), other.semaphore("fifo", 1)];
        let holder = semaphores[0].try_acquire().await.unwrap().expect("a free permit");
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..6 {
            let (semaphore, order) = (semaphores[i % 2].clone(), Rc::clone(&order));
            waiters.push(kairos_rt::spawn(async move {
                let permit = semaphore.acquire().await.unwrap();
                order.borrow_mut().push(i);
                kairos_rt::sleep(Duration::from_millis(5)).await;
                permit.release().await.unwrap();
            }));
            // In line before the next one comes.
            until(&semaphores[0], |s| s.waiting == i as u32 + 1).await;
        }
        // Nobody jumps the line: a free permit would go to the first waiter.
        assert!(semaphores[1].try_acquire().await.unwrap().is_none());
        holder.release().await.unwrap();
        for waiter in waiters {
            kairos_rt::wait_for(waiter, SOON).await.expect("every waiter is served").unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_dropped_waiter_leaves_the_line_and_a_dropped_permit_is_released() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let fleet = Fleet::connect(&redis.url()).await.unwrap();
        let semaphore = fleet.semaphore("cancel", 1);
        let holder = semaphore.acquire().await.unwrap();

        // A waiter cancelled in line (its task cancelled: a client that left) ...
        let first = kairos_rt::spawn({
            let semaphore = semaphore.clone();
            async move { semaphore.acquire().await.map(drop) }
        });
        until(&semaphore, |s| s.waiting == 1).await;
        let second = kairos_rt::spawn({
            let semaphore = semaphore.clone();
            async move { semaphore.acquire().await }
        });
        until(&semaphore, |s| s.waiting == 2).await;
        first.cancel();
        // ... leaves the line, and does not hold up the one behind it.
        until(&semaphore, |s| s.waiting == 1).await;
        // A waiter given up by a timeout leaves it too.
        let gave_up = kairos_rt::timeout(Duration::from_millis(50), semaphore.acquire()).await;
        assert!(gave_up.is_err());
        until(&semaphore, |s| s.waiting == 1).await;

        holder.release().await.unwrap();
        let permit = kairos_rt::wait_for(second, SOON).await.expect("served").unwrap().unwrap();
        assert_eq!(semaphore.snapshot().await.unwrap(), FleetSnapshot { held: 1, waiting: 0 });
        // A permit dropped, not released: the drop releases it.
        drop(permit);
        until(&semaphore, |s| s.held == 0).await;
        assert!(semaphore.try_acquire().await.unwrap().is_some());
    });
}

/// A waiter dropped in the instant its permit arrives (the release and the cancellation in
/// the same turn of the loop, so either may reach Redis first) passes the permit on: the
/// waiter behind it is served every time.
#[test]
fn a_waiter_dropped_as_its_permit_arrives_passes_it_on() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let fleet = Fleet::connect(&redis.url()).await.unwrap();
        let semaphore = fleet.semaphore("race", 1);
        for _ in 0..10 {
            let holder = semaphore.acquire().await.unwrap();
            let spawn_waiter = || {
                let semaphore = semaphore.clone();
                kairos_rt::spawn(async move { semaphore.acquire().await })
            };
            let first = spawn_waiter();
            until(&semaphore, |s| s.waiting == 1).await;
            let second = spawn_waiter();
            until(&semaphore, |s| s.waiting == 2).await;
            drop(holder);
            first.cancel();
            let permit = kairos_rt::wait_for(second, SOON).await.expect("served").unwrap();
            permit.unwrap().release().await.unwrap();
            until(&semaphore, |s| s == FleetSnapshot { held: 0, waiting: 0 }).await;
        }
    });
}

/// Not a test of its own: the child process of
/// `a_killed_process_gives_its_permits_and_its_place_back_when_the_leases_end`, run by it
/// with `FLEET_CHILD_REDIS` set. It takes both permits, queues a third acquire, says
/// [`READY`] and waits to be killed.
#[test]
fn child_process_that_holds_permits() {
    let Ok(url) = std::env::var("FLEET_CHILD_REDIS") else { return };
    kairos_rt::run(async move {
        let fleet = Fleet::connect(&url).await.unwrap();
        let semaphore = dying_semaphore(&fleet);
        let _held = [semaphore.acquire().await.unwrap(), semaphore.acquire().await.unwrap()];
        let _waiting = kairos_rt::spawn({
            let semaphore = semaphore.clone();
            async move { semaphore.acquire().await.map(drop) }
        });
        until(&semaphore, |s| s.waiting == 1).await;
        println!("{READY}");
        kairos_rt::sleep(Duration::from_secs(3600)).await;
    });
}

/// What the child prints once it holds its permits (after the harness' `test ... `).
const READY: &str = "fleet child ready";

fn dying_semaphore(fleet: &Fleet) -> FleetSemaphore {
    fleet
        .semaphore("dying", 2)
        .lease(Duration::from_millis(3000))
        .recheck(Duration::from_millis(500))
}

#[test]
fn a_killed_process_gives_its_permits_and_its_place_back_when_the_leases_end() {
    let redis = Redis::start();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_process_that_holds_permits", "--exact", "--nocapture", "--test-threads=1"])
        .env("FLEET_CHILD_REDIS", redis.url())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary runs again as the child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|line| line.is_ok_and(|line| line.ends_with(READY))),
        "the child did not take its permits"
    );
    kairos_rt::run(async {
        let fleet = Fleet::connect(&redis.url()).await.unwrap();
        let semaphore = dying_semaphore(&fleet);
        assert_eq!(semaphore.snapshot().await.unwrap(), FleetSnapshot { held: 2, waiting: 1 });
        let mine = kairos_rt::spawn({
            let semaphore = semaphore.clone();
            async move { semaphore.acquire().await }
        });
        // Longer than a lease: the living child renews its permits, and keeps its place.
        kairos_rt::sleep(Duration::from_millis(4000)).await;
        assert_eq!(semaphore.snapshot().await.unwrap(), FleetSnapshot { held: 2, waiting: 2 });
        assert!(!mine.is_finished());

        child.kill().unwrap(); // SIGKILL: no destructor runs, nothing is released
        child.wait().unwrap();
        let killed = Instant::now();
        let permit = kairos_rt::wait_for(mine, SOON).await.expect("not stranded").unwrap();
        let permit = permit.unwrap();
        println!("a permit {:?} after the kill (lease 3 s)", killed.elapsed());
        // The child's waiter left the line too, and its other permit is free.
        assert_eq!(semaphore.snapshot().await.unwrap(), FleetSnapshot { held: 1, waiting: 0 });
        let other = semaphore.try_acquire().await.unwrap().expect("the second permit is back");
        assert!(permit.release().await.unwrap() && other.release().await.unwrap());
    });
}

#[test]
fn redis_gone_is_an_error_within_seconds_never_a_hang() {
    let mut redis = Redis::start();
    let url = redis.url();
    kairos_rt::run(async {
        let fleet = Fleet::connect(&url).await.unwrap();
        let semaphore = fleet.semaphore("gone", 1);
        let _holder = semaphore.acquire().await.unwrap();
        let waiter = kairos_rt::spawn({
            let semaphore = semaphore.clone();
            async move { semaphore.acquire().await.map(drop) }
        });
        until(&semaphore, |s| s.waiting == 1).await;
        redis.kill();
        // The waiter learns it at its next re-check, the caller at once.
        let error = kairos_rt::wait_for(waiter, SOON).await.expect("no hang").unwrap();
        assert!(matches!(error, Err(FleetError::Unavailable { .. })), "{error:?}");
        let error = kairos_rt::wait_for(semaphore.try_acquire(), SOON).await.expect("no hang");
        let message = error.unwrap_err().to_string();
        assert!(message.contains("check that redis-server runs"), "{message}");
        let rate = fleet.rate_limit("gone", 1, Duration::from_secs(1));
        assert!(kairos_rt::wait_for(rate.try_acquire(), SOON).await.expect("no hang").is_err());
        // Connecting to nothing says so too.
        let error = kairos_rt::wait_for(Fleet::connect(&url), SOON).await.expect("no hang");
        assert!(error.unwrap_err().to_string().contains(&url));
    });
}

#[test]
fn the_rate_limit_counts_across_connections_and_says_when_to_retry() {
    let redis = Redis::start();
    kairos_rt::run(async {
        let (one, other) = two_fleets(&redis).await;
        let window = Duration::from_secs(2);
        let limits = [one.rate_limit("api", 5, window), other.rate_limit("api", 5, window)];
        let decisions =
            futures_util::future::join_all((0..12).map(|i| limits[i % 2].try_acquire())).await;
        let mut remaining = Vec::new();
        let mut retry_after = Duration::ZERO;
        for decision in decisions {
            match decision.unwrap() {
                RateDecision::Allowed { remaining: left } => remaining.push(left),
                RateDecision::Limited { retry_after: wait } => {
                    assert!(wait > Duration::ZERO && wait <= window, "{wait:?}");
                    retry_after = retry_after.max(wait);
                }
            }
        }
        remaining.sort_unstable();
        assert_eq!(remaining, [0, 1, 2, 3, 4], "five allowed, each counted once");
        // Another name has a window of its own.
        assert_eq!(
            one.rate_limit("other", 5, window).try_acquire().await.unwrap(),
            RateDecision::Allowed { remaining: 4 }
        );
        // Once the retry's time has passed (and a little: Redis' clock is the judge), allowed.
        kairos_rt::sleep(retry_after + Duration::from_millis(100)).await;
        assert!(matches!(limits[1].try_acquire().await.unwrap(), RateDecision::Allowed { .. }));
    });
}
