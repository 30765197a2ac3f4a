//! Seed 2.3: `wait_for` on a task that is too slow times out and cancels it.
//!
//! `cargo run --release -p kairos-rt --example wait_for`

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_rt::{sleep, spawn, wait_for};

fn main() {
    kairos_rt::run(async {
        let cleaned_up = Rc::new(Cell::new(false));
        let task = {
            let cleaned_up = Rc::clone(&cleaned_up);
            spawn(async move {
                // Runs when the task is cancelled: Rust's `finally`.
                let _cleanup = scopeguard(move || cleaned_up.set(true));
                sleep(Duration::from_secs(3)).await;
                "finished"
            })
        };
        let probe = task.abort_handle();
        let started = Instant::now();
        match wait_for(task.cancel_on_drop(), Duration::from_secs(1)).await {
            Ok(result) => println!("finished in time: {result:?}"),
            Err(timeout) => println!("wait_for: {timeout}"),
        }
        kairos_rt::yield_now().await;
        println!(
            "expected: timeout after ~1.0 s and the task cancelled\nmeasured: {:.3} s, task \
             finished = {}, its cleanup ran = {}",
            started.elapsed().as_secs_f64(),
            probe.is_finished(),
            cleaned_up.get()
        );
    });
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
