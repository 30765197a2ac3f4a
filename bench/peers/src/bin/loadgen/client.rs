//! A minimal HTTP/1.1 client over raw tokio TCP: one GET, a status line and headers, and a body
//! framed by Content-Length, chunked transfer-encoding or connection close.
//!
//! Raw TCP rather than hyper's client so that every phase (connect, head, each body chunk) is
//! visible to the scenarios: the stream scenario times the first SSE event inside a chunk, and a
//! probe's latency starts at `connect`, not when a pool hands out a connection.
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// An `http://host:port/path?query` URL, resolved once up front so that timed connects never
/// wait on a name lookup.
#[derive(Clone, Debug)]
pub struct Url {
    /// What the user typed.
    pub text: String,
    /// `host[:port]` as sent in the `Host` header.
    authority: String,
    /// Path and query, as sent in the request line.
    target: String,
    /// Where to connect.
    pub addr: SocketAddr,
}

impl Url {
    /// Parses and resolves `text`; only plain `http://` is supported.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("{text}: only http:// URLs are supported"))?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{text}: the URL has no host"));
        }
        let target =
            if target.starts_with('?') { format!("/{target}") } else { target.to_string() };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| format!("{text}: bad port {port:?}"))?;
                (host.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (authority.trim_start_matches('[').trim_end_matches(']'), 80),
        };
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("{text}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{text}: {host} has no address"))?;
        Ok(Url { text: text.to_string(), authority: authority.to_string(), target, addr })
    }

    /// The value of `key` in the query string, if present.
    pub fn query(&self, key: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if pair == key => Some(""),
            _ => None,
        })
    }
}

/// Why an exchange failed; the message says which phase and what happened.
#[derive(Debug)]
pub enum Error {
    /// A phase did not finish within the timeout.
    Timeout(&'static str),
    /// The socket failed during a phase.
    Io(&'static str, io::Error),
    /// The server closed the connection before the phase was done.
    Closed(&'static str),
    /// The server sent something that is not HTTP/1.x.
    Protocol(String),
    /// The server answered, but not with 2xx.
    Status(u16, String),
    /// The response was fine, but the scenario expected more of it.
    Short(String),
}

impl Error {
    /// Whether this is a timeout (counted apart from other errors by `probe`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout(phase) => write!(f, "timed out during {phase}"),
            Error::Io(phase, e) => write!(f, "{phase} failed: {e}"),
            Error::Closed(phase) => write!(f, "server closed the connection during {phase}"),
            Error::Protocol(what) => write!(f, "bad response: {what}"),
            Error::Status(status, body) => write!(f, "status {status}: {body}"),
            Error::Short(what) => f.write_str(what),
        }
    }
}

/// Runs one phase of an exchange under `limit`, naming the phase in any error.
async fn phase<T>(
    limit: Duration,
    name: &'static str,
    work: impl Future<Output = io::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, work).await {
        Err(_) => Err(Error::Timeout(name)),
        Ok(Err(e)) => Err(Error::Io(name, e)),
        Ok(Ok(value)) => Ok(value),
    }
}

/// How a response body ends.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// No body (204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer-encoding, ended by a zero-size chunk.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A response's status line and the headers that matter here.
#[derive(Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    framing: Framing,
    /// Whether the server will close the connection after this response.
    close: bool,
}

impl Head {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One client connection; every phase on it is bounded by `limit`.
pub struct Conn {
    io: BufReader<TcpStream>,
    limit: Duration,
    /// Whether another request may be sent on this connection.
    pub reusable: bool,
}

impl Conn {
    /// Opens a new TCP connection to `addr`.
    pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<Conn, Error> {
        let stream = phase(limit, "connect", TcpStream::connect(addr)).await?;
        // Requests are one small write each; Nagle would only add delay to the timings.
        let _ = stream.set_nodelay(true);
        Ok(Conn { io: BufReader::with_capacity(16 * 1024, stream), limit, reusable: true })
    }

