//! [`Command`]: asyncio's `create_subprocess_exec`, a builder over [`std::process::Command`].

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::child::Child;

/// A subprocess to start: program, arguments, environment, working directory and the three
/// standard streams. [`spawn`](Command::spawn) gives a [`Child`] whose pipes are async and
/// whose exit is awaited without blocking the loop.
///
/// ```
/// use kairos_process::Command;
///
/// kairos_rt::run(async {
///     // subprocess.run(["echo", "hello"], capture_output=True), without blocking the loop
///     let output = Command::new("echo").arg("hello").output().await.unwrap();
///     assert!(output.status.success());
///     assert_eq!(output.stdout, b"hello\n");
/// });
/// ```
///
/// | asyncio | kairos |
/// |---|---|
/// | `await asyncio.create_subprocess_exec("ls", "-l", stdout=PIPE, cwd=d, env=e)` | `Command::new("ls").arg("-l").stdout(Stdio::piped()).current_dir(d).envs(e).spawn()?` |
/// | `await proc.communicate()` | [`child.wait_with_output().await`](Child::wait_with_output) |
/// | `subprocess.run(args, capture_output=True, timeout=t)` | `Command::new(..).timeout(t).output().await` |
/// | `await proc.wait()`, `proc.returncode` | [`child.wait().await`](Child::wait), [`child.try_wait()`](Child::try_wait) |
/// | `proc.kill()` | [`child.kill().await`](Child::kill) (and reaps it), [`child.start_kill()`](Child::start_kill) |
/// | `proc.stdout.readline()` | [`AsyncBufReadExt::read_line`](kairos_rt::io::AsyncBufReadExt::read_line) on a `futures::io::BufReader` of [`ChildStdout`](crate::ChildStdout) |
///
/// The program is looked up in `PATH` as `std::process::Command` does; no shell is involved,
/// so arguments need no quoting (`create_subprocess_exec`, not `_shell`).
pub struct Command {
    std: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
    timeout: Option<Duration>,
}

impl Command {
    /// A command to run `program` with no arguments, the parent's environment and working
    /// directory, and inherited standard streams (except for [`output`](Command::output)).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
            timeout: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (then add what it needs with `env`).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory (`cwd=`).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped()`] for an async [`ChildStdin`](crate::ChildStdin),
    /// `Stdio::null()`, or `Stdio::inherit()` (the default, except in `output`).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout: [`Stdio::piped()`] for an async [`ChildStdout`](crate::ChildStdout).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr: [`Stdio::piped()`] for an async [`ChildStderr`](crate::ChildStderr).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Kill the child (`SIGKILL`) when its [`Child`] is dropped before it exited. Off by
    /// default, as in asyncio and `std`: a dropped child runs on, and is reaped in the
    /// background when it exits.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// A time limit for [`output`](Command::output) and [`status`](Command::status), like
    /// `subprocess.run(timeout=...)`: when it passes, the child is killed and reaped, and the
    /// call fails with [`io::ErrorKind::TimedOut`]. (For a [`Child`] you spawned yourself, see
    /// [`Child::wait_timeout`].)
    pub fn timeout(&mut self, limit: Duration) -> &mut Command {
        self.timeout = Some(limit);
        self
    }

    /// Starts the child. Its piped streams are registered with the current loop's reactor,
    /// and so is its exit (through a pidfd).
    ///
    /// Starting a process (`fork`/`exec` via `posix_spawn`) is a system call of a fraction of
    /// a millisecond, made on the loop.
    ///
    /// # Errors
    ///
    /// The program cannot be started (`NotFound` for a missing program, with its name in the
    /// message), or no loop runs on this thread (checked before anything is started).
    pub fn spawn(&mut self) -> io::Result<Child> {
        if kairos_rt::Handle::try_current().is_none() {
            return Err(io::Error::other(
                "kairos subprocesses need a running event loop; spawn them inside \
                 kairos_rt::run(...)",
            ));
        }
        let child = self.std.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("could not start {:?}: {e}", self.std.get_program()))
        })?;
        Child::new(child, self.kill_on_drop)
    }

    /// Runs the child to the end and collects its stdout and stderr: `subprocess.run(...,
    /// capture_output=True)` / `await proc.communicate()`. Unless set otherwise, stdin is
    /// `/dev/null` and stdout/stderr are piped (this changes the `Command` for later calls).
    /// Both pipes are read while the child runs, so a chatty child never blocks on a full
    /// pipe.
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let limit = self.timeout;
        let program = self.std.get_program().to_owned();
        let mut child = self.spawn()?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let collect = crate::child::collect(&mut child, stdout, stderr);
        match limit {
            None => collect.await,
            Some(limit) => match kairos_rt::timeout(limit, collect).await {
                Ok(output) => output,
                Err(_) => {
                    child.kill().await?;
                    Err(timed_out(&program, limit))
                }
            },
        }
    }

    /// Runs the child to the end and returns its exit status (`subprocess.run(...)
    /// .returncode`). Streams are inherited unless set; honours [`timeout`](Command::timeout).
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let limit = self.timeout;
        let program = self.std.get_program().to_owned();
        let mut child = self.spawn()?;
        match limit {
            None => child.wait().await,
            Some(limit) => match child.wait_timeout(limit).await? {
                Some(status) => Ok(status),
                None => {
                    child.kill().await?;
                    Err(timed_out(&program, limit))
                }
            },
        }
    }
}

fn timed_out(program: &OsStr, limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{program:?} did not finish within {limit:?}, so it was killed"),
    )
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}
