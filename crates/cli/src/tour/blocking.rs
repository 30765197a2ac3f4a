//! Sections 3, 4, 5.2 and 6.2: what a blocking call does to the loop, how `def` routes queue
//! on the sync pool, and which CPU pool keeps the loop answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::client::Target;
use super::report::Row;
use super::{row_or_fail, secs, Scale, SYNC_TOKENS};
use crate::service;

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale) -> Vec<Row> {
    let mut rows = bad_vs_good(target, scale);
    rows.extend(async_vs_sync(target, scale));
    rows.extend(cpu_pools(target, scale));
    rows
}

/// How long each `/bad` and `/good` request sleeps; the tour sets the stall threshold to
/// half of it.
pub(crate) fn bad_ms(scale: Scale) -> u64 {
    scale.ms(250.0, 40)
}

/// 3 + 5.2: ten `/bad` requests (a blocking sleep inside `async def`) run one after another
/// and each is counted by the stall detector; ten `/good` ones (the same sleep through
/// `run_in_executor`) overlap on the default executor and stall nothing.
fn bad_vs_good(target: Target, scale: Scale) -> Vec<Row> {
    const N: usize = 10;
    let ms = bad_ms(scale);
    let one = ms as f64 / 1000.0;
    let measure = |route: &str| -> anyhow::Result<(f64, u64)> {
        let before = target.slow_polls()?;
        let wall = target.concurrent(&format!("/{route}?ms={ms}"), N)?;
        Ok((wall.as_secs_f64(), target.slow_polls()? - before))
    };
    let bad = measure("bad");
    let good = measure("good");
    let compared = match (&bad, &good) {
        (Ok((bad_wall, _)), Ok((good_wall, _))) => Ok((
            format!("{:.1}× faster", bad_wall / good_wall.max(1e-6)),
            good_wall * 2.0 <= *bad_wall,
        )),
        _ => Err(anyhow::anyhow!("see the rows above")),
    };
    vec![
        row_or_fail(
            "3, 5.2",
            &format!("{N} × /bad?ms={ms} at once"),
            format!("serialised ≈ {} (10 × ms); slow_polls +≈10", secs(N as f64 * one)),
            bad.map(|(wall, stalls)| {
                (
                    format!("{}; slow_polls +{stalls}", secs(wall)),
                    wall >= 0.9 * N as f64 * one && stalls >= (N as u64) / 2,
                )
            }),
        ),
        row_or_fail(
            "3, 5.2",
            &format!("{N} × /good?ms={ms} at once"),
            "overlapped, a few × ms (executor waves); slow_polls +0".to_owned(),
            good.map(|(wall, stalls)| {
                // The default executor has min(32, cores + 4) threads, so ten sleeps take one
                // or two waves: far less than ten, and not one poll long enough to count.
                (
                    format!("{}; slow_polls +{stalls}", secs(wall)),
                    wall < 0.5 * N as f64 * one && stalls <= 1,
                )
            }),
        ),
        row_or_fail(
            "3",
            "/good faster than /bad",
            "≥ 2× faster (the loop stayed free)".to_owned(),
            compared,
        ),
    ]
}

/// 4: a hundred `async def` sleeps all wait on the one loop at once (one wave); a hundred
/// `def` sleeps queue for the sync pool's tokens (100 / 10 = 10 waves).
fn async_vs_sync(target: Target, scale: Scale) -> Vec<Row> {
    const N: usize = 100;
    let ms = scale.ms(250.0, 40);
    let one = ms as f64 / 1000.0;
    let waves = N.div_ceil(SYNC_TOKENS) as f64;
    let asynchronous = target.concurrent(&format!("/async?ms={ms}"), N).map(|d| d.as_secs_f64());
    let synchronous = target.concurrent(&format!("/sync?ms={ms}"), N).map(|d| d.as_secs_f64());
    let async_wall = asynchronous.as_ref().map_or(f64::INFINITY, |t| *t);
    vec![
        row_or_fail(
            "4",
            &format!("{N} × /async?ms={ms} (async def)"),
            format!("one wave ≈ {}", secs(one)),
            // 100 connections on a busy machine add their own time: allow a few waves' worth.
            asynchronous.map(|t| (secs(t), t >= 0.9 * one && t < waves / 2.0 * one)),
        ),
        row_or_fail(
            "4",
            &format!("{N} × /sync?ms={ms} (def, {SYNC_TOKENS} tokens)"),
            format!("{waves} waves ≈ {}", secs(waves * one)),
            synchronous.map(|t| (secs(t), t >= 0.9 * waves * one && t > 2.0 * async_wall)),
        ),
    ]
}

