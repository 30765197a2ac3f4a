//! The driver: one loop task per worker slot, which keeps a worker process alive and feeds it
//! jobs.
//!
//! ```text
//!        ┌──────── start: spawn, wait for hello ◄───────────────────┐
//!        ▼                                                          │ replaced
//!      idle ── job ──► busy: send request, read reply ── reply ──► idle
//!        │               │ the ProcessJob was dropped → kill ───────┤
//!        │               │ the worker died → Crashed ───────────────┤
//!        │               │ shutdown's time is up → kill ────────────┤
//!        │ died ─────────┼──────────────────────────────────────────┘
//!        │ pool closed → close the request pipe, reap → stop
//! ```
//!
//! Each state waits on several things at once (a reply, the worker's exit through its pidfd,
//! the job's abandonment, the pool's shutdown) in one `poll_fn`: whichever happens first
//! decides. Because drivers are ordinary loop tasks, jobs start as soon as they are
//! submitted, whether or not anyone polls their `ProcessJob` yet.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::error::ProcessJobError;
use crate::job::JobSlot;
use crate::protocol::PROTOCOL;
use crate::shared::{bump, drop_one, PoolShared};
use crate::worker::{Message, Worker};
use kairos_rt::record::JobLane;
use kairos_rt::time::sleep;

/// The pause after a failed start doubles from this, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Keeps worker slot `index` of `pool` served until the pool closes.
pub(super) async fn drive(pool: Rc<PoolShared>, index: usize) {
    let _stopped = Stopped(Rc::clone(&pool));
    let mut pause = Duration::ZERO;
    let mut started_before = false;
    while !pool.is_closed() {
        if !pause.is_zero() && !pause_unless_closed(&pool, index, pause).await {
            break;
        }
        let mut worker = match start(&pool, index).await {
            Ok(worker) => worker,
            Err(Start::Closed) => break,
            Err(Start::Failed(message)) => {
                bump(&pool.counters.start_failures);
                tracing::warn!(
                    target: "kairos::process",
                    "a process pool worker failed to start: {message}; retrying"
                );
                pool.fail_one_if_no_worker(|| ProcessJobError::WorkerStart(message));
                pause = (pause * 2).clamp(RETRY_FIRST, RETRY_MAX);
                continue;
            }
        };
        pause = Duration::ZERO;
        if started_before {
            bump(&pool.counters.restarted);
        }
        started_before = true;
        pool.set_pid(index, Some(worker.pid));
        serve(&pool, index, &mut worker).await;
        pool.set_pid(index, None);
    }
}

/// Tells the pool its driver stopped, however the driver ends (even if the loop cancels it).
struct Stopped(Rc<PoolShared>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.driver_stopped();
    }
}

enum Start {
    Closed,
    Failed(String),
}

/// Starts a worker and waits until it says it is ready.
async fn start(pool: &Rc<PoolShared>, index: usize) -> Result<Worker, Start> {
    let mut worker = Worker::spawn(pool).map_err(|e| {
        Start::Failed(format!("could not execute {}: {e}", crate::worker::program().display()))
    })?;
    let limit = pool.config.start_timeout;
    let mut deadline = pin!(sleep(limit));
    let ready = poll_fn(|cx| {
        pool.watch(index, cx);
        if pool.is_closed() {
            return Poll::Ready(Err(Start::Closed));
        }
        match worker.poll_message(cx) {
            Poll::Ready(Ok(Some(Message::Hello { protocol }))) if protocol == PROTOCOL => {
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Ok(Some(other))) => {
                return Poll::Ready(Err(Start::Failed(format!(
                    "the worker process sent {other:?} instead of its hello"
                ))));
            }
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Err(Start::Failed(format!(
                    "the worker process's first words were not a kairos hello ({e}); does \
                     something in main print to stdout before worker_main runs?"
                ))));
            }
            Poll::Ready(Ok(None)) | Poll::Pending => {}
        }
        if let Poll::Ready(status) = worker.poll_exit(cx) {
            return Poll::Ready(Err(Start::Failed(format!(
                "the worker process exited before it was ready ({})",
                describe(status)
            ))));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Start::Failed(format!(
                "the worker process did not say it was ready within {limit:?}"
            ))));
        }
        Poll::Pending
    })
    .await;
    match ready {
        Ok(()) => Ok(worker),
        Err(e) => {
            worker.kill();
            worker.reap().await;
            Err(e)
        }
    }
}

/// Waits `pause`; `false` if the pool closed meanwhile.
async fn pause_unless_closed(pool: &PoolShared, index: usize, pause: Duration) -> bool {
    let mut timer = pin!(sleep(pause));
    poll_fn(|cx| {
        pool.watch(index, cx);
        if pool.is_closed() {
            return Poll::Ready(false);
        }
        timer.as_mut().poll(cx).map(|()| true)
    })
    .await
}

enum Idle {
    Job(Rc<JobSlot>),
    Died(Option<ExitStatus>),
    Closed,
}

