//! The `kairos serve` binary, started by a test on a loopback port of its own, with a database
//! of its own in the target's temporary directory.
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The running binary; killed when the test ends, pass or fail.
pub(crate) struct Serve {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// Where its stderr (the log) goes.
    log: std::path::PathBuf,
    /// Kept open: the server may write to it until it is killed.
    _stdout: BufReader<ChildStdout>,
    /// The bearer token [`send`](Serve::send) carries, once [`sign_in`](Serve::sign_in) got one.
    token: Option<String>,
}

impl Serve {
    /// Starts `kairos serve` on port 0 and reads the address it got from its first line:
    /// the kernel picks the port at the bind itself, so two tests never race for one.
    pub(crate) fn start(extra: &[&str]) -> Serve {
        Serve::start_on("127.0.0.1:0", extra)
    }

    /// [`start`](Serve::start) on `bind`: a port of its own (an instance started again on
    /// the port it had, behind a proxy whose configuration names it).
    pub(crate) fn start_on(bind: &str, extra: &[&str]) -> Serve {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = tmp.join(format!("serve-{}-{n}.log", std::process::id()));
        // Quiet unless the test asks for a level.
        let quiet: &[&str] =
            if extra.contains(&"--log-level") { &[] } else { &["--log-level", "error"] };
        // A database of its own, unless the test gives one: none in the working directory.
        let database = tmp.join(format!("serve-{}-{n}.db", std::process::id()));
        let database = format!("sqlite://{}?mode=rwc", database.display());
        let own_database: &[&str] =
            if extra.contains(&"--database-url") { &[] } else { &["--database-url", &database] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--bind", bind])
            .args(quiet)
            .args(own_database)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file in the target's tmp dir"))
            .spawn()
            .expect("the kairos binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        let mut line = String::new();
        // Until the line arrives, or the server exits (an empty read) having failed to start.
        stdout.read_line(&mut line).expect("kairos serve's stdout");
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim_end().strip_prefix("listening on https://"))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("kairos serve printed {line:?}, not its address"));
        Serve { child, addr, log, _stdout: stdout, token: None }
    }

    /// What the server has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET over HTTP/1.0, so the body is everything until the server closes: no chunking to
    /// undo. Returns the status, the body and how long the whole answer took.
    pub(crate) fn get(&self, path: &str) -> (u16, String, Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let elapsed = started.elapsed();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned(), elapsed)
    }

    pub(crate) fn json(&self, path: &str) -> (Value, Duration) {
        let (status, body, elapsed) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        (serde_json::from_str(&body).unwrap(), elapsed)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Whether the server still runs (it exits at once when its startup fails).
impl Serve {
    pub(crate) fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Serve {
    /// A request with a JSON body (or none), over HTTP/1.0: the status and the body.
    pub(crate) fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let authorization =
            self.token.as_ref().map(|token| format!("Authorization: Bearer {token}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             {}Content-Length: {}\r\n\r\n{body}",
            authorization.unwrap_or_default(),
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
        (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
    }
}

impl Serve {
    /// Any request over HTTP/1.0, with these header lines and this body: the status, the
    /// response's head (its header lines) and its body.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
        (head.split(' ').nth(1).unwrap().parse().unwrap(), head.to_owned(), body.to_owned())
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Raises the server's limit of open files to `files` (the kernel's default soft limit,
    /// 1024, is fewer than a thousand sockets and the server's own), within the hard limit.
    pub(crate) fn raise_fd_limit(&self, files: u64) {
        let status = Command::new("prlimit")
            .arg(format!("--pid={}", self.pid()))
            .arg(format!("--nofile={files}:"))
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(status.success(), "prlimit could not raise the server's open-files limit");
    }

    /// Starts the server's graceful shutdown, as Ctrl-C or a service manager would: SIGTERM.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits up to `limit` for the server to exit; its status, or `None` if it still runs.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exit_status()
    }
}

/// The pinned validator of OpenAPI documents, from PyPI, in a virtual environment under
/// `target/` made on first use: a check of the document by a tool nobody here wrote.
const OPENAPI_SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The Python of a virtual environment with [`OPENAPI_SPEC_VALIDATOR`], once per process,
/// whatever the number of tests asking.
fn validator_python() -> &'static std::path::Path {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| python_with(OPENAPI_SPEC_VALIDATOR))
}

/// The Python of a virtual environment under the target's temporary directory that holds
/// `requirement`, a pinned `name==version` from PyPI: made with `python3 -m venv` and pip
/// (which needs PyPI once) unless it is there already with that version. Callers keep the
/// path in a `OnceLock`, so one process makes it at most once.
pub(crate) fn python_with(requirement: &str) -> std::path::PathBuf {
    let (name, version) =
        requirement.split_once("==").expect("a pinned requirement, such as name==1.2.3");
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-venv"));
    let python = venv.join("bin").join("python");
    let check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version({name:?}) != {version:?})"
    );
    let installed =
        Command::new(&python).args(["-c", &check]).output().is_ok_and(|out| out.status.success());
    if !installed {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "python3 -m venv {venv:?} failed (Debian: apt-get install python3-venv; \
             scripts/test.sh does)"
        );
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .arg(requirement)
            .status();
        assert!(pip.is_ok_and(|s| s.success()), "pip install {requirement} failed");
    }
    python
}

/// Fails the test unless [`OPENAPI_SPEC_VALIDATOR`] says the OpenAPI document `body` is
/// valid, with what it said.
pub(crate) fn validate_openapi(body: &str) {
    static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("openapi-{}-{n}.json", std::process::id()));
    std::fs::write(&file, body).unwrap();
    let out = Command::new(validator_python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("the validator runs");
    let _ = std::fs::remove_file(&file);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains(": OK"), "openapi-spec-validator: {said}");
}

impl Serve {
    /// Registers `username` (if it is not yet) and logs in with `scope`: from now on
    /// [`send`](Serve::send) carries its bearer token. Returns the token.
    pub(crate) fn sign_in(&mut self, username: &str, scope: &str) -> String {
        let password = "a password for the tests";
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        let (status, _, answer) =
            self.request("POST", "/users", &[("content-type", "application/json")], &body);
        assert!(status == 201 || status == 409, "POST /users: {status} {answer}");
        let form = format!("username={username}&password={password}&scope={scope}");
        let form_type = ("content-type", "application/x-www-form-urlencoded");
        let (status, _, answer) = self.request("POST", "/token", &[form_type], &form);
        assert_eq!(status, 200, "POST /token: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        self.token = Some(token.clone());
        token
    }
}

/// Whether `check` holds within 10 s, asked every 50 ms: for what a server does a little
/// after it is asked (a log line written, a shutdown begun), without a tight wall-clock bound.
pub(crate) fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
