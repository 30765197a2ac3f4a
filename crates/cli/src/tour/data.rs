//! Table 4.2 and the next steps: a database driver awaited, blocking on the sync pool, and
//! blocking on the loop (5.1 on a database); and a cache that runs one load for many misses.
//!
//! The verdicts count what the stall detector reported and what the cache's loader did —
//! counts a loaded machine cannot fake.

use super::client::Target;
use super::report::{Measured, Report, Row};
use super::{secs, Scale};

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale, report: &mut Report) {
    database_drivers(target, scale, report);
    one_load_for_many_misses(target, scale, report);
}

/// `n` for a count query of about `ms` here, now, from one off-loop query of a million rows
/// (the machine's speed, the build and the load vary too much for a fixed `n`).
fn calibrate(target: Target, ms: u64) -> anyhow::Result<u64> {
    const PROBE: u64 = 1_000_000;
    let took = target.json(&format!("/db/sync?n={PROBE}"))?["elapsed_s"].as_f64().unwrap_or(0.1);
    let n = (PROBE as f64 * (ms as f64 / 1000.0) / took.max(1e-6)) as u64;
    Ok(n.clamp(10_000, 20_000_000))
}

/// 5.1 on a database: eight queries at once through each driver. The blocking driver inside
/// `async def` holds the loop for each query in turn (each a stall); the async driver and the
/// blocking one on the sync pool leave the loop free.
fn database_drivers(target: Target, scale: Scale, report: &mut Report) {
    const N: usize = 8;
    // Twice the tour's stall threshold (half of /bad's sleep): each blocking query is seen.
    let ms = super::blocking::bad_ms(scale);
    let n = match calibrate(target, ms) {
        Ok(n) => n,
        Err(e) => {
            report.push(Row::new("5.1", "database drivers", "calibrated".to_owned(), Err(e)));
            return;
        }
    };
    for (route, expected, blocks) in [
        ("/db/bad", "the loop waits for each query: slow_polls +≈8", true),
        ("/db/async", "the loop stays free: slow_polls +0", false),
        ("/db/sync", "a sync-pool thread waits, the loop is free: slow_polls +0", false),
    ] {
        let measured = super::blocking::counting_stalls(target, || {
            target.concurrent(&format!("{route}?n={n}"), N).map(|d| d.as_secs_f64())
        });
        report.push(Row::new(
            "5.1",
            &format!("{N} × {route}?n={n} at once"),
            expected.to_owned(),
            // A query is twice the threshold, so the detector sees most blocking ones; one
            // stall is tolerated where none is due (a loaded machine can pause the loop's
            // thread mid-poll).
            measured.map(|(wall, stalls)| {
                Measured::new(format!("{}; slow_polls +{stalls}", secs(wall)))
                    .value("wall_s", wall)
                    .value("slow_polls", stalls)
                    .verdict(if blocks { stalls >= N as u64 / 2 } else { stalls <= 1 })
            }),
        ));
    }
}

/// aiocache's stampede protection: 100 requests miss one key at once; its loader runs once.
fn one_load_for_many_misses(target: Target, scale: Scale, report: &mut Report) {
    const N: usize = 100;
    let ms = scale.ms(300.0, 100);
    let key = format!("tour-{}", std::process::id());
    let path = format!("/cached?key={key}&ms={ms}");
    let measured = target.concurrent(&path, N).and_then(|wall| {
        let loads = target.json(&path)?["loads"].as_u64().unwrap_or(0);
        Ok((wall.as_secs_f64(), loads))
    });
    report.push(Row::new(
        "next steps",
        &format!("{N} × /cached?key=…&ms={ms} at once (a cold key)"),
        "the loader runs once: loads = 1".to_owned(),
        measured.map(|(wall, loads)| {
            Measured::new(format!("loads = {loads}; {}", secs(wall)))
                .value("loads", loads)
                .value("wall_s", wall)
                .verdict(loads == 1)
        }),
    ));
}
