//! Seeing a child exit without blocking the loop, and without reaping anyone else's child.
//!
//! asyncio watches children with a `SIGCHLD` handler and, in its older watchers, reaps with
//! `waitpid(-1)`, which steals the exit status of children the rest of the program started.
//! kairos watches one child at a time:
//!
//! 1. **pidfd** (Linux 5.3+): `pidfd_open(pid)` gives a descriptor that turns readable when
//!    that process exits. It is registered with the loop's reactor like a socket (a
//!    [`kairos_rt::io::Async`]), so the loop sleeps in `epoll_wait` until the exit, and then
//!    `waitpid(pid, WNOHANG)` (through [`std::process::Child::try_wait`]) collects the status
//!    of *that* pid only.
//! 2. **Polling**, where `pidfd_open` is unavailable (older kernels, some sandboxes):
//!    `try_wait` on a timer that backs off from 1 ms to 100 ms, so a long-running child
//!    costs ten cheap system calls a second, and a short one is seen within a few ms.
//!
//! The child is reaped only here, through `std`'s `Child`, so its pid cannot be reused while
//! we still hold it: `kill` never hits a stranger.

use std::future::Future as _;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::{Child, ExitStatus};
use std::task::{Context, Poll};
use std::time::Duration;

use kairos_rt::io::Async;
use kairos_rt::time::{sleep, Sleep};

const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(100);

/// Watches one child for its exit.
pub(crate) struct ExitWatch {
    how: How,
}

enum How {
    /// A pidfd: readable once the process has exited. Owning it closes it on drop.
    PidFd(Async<OwnedFd>),
    Polling {
        timer: Option<Pin<Box<Sleep>>>,
        next: Duration,
    },
}

impl ExitWatch {
    /// Watches `child` through a pidfd if the kernel offers one, by polling otherwise.
    pub(crate) fn new(child: &Child) -> ExitWatch {
        match pidfd_open(child.id()).and_then(Async::new) {
            Ok(pidfd) => ExitWatch { how: How::PidFd(pidfd) },
            Err(e) => {
                tracing::debug!(
                    target: "kairos::process",
                    "pidfd_open unavailable ({e}); watching child {} by polling",
                    child.id()
                );
                ExitWatch::polling()
            }
        }
    }

    /// Watches by polling `try_wait` on a backing-off timer (the fallback, also tested alone).
    pub(crate) fn polling() -> ExitWatch {
        ExitWatch { how: How::Polling { timer: None, next: POLL_FIRST } }
    }

    /// Whether this watch uses a pidfd (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn uses_pidfd(&self) -> bool {
        matches!(self.how, How::PidFd(_))
    }

    /// Ready with the exit status once `child` has exited (it is then reaped). Must be
    /// given the same child every time.
    pub(crate) fn poll_exit(
        &mut self,
        cx: &mut Context<'_>,
        child: &mut Child,
    ) -> Poll<io::Result<ExitStatus>> {
        match &mut self.how {
            How::PidFd(pidfd) => pidfd.poll_read_with(cx, |_| match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                // Readable means exited; if waitpid disagrees, wait for the next edge.
                Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(reaped_elsewhere(e)),
            }),
            How::Polling { timer, next } => loop {
                if let Some(t) = timer {
                    if t.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                match child.try_wait() {
                    Ok(Some(status)) => return Poll::Ready(Ok(status)),
                    Ok(None) => {
                        *timer = Some(Box::pin(sleep(*next)));
                        *next = (*next * 2).min(POLL_MAX);
                    }
                    Err(e) => return Poll::Ready(Err(reaped_elsewhere(e))),
                }
            },
        }
    }
}

/// `ECHILD`: something else in the process reaped our child (a `waitpid(-1)` or
/// `SIGCHLD = SIG_IGN`), so its status is lost.
fn reaped_elsewhere(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ECHILD) {
        io::Error::other(
            "the child's exit status was collected by someone else in this process (a \
             waitpid(-1) or SIGCHLD set to SIG_IGN); kairos cannot tell how it ended",
        )
    } else {
        e
    }
}

/// Reaps `child` on a helper thread (after `SIGKILL` if `kill`), for a child whose owner
/// goes away before it exits: the loop never blocks on it, and no zombie is left. A child that
/// has already exited is reaped on the spot.
pub(crate) fn reap_in_background(mut child: Child, kill: bool) {
    if kill {
        let _ = child.kill();
    }
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id();
    let spawned = std::thread::Builder::new().name("kairos-reaper".to_owned()).spawn(move || {
        let _ = child.wait();
    });
    if let Err(e) = spawned {
        tracing::warn!(
            target: "kairos::process",
            "could not start a thread to reap child {pid} ({e}); it stays a zombie until this \
             process exits"
        );
    }
}

/// A descriptor that turns readable when process `pid` exits (Linux 5.3+).
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    Ok(rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;
    use std::time::Instant;

    fn wait_with(mut watch: ExitWatch, mut child: Child) -> ExitStatus {
        kairos_rt::run(async move { poll_fn(|cx| watch.poll_exit(cx, &mut child)).await.unwrap() })
    }

    #[test]
    fn a_pidfd_sees_the_exit_code() {
        kairos_rt::run(async {
            let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
            let mut child = child;
            let mut watch = ExitWatch::new(&child);
            if !watch.uses_pidfd() {
                // Linux < 5.3, or a sandbox that filters pidfd_open: the fallback is tested
                // on its own below; here it must give the same answer.
                eprintln!("note: no pidfd_open here; the exit is watched by polling");
            }
            let status = poll_fn(|cx| watch.poll_exit(cx, &mut child)).await.unwrap();
            assert_eq!(status.code(), Some(3));
        });
    }

    #[test]
    fn the_polling_fallback_sees_a_signal_and_backs_off() {
        let child = Command::new("sleep").arg("0.05").spawn().unwrap();
        let started = Instant::now();
        assert!(wait_with(ExitWatch::polling(), child).success());
        assert!(started.elapsed() >= Duration::from_millis(50));

        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        child.kill().unwrap();
        let status = wait_with(ExitWatch::polling(), child);
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn waiting_for_one_child_does_not_reap_another() {
        kairos_rt::run(async {
            let mut other = Command::new("true").spawn().unwrap();
            let mut child = Command::new("sleep").arg("0.05").spawn().unwrap();
            let mut watch = ExitWatch::new(&child);
            poll_fn(|cx| watch.poll_exit(cx, &mut child)).await.unwrap();
            // `other` exited long ago, and its status is still there for its owner.
            assert!(other.wait().unwrap().success());
        });
    }
}
