//! Sections 1.3, 2.1, 2.2 and 2.3: what `await`, tasks and `gather` do to elapsed time, how
//! `wait_for` cancels, and where a race can (and cannot) happen on one thread.
//!
//! Timings come from the routes' own `elapsed_s` (the server's clock, no connection in it).
//! A sleep never ends early, so "at least the sleep" holds under any load; "less than the
//! sum" is checked with a margin of half a step, which a busy machine does not eat.

use anyhow::Context as _;
use serde_json::{json, Value};

use super::client::Target;
use super::report::{Measured, Report, Row};
use super::{secs, Scale};

/// What a sleep of `d` can measure at the least: the full `d`, less a little for timers that
/// round to the millisecond.
fn at_least(d: f64) -> f64 {
    0.95 * d
}

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale, report: &mut Report) {
    sequential_vs_concurrent(target, scale, report);
    gather(target, scale, report);
    report.push(wait_for(target, scale));
    counter(target, report);
}

/// The route's own `elapsed_s`: the server's clock, free of connection overhead.
fn elapsed_s(body: &Value) -> anyhow::Result<f64> {
    body["elapsed_s"].as_f64().context("elapsed_s in the answer")
}

/// 2.1: awaiting one step after another takes the sum (1 s + 2 s); starting both as tasks
/// first takes the longest (2 s).
fn sequential_vs_concurrent(target: Target, scale: Scale, report: &mut Report) {
    let s = scale.route();
    report.mark();
    let sequential = target.json(&format!("/sequential?scale={s}")).and_then(|b| elapsed_s(&b));
    let seq = sequential.as_ref().ok().copied();
    report.push(Row::new(
        "2.1",
        &format!("/sequential?scale={s} awaits one by one"),
        format!("≈ {} (1 s + 2 s, scaled)", secs(3.0 * s)),
        sequential
            .map(|t| Measured::new(secs(t)).value("elapsed_s", t).verdict(t >= at_least(3.0 * s))),
    ));
    report.mark();
    let concurrent = target.json(&format!("/concurrent?scale={s}")).and_then(|b| elapsed_s(&b));
    report.push(Row::new(
        "2.1",
        &format!("/concurrent?scale={s}: tasks, then await"),
        format!("≈ {} (the longest), a step under /sequential", secs(2.0 * s)),
        concurrent.and_then(|con| {
            let seq = seq.context("/sequential failed, so there is nothing to compare")?;
            Ok(Measured::new(format!("{} vs {}", secs(con), secs(seq)))
                .value("elapsed_s", con)
                .value("sequential_s", seq)
                // The gap is step A (1 s · scale); half of it is the margin.
                .verdict(con >= at_least(2.0 * s) && con <= seq - 0.5 * s))
        }),
    ));
}

/// 2.2 and 2.3: `gather` takes the longest step; a failing step either sits in its slot
/// (`return_exceptions=True`) or propagates as a 500 whose detail is the error.
fn gather(target: Target, scale: Scale, report: &mut Report) {
    let s = scale.route();
    report.mark();
    let elapsed = target.json(&format!("/gather?scale={s}")).and_then(|b| elapsed_s(&b));
    report.push(Row::new(
        "2.2",
        &format!("gather(A, B, C), scale={s}"),
        format!("≈ {} (the longest), not {} (the sum)", secs(2.0 * s), secs(4.5 * s)),
        elapsed.map(|t| {
            Measured::new(secs(t))
                .value("elapsed_s", t)
                .verdict(t >= at_least(2.0 * s) && t <= 3.5 * s)
        }),
    ));
    report.mark();
    let in_slot =
        target.json(&format!("/gather?scale={s}&fail=B&return_exceptions=true")).map(|b| {
            let slot = b["results"][1].clone();
            Measured::new(slot.to_string()).verdict(slot == json!({"error": "B failed"}))
        });
    report.push(Row::new(
        "2.3",
        "gather, fail=B, return_exceptions=True",
        "B's slot holds the error".to_owned(),
        in_slot,
    ));
    // A fails (after 1 s · scale) while B and C still sleep: the answer is A's error, and the
    // two still running are cancelled (the timeline shows the request ending there).
    report.mark();
    let propagated =
        target.get(&format!("/gather?scale={s}&fail=A&return_exceptions=false")).and_then(|a| {
            let detail: Value = serde_json::from_str(&a.body)?;
            let detail = detail["detail"].clone();
            let elapsed = a.elapsed.as_secs_f64();
            Ok(Measured::new(format!("{} {detail} after {}", a.status, secs(elapsed)))
                .value("status", a.status)
                .value("elapsed_s", elapsed)
                .verdict(a.status == 500 && detail == "A failed"))
        });
    report.push(Row::new(
        "2.3",
        "gather, fail=A, return_exceptions=False",
        format!(r#"500 "A failed" at ≈ {}; B and C cancelled"#, secs(s)),
        propagated,
    ));
}

/// 2.3: `wait_for` gives up at its timeout and cancels the slow task rather than leaving it
/// running.
fn wait_for(target: Target, scale: Scale) -> Row {
    let (work, timeout) = (scale.ms(2000.0, 400), scale.ms(100.0, 20));
    let path = format!("/wait_for?work_ms={work}&timeout_ms={timeout}");
    let result = target.get(&path).and_then(|a| {
        let body: Value = serde_json::from_str(&a.body)?;
        let elapsed = a.elapsed.as_secs_f64();
        // The answer comes after the timeout and before the work could have ended: the work
        // is 20 times the timeout, so load has room.
        let pass = a.status == 200
            && body["status"] == "timeout"
            && body["cancelled"] == true
            && elapsed >= at_least(timeout as f64 / 1000.0)
            && elapsed < work as f64 / 1000.0;
        Ok(Measured::new(format!(
            "{}, cancelled {}, after {}",
            body["status"],
            body["cancelled"],
            secs(elapsed)
        ))
        .value("elapsed_s", elapsed)
        .verdict(pass))
    });
    Row::new(
        "2.3",
        &format!("wait_for({work} ms of work, timeout={timeout} ms)"),
        format!("\"timeout\", cancelled, before {work} ms"),
        result,
    )
}

/// 1.3: on one thread, `counter += 1` without an await between read and write cannot race;
/// with one, every task reads the same value and updates are lost. Counts, not times.
fn counter(target: Target, report: &mut Report) {
    let tasks = 1000;
    let final_count = |await_between: bool| {
        target
            .json(&format!("/counter?tasks={tasks}&await_between={await_between}"))
            .and_then(|b| b["final"].as_u64().context("final in the answer"))
    };
    report.push(Row::new(
        "1.3",
        "counter, no await between read and write",
        format!("exactly {tasks}"),
        final_count(false)
            .map(|n| Measured::new(n.to_string()).value("final", n).verdict(n == tasks)),
    ));
    report.push(Row::new(
        "1.3",
        "counter, an await between read and write",
        format!("short of {tasks} (lost updates)"),
        final_count(true)
            .map(|n| Measured::new(n.to_string()).value("final", n).verdict(n < tasks)),
    ));
}