/// Feeds `worker` jobs until it is gone (reaped).
async fn serve(pool: &PoolShared, index: usize, worker: &mut Worker) {
    loop {
        let next = poll_fn(|cx| {
            pool.watch(index, cx);
            if let Poll::Ready(status) = worker.poll_exit(cx) {
                pool.leave_idle(index);
                return Poll::Ready(Idle::Died(status));
            }
            pool.poll_next_job(index, cx).map(|job| job.map_or(Idle::Closed, Idle::Job))
        })
        .await;
        match next {
            Idle::Job(slot) => {
                if !run_job(pool, index, worker, &slot).await {
                    return;
                }
            }
            Idle::Died(status) => {
                tracing::warn!(
                    target: "kairos::process",
                    "idle process pool worker {} died ({}); starting another",
                    worker.pid,
                    describe(status)
                );
                return;
            }
            Idle::Closed => {
                worker.close_requests();
                poll_fn(|cx| {
                    pool.watch(index, cx);
                    if pool.must_kill() {
                        worker.kill();
                    }
                    worker.poll_exit(cx)
                })
                .await;
                return;
            }
        }
    }
}

enum Busy {
    Reply(Message),
    Garbled(std::io::Error),
    Abandoned,
    ShutdownKill,
    Died(Option<ExitStatus>),
}

/// Runs one job on `worker`. Returns whether the worker is still there to take another.
async fn run_job(pool: &PoolShared, index: usize, worker: &mut Worker, slot: &JobSlot) -> bool {
    let Some(frame) = slot.start(worker.pid) else {
        return true; // cancelled in the meantime: nothing was sent
    };
    let mut span = slot.span.take();
    if let Some(span) = &mut span {
        span.started();
    }
    let counters = &pool.counters;
    bump(&counters.busy);
    let mut written = 0;
    let mut dying = false;
    let outcome = poll_fn(|cx| {
        if slot.abandoned_or_watch(cx.waker()) {
            return Poll::Ready(Busy::Abandoned);
        }
        pool.watch(index, cx);
        if pool.must_kill() {
            return Poll::Ready(Busy::ShutdownKill);
        }
        if !dying && written < frame.len() {
            // A write error is a dead reader: the worker is gone; its exit tells how.
            dying = matches!(worker.poll_send(cx, &frame, &mut written), Poll::Ready(Err(_)));
        }
        if !dying && written == frame.len() {
            match worker.poll_message(cx) {
                Poll::Ready(Ok(Some(message))) => return Poll::Ready(Busy::Reply(message)),
                Poll::Ready(Ok(None)) => dying = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Busy::Garbled(e)),
                Poll::Pending => {}
            }
        }
        worker.poll_exit(cx).map(Busy::Died)
    })
    .await;
    pool.recycle(frame);
    drop_one(&counters.busy);
    let pid = worker.pid;
    if let Some(span) = span {
        let failed = !matches!(outcome, Busy::Reply(Message::Done { .. }));
        // Every process pool of a program is one lane group: its processes are told apart by pid.
        span.finish(JobLane::Process { pool: Arc::from("kairos-process"), pid }, failed);
    }
    match outcome {
        Busy::Reply(Message::Done { id, result }) if id == slot.id => {
            bump(&counters.completed);
            slot.finish(Ok(result));
            true
        }
        Busy::Reply(Message::Panicked { id, message }) if id == slot.id => {
            bump(&counters.panicked);
            slot.finish(Err(ProcessJobError::Panicked(message)));
            true
        }
        Busy::Reply(Message::Failed { id, message }) if id == slot.id => {
            bump(&counters.failed);
            slot.finish(Err(ProcessJobError::Failed(message)));
            true
        }
        Busy::Reply(message) => {
            kill_for(pool, worker, slot, format!("the worker sent an unexpected {message:?}")).await
        }
        Busy::Garbled(e) => kill_for(pool, worker, slot, e.to_string()).await,
        Busy::Abandoned => {
            worker.kill();
            worker.reap().await;
            bump(&counters.cancelled);
            false
        }
        Busy::ShutdownKill => {
            worker.kill();
            worker.reap().await;
            bump(&counters.cancelled);
            slot.finish(Err(ProcessJobError::KilledAtShutdown { pid }));
            false
        }
        Busy::Died(status) => {
            bump(&counters.crashed);
            tracing::warn!(
                target: "kairos::process",
                "process pool worker {pid} died running job {:?} ({}); starting another",
                slot.name,
                describe(status)
            );
            slot.finish(Err(ProcessJobError::Crashed { pid, status }));
            false
        }
    }
}

/// A worker broke the protocol: it is killed and the job fails with the reason.
async fn kill_for(pool: &PoolShared, worker: &mut Worker, slot: &JobSlot, why: String) -> bool {
    worker.kill();
    worker.reap().await;
    bump(&pool.counters.failed);
    slot.finish(Err(ProcessJobError::Failed(format!(
        "protocol error with worker {}: {why}; the worker was replaced",
        worker.pid
    ))));
    false
}

/// How a process ended, for messages.
fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "exit status unknown".to_owned(),
    }
}
