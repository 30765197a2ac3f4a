//! [`TestClient`]: drive an [`App`] over a real loopback socket, from ordinary `#[test]`s.
//!
//! The client starts the App on a [`kairos_http::Server`] (one worker, `127.0.0.1:0`, its own
//! thread and loop) and speaks HTTP/1.1 to it with blocking std sockets, one connection per
//! request (`Connection: close`). So a test sees what a real client sees — status, headers,
//! chunked streams, the server's limits — and needs no event loop of its own. Dropping the
//! client shuts the server down.
//!
//! The calls panic on I/O errors (with what happened), as test helpers do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use kairos_http::{RunningServer, ServerConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::App;

/// How long a read may wait before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for tests, talking to an [`App`] served on a loopback port.
///
/// ```
/// use kairos_web::{App, TestClient};
///
/// let client = TestClient::new(App::new().get("/", || async { "hi" }));
/// let response = client.get("/").send();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.text(), "hi");
/// assert_eq!(client.get("/nope").send().status(), 404);
/// ```
pub struct TestClient {
    server: RunningServer,
}

impl TestClient {
    /// Serves `app` on `127.0.0.1:0` with one worker and the default limits.
    ///
    /// # Panics
    ///
    /// If the server cannot start (no loopback port could be bound).
    pub fn new(app: App) -> TestClient {
        TestClient::with_config(app, ServerConfig::default())
    }

    /// Serves `app` with `config` (say a smaller `max_body_size`); the address is always
    /// `127.0.0.1:0`, the access log off, and the graceful-shutdown timeout at most 1 s.
    ///
    /// # Panics
    ///
    /// If the server cannot start.
    pub fn with_config(app: App, config: ServerConfig) -> TestClient {
        let config = ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_log: false,
            graceful_shutdown_timeout: config.graceful_shutdown_timeout.min(Duration::from_secs(1)),
            ..config
        };
        // `start`, not `serve`: no stderr log in tests unless the test installs one.
        let server = app
            .start(config)
            .unwrap_or_else(|e| panic!("TestClient: cannot start the server: {e}"));
        TestClient { server }
    }

    /// The server's address, for tests that speak raw bytes.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A request with this method to `path` (with its query: `/items?limit=5`).
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            addr: self.addr(),
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> TestRequest {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request(Method::DELETE, path)
    }
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient").field("addr", &self.addr()).finish()
    }
}

/// A request being built; [`send`](TestRequest::send) it, or [`stream`](TestRequest::stream)
/// its response.
#[derive(Debug)]
pub struct TestRequest {
    addr: SocketAddr,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> TestRequest {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    ///
    /// # Panics
    ///
    /// If `value` cannot be serialized.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> TestRequest {
        let body = serde_json::to_vec(value).expect("TestRequest::json: the value must serialize");
        self.header("content-type", "application/json").body(body)
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> TestResponse {
        let head_only = self.method == Method::HEAD;
        let mut stream = self.stream();
        let mut body = Vec::new();
        if !head_only {
            while let Some(chunk) = stream.next_chunk() {
                body.extend_from_slice(&chunk);
            }
        }
        TestResponse { status: stream.status, headers: stream.headers, body: body.into() }
    }

    /// Sends the request and returns once the response head has arrived; the body is read
    /// chunk by chunk ([`TestStream::next_chunk`]) or event by event
    /// ([`TestStream::next_event`]). Dropping the [`TestStream`] closes the connection, as a
    /// client going away does.
    pub fn stream(self) -> TestStream {
        let socket = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("TestClient: cannot connect to {}: {e}", self.addr));
        socket.set_read_timeout(Some(READ_TIMEOUT)).expect("set_read_timeout");
        let mut request = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty()
            || matches!(self.method, Method::POST | Method::PUT | Method::PATCH)
        {
            request.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        request.push_str("\r\n");
        let mut writer = &socket;
        writer
            .write_all(request.as_bytes())
            .and_then(|()| writer.write_all(&self.body))
            .unwrap_or_else(|e| {
                panic!("TestClient: sending {} {} failed: {e}", self.method, self.path)
            });
        let mut reader = BufReader::new(socket);
        let (status, headers) = read_head(&mut reader);
        let framing = if self.method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            Framing::Length(0)
        } else if headers
            .get(http::header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"))
        {
            Framing::Chunked
        } else if let Some(length) = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        {
            Framing::Length(length)
        } else {
            Framing::UntilClose
        };
        TestStream { status, headers, reader, framing, pending: Vec::new() }
    }
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => panic!("TestClient: reading the response failed: {e}"),
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> (StatusCode, HeaderMap) {
    let status_line =
        read_line(reader).expect("TestClient: the server closed the connection without answering");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| StatusCode::from_bytes(code.as_bytes()).ok())
        .unwrap_or_else(|| panic!("TestClient: bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    while let Some(line) = read_line(reader) {
        if line.is_empty() {
            break;
        }
        let (name, value) =
            line.split_once(':').unwrap_or_else(|| panic!("TestClient: bad header line {line:?}"));
        headers.append(
            HeaderName::try_from(name.trim()).expect("header name"),
            HeaderValue::try_from(value.trim()).expect("header value"),
        );
    }
    (status, headers)
}

enum Framing {
    Chunked,
    Length(usize),
    UntilClose,
}

/// A response whose body is read as it arrives.
pub struct TestStream {
    status: StatusCode,
    headers: HeaderMap,
    reader: BufReader<TcpStream>,
    framing: Framing,
    /// Bytes received but not yet returned as an event.
    pending: Vec<u8>,
}

impl TestStream {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next piece of the body as it arrives (for a chunked body, one chunk); `None` at its
    /// end. Blocks until data comes (at most 30 s, then panics).
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return Some(std::mem::take(&mut self.pending).into());
        }
        self.read_chunk()
    }

