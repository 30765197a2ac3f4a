//! Seed 3.1 and 5.2: a blocking call on the loop vs the same call on the executor, with the
//! stall detector (asyncio's slow_callback_duration = 0.1) watching.
//!
//! `cargo run --release -p kairos-rt --example blocking_detection`

use std::time::{Duration, Instant};

use kairos_rt::{spawn_named, to_thread, Builder, Diagnostic};
use kairos_sync::combinator::gather;

fn main() {
    Builder::new()
        .slow_callback_duration(Some(Duration::from_millis(100)))
        .on_diagnostic(|d| {
            if let Diagnostic::SlowPoll(r) = d {
                println!("  [stall detector] {r}");
            }
        })
        .run(async {
            println!("bad_endpoint x3: time.sleep(0.3) inside async code");
            let started = Instant::now();
            gather((0..3).map(|i| {
                spawn_named(format!("bad_endpoint-{i}"), async {
                    std::thread::sleep(Duration::from_millis(300)); // blocks the whole loop
                })
            }))
            .await;
            println!(
                "  expected ~0.9 s (the three run one after another) and each blocking poll \
                 reported, while it blocks and when it ends; measured {:.3} s, slow polls {}\n",
                started.elapsed().as_secs_f64(),
                kairos_rt::stats().slow_polls
            );

            println!("good_endpoint x3: the same sleep through run_in_executor(None, ...)");
            let started = Instant::now();
            gather((0..3).map(|i| {
                spawn_named(format!("good_endpoint-{i}"), async {
                    to_thread(|| std::thread::sleep(Duration::from_millis(300))).await.unwrap();
                })
            }))
            .await;
            println!(
                "  expected ~0.3 s and no new report; measured {:.3} s, slow polls still {}",
                started.elapsed().as_secs_f64(),
                kairos_rt::stats().slow_polls
            );
        });
}
