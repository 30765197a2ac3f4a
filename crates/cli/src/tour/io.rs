//! Sections 6.3 and 7: a semaphore that bounds outbound calls, and a stream whose first event
//! arrives long before its last. Verdicts on counts, on lower bounds the sleeps guarantee, and
//! on orders with several intervals of margin.

use std::io::Read;
use std::time::Instant;

use anyhow::Context as _;

use super::client::Target;
use super::report::{Measured, Report, Row};
use super::{secs, Scale};

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale, report: &mut Report) {
    report.push(external(target, scale));
    report.push(stream(target, scale));
}

/// 6.3: `n` calls to the upstream under `Semaphore(limit)` never have more than `limit` in
/// flight, so they take about `n / limit` rounds of the upstream's latency.
fn external(target: Target, scale: Scale) -> Row {
    let (n, limit, ms) = (20u64, 5u64, scale.ms(200.0, 50));
    let rounds = n.div_ceil(limit) as f64;
    let one = ms as f64 / 1000.0;
    let result = target.json(&format!("/external?n={n}&limit={limit}&ms={ms}")).and_then(|b| {
        let max = b["max_in_flight"].as_u64().context("max_in_flight")?;
        let elapsed = b["elapsed_s"].as_f64().context("elapsed_s")?;
        // Never more than `limit` at once, so no fewer than `rounds` rounds; and overlapped,
        // so well short of one call after another (n rounds: 16 rounds of margin).
        let pass = (1..=limit).contains(&max)
            && elapsed >= 0.95 * rounds * one
            && elapsed < n as f64 * one;
        Ok(Measured::new(format!("max_in_flight {max}, {}", secs(elapsed)))
            .value("max_in_flight", max)
            .value("elapsed_s", elapsed)
            .verdict(pass))
    });
    Row::new(
        "6.3",
        &format!("/external n={n} limit={limit} ms={ms}"),
        format!("max_in_flight ≤ {limit}, ≈ {} ({rounds} rounds)", secs(rounds * one)),
        result,
    )
}

/// 7: server-sent events leave as they are made, so the first arrives after about nothing
/// and the last after `n × interval`.
fn stream(target: Target, scale: Scale) -> Row {
    let (n, interval) = (5u64, scale.ms(200.0, 100));
    let total_expected = (n - 1) as f64 * interval as f64 / 1000.0;
    let result = (|| -> anyhow::Result<Measured> {
        let started = Instant::now();
        let mut stream = target.send(&format!("/stream?n={n}&interval_ms={interval}"))?;
        let (mut seen, mut buf, mut first) = (Vec::new(), [0u8; 1024], None);
        loop {
            let read = stream.read(&mut buf)?;
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..read]);
            if first.is_none() && String::from_utf8_lossy(&seen).contains("data: 0") {
                first = Some(started.elapsed().as_secs_f64());
            }
        }
        let total = started.elapsed().as_secs_f64();
        let first = first.context("no event arrived")?;
        let events = String::from_utf8_lossy(&seen).matches("data: ").count();
        // Every event, the last no sooner than the intervals allow, and the first within the
        // first half of the stream (it is due at once; a buffered stream would bring it last).
        let pass = events as u64 == n && total >= 0.95 * total_expected && first < total / 2.0;
        Ok(Measured::new(format!(
            "first {:.0} ms, total {}, {events} events",
            first * 1000.0,
            secs(total)
        ))
        .value("first_s", first)
        .value("total_s", total)
        .value("events", events)
        .verdict(pass))
    })();
    Row::new(
        "7",
        &format!("/stream n={n} interval={interval} ms"),
        format!("first ≪ total ≈ {}", secs(total_expected)),
        result,
    )
}
