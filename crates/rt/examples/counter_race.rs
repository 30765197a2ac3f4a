//! Seed 1.3: one thread, no race without an await; a race across an await.
//!
//! `cargo run --release -p kairos-rt --example counter_race`

use std::cell::Cell;
use std::rc::Rc;

use kairos_rt::yield_now;
use kairos_sync::combinator::gather;

const TASKS: u32 = 1000;

async fn run_race(await_between: bool) -> u32 {
    let counter = Rc::new(Cell::new(0u32));
    gather((0..TASKS).map(|_| {
        let counter = Rc::clone(&counter);
        kairos_rt::spawn(async move {
            let temp = counter.get();
            if await_between {
                yield_now().await; // another task runs here and reads the same value
            }
            counter.set(temp + 1);
        })
    }))
    .await;
    counter.get()
}

fn main() {
    kairos_rt::run(async {
        let exact = run_race(false).await;
        let raced = run_race(true).await;
        println!("{TASKS} tasks each do: temp = counter; [await]; counter = temp + 1");
        println!("  no await between read and write: expected {TASKS}, measured {exact}");
        println!(
            "  an await between read and write: expected fewer than {TASKS}, measured {raced}"
        );
    });
}
