//! [`Worker`]: one worker process as the pool sees it — the child, its two pipes, its exit.
//!
//! The pool starts a worker by executing its own binary again (`/proc/self/exe`, so even a
//! binary replaced on disk by a deploy starts the *same* code as the parent) with
//! [`WORKER_ENV`] set, the request pipe as the child's stdin and the reply pipe as its
//! stdout. Its stderr is the pool's. See `worker_main.rs` for the other side.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::exit::{reap_in_background, ExitWatch};
use crate::pipe::{PipeReader, PipeWriter};
use crate::protocol::{self, FrameBuffer, Reply};
use crate::shared::{bump, drop_one, PoolShared};
use crate::worker_main::WORKER_ENV;

/// The pipe buffer asked for (Linux's default is 64 KiB, and its default maximum for
/// unprivileged processes 1 MiB): a 1 MB argument then goes in one write instead of sixteen
/// ping-pongs between the processes. The kernel allocates the pages only when data is
/// written, so an idle pipe costs nothing more. Best effort: a refusal keeps the default.
const PIPE_SIZE: usize = 1 << 20;

/// A message from a worker, copied out of the frame.
#[derive(Debug)]
pub(super) enum Message {
    Hello { protocol: u32 },
    Done { id: u64, result: Vec<u8> },
    Panicked { id: u64, message: String },
    Failed { id: u64, message: String },
}

/// One worker process, owned by its driver.
pub(super) struct Worker {
    pool: Rc<PoolShared>,
    child: Option<Child>,
    pub(super) pid: u32,
    requests: Option<PipeWriter>,
    replies: PipeReader,
    exit: ExitWatch,
    buffer: FrameBuffer,
    /// Set once the child is reaped (`None` inside: its status was collected elsewhere).
    status: Option<Option<ExitStatus>>,
}

/// The binary to execute: this very one.
pub(super) fn program() -> PathBuf {
    let proc_self = PathBuf::from("/proc/self/exe");
    if proc_self.exists() {
        proc_self
    } else {
        std::env::current_exe().unwrap_or(proc_self)
    }
}

impl Worker {
    /// Starts a worker process (it is not ready until it says hello).
    pub(super) fn spawn(pool: &Rc<PoolShared>) -> io::Result<Worker> {
        let mut command = Command::new(program());
        if let Some(argv0) = std::env::args_os().next() {
            command.arg0(argv0);
        }
        command
            .env(WORKER_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn()?;
        let pid = child.id();
        let pipes = child.stdin.take().zip(child.stdout.take()).ok_or_else(|| {
            io::Error::other("the worker's pipes were not created") // std always makes them
        });
        let registered = pipes.and_then(|(stdin, stdout)| {
            let _ = rustix::pipe::fcntl_setpipe_size(&stdin, PIPE_SIZE);
            let _ = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_SIZE);
            Ok((PipeWriter::new(stdin)?, PipeReader::new(stdout)?))
        });
        let (requests, replies) = match registered {
            Ok(pipes) => pipes,
            Err(e) => {
                reap_in_background(child, true);
                return Err(e);
            }
        };
        let exit = ExitWatch::new(&child);
        bump(&pool.counters.workers);
        Ok(Worker {
            pool: Rc::clone(pool),
            child: Some(child),
            pid,
            requests: Some(requests),
            replies,
            exit,
            buffer: FrameBuffer::default(),
            status: None,
        })
    }

    /// Writes `frame[*written..]` to the request pipe; ready when all of it is written.
    pub(super) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        frame: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        let Some(requests) = &self.requests else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        while *written < frame.len() {
            match requests.poll_write(cx, &frame[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The next message from the worker; `Ok(None)` at end-of-file (the worker is gone or
    /// going: its exit follows).
    pub(super) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Message>>> {
        loop {
            if let Some(len) = self.buffer.complete()? {
                let message = parse(self.buffer.body(len));
                self.buffer.consume(len);
                return Poll::Ready(message.map(Some));
            }
            match self.replies.poll_read(cx, self.buffer.spare()) {
                Poll::Ready(Ok(0)) if self.buffer.is_empty() => return Poll::Ready(Ok(None)),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the worker's reply was cut short",
                    )))
                }
                Poll::Ready(Ok(n)) => self.buffer.filled(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Ready once the worker has exited and been reaped.
    pub(super) fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(status);
        }
        let child = self.child.as_mut().expect("the child is kept until the Worker is dropped");
        let status = match self.exit.poll_exit(cx, child) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(status)) => Some(status),
            Poll::Ready(Err(e)) => {
                tracing::warn!(target: "kairos::process", "worker {}: {e}", self.pid);
                None
            }
        };
        self.status = Some(status);
        drop_one(&self.pool.counters.workers);
        Poll::Ready(status)
    }

    /// Waits for the exit (after a kill, or after closing the requests of an idle worker).
    pub(super) async fn reap(&mut self) -> Option<ExitStatus> {
        std::future::poll_fn(|cx| self.poll_exit(cx)).await
    }

    /// Sends `SIGKILL` (nothing if it is already reaped; repeating it is harmless).
    pub(super) fn kill(&mut self) {
        if self.status.is_none() {
            if let Some(child) = &mut self.child {
                let _ = child.kill();
            }
        }
    }

    /// Closes the request pipe: an idle worker reads end-of-file and exits with status 0.
    pub(super) fn close_requests(&mut self) {
        self.requests = None;
    }
}

impl Drop for Worker {
    /// A worker dropped before it was reaped (its driver was cancelled: the loop is shutting
    /// down) is killed and reaped by a helper thread, so the loop never blocks on it and no
    /// zombie is left.
    fn drop(&mut self) {
        if self.status.is_none() {
            if let Some(child) = self.child.take() {
                reap_in_background(child, true);
            }
            drop_one(&self.pool.counters.workers);
        }
    }
}

/// Decodes a reply frame's header (and copies out the payload of a `Done`).
fn parse(body: &[u8]) -> io::Result<Message> {
    let (reply, payload): (Reply<'_>, _) = protocol::split(body).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("a worker sent a bad frame: {e}"))
    })?;
    Ok(match reply {
        Reply::Hello { protocol, .. } => Message::Hello { protocol },
        Reply::Done { id } => Message::Done { id, result: payload.to_vec() },
        Reply::Panicked { id, message } => Message::Panicked { id, message: message.to_owned() },
        Reply::Failed { id, message } => Message::Failed { id, message: message.to_owned() },
    })
}
