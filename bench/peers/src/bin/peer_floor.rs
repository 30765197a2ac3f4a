//! The bare-socket floor: the cheapest correct HTTP/1.1 server for `/plaintext` and `/json`,
//! the least CPU per request any server in the benchmark could spend.
//!
//! One thread per core (`taskset` respected), each with its own `SO_REUSEPORT` listener and a
//! mio `Poll` (epoll, edge-triggered). Per connection: read, find every complete request head
//! (`\r\n\r\n`) in what was read, append a canned response for each to one output buffer, and
//! write that buffer with ONE `write` — so 16 pipelined requests cost one read and one write.
//! A partial head waits for the next read; a partial write keeps the rest and waits for
//! WRITABLE, reading nothing more until it is out (backpressure).
//!
//! The responses carry hyper's header set — `content-type`, `content-length`, `date` (refreshed
//! once a second) — so the bytes on the wire are those of the other servers. Only `GET`
//! without a body is understood; anything else it cannot serve is a `400` and the connection
//! is closed. Unknown paths get kairos' `404 {"detail":"Not Found"}`. There are no timeouts:
//! this is a floor to measure against, not a server to expose.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kairos_bench_peers::{cores, port, reuseport_listeners, JSON, PLAINTEXT, TEXT};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The listener's token; a connection's is its slot + 1.
const LISTENER: Token = Token(0);

/// The most bytes of one request head (kairos' and uvicorn's header limit).
const MAX_HEAD: usize = 16 * 1024;

/// `/json`'s body, as kairos and the peers serialize it.
const JSON_BODY: &str = r#"{"message":"Hello, World!"}"#;

/// kairos' answer to an unknown path.
const NOT_FOUND_BODY: &str = r#"{"detail":"Not Found"}"#;

/// The canned responses of this second, `date` included.
struct Canned {
    plaintext: Vec<u8>,
    json: Vec<u8>,
    not_found: Vec<u8>,
    date: String,
    next_refresh: Instant,
}

/// One response: the status line and the header set hyper sends, then the body.
fn response(status: &str, content_type: &str, body: &str, date: &str, close: bool) -> Vec<u8> {
    let connection = if close { "connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{connection}\
         date: {date}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Canned {
    fn new() -> Canned {
        let mut canned = Canned {
            plaintext: Vec::new(),
            json: Vec::new(),
            not_found: Vec::new(),
            date: String::new(),
            next_refresh: Instant::now(),
        };
        canned.refresh();
        canned
    }

    /// Rebuilds the responses if the second has turned (checked once per poll wake-up).
    fn refresh(&mut self) {
        let now = Instant::now();
        if now < self.next_refresh {
            return;
        }
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.date = http_date(since_epoch.as_secs());
        self.plaintext = response("200 OK", TEXT, PLAINTEXT, &self.date, false);
        self.json = response("200 OK", JSON, JSON_BODY, &self.date, false);
        self.not_found = response("404 Not Found", JSON, NOT_FOUND_BODY, &self.date, false);
        // The next whole second of the wall clock, so the header changes when the time does.
        let into_second = Duration::from_nanos(u64::from(since_epoch.subsec_nanos()));
        self.next_refresh = now + (Duration::from_secs(1) - into_second);
    }

    /// Appends the answer to `route` (`close`: the last on this connection, say so).
    fn append(&self, out: &mut Vec<u8>, route: Route, close: bool) {
        let (canned, status, content_type, body) = match route {
            Route::Plaintext => (&self.plaintext, "200 OK", TEXT, PLAINTEXT),
            Route::Json => (&self.json, "200 OK", JSON, JSON_BODY),
            Route::NotFound => (&self.not_found, "404 Not Found", JSON, NOT_FOUND_BODY),
            Route::BadRequest => {
                let head = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\
                     date: {}\r\n\r\n",
                    self.date
                );
                out.extend_from_slice(head.as_bytes());
                return;
            }
        };
        if close {
            out.extend_from_slice(&response(status, content_type, body, &self.date, true));
        } else {
            out.extend_from_slice(canned);
        }
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for seconds since the Unix epoch.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Plaintext,
    Json,
    NotFound,
    BadRequest,
}

/// Reads one request head (without its final blank line): the route, and whether the
/// connection ends after it (`Connection: close`, or HTTP/1.0 without `keep-alive`).
fn parse_head(head: &[u8]) -> (Route, bool) {
    let Ok(head) = std::str::from_utf8(head) else { return (Route::BadRequest, true) };
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (Some("GET"), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (Route::BadRequest, true);
    };
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return (Route::BadRequest, true),
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return (Route::BadRequest, true) };
        if name.is_empty() || name.ends_with([' ', '\t']) || line.starts_with([' ', '\t']) {
            return (Route::BadRequest, true); // obsolete line folding, or a space before ':'
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    close = true;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            return (Route::BadRequest, true); // a body: not for the floor
        }
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let route = match path {
        "/plaintext" => Route::Plaintext,
        "/json" => Route::Json,
        _ => Route::NotFound,
    };
    (route, close)
}

