//! [`ProcessJobError`]: why a job sent to a [`ProcessPool`](crate::ProcessPool) gave no value.

use std::error::Error;
use std::fmt;
use std::process::ExitStatus;

/// Why awaiting a [`ProcessJob`](crate::ProcessJob) gave no value.
///
/// The counterpart of the thread pool's [`JobError`](kairos_rt::executor::JobError), with the
/// failures only processes have. Each variant has its own fix, so match on it rather than only
/// printing it:
///
/// | variant | what happened | the job ran? | the worker |
/// |---|---|---|---|
/// | [`Crashed`](Self::Crashed) | the worker process died: a signal (`SIGSEGV`, `SIGABRT` from `abort` or a `panic = "abort"` build, an outside `SIGKILL`), or `exit` called by the job | partly | replaced |
/// | [`Panicked`](Self::Panicked) | the job panicked and the worker caught the unwind | partly | lives on |
/// | [`Failed`](Self::Failed) | the argument or result did not (de)serialise | no / yes | lives on |
/// | [`NotRegistered`](Self::NotRegistered) | the job is not in `worker_main`'s list | no | — |
/// | [`TooLarge`](Self::TooLarge) | the argument is over the 1 GiB frame limit | no | — |
/// | [`QueueFull`](Self::QueueFull) | the pool's bounded queue had no room | no | — |
/// | [`Cancelled`](Self::Cancelled) | the pool was shut down (or dropped) before the job started | no | — |
/// | [`KilledAtShutdown`](Self::KilledAtShutdown) | still running when the shutdown's time was up | partly | killed |
/// | [`WorkerStart`](Self::WorkerStart) | no worker process could be started at all | no | — |
///
/// Python's `ProcessPoolExecutor` turns the first crash into `BrokenProcessPool` for *every*
/// pending job, and the pool is unusable from then on. Here a crash fails only the job that
/// was running in the dead worker ([`Crashed`](Self::Crashed)); the pool starts a new worker
/// and keeps its size.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessJobError {
    /// The worker process running the job died. `status` says how, as the operating system
    /// reported it (`std`'s `ExitStatus`: its `code()`, or `signal()` with
    /// `std::os::unix::process::ExitStatusExt`); `None` if something else in this process
    /// collected it first. The pool has already replaced the worker.
    Crashed {
        /// The dead worker's process id.
        pid: u32,
        /// How it ended.
        status: Option<ExitStatus>,
    },
    /// The job panicked; the payload is the panic message. The worker caught the unwind
    /// (its stderr, which is the pool's, also shows the message and location) and serves
    /// the next job.
    Panicked(String),
    /// The job could not be run or its result not delivered: the worker could not decode the
    /// argument, or the result could not be encoded or decoded (a type mismatch between
    /// `Serialize` and `Deserialize` implementations, usually). The message says which.
    Failed(String),
    /// The job is not one the workers know: it is missing from the list given to
    /// [`worker_main`](crate::worker_main), or listed with other argument/result types.
    /// Rejected at once; the message names the job and the registered ones.
    NotRegistered(String),
    /// The serialised argument is this many bytes, over the 1 GiB frame limit. Rejected at
    /// once. (Long before this limit, copying data to a process costs more than the work:
    /// the chapter's caution 4. Pass a file path instead.)
    TooLarge(usize),
    /// The pool's queue was at its [`queue_limit`](crate::ProcessPoolBuilder::queue_limit):
    /// rejected at once, never sent.
    QueueFull,
    /// The pool was shut down or dropped before the job started, so it never ran.
    Cancelled,
    /// The job was still running when [`shutdown`](crate::ProcessPool::shutdown)'s time was
    /// up, so its worker (this pid) was killed.
    KilledAtShutdown {
        /// The killed worker's process id.
        pid: u32,
    },
    /// The pool could not start any worker process, so the job was failed rather than left
    /// waiting forever. The message says why (the `exec` failed, the worker exited before it
    /// was ready, or it did not answer within the start timeout — often because `main` does
    /// not call `worker_main` first). The pool keeps retrying with a growing pause.
    WorkerStart(String),
}

impl fmt::Display for ProcessJobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessJobError::Crashed { pid, status } => {
                write!(f, "the worker process {pid} died while running the job (")?;
                match status {
                    Some(status) => write!(f, "{status}")?,
                    None => f.write_str("its exit status was collected elsewhere")?,
                }
                f.write_str(
                    "); the pool has started a replacement. A signal, abort() (or a panic \
                     in a panic=\"abort\" build) or exit() in the job ends its worker",
                )
            }
            ProcessJobError::Panicked(message) => write!(
                f,
                "the job panicked in its worker process: {message} (the worker lives on; fix \
                 the panic, or return a Result from the job to report failures as values)"
            ),
            ProcessJobError::Failed(message) => write!(f, "the job could not run: {message}"),
            ProcessJobError::NotRegistered(message) => f.write_str(message),
            ProcessJobError::TooLarge(bytes) => write!(
                f,
                "the job's argument serialises to {bytes} bytes, over the process pool's 1 GiB \
                 frame limit; send a path or an id and let the job load the data itself"
            ),
            ProcessJobError::QueueFull => f.write_str(
                "the job was rejected because the process pool's queue is full; shed load \
                 (for example answer 503) or raise the pool's queue_limit or max_workers",
            ),
            ProcessJobError::Cancelled => f.write_str(
                "the job never ran because its process pool was shut down first; keep a \
                 ProcessPool clone alive until its jobs finish",
            ),
            ProcessJobError::KilledAtShutdown { pid } => write!(
                f,
                "the job was still running when the process pool's shutdown timed out, so its \
                 worker process {pid} was killed; give shutdown a longer timeout"
            ),
            ProcessJobError::WorkerStart(message) => write!(
                f,
                "the process pool could not start a worker: {message}; check that main calls \
                 kairos_process::worker_main(..) as its first statement"
            ),
        }
    }
}

impl Error for ProcessJobError {}
