//! [`worker_main`]: the one line in `main` that turns a re-executed binary into a pool worker.
//!
//! A [`ProcessPool`](crate::ProcessPool) starts its workers by executing *this same binary*
//! again (`/proc/self/exe`), with the environment variable [`WORKER_ENV`] set to the pool's
//! process id and two pipes as the child's standard input and output. The child runs `main`
//! from the top, and `worker_main` — its first statement — sees the variable and never returns:
//! it serves jobs until the pool closes the request pipe, then exits. In any other process the
//! variable is absent, and `worker_main` only records the job list (a small map, built once)
//! and returns.
//!
//! **Keeping the pipes clean.** A job may print (`println!`, a C library's `printf`): that
//! must not land in the middle of a reply frame. So the worker first moves the two pipes to
//! fresh descriptors (close-on-exec, so the job's own subprocesses do not inherit them), then
//! points descriptor 1 (stdout) at the pool's stderr and descriptor 0 (stdin) at `/dev/null`.
//! Whatever a job prints shows up on the parent's stderr, marked by nothing but harmless.
//!
//! **Not outliving the pool.** The worker asks the kernel for `SIGKILL` when its parent
//! thread dies (`PR_SET_PDEATHSIG`), and exits at once if the pool's process is already gone
//! by the time it starts. An idle worker also exits when the request pipe reaches end-of-file,
//! which is what a pool's shutdown does.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};

use crate::protocol::{self, Reply, Request};
use crate::registry::{self, Registered, Registry};

/// The environment variable that makes a process a pool worker: the pool's process id.
pub const WORKER_ENV: &str = "KAIROS_PROCESS_WORKER";

/// The exit status of a worker whose pipes broke or carried garbage (sysexits' `EX_SOFTWARE`).
const EXIT_PROTOCOL_ERROR: i32 = 70;

/// Enters worker mode if this process was started by a [`ProcessPool`](crate::ProcessPool);
/// otherwise records `jobs` and returns at once. **Call it as the first statement of `main`.**
///
/// ```no_run
/// use kairos_process::{worker_main, ProcessFn};
///
/// fn fib(n: u32) -> u64 {
///     if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) }
/// }
/// static FIB: ProcessFn<u32, u64> = ProcessFn::new("fib", fib);
///
/// fn main() {
///     worker_main(&[&FIB]); // a pool worker serves jobs here and never returns
///
///     // Only the program itself gets this far.
///     kairos_rt::run(async {
///         let pool = kairos_process::ProcessPool::new(2);
///         assert_eq!(pool.spawn(&FIB, 30).await.unwrap(), 832_040);
///     });
/// }
/// ```
///
/// `jobs` is the list of every [`ProcessFn`](crate::ProcessFn) a pool may be asked to run. The
/// parent records it so that [`ProcessPool::spawn`](crate::ProcessPool::spawn) can refuse an
/// unlisted job up front; a worker uses it to find a job by name. Because both run this very
/// line of the same binary, they always agree.
///
/// Why *first*: a worker is a fresh run of the whole program. Anything `main` does before
/// this line — parsing arguments, opening a log file, binding a port — a worker would do too.
/// (A pool refuses to start workers unless this function ran in the parent, so a worker can
/// never fall through into the program's own logic and start pools of its own.)
///
/// In a worker, jobs run one at a time on the main thread. A panic in a job is caught and
/// reported as [`ProcessJobError::Panicked`](crate::ProcessJobError::Panicked) (unless the
/// binary is built with `panic = "abort"`, where it ends the worker like any crash).
///
/// # Panics
///
/// If two jobs in `jobs` share a name, or if it is called again with a different list.
pub fn worker_main(jobs: &[&'static dyn Registered]) {
    let registry = registry::install(jobs);
    let Some(parent) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    // This process is a worker. Forget the variable first, so the subprocesses a job may
    // start are not mistaken for workers. (Still at the top of main: no other thread yet.)
    std::env::remove_var(WORKER_ENV);
    let code = match serve(registry, &parent) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kairos process worker {}: {e}; exiting", std::process::id());
            EXIT_PROTOCOL_ERROR
        }
    };
    std::process::exit(code);
}

/// The worker's life: set up the pipes, say hello, run jobs until end-of-file.
fn serve(registry: &Registry, parent: &OsString) -> io::Result<()> {
    if !parent_is_alive(parent)? {
        return Ok(()); // the pool went away before this worker even started
    }
    let mut requests = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let mut replies = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    rustix::stdio::dup2_stdin(File::open("/dev/null")?)?;
    rustix::stdio::dup2_stdout(io::stderr())?;

    let hello = Reply::Hello { protocol: protocol::PROTOCOL, pid: std::process::id() };
    protocol::write_frame(&mut replies, &encode(protocol::encode(&hello, Ok))?)?;

    let mut body = Vec::new();
    while protocol::read_frame(&mut requests, &mut body)? {
        let (request, args): (Request<'_>, _) = protocol::split(&body).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad request frame: {e}"))
        })?;
        let reply = run_job(registry, &request, args)?;
        protocol::write_frame(&mut replies, &reply)?;
        // Output a job buffered in std's stdout (now our stderr) belongs to that job.
        let _ = io::stdout().flush();
    }
    Ok(())
}

/// Asks for `SIGKILL` when the pool's thread dies, then checks the pool is still our parent.
fn parent_is_alive(parent: &OsString) -> io::Result<bool> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let expected = parent.to_str().and_then(|p| p.parse::<i32>().ok());
    let actual = rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get());
    Ok(expected.is_some() && expected == actual)
}

/// Runs one request and builds its reply frame.
fn run_job(registry: &Registry, request: &Request<'_>, args: &[u8]) -> io::Result<Vec<u8>> {
    let id = request.id;
    let Some(job) = registry.get(request.job) else {
        let message = format!("no job named {:?} is registered in this worker", request.job);
        return encode(protocol::encode(&Reply::Failed { id, message: &message }, Ok));
    };
    let start = encode(protocol::start(&Reply::Done { id }))?;
    // AssertUnwindSafe: after a panic the job's state is gone (the job is a plain function of
    // its decoded argument); only its message is looked at.
    let reply = match panic::catch_unwind(AssertUnwindSafe(|| job.run(args, start))) {
        Ok(Ok(frame)) => protocol::finish(frame),
        Ok(Err(message)) => protocol::encode(&Reply::Failed { id, message: &message }, Ok),
        Err(payload) => {
            let message = kairos_rt::task::panic_message(payload.as_ref());
            protocol::encode(&Reply::Panicked { id, message: &message }, Ok)
        }
    };
    match reply {
        Err(protocol::EncodeError::TooLarge(n)) => {
            let message = format!(
                "the result of job {:?} is {n} bytes, over the 1 GiB frame limit",
                request.job
            );
            encode(protocol::encode(&Reply::Failed { id, message: &message }, Ok))
        }
        other => encode(other),
    }
}

fn encode(frame: Result<Vec<u8>, protocol::EncodeError>) -> io::Result<Vec<u8>> {
    frame.map_err(|e| io::Error::other(format!("could not encode a reply: {e:?}")))
}
