//! A served App logs to stderr by default, and leaves a program's own subscriber alone.
//!
//! A global subscriber is once per process, so each case runs in a child process: this test
//! binary again, told by an environment variable which case to play.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kairos_web::kairos_http::ServerConfig;
use kairos_web::App;

const CASE: &str = "KAIROS_WEB_LOGGING_CASE";

/// Serves an App on port 0, asks it one request, stops it.
fn serve_one_request() {
    let config = ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..ServerConfig::default() };
    let running = App::new().get("/hello", || async { "hi" }).serve(config).unwrap();
    let mut stream = TcpStream::connect(running.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("hi"), "{answer}");
    running.shutdown();
    running.wait();
}

/// Runs `test` of this binary in a child process playing `case`; its stderr and stdout.
fn child(test: &str, case: &str) -> (String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CASE, case)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the child failed:\n{stdout}\n{stderr}");
    (stderr, stdout)
}

#[test]
fn a_served_app_logs_its_startup_requests_and_shutdown_to_stderr() {
    if std::env::var_os(CASE).is_some() {
        return serve_one_request();
    }
    let (stderr, _) = child("a_served_app_logs_its_startup_requests_and_shutdown_to_stderr", "1");
    for line in [
        "waiting for application startup",
        "application startup complete",
        "listening on http://127.0.0.1:",
        "\"GET /hello\" 200",
        "waiting for application shutdown",
        "application shutdown complete",
    ] {
        assert!(stderr.contains(line), "no {line:?} in the child's stderr:\n{stderr}");
    }
}

/// What a program's own subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_programs_own_subscriber_is_kept() {
    if std::env::var_os(CASE).is_some() {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt().with_writer(move || writer.clone()).init();
        serve_one_request();
        let lines = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        // Through stdout, where the parent looks for it.
        println!("captured: {}", lines.contains("application startup complete"));
        return;
    }
    let (stderr, stdout) = child("a_programs_own_subscriber_is_kept", "1");
    assert!(stdout.contains("captured: true"), "{stdout}");
    assert!(!stderr.contains("application startup complete"), "{stderr}");
}