    fn read_chunk(&mut self) -> Option<Bytes> {
        match &mut self.framing {
            Framing::Chunked => {
                let size_line = read_line(&mut self.reader)?;
                let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16)
                    .unwrap_or_else(|_| panic!("TestClient: bad chunk size line {size_line:?}"));
                if size == 0 {
                    while read_line(&mut self.reader).is_some_and(|l| !l.is_empty()) {}
                    self.framing = Framing::Length(0);
                    return None;
                }
                let mut chunk = vec![0; size + 2];
                self.reader
                    .read_exact(&mut chunk)
                    .unwrap_or_else(|e| panic!("TestClient: reading a chunk failed: {e}"));
                chunk.truncate(size);
                Some(chunk.into())
            }
            Framing::Length(0) => None,
            Framing::Length(remaining) => {
                let mut body = vec![0; *remaining];
                self.reader
                    .read_exact(&mut body)
                    .unwrap_or_else(|e| panic!("TestClient: reading the body failed: {e}"));
                *remaining = 0;
                Some(body.into())
            }
            Framing::UntilClose => {
                let mut buffer = vec![0; 8192];
                let n = self
                    .reader
                    .read(&mut buffer)
                    .unwrap_or_else(|e| panic!("TestClient: reading the body failed: {e}"));
                (n > 0).then(|| {
                    buffer.truncate(n);
                    buffer.into()
                })
            }
        }
    }

    /// The next server-sent event (comments skipped), or `None` when the stream ends.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let text = String::from_utf8_lossy(&self.pending).replace("\r\n", "\n");
            if let Some(end) = text.find("\n\n") {
                let block = text[..end].to_owned();
                self.pending = text.as_bytes()[end + 2..].to_vec();
                if let Some(event) = SseEvent::parse(&block) {
                    return Some(event);
                }
                continue; // a comment only
            }
            let chunk = self.read_chunk()?;
            self.pending.extend_from_slice(&chunk);
        }
    }
}

impl std::fmt::Debug for TestStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStream")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish()
    }
}

/// A server-sent event as a client reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`, if sent.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// `id:`, if sent.
    pub id: Option<String>,
    /// `retry:` in milliseconds, if sent.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// Parses one event block; `None` if it holds only comments.
    fn parse(block: &str) -> Option<SseEvent> {
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            any = true;
            match field {
                "data" => data.push(value),
                "event" => event.event = Some(value.to_owned()),
                "id" => event.id = Some(value.to_owned()),
                "retry" => event.retry = value.parse().ok(),
                _ => {}
            }
        }
        event.data = data.join("\n");
        any.then_some(event)
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text (`None` if absent or not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// If the body is not JSON of type `T` (with the body in the message).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("TestResponse::json: {e}; the body was {:?}", self.text()))
    }
}
