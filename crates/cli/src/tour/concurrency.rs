//! Sections 1.3, 2.1, 2.2 and 2.3: what `await`, tasks and `gather` do to elapsed time, how
//! `wait_for` cancels, and where a race can (and cannot) happen on one thread.

use anyhow::Context as _;
use serde_json::{json, Value};

use super::client::Target;
use super::report::Row;
use super::{row_or_fail, secs, Scale};

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale) -> Vec<Row> {
    let mut rows = sequential_vs_concurrent(target, scale);
    rows.extend(gather(target, scale));
    rows.push(wait_for(target, scale));
    rows.extend(counter(target));
    rows
}

/// The route's own `elapsed_s`: the server's clock, free of connection overhead.
fn elapsed_s(body: &Value) -> anyhow::Result<f64> {
    body["elapsed_s"].as_f64().context("elapsed_s in the answer")
}

/// 2.1: awaiting one step after another takes the sum (1 s + 2 s); starting both as tasks
/// first takes the longest (2 s).
fn sequential_vs_concurrent(target: Target, scale: Scale) -> Vec<Row> {
    let s = scale.route();
    let sequential = target.json(&format!("/sequential?scale={s}")).and_then(|b| elapsed_s(&b));
    let concurrent = target.json(&format!("/concurrent?scale={s}")).and_then(|b| elapsed_s(&b));
    let seq_ok = sequential.as_ref().map(|&t| t >= 2.9 * s).unwrap_or(false);
    let shape = match (&sequential, &concurrent) {
        (Ok(seq), Ok(con)) => Ok((
            format!("{} vs {}", secs(*seq), secs(*con)),
            seq_ok && *con >= 1.9 * s && seq - con >= 0.5 * s,
        )),
        (Err(e), _) | (_, Err(e)) => Err(anyhow::anyhow!("{e:#}")),
    };
    vec![
        row_or_fail(
            "2.1",
            "/sequential awaits one by one",
            format!("≈ {} (1 s + 2 s)", secs(3.0 * s)),
            sequential.map(|t| (secs(t), t >= 2.9 * s)),
        ),
        row_or_fail(
            "2.1",
            "/concurrent: tasks, then await",
            format!("≈ {} (the longest), ≥ 0.5·scale s less", secs(2.0 * s)),
            shape,
        ),
    ]
}

/// 2.2 and 2.3: `gather` takes the longest step; a failing step either sits in its slot
/// (`return_exceptions=True`) or propagates as a 500 whose detail is the error.
fn gather(target: Target, scale: Scale) -> Vec<Row> {
    let s = scale.route();
    let elapsed = target.json(&format!("/gather?scale={s}")).and_then(|b| elapsed_s(&b));
    let in_slot =
        target.json(&format!("/gather?scale={s}&fail=B&return_exceptions=true")).map(|b| {
            let slot = b["results"][1].clone();
            (slot.to_string(), slot == json!({"error": "B failed"}))
        });
    let propagated =
        target.get(&format!("/gather?scale={s}&fail=B&return_exceptions=false")).and_then(|a| {
            let detail: Value = serde_json::from_str(&a.body)?;
            let detail = detail["detail"].clone();
            Ok((format!("{} {detail}", a.status), a.status == 500 && detail == "B failed"))
        });
    vec![
        row_or_fail(
            "2.2",
            "gather(A, B, C)",
            format!("≈ {} (the longest, not the sum)", secs(2.0 * s)),
            elapsed.map(|t| (secs(t), t >= 1.9 * s && t < 3.5 * s)),
        ),
        row_or_fail(
            "2.3",
            "gather, fail=B, return_exceptions=True",
            "B's slot holds the error".to_owned(),
            in_slot,
        ),
        row_or_fail(
            "2.3",
            "gather, fail=B, return_exceptions=False",
            r#"500 "B failed""#.to_owned(),
            propagated,
        ),
    ]
}

/// 2.3: `wait_for` gives up at its timeout and cancels the slow task rather than leaving it
/// running.
fn wait_for(target: Target, scale: Scale) -> Row {
    let (work, timeout) = (scale.ms(2000.0, 200), scale.ms(100.0, 20));
    let path = format!("/wait_for?work_ms={work}&timeout_ms={timeout}");
    let result = target.get(&path).and_then(|a| {
        let body: Value = serde_json::from_str(&a.body)?;
        let elapsed = a.elapsed.as_secs_f64();
        let pass = a.status == 200
            && body["status"] == "timeout"
            && body["cancelled"] == true
            && elapsed < work as f64 / 1000.0;
        Ok((
            format!(
                "status {}, cancelled {}, after {}",
                body["status"],
                body["cancelled"],
                secs(elapsed)
            ),
            pass,
        ))
    });
    row_or_fail(
        "2.3",
        &format!("wait_for({work} ms of work, timeout={timeout} ms)"),
        format!("\"timeout\", cancelled true, well before {work} ms"),
        result,
    )
}

/// 1.3: on one thread, `counter += 1` without an await between read and write cannot race;
/// with one, every task reads the same value and updates are lost.
fn counter(target: Target) -> Vec<Row> {
    let tasks = 1000;
    let final_count = |await_between: bool| {
        target
            .json(&format!("/counter?tasks={tasks}&await_between={await_between}"))
            .and_then(|b| b["final"].as_u64().context("final in the answer"))
    };
    vec![
        row_or_fail(
            "1.3",
            "counter, no await between read and write",
            format!("exactly {tasks}"),
            final_count(false).map(|n| (n.to_string(), n == tasks)),
        ),
        row_or_fail(
            "1.3",
            "counter, an await between read and write",
            format!("short of {tasks} (lost updates)"),
            final_count(true).map(|n| (n.to_string(), n < tasks)),
        ),
    ]
}
