//! A deliberately plain HTTP client: std sockets and HTTP/1.0, so the body is everything until
//! the server closes. The tour measures the server, so its client must add nothing of its own
//! (no pool, no loop): each request is one connection on one OS thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

/// No experiment legitimately takes this long; past it the server is hung, not slow.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The server under test.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
}

/// One answer: status, body and how long the whole exchange took.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) elapsed: Duration,
}

impl Target {
    /// Connects and sends `GET path`, returning the open stream for the caller to read.
    pub(crate) fn send(&self, path: &str) -> anyhow::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.addr).context("connect to the tour's server")?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        Ok(stream)
    }

    /// `GET path`, read to the end.
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut stream = self.send(path)?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).with_context(|| format!("read GET {path}"))?;
        let elapsed = started.elapsed();
        let (head, body) = raw.split_once("\r\n\r\n").context("an incomplete HTTP answer")?;
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status")?;
        Ok(Answer { status, body: body.to_owned(), elapsed })
    }

    /// `POST path` with `body` of `content_type`, read to the end.
    pub(crate) fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut stream = TcpStream::connect(self.addr).context("connect to the tour's server")?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        write!(
            stream,
            "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).with_context(|| format!("read POST {path}"))?;
        let elapsed = started.elapsed();
        let (head, body) = raw.split_once("\r\n\r\n").context("an incomplete HTTP answer")?;
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status")?;
        Ok(Answer { status, body: body.to_owned(), elapsed })
    }

    /// `GET path`, which must answer 200 with JSON.
    pub(crate) fn json(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self.get(path)?;
        if answer.status != 200 {
            bail!("GET {path}: {} {}", answer.status, answer.body);
        }
        serde_json::from_str(&answer.body).with_context(|| format!("GET {path}: not JSON"))
    }

    /// `n` copies of `GET path` released at once (a barrier), each on its own thread; returns
    /// the wall time until the last one answered. Every answer must be a 200.
    pub(crate) fn concurrent(&self, path: &str, n: usize) -> anyhow::Result<Duration> {
        let barrier = Arc::new(Barrier::new(n + 1));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (target, barrier, path) = (*self, Arc::clone(&barrier), path.to_owned());
                std::thread::spawn(move || {
                    barrier.wait();
                    target.get(&path)
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        for handle in handles {
            let answer =
                handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
            if answer.status != 200 {
                bail!("GET {path}: {} {}", answer.status, answer.body);
            }
        }
        Ok(started.elapsed())
    }

    /// The loop's stall count from `/debug/loop`.
    pub(crate) fn slow_polls(&self) -> anyhow::Result<u64> {
        self.json("/debug/loop")?["slow_polls"].as_u64().context("slow_polls in /debug/loop")
    }
}
