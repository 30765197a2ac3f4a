//! Rolling restarts with nothing lost, through real proxies from Debian's packages: nginx and
//! haproxy, each load-balancing three `kairos serve` instances under `/api/` (the prefix
//! stripped; the instances run with `--root-path /api`), configured from `deploy/`'s
//! templates. Under steady load, each instance in turn gets SIGTERM and is started again on
//! its port; the client must see no failed request, and the requests in flight at each
//! SIGTERM complete.
//!
//! `bash scripts/test.sh` installs nginx and haproxy. `scripts/rolling_restart.sh` runs the
//! same test longer, in release, and prints the figures BENCHMARKS.md records; the knobs are
//! environment variables (`KAIROS_ROLLING_ROUNDS`, `KAIROS_ROLLING_STEADY_SECS`,
//! `KAIROS_ROLLING_CLIENTS`, `KAIROS_ROLLING_REPORT`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::Serve;

/// What each instance runs with: the prefix the proxies strip, and two seconds of serving on
/// after SIGTERM with /readyz failing (haproxy checks every 500 ms: it has stopped sending
/// new requests long before the socket closes).
const INSTANCE_ARGS: &[&str] = &["--root-path", "/api", "--shutdown-delay", "2"];

/// What the load asks for: long enough that requests are in flight at every SIGTERM.
const LOAD_PATH: &str = "/api/async?ms=50";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// A free loopback port, for a proxy's configuration (nginx and haproxy cannot report the
/// port they got for port 0). Another process could take it before the proxy binds it; on a
/// test machine, that is rare enough, and the proxy's failure to start would say so.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A proxy running from a `deploy/` template, in a temporary directory; killed on drop.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    name: &'static str,
}

impl Proxy {
    fn start(name: &'static str, upstreams: &[SocketAddr]) -> Proxy {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let template = if name == "nginx" { "nginx.conf" } else { "haproxy.cfg" };
        let template_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(template);
        let mut config = std::fs::read_to_string(&template_path).unwrap();
        config =
            config.replace("@LISTEN@", &addr.to_string()).replace("@TMP@", dir.to_str().unwrap());
        for (i, upstream) in upstreams.iter().enumerate() {
            config = config.replace(&format!("@UPSTREAM_{}@", i + 1), &upstream.to_string());
        }
        assert!(!config.contains('@'), "a placeholder of {template} is left unfilled");
        let config_path = dir.join(template);
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut command = if name == "nginx" {
            let mut command = Command::new(find_program("nginx"));
            command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&config_path)
                .arg("-e")
                .arg(dir.join("error.log"));
            command
        } else {
            let mut command = Command::new(find_program("haproxy"));
            command.arg("-db").arg("-f").arg(&config_path);
            command
        };
        let child = command.stdout(Stdio::null()).stderr(log).spawn().unwrap_or_else(|e| {
            panic!("cannot start {name} ({e}): install it with `apt-get install {name}` (scripts/test.sh does)")
        });
        let proxy = Proxy { child, addr, dir, name };
        let ready = support::eventually(|| matches!(request(addr, "/api/readyz"), Ok(200)));
        assert!(ready, "{name} did not pass /api/readyz on: {}", proxy.stderr());
        proxy
    }

    /// What the proxy logged (its stderr and error log), to explain a failure.
    fn stderr(&self) -> String {
        let mut out = format!("{}'s log:\n", self.name);
        out += &std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        out.push_str(&std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default());
        out
    }
}

impl Drop for Proxy {
    /// SIGTERM, so that nginx's master stops its worker processes (SIGKILL would leave them
    /// running, orphaned, on the port); SIGKILL only if the proxy is still there after 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on the PATH or in /usr/sbin (where Debian puts both, off a user's PATH).
fn find_program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// One GET on a connection of its own; the status, or what went wrong. The answer ends at
/// its `Content-Length` (how a client reads it; the connection's close may come later).
fn request(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // One write, without Nagle: a request head in pieces waits on the proxy's delayed ACK.
    stream.set_nodelay(true).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: kairos.test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
            });
            if length.is_some_and(|length: usize| body.len() >= length) {
                break;
            }
        }
    }
    let raw = String::from_utf8_lossy(&raw);
    let status = raw.split(' ').nth(1).and_then(|status| status.parse().ok());
    match status {
        Some(200) if raw.contains("\"slept_ms\"") || raw.contains("\"status\"") => Ok(200),
        Some(status) => Ok(status),
        None => Err(format!("no HTTP answer: {raw:?}")),
    }
}

/// One request of the load, as the client saw it.
struct Sample {
    started: Instant,
    latency: Duration,
    outcome: Result<u16, String>,
}

/// `p` (0..=1) of `latencies`, which must be sorted.
fn percentile(latencies: &[Duration], p: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1]
}

