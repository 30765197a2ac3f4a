//! The loop's scheduling rules, observed from outside: FIFO order, one poll per turn for a
//! task that keeps waking itself, and I/O and timers served between turns.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kairos_rt::io::AsyncReadExt;
use kairos_rt::net::TcpListener;
use kairos_rt::{sleep, spawn, yield_now};

#[test]
fn tasks_start_in_spawn_order() {
    let order = kairos_rt::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let order = Rc::clone(&order);
                spawn(async move { order.borrow_mut().push(i) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Rc::try_unwrap(order).unwrap().into_inner()
    });
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn yielding_tasks_interleave_round_robin() {
    let trace = kairos_rt::run(async {
        let trace = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let trace = Rc::clone(&trace);
                spawn(async move {
                    for step in 0..3 {
                        trace.borrow_mut().push(format!("{name}{step}"));
                        yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Rc::try_unwrap(trace).unwrap().into_inner()
    });
    assert_eq!(trace, ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
}

#[test]
fn a_self_waking_task_does_not_starve_a_timer() {
    let (spins, timer_fired_after) = kairos_rt::run(async {
        let stop = Rc::new(RefCell::new(false));
        let spinner = {
            let stop = Rc::clone(&stop);
            spawn(async move {
                let mut spins = 0u64;
                while !*stop.borrow() {
                    spins += 1;
                    yield_now().await;
                }
                spins
            })
        };
        let started = Instant::now();
        sleep(Duration::from_millis(20)).await;
        let fired_after = started.elapsed();
        *stop.borrow_mut() = true;
        (spinner.await.unwrap(), fired_after)
    });
    assert!(spins >= 1, "the spinner was running when the timer fired ({spins} spins)");
    assert!(timer_fired_after < Duration::from_secs(2), "timer starved: {timer_fired_after:?}");
}

#[test]
fn a_self_waking_task_does_not_starve_a_socket() {
    kairos_rt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Rc::new(RefCell::new(false));
        let spinner = {
            let stop = Rc::clone(&stop);
            spawn(async move {
                while !*stop.borrow() {
                    yield_now().await;
                }
            })
        };
        // A plain OS thread plays the client, so nothing but the loop's fairness is tested.
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"ping").unwrap();
        });
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        *stop.borrow_mut() = true;
        spinner.await.unwrap();
        client.join().unwrap();
    });
}

#[test]
fn rc_refcell_state_is_exact_without_an_await_between_read_and_write() {
    // Seed 1.3: with no await between read and write, no update can be lost.
    let final_count = kairos_rt::run(async {
        let counter = Rc::new(RefCell::new(0u32));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let counter = Rc::clone(&counter);
                spawn(async move {
                    let temp = *counter.borrow();
                    *counter.borrow_mut() = temp + 1;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = *counter.borrow();
        n
    });
    assert_eq!(final_count, 1000);
}

#[test]
fn an_await_between_read_and_write_loses_updates() {
    // ...and with one, other tasks run in between and overwrite each other's writes.
    let final_count = kairos_rt::run(async {
        let counter = Rc::new(RefCell::new(0u32));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let counter = Rc::clone(&counter);
                spawn(async move {
                    let temp = *counter.borrow();
                    yield_now().await;
                    *counter.borrow_mut() = temp + 1;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = *counter.borrow();
        n
    });
    assert!(final_count < 1000, "updates were lost: {final_count}");
}

#[test]
fn a_hundred_thousand_concurrent_tasks() {
    let (sum, alive_peak) = kairos_rt::run(async {
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| {
                spawn(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        let alive_peak = kairos_rt::stats().tasks_alive;
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        (sum, alive_peak)
    });
    assert_eq!(alive_peak, 100_000);
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
}

#[test]
fn nested_run_is_refused_with_a_clear_message() {
    let result = std::panic::catch_unwind(|| {
        kairos_rt::run(async {
            kairos_rt::run(async {});
        })
    });
    let payload = result.expect_err("nested run must panic");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("inside a running one"), "{message}");
}

#[test]
#[allow(clippy::async_yields_async)] // returning the handle out of block_on is the point
fn a_runtime_runs_several_block_ons_and_keeps_tasks_between_them() {
    let runtime = kairos_rt::Builder::new().build().unwrap();
    let task = runtime.block_on(async {
        spawn(async {
            sleep(Duration::from_millis(5)).await;
            7
        })
    });
    assert_eq!(runtime.block_on(task).unwrap(), 7);
    assert_eq!(runtime.stats().tasks_alive, 0);
}

#[test]
fn the_main_future_takes_its_turn_in_fifo_order_like_asyncios_main_task() {
    // asyncio: main creates T then awaits sleep(0) — T runs before main resumes.
    let trace = kairos_rt::run(async {
        let trace = Rc::new(RefCell::new(Vec::new()));
        let t = {
            let trace = Rc::clone(&trace);
            spawn(async move { trace.borrow_mut().push("task") })
        };
        yield_now().await;
        trace.borrow_mut().push("main resumed");
        t.await.unwrap();
        Rc::try_unwrap(trace).unwrap().into_inner()
    });
    assert_eq!(trace, ["task", "main resumed"]);
}