    /// Sends `GET url`; `close` asks the server to close the connection after answering.
    pub async fn send_get(&mut self, url: &Url, close: bool) -> Result<(), Error> {
        let connection = if close { "close" } else { "keep-alive" };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kairos-loadgen\r\nAccept: */*\r\n\
             Connection: {connection}\r\n\r\n",
            url.target, url.authority
        );
        phase(self.limit, "send", self.io.get_mut().write_all(request.as_bytes())).await?;
        if close {
            self.reusable = false;
        }
        Ok(())
    }

    /// Reads one line (with its line ending) into `line`; errors at end of stream.
    async fn read_line(&mut self, name: &'static str, line: &mut Vec<u8>) -> Result<(), Error> {
        line.clear();
        let n = phase(self.limit, name, self.io.read_until(b'\n', line)).await?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(Error::Closed(name));
        }
        Ok(())
    }

    /// Reads the response head, skipping any 1xx interim responses.
    pub async fn read_head(&mut self) -> Result<Head, Error> {
        loop {
            let head = self.read_one_head().await?;
            if !(100..200).contains(&head.status) || head.status == 101 {
                if head.close {
                    self.reusable = false;
                }
                return Ok(head);
            }
        }
    }

    async fn read_one_head(&mut self) -> Result<Head, Error> {
        let mut line = Vec::with_capacity(128);
        self.read_line("response head", &mut line).await?;
        let status_line = String::from_utf8_lossy(&line).trim_end().to_string();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(Error::Protocol(format!("status line {status_line:?}")));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| Error::Protocol(format!("status line {status_line:?}")))?;
        let mut close = version == "HTTP/1.0";
        let mut length = None;
        let mut chunked = false;
        let mut total = line.len();
        loop {
            self.read_line("response head", &mut line).await?;
            total += line.len();
            if total > MAX_HEAD {
                return Err(Error::Protocol(format!("head longer than {MAX_HEAD} bytes")));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if text.is_empty() {
                break;
            }
            let Some((name, value)) = text.split_once(':') else {
                return Err(Error::Protocol(format!("header line {text:?}")));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| Error::Protocol(format!("content-length {value:?}")))?;
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        close = false;
                    }
                }
            }
        }
        let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
            Framing::Empty
        } else if chunked {
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            close = true;
            Framing::UntilClose
        };
        Ok(Head { status, framing, close })
    }

    /// Reads the body of a non-2xx response (its first 4 KiB kept) and turns it into an error.
    pub async fn status_error(&mut self, head: &Head) -> Error {
        let mut body = Vec::new();
        let read = self
            .read_body(head, |bytes| {
                let room = 4096usize.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            })
            .await;
        match read {
            Ok(_) => {
                Error::Status(head.status, Response { status: head.status, body }.snippet(120))
            }
            Err(e) => e,
        }
    }

    /// Passes up to `n` bytes of body to `sink` as they arrive; returns how many it passed.
    async fn pass(&mut self, n: u64, sink: &mut impl FnMut(&[u8])) -> Result<u64, Error> {
        let mut left = n;
        while left > 0 {
            let buf = phase(self.limit, "response body", self.io.fill_buf()).await?;
            if buf.is_empty() {
                return Err(Error::Closed("response body"));
            }
            let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&buf[..take]);
            self.io.consume(take);
            left -= take as u64;
        }
        Ok(n)
    }

    /// Reads the body that `head` announced, passing its bytes to `sink` as they arrive (chunk
    /// framing removed); returns the body's length.
    pub async fn read_body(
        &mut self,
        head: &Head,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<u64, Error> {
        match head.framing {
            Framing::Empty => Ok(0),
            Framing::Length(n) => self.pass(n, &mut sink).await,
            Framing::UntilClose => {
                self.reusable = false;
                let mut total = 0;
                loop {
                    let buf = phase(self.limit, "response body", self.io.fill_buf()).await?;
                    if buf.is_empty() {
                        return Ok(total);
                    }
                    let take = buf.len();
                    sink(buf);
                    self.io.consume(take);
                    total += take as u64;
                }
            }
            Framing::Chunked => {
                let mut line = Vec::with_capacity(32);
                let mut total = 0;
                loop {
                    self.read_line("chunk size", &mut line).await?;
                    let text = String::from_utf8_lossy(&line);
                    let size = text.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| Error::Protocol(format!("chunk size {size:?}")))?;
                    if size == 0 {
                        // Trailers, if any, then the final empty line.
                        loop {
                            self.read_line("chunk trailer", &mut line).await?;
                            if line == b"\r\n" || line == b"\n" {
                                return Ok(total);
                            }
                        }
                    }
                    total += self.pass(size, &mut sink).await?;
                    self.read_line("chunk end", &mut line).await?;
                    if line != b"\r\n" && line != b"\n" {
                        return Err(Error::Protocol("chunk not followed by CRLF".into()));
                    }
                }
            }
        }
    }
}

/// A finished exchange: status and body.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, cut to `max` characters for error messages.
    pub fn snippet(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(max) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_string(),
        }
    }

    /// `Ok(self)` for 2xx, otherwise an [`Error::Status`].
    pub fn check(self) -> Result<Response, Error> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(Error::Status(self.status, self.snippet(120)))
        }
    }
}

/// Sends `GET url` on `conn` and reads the whole response.
pub async fn get_on(conn: &mut Conn, url: &Url, close: bool) -> Result<Response, Error> {
    conn.send_get(url, close).await?;
    let head = conn.read_head().await?;
    let mut body = Vec::new();
    conn.read_body(&head, |bytes| body.extend_from_slice(bytes)).await?;
    Ok(Response { status: head.status, body })
}

/// `GET url` on a new connection that the server is asked to close, the whole exchange bounded
/// by `limit` as well as each phase.
pub async fn get_fresh(url: &Url, limit: Duration) -> Result<Response, Error> {
    let exchange = async {
        let mut conn = Conn::connect(url.addr, limit).await?;
        get_on(&mut conn, url, true).await
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout("the exchange")),
    }
}