/// The index of the first `\r\n\r\n` in `data` at or after `from`.
fn head_end(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?.windows(4).position(|w| w == b"\r\n\r\n").map(|at| from + at)
}

/// Answers every complete head in `data`: returns the bytes consumed (the rest is a partial
/// head) and whether the connection must close once `out` is written.
fn answer_all(data: &[u8], out: &mut Vec<u8>, canned: &Canned) -> (usize, bool) {
    let mut start = 0;
    while let Some(end) = head_end(data, start) {
        let (route, close) = parse_head(&data[start..end]);
        canned.append(out, route, close);
        start = end + 4;
        if close {
            return (start, true);
        }
    }
    if data.len() - start > MAX_HEAD {
        canned.append(out, Route::BadRequest, true);
        return (data.len(), true);
    }
    (start, false)
}

/// One connection.
struct Conn {
    stream: TcpStream,
    /// A request head begun but not finished.
    partial: Vec<u8>,
    /// Response bytes a write did not take.
    pending: Vec<u8>,
    /// Close once `pending` is written.
    closing: bool,
}

/// What became of a connection after some I/O.
enum Next {
    Open,
    Close,
}

/// Writes `data` until done or the socket is full; the bytes written.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

impl Conn {
    /// Runs the connection as far as it goes without blocking: the pending output first, then
    /// read → answer → one write, until the socket has nothing more to read.
    fn drive(
        &mut self,
        writable: bool,
        scratch: &mut [u8],
        out: &mut Vec<u8>,
        canned: &Canned,
    ) -> io::Result<Next> {
        if !self.pending.is_empty() {
            if !writable {
                // The last write found the socket full, so a WRITABLE edge is on its way.
                return Ok(Next::Open);
            }
            let written = write_some(&mut self.stream, &self.pending)?;
            self.pending.drain(..written);
            if !self.pending.is_empty() {
                return Ok(Next::Open); // WRITABLE will come back here
            }
        }
        if self.closing {
            return Ok(Next::Close);
        }
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => return Ok(Next::Close),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Next::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.clear();
            let close = if self.partial.is_empty() {
                let (used, close) = answer_all(&scratch[..n], out, canned);
                self.partial.extend_from_slice(&scratch[used..n]);
                close
            } else {
                // Only the new bytes (and the 3 before them) can complete the head.
                let from = self.partial.len().saturating_sub(3);
                self.partial.extend_from_slice(&scratch[..n]);
                match head_end(&self.partial, from) {
                    None if self.partial.len() <= MAX_HEAD => continue,
                    _ => {
                        let (used, close) = answer_all(&self.partial, out, canned);
                        self.partial.drain(..used);
                        close
                    }
                }
            };
            let written = write_some(&mut self.stream, out)?;
            if close {
                self.closing = true;
                self.partial.clear();
            }
            if written < out.len() {
                self.pending.extend_from_slice(&out[written..]);
                return Ok(Next::Open);
            }
            if close {
                return Ok(Next::Close);
            }
        }
    }
}

