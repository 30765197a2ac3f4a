//! Sections 3, 4, 5.2 and 6.2: what a blocking call does to the loop, how `def` routes queue
//! on the sync pool, and which CPU pool keeps the loop answering.
//!
//! Each verdict compares two things measured alike (ten `/bad` vs ten `/good`, one wave vs ten,
//! a probe's wait vs the job it waited on), with a factor of two or more between the sides,
//! or counts what the stall detector reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::client::Target;
use super::report::{Measured, Report, Row, Span};
use super::{secs, Scale, SYNC_TOKENS};
use crate::service;

/// Every experiment of this group.
pub(crate) fn run(target: Target, scale: Scale, report: &mut Report) {
    bad_vs_good(target, scale, report);
    async_vs_sync(target, scale, report);
    cpu_pools(target, scale, report);
}

/// How long each `/bad` and `/good` request sleeps; the tour sets the stall threshold to half
/// of it. The floor keeps that threshold (50 ms) well above how long a loaded machine leaves a
/// runnable thread waiting, so only the blocking calls are reported.
pub(crate) fn bad_ms(scale: Scale) -> u64 {
    scale.ms(250.0, 100)
}

/// Slow polls the stall detector counted while `work` ran, and what `work` returned.
pub(crate) fn counting_stalls<T>(
    target: Target,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let before = target.slow_polls()?;
    let out = work()?;
    Ok((out, target.slow_polls()?.saturating_sub(before)))
}

/// 3 + 5.2: ten `/bad` requests (a blocking sleep inside `async def`) run one after another
/// and each is counted by the stall detector; ten `/good` ones (the same sleep through
/// `run_in_executor`) overlap on the default executor and stall nothing.
fn bad_vs_good(target: Target, scale: Scale, report: &mut Report) {
    const N: usize = 10;
    let ms = bad_ms(scale);
    let one = ms as f64 / 1000.0;
    let serialised = N as f64 * one;
    let measure = |route: &str| {
        counting_stalls(target, || target.concurrent(&format!("/{route}?ms={ms}"), N))
            .map(|(wall, stalls)| (wall.as_secs_f64(), stalls))
    };
    let described = |wall: f64, stalls: u64| {
        Measured::new(format!("{}; slow_polls +{stalls}", secs(wall)))
            .value("wall_s", wall)
            .value("slow_polls", stalls)
    };

    report.mark();
    let bad = measure("bad");
    let bad_wall = bad.as_ref().ok().map(|&(wall, _)| wall);
    report.push(Row::new(
        "3, 5.2",
        &format!("{N} × /bad?ms={ms} at once"),
        format!("serialised ≥ {} (10 × ms); slow_polls +≈10", secs(serialised)),
        // The loop sleeps ten times in turn, so the wall time cannot be less; every sleep is
        // twice the threshold, so the detector sees at least most of them.
        bad.map(|(wall, stalls)| {
            described(wall, stalls).verdict(wall >= 0.95 * serialised && stalls >= N as u64 / 2)
        }),
    ));

    report.mark();
    let good = measure("good");
    let good_wall = good.as_ref().ok().map(|&(wall, _)| wall);
    report.push(Row::new(
        "3, 5.2",
        &format!("{N} × /good?ms={ms} at once"),
        "overlapped: ≤ half of /bad's; slow_polls +0".to_owned(),
        // The default executor has min(32, cores + 4) threads, so ten sleeps take two or three
        // waves: half the serialised time leaves waves to spare. One slow poll is tolerated:
        // a loaded machine can pause the loop's own thread mid-poll.
        good.map(|(wall, stalls)| {
            described(wall, stalls).verdict(wall <= 0.5 * serialised && stalls <= 1)
        }),
    ));

    report.push(Row::new(
        "3",
        "/good faster than /bad",
        "≥ 2× faster (the loop stayed free)".to_owned(),
        match (bad_wall, good_wall) {
            (Some(bad), Some(good)) => Ok(Measured::new(format!("{:.1}× faster", bad / good))
                .value("ratio", bad / good)
                .verdict(2.0 * good <= bad)),
            _ => Err(anyhow::anyhow!("see the rows above")),
        },
    ));
}

/// 4: a hundred `async def` sleeps all wait on the one loop at once (one wave); a hundred
/// `def` sleeps queue for the sync pool's tokens (100 / 10 = 10 waves).
fn async_vs_sync(target: Target, scale: Scale, report: &mut Report) {
    const N: usize = 100;
    let ms = scale.ms(250.0, 100);
    let one = ms as f64 / 1000.0;
    let waves = N.div_ceil(SYNC_TOKENS) as f64;
    let started = Span::start();
    let synchronous = target.concurrent(&format!("/sync?ms={ms}"), N).map(|d| d.as_secs_f64());
    let sync_span = Span::end(started);
    let started = Span::start();
    let asynchronous = target.concurrent(&format!("/async?ms={ms}"), N).map(|d| d.as_secs_f64());
    report.span(Span::end(started));
    let sync_wall = synchronous.as_ref().ok().copied();
    report.push(Row::new(
        "4",
        &format!("{N} × /async?ms={ms} (async def)"),
        format!("one wave ≈ {}, < half the def waves", secs(one)),
        // Both runs pay for 100 connections alike, so the comparison is with /sync's time:
        // ten waves against one leaves room for the connections of a loaded machine.
        asynchronous.and_then(|t| {
            let sync = sync_wall.context("/sync failed, so there is nothing to compare")?;
            Ok(Measured::new(secs(t))
                .value("wall_s", t)
                .verdict(t >= 0.95 * one && t <= 0.5 * sync))
        }),
    ));
    report.span(sync_span);
    report.push(Row::new(
        "4",
        &format!("{N} × /sync?ms={ms} (def, {SYNC_TOKENS} tokens)"),
        format!("{waves} waves ≥ {}", secs(waves * one)),
        // Ten tokens, a hundred sleeps: no fewer than ten waves, however fast the machine.
        synchronous
            .map(|t| Measured::new(secs(t)).value("wall_s", t).verdict(t >= 0.95 * waves * one)),
    ));
}

