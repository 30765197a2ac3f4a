//! Async subprocesses (`asyncio.create_subprocess_exec`): arguments, environment, working
//! directory, async pipes, wait/output/kill/timeout — and the loop keeps serving meanwhile.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use futures::io::BufReader;
use kairos_process::{Command, Stdio};
use kairos_rt::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use kairos_rt::{sleep, spawn};

/// Whether `pid` is still a child of this process (alive, or a zombie nobody reaped).
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
    ppid == Some(std::process::id())
}

#[test]
fn output_collects_stdout_stderr_and_the_exit_code() {
    kairos_rt::run(async {
        let output = Command::new("sh")
            .args(["-c", "echo to stdout; echo to stderr >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"to stdout\n");
        assert_eq!(output.stderr, b"to stderr\n");
    });
}

#[test]
fn arguments_environment_and_working_directory_reach_the_child() {
    kairos_rt::run(async {
        let output = Command::new("sh")
            .args(["-c", r#"printf '%s|%s|%s' "$1" "$KAIROS_GREETING" "$(pwd)""#, "sh"])
            .arg("one argument, with spaces")
            .env("KAIROS_GREETING", "hello")
            .current_dir("/")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), "one argument, with spaces|hello|/");

        let cleared = Command::new("/usr/bin/env").env_clear().env("ONLY", "me").output().await;
        assert_eq!(cleared.unwrap().stdout, b"ONLY=me\n");
    });
}

#[test]
fn a_subprocess_output_is_read_while_the_loop_keeps_serving_timers() {
    kairos_rt::run(async {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let ticker = spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    sleep(Duration::from_millis(5)).await;
                    ticks.set(ticks.get() + 1);
                }
            }
        });
        let mut child = Command::new("sh")
            .args(["-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.05; done"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let mut ticks_at_each_line = Vec::new();
        while let Some(line) = futures::StreamExt::next(&mut lines).await {
            seen.push(line.unwrap());
            ticks_at_each_line.push(ticks.get());
        }
        assert_eq!(seen, ["line 1", "line 2", "line 3", "line 4", "line 5"]);
        // Between two lines (50 ms apart) the timer task ran: the loop was never blocked.
        assert!(
            ticks_at_each_line.windows(2).all(|w| w[1] > w[0]),
            "ticks at each line: {ticks_at_each_line:?}"
        );
        assert!(child.wait().await.unwrap().success());
        ticker.cancel();
    });
}

#[test]
fn killing_a_subprocess_ends_and_reaps_it() {
    kairos_rt::run(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(child.try_wait().unwrap().is_none(), "still running");
        let status = child.kill().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!is_our_child(pid), "reaped: no zombie left");
        assert_eq!(child.try_wait().unwrap(), Some(status));
    });
}

#[test]
fn stdin_stdout_are_async_pipes() {
    kairos_rt::run(async {
        let mut child = Command::new("tr")
            .arg("a-z")
            .arg("A-Z")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // More than a pipe holds (64 KiB), so writing and reading must interleave.
        let text = "kairos ".repeat(20_000);
        let writer = spawn(async move {
            stdin.write_all(text.as_bytes()).await.unwrap();
            stdin.close().await.unwrap(); // end-of-file for tr
        });
        let mut upper = String::new();
        child.stdout.take().unwrap().read_to_string(&mut upper).await.unwrap();
        writer.await.unwrap();
        assert_eq!(upper, "KAIROS ".repeat(20_000));
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn a_timeout_kills_a_slow_command() {
    kairos_rt::run(async {
        let started = Instant::now();
        let err =
            Command::new("sleep").arg("30").timeout(Duration::from_millis(100)).status().await;
        let err = err.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(err.to_string().contains("\"sleep\" did not finish within 100ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));

        let err = Command::new("sh")
            .args(["-c", "echo partial; exec sleep 30"])
            .timeout(Duration::from_millis(100))
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);

        // On a Child: wait_timeout leaves it running; then it is ours to kill.
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(child.wait_timeout(Duration::from_millis(50)).await.unwrap(), None);
        assert!(child.kill().await.unwrap().signal().is_some());
    });
}

#[test]
fn waiting_for_one_child_never_reaps_another() {
    kairos_rt::run(async {
        // A child started by other code, which will want its own exit status.
        let mut theirs = std::process::Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        let ours = Command::new("sh").args(["-c", "sleep 0.05; exit 0"]).status().await.unwrap();
        assert!(ours.success());
        assert_eq!(theirs.wait().unwrap().code(), Some(7), "its status was left for its owner");
    });
}

#[test]
fn a_missing_program_is_a_clear_not_found() {
    kairos_rt::run(async {
        let err = Command::new("/nope/no-such-program").spawn().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("/nope/no-such-program"), "{err}");
    });
}

#[test]
fn kill_on_drop_kills_and_reaps_a_dropped_child() {
    kairos_rt::run(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let pid = child.id();
        drop(child);
        let started = Instant::now();
        while is_our_child(pid) {
            assert!(started.elapsed() < Duration::from_secs(10), "child {pid} still there");
            sleep(Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn spawning_outside_a_loop_is_an_error_and_starts_nothing() {
    let err = Command::new("true").spawn().unwrap_err();
    assert!(err.to_string().contains("running event loop"), "{err}");
}