/// One thread's server: its listener, its poll, its connections.
struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    scratch: Vec<u8>,
    out: Vec<u8>,
    canned: Canned,
}

impl Server {
    /// Accepts until the backlog is empty. An error other than WouldBlock (out of
    /// descriptors) is returned so that the loop retries after its next wake-up.
    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let _ = stream.set_nodelay(true);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            // Both interests once, edge-triggered: no re-registration per partial write.
            let registered = self.poll.registry().register(
                &mut stream,
                Token(slot + 1),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_err() {
                self.free.push(slot);
                continue;
            }
            let conn = Conn { stream, partial: Vec::new(), pending: Vec::new(), closing: false };
            self.conns[slot] = Some(conn);
        }
    }

    fn ready(&mut self, slot: usize, writable: bool) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let next = conn.drive(writable, &mut self.scratch, &mut self.out, &self.canned);
        if !matches!(next, Ok(Next::Open)) {
            if let Some(mut conn) = self.conns[slot].take() {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
            self.free.push(slot);
        }
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut accept_failed = false;
        loop {
            // The timeout only matters when idle (the date, a failed accept to retry).
            match self.poll.poll(&mut events, Some(Duration::from_secs(1))) {
                Ok(()) => {}
                // A signal (a profiler or debugger attaching): not an error, wait again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.canned.refresh();
            if accept_failed {
                accept_failed = self.accept().is_err();
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept_failed = self.accept().is_err(),
                    Token(token) => {
                        // An error or hang-up counts: the write then fails and the conn closes.
                        let writable =
                            event.is_writable() || event.is_write_closed() || event.is_error();
                        self.ready(token - 1, writable)
                    }
                }
            }
        }
    }
}

fn main() {
    let port = port();
    let listeners = reuseport_listeners(port, cores())
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            std::thread::Builder::new()
                .name(format!("peer-floor-{index}"))
                .spawn(move || {
                    let poll = Poll::new().expect("cannot create an epoll instance");
                    let mut listener = TcpListener::from_std(listener);
                    poll.registry()
                        .register(&mut listener, LISTENER, Interest::READABLE)
                        .expect("cannot register the listener");
                    let mut server = Server {
                        poll,
                        listener,
                        conns: Vec::new(),
                        free: Vec::new(),
                        scratch: vec![0; 64 * 1024],
                        out: Vec::with_capacity(64 * 1024),
                        canned: Canned::new(),
                    };
                    server.run().expect("the poll failed");
                })
                .expect("cannot start a worker thread")
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn heads_are_routed_and_bodies_refused() {
        let cases: &[(&str, (Route, bool))] = &[
            ("GET /plaintext HTTP/1.1\r\nHost: x", (Route::Plaintext, false)),
            ("GET /json?x=1 HTTP/1.1", (Route::Json, false)),
            ("GET /nope HTTP/1.1\r\nConnection: close", (Route::NotFound, true)),
            ("GET /json HTTP/1.0", (Route::Json, true)),
            ("GET /json HTTP/1.0\r\nConnection: Keep-Alive", (Route::Json, false)),
            ("POST /json HTTP/1.1", (Route::BadRequest, true)),
            ("GET /json HTTP/1.1\r\nContent-Length: 5", (Route::BadRequest, true)),
            ("GET /json HTTP/1.1\r\nbroken", (Route::BadRequest, true)),
            ("GET  /json HTTP/1.1", (Route::BadRequest, true)),
        ];
        for (head, expected) in cases {
            assert_eq!(parse_head(head.as_bytes()), *expected, "{head}");
        }
    }

    #[test]
    fn pipelined_heads_are_answered_and_a_partial_one_kept() {
        let canned = Canned::new();
        let mut out = Vec::new();
        let data = b"GET /plaintext HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\nGET /pl";
        let (used, close) = answer_all(data, &mut out, &canned);
        assert_eq!((&data[used..], close), (&b"GET /pl"[..], false));
        assert_eq!(out.len(), canned.plaintext.len() + canned.json.len());
    }
}