/// `/cpu`'s inline job measured on this machine, now: `n` for a job of about `target_s`,
/// and the seconds per term it measured.
///
/// The machine's speed (and a debug or release build, and other load) varies by orders of
/// magnitude, so the tour times a small job and scales `n` from it, up to the route's largest.
fn calibrate(target: Target, target_s: f64) -> anyhow::Result<(u64, f64)> {
    // Long enough that the clock and a preemption are a few per cent of it.
    const SAMPLE_S: f64 = 0.02;
    let mut n: u64 = 100_000;
    loop {
        let body = target.json(&format!("/cpu?n={n}&pool=inline"))?;
        let took = body["elapsed_s"].as_f64().context("elapsed_s from /cpu")?.max(1e-7);
        if took >= SAMPLE_S || n == service::MAX_N {
            let per_term = took / n as f64;
            let n = ((target_s / per_term) as u64).clamp(1, service::MAX_N);
            return Ok((n, per_term));
        }
        // Towards twice the sample's length, at most a hundredfold a step.
        let grow = (2.0 * SAMPLE_S / took).min(100.0);
        n = ((n as f64 * grow) as u64).clamp(n + 1, service::MAX_N);
    }
}

/// 6.2: while `/cpu` runs on a pool, a probe keeps asking for `/plaintext`; its worst latency
/// shows whether the loop was free. Inline, the loop is the CPU: the probe waits the whole job
/// and the stall detector reports it.
fn cpu_pools(target: Target, scale: Scale, report: &mut Report) {
    // The floor leaves the pools' verdict (the probe's worst wait under half the job) 200 ms
    // for a loaded machine's scheduling hiccups.
    let work_s = scale.ms(1000.0, 400) as f64 / 1000.0;
    let (n, per_term) = match calibrate(target, work_s) {
        Ok(calibrated) => calibrated,
        Err(e) => {
            report.push(Row::new("6.2", "/cpu calibration", String::new(), Err(e)));
            return;
        }
    };
    // What the calibration promises: the target, or less if the route's largest n is short
    // of it on a fast machine.
    let planned = n as f64 * per_term;
    // The first process-pool call starts the worker processes; pay that outside the timing.
    let _ = target.json("/cpu?n=1&pool=process");

    report.mark();
    let inline = probe_during_cpu(target, "inline", n);
    let inline_worst = inline.as_ref().ok().map(|p| p.worst);
    report.push(Row::new(
        "6.2",
        &format!("/cpu?n={n}&pool=inline (≈{}) + probe", secs(planned)),
        "probe waits ≈ the whole job; slow_polls ≥ 1".to_owned(),
        // The probe asks every few milliseconds, so it is waiting within the job's first half;
        // the job lasts a quarter of the plan at least (the load can change, not fourfold).
        inline.map(|p| {
            let pass = p.worst >= 0.5 * p.job && p.job >= 0.25 * planned && p.stalls >= 1;
            p.measured().verdict(pass)
        }),
    ));
    for pool in ["thread", "process"] {
        report.mark();
        let probe = probe_during_cpu(target, pool, n);
        report.push(Row::new(
            "6.2",
            &format!("/cpu?n={n}&pool={pool} (≈{}) + probe", secs(planned)),
            "probe ≤ half the job and half inline's wait".to_owned(),
            probe.and_then(|p| {
                let inline = inline_worst.context("the inline run failed: nothing to compare")?;
                let pass = p.worst <= 0.5 * p.job && p.worst <= 0.5 * inline && p.stalls <= 1;
                Ok(p.measured().verdict(pass))
            }),
        ));
    }
}

/// The probe's worst `/plaintext` latency while a `/cpu` job of `job` seconds ran, and the
/// slow polls counted meanwhile.
struct Probe {
    worst: f64,
    job: f64,
    stalls: u64,
}

impl Probe {
    fn measured(&self) -> Measured {
        Measured::new(format!(
            "probe worst {:.1} ms, job {:.0} ms; slow_polls +{}",
            self.worst * 1000.0,
            self.job * 1000.0,
            self.stalls
        ))
        .value("probe_worst_s", self.worst)
        .value("job_s", self.job)
        .value("slow_polls", self.stalls)
    }
}

fn probe_during_cpu(target: Target, pool: &str, n: u64) -> anyhow::Result<Probe> {
    let ((worst, job), stalls) = counting_stalls(target, || {
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
        Ok((worst, job_wall))
    })?;
    Ok(Probe { worst, job, stalls })
}
