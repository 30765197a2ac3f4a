//! [`Child`]: a running subprocess, its async pipes, and its exit seen through the reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::io::AsyncReadExt;

use crate::exit::{reap_in_background, ExitWatch};
use crate::pipe::{PipeReader, PipeWriter};

/// A subprocess started by [`Command::spawn`](crate::Command::spawn): asyncio's `Process`.
///
/// The piped streams are public fields, to `take()` and use from other tasks. The child's
/// exit is watched through a pidfd registered with the loop's reactor (or a backing-off poll
/// of `waitpid(pid, WNOHANG)` where pidfds are missing), so [`wait`](Child::wait) never
/// blocks the loop, and only this child is ever reaped by it — children started elsewhere in
/// the program keep their exit status for their owners.
///
/// **Dropping a `Child`** before it exited leaves the process running (as asyncio and `std`
/// do) unless [`Command::kill_on_drop`](crate::Command::kill_on_drop) was set; either way a
/// helper thread reaps it when it ends, so no zombie stays behind.
pub struct Child {
    /// The child's stdin, if it was [`Stdio::piped()`](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    inner: Option<std::process::Child>,
    pid: u32,
    exit: ExitWatch,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    pub(super) fn new(mut child: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pipes = (|| {
            let stdin = child.stdin.take().map(PipeWriter::new).transpose()?;
            let stdout = child.stdout.take().map(PipeReader::new).transpose()?;
            let stderr = child.stderr.take().map(PipeReader::new).transpose()?;
            io::Result::Ok((stdin, stdout, stderr))
        })();
        let (stdin, stdout, stderr) = match pipes {
            Ok(pipes) => pipes,
            Err(e) => {
                reap_in_background(child, true);
                return Err(e);
            }
        };
        Ok(Child {
            stdin: stdin.map(|pipe| ChildStdin { pipe: Some(pipe) }),
            stdout: stdout.map(|pipe| ChildStdout { pipe }),
            stderr: stderr.map(|pipe| ChildStderr { pipe }),
            pid: child.id(),
            exit: ExitWatch::new(&child),
            inner: Some(child),
            status: None,
            kill_on_drop,
        })
    }

    /// The child's process id (`proc.pid`). It stays valid — no other process can get it —
    /// until the child is reaped by [`wait`](Child::wait) or friends.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs:
    /// `proc.returncode`. Never blocks.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.inner_mut().try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits for the child to exit and reaps it: `await proc.wait()`. Closes the child's
    /// stdin first (if it is still here), so a child reading its input to the end is not left
    /// waiting for more while we wait for it. Cancel-safe: dropping the future leaves the
    /// child as it was.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Polls for the exit (see [`wait`](Child::wait), which also closes stdin).
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let child = self.inner.as_mut().expect("the child is kept until the Child is dropped");
        let status = std::task::ready!(self.exit.poll_exit(cx, child))?;
        self.status = Some(status);
        Poll::Ready(Ok(status))
    }

    /// Waits for the exit at most `limit`: `Ok(None)` if the child still runs then (it is
    /// left running: kill it or wait again). Python's `proc.wait(timeout)` raising
    /// `TimeoutExpired`.
    pub async fn wait_timeout(&mut self, limit: Duration) -> io::Result<Option<ExitStatus>> {
        match kairos_rt::timeout(limit, self.wait()).await {
            Ok(status) => status.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Sends `SIGKILL` and returns at once (`proc.kill()`); [`wait`](Child::wait) then
    /// reaps it. Does nothing if the child was already reaped.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.inner_mut().kill()
    }

    /// Kills the child (`SIGKILL`) and waits for it to be gone: its status says it was
    /// killed by a signal, unless it had exited by itself first.
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
    }

    /// Waits for the exit while reading stdout and stderr to the end (whichever were piped
    /// and not taken): `await proc.communicate()`. Closes stdin first.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.stdin = None;
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        collect(&mut self, stdout, stderr).await
    }

    fn inner_mut(&mut self) -> &mut std::process::Child {
        self.inner.as_mut().expect("the child is kept until the Child is dropped")
    }
}

/// Reads both streams to the end while waiting for the exit, all at once.
pub(super) async fn collect(
    child: &mut Child,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> io::Result<Output> {
    child.stdin = None;
    let out = async {
        let mut buf = Vec::new();
        if let Some(mut pipe) = stdout {
            pipe.read_to_end(&mut buf).await?;
        }
        io::Result::Ok(buf)
    };
    let err = async {
        let mut buf = Vec::new();
        if let Some(mut pipe) = stderr {
            pipe.read_to_end(&mut buf).await?;
        }
        io::Result::Ok(buf)
    };
    let status = poll_fn(|cx| child.poll_wait(cx));
    let (stdout, stderr, status) = futures_util::future::try_join3(out, err, status).await?;
    Ok(Output { status, stdout, stderr })
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Some(child) = self.inner.take() {
            reap_in_background(child, self.kill_on_drop);
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("pid", &self.pid).field("status", &self.status).finish()
    }
}

/// The child's stdin: write to it with [`AsyncWriteExt`](kairos_rt::io::AsyncWriteExt); close it
/// (`close().await`, or drop it) to send end-of-file.
pub struct ChildStdin {
    pipe: Option<PipeWriter>,
}

impl kairos_rt::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &self.pipe {
            Some(pipe) => pipe.poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the child's stdin was closed",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // a pipe has no buffer of ours to flush
    }

    /// Closes the write end: the child reads end-of-file.
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe = None;
        Poll::Ready(Ok(()))
    }
}

/// The child's stdout: read it with [`AsyncReadExt`](kairos_rt::io::AsyncReadExt).
pub struct ChildStdout {
    pipe: PipeReader,
}

/// The child's stderr: read it with [`AsyncReadExt`](kairos_rt::io::AsyncReadExt).
pub struct ChildStderr {
    pipe: PipeReader,
}

impl kairos_rt::io::AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_read(cx, buf)
    }
}

impl kairos_rt::io::AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_read(cx, buf)
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin").field("open", &self.pipe.is_some()).finish()
    }
}

impl fmt::Debug for ChildStdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildStdout")
    }
}

impl fmt::Debug for ChildStderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildStderr")
    }
}
