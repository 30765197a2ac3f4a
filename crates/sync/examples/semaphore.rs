//! Seed 6.3: `Semaphore(5)` around 20 outbound calls — never more than 5 in flight.
//!
//! `cargo run --release -p kairos-sync --example semaphore`

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_rt::sleep;
use kairos_sync::combinator::gather;
use kairos_sync::Semaphore;

fn main() {
    kairos_rt::run(async {
        let api_semaphore = Semaphore::new(5);
        let in_flight = Rc::new(Cell::new(0));
        let max_in_flight = Rc::new(Cell::new(0));
        let started = Instant::now();
        gather((0..20).map(|_| {
            let api_semaphore = api_semaphore.clone();
            let in_flight = Rc::clone(&in_flight);
            let max_in_flight = Rc::clone(&max_in_flight);
            async move {
                let _permit = api_semaphore.acquire().await.expect("never closed");
                in_flight.set(in_flight.get() + 1);
                max_in_flight.set(max_in_flight.get().max(in_flight.get()));
                sleep(Duration::from_millis(200)).await; // the outbound call
                in_flight.set(in_flight.get() - 1);
            }
        }))
        .await;
        println!(
            "20 calls of 200 ms under Semaphore(5): expected at most 5 in flight and ~0.8 s; \
             measured {} in flight and {:.3} s",
            max_in_flight.get(),
            started.elapsed().as_secs_f64()
        );
    });
}