/// `n` for `/cpu` so that one inline call takes about `target_ms`: the machine's speed (and
/// a debug or release build) varies by orders of magnitude, so the tour measures it first.
fn calibrate(target: Target, target_ms: u64) -> anyhow::Result<u64> {
    let mut n: u64 = 1_000_000;
    loop {
        let body = target.json(&format!("/cpu?n={n}&pool=inline"))?;
        let took = body["elapsed_s"].as_f64().context("elapsed_s from /cpu")?;
        let wanted = target_ms as f64 / 1000.0;
        if took >= wanted / 4.0 {
            let scaled = (n as f64 * wanted / took.max(1e-6)) as u64;
            return Ok(scaled.clamp(1, service::MAX_N));
        }
        if n >= service::MAX_N {
            // The route's largest job is too quick to show anything on this machine.
            anyhow::bail!("/cpu?n={n} took only {:.1} ms", took * 1000.0);
        }
        n = (n * 10).min(service::MAX_N);
    }
}

/// 6.2: while `/cpu` runs on a pool, a probe keeps asking for `/plaintext`; its worst latency
/// shows whether the loop was free. Inline, the loop is the CPU: the probe waits the whole job.
fn cpu_pools(target: Target, scale: Scale) -> Vec<Row> {
    let work_ms = scale.ms(1000.0, 100);
    let n = match calibrate(target, work_ms) {
        Ok(n) => n,
        Err(e) => return vec![row_or_fail("6.2", "/cpu calibration", String::new(), Err(e))],
    };
    // The first process-pool call starts the worker processes; pay that outside the timing.
    let _ = target.json("/cpu?n=1&pool=process");
    let probe = |pool: &str| probe_during_cpu(target, pool, n);
    let inline = probe("inline");
    let inline_probe = inline.as_ref().map_or(0.0, |p| p.worst);
    let mut rows = vec![row_or_fail(
        "6.2",
        &format!("/cpu?pool=inline (≈{work_ms} ms) + /plaintext probe"),
        "probe waits ≈ the whole job".to_owned(),
        // The job must also be long enough to matter, or a stalled loop would not show.
        inline.map(|p| (p.describe(), p.worst >= 0.5 * p.job && p.job >= work_ms as f64 / 4000.0)),
    )];
    for pool in ["thread", "process"] {
        rows.push(row_or_fail(
            "6.2",
            &format!("/cpu?pool={pool} (≈{work_ms} ms) + /plaintext probe"),
            "probe stays fast (≪ the job, ≪ inline's)".to_owned(),
            probe(pool).map(|p| {
                let pass = p.worst < 0.5 * p.job && p.worst < 0.5 * inline_probe;
                (p.describe(), pass)
            }),
        ));
    }
    rows
}

/// The probe's worst `/plaintext` latency while a `/cpu` job of `job` seconds ran.
struct Probe {
    worst: f64,
    job: f64,
}

impl Probe {
    fn describe(&self) -> String {
        format!("probe worst {:.1} ms, job {:.0} ms", self.worst * 1000.0, self.job * 1000.0)
    }
}

fn probe_during_cpu(target: Target, pool: &str, n: u64) -> anyhow::Result<Probe> {
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || -> anyhow::Result<f64> {
            let mut worst = Duration::ZERO;
            while !done.load(Ordering::Acquire) {
                worst = worst.max(target.get("/plaintext")?.elapsed);
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(worst.as_secs_f64())
        })
    };
    // Give the probe a head start so it is already asking when the job begins.
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    let job = target.json(&format!("/cpu?n={n}&pool={pool}"));
    let job_wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Release);
    let worst = prober.join().map_err(|_| anyhow::anyhow!("the probe panicked"))??;
    job?;
    Ok(Probe { worst, job: job_wall })
}