fn rolling_restart(proxy_name: &'static str) {
    let rounds = env_or("KAIROS_ROLLING_ROUNDS", 1);
    let steady = Duration::from_secs(env_or("KAIROS_ROLLING_STEADY_SECS", 2));
    let clients = env_or("KAIROS_ROLLING_CLIENTS", 8);

    let mut instances: Vec<Serve> = (0..3).map(|_| Serve::start(INSTANCE_ARGS)).collect();
    let upstreams: Vec<SocketAddr> = instances.iter().map(|serve| serve.addr).collect();
    let proxy = Proxy::start(proxy_name, &upstreams);

    // The steady load: `clients` threads, each sending one request after another.
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let load: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, samples, addr) = (Arc::clone(&stop), Arc::clone(&samples), proxy.addr);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let outcome = request(addr, LOAD_PATH);
                    let sample = Sample { started, latency: started.elapsed(), outcome };
                    samples.lock().unwrap().push(sample);
                }
            })
        })
        .collect();

    let began = Instant::now();
    std::thread::sleep(steady);
    // Each restart's window: from its SIGTERM to its instance serving through the proxy again.
    let mut windows = Vec::new();
    let mut sigterms = Vec::new();
    for _ in 0..rounds {
        for (slot, upstream) in upstreams.iter().enumerate() {
            let window_start = Instant::now();
            instances[slot].terminate();
            sigterms.push(Instant::now());
            let status = instances[slot].wait_exit(Duration::from_secs(60));
            assert!(
                status.is_some_and(|status| status.success()),
                "instance {slot} did not exit cleanly after SIGTERM ({status:?}): {}",
                instances[slot].log()
            );
            instances[slot] = Serve::start_on(&upstream.to_string(), INSTANCE_ARGS);
            // Ready on its own, then long enough for the proxy to take it back (haproxy: two
            // good checks 500 ms apart; nginx: its 2 s fail_timeout).
            assert!(support::eventually(|| matches!(request(*upstream, "/readyz"), Ok(200))));
            std::thread::sleep(Duration::from_millis(2500));
            windows.push((window_start, Instant::now()));
        }
    }
    std::thread::sleep(steady);
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    let total = began.elapsed();

    let samples = samples.lock().unwrap();
    let failures: Vec<String> = samples
        .iter()
        .filter_map(|sample| match &sample.outcome {
            Ok(200) => None,
            Ok(status) => Some(format!("status {status}")),
            Err(error) => Some(error.clone()),
        })
        .collect();
    // The requests in flight at each SIGTERM: they started before it and ended after.
    let in_flight_at_sigterm = sigterms
        .iter()
        .map(|&at| samples.iter().filter(|s| s.started < at && s.started + s.latency > at).count())
        .sum::<usize>();
    let during = |sample: &Sample| {
        windows.iter().any(|&(from, to)| sample.started >= from && sample.started < to)
    };
    let mut steady_latencies: Vec<Duration> =
        samples.iter().filter(|s| !during(s)).map(|s| s.latency).collect();
    let mut restart_latencies: Vec<Duration> =
        samples.iter().filter(|s| during(s)).map(|s| s.latency).collect();
    steady_latencies.sort();
    restart_latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let report = format!(
        "{{\"proxy\":\"{proxy_name}\",\"restarts\":{},\"clients\":{clients},\"seconds\":{:.1},\
         \"requests\":{},\"failed\":{},\"in_flight_at_sigterm\":{in_flight_at_sigterm},\
         \"steady_p50_ms\":{:.1},\"steady_p99_ms\":{:.1},\"restart_p50_ms\":{:.1},\
         \"restart_p99_ms\":{:.1},\"restart_max_ms\":{:.1}}}",
        sigterms.len(),
        total.as_secs_f64(),
        samples.len(),
        failures.len(),
        ms(percentile(&steady_latencies, 0.5)),
        ms(percentile(&steady_latencies, 0.99)),
        ms(percentile(&restart_latencies, 0.5)),
        ms(percentile(&restart_latencies, 0.99)),
        ms(restart_latencies.last().copied().unwrap_or_default()),
    );
    println!("{report}");
    if let Ok(path) = std::env::var("KAIROS_ROLLING_REPORT") {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(file, "{report}").unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests through {proxy_name} failed during the rolling restart: {:?}\n{}",
        failures.len(),
        samples.len(),
        &failures[..failures.len().min(10)],
        proxy.stderr()
    );
    assert!(
        in_flight_at_sigterm > 0,
        "no request was in flight at a SIGTERM: the load is too light"
    );
    assert!(samples.len() > 100, "only {} requests: the load did not run", samples.len());
}

#[test]
fn a_rolling_restart_behind_nginx_loses_no_request() {
    rolling_restart("nginx");
}

#[test]
fn a_rolling_restart_behind_haproxy_loses_no_request() {
    rolling_restart("haproxy");
}
