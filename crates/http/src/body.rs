//! Request and response bodies.
//!
//! - [`Body`] — what a response carries: nothing, a buffer, or any stream of bytes. The first
//!   two are kept inline (no allocation per response); a stream is boxed. Streams need not be
//!   `Send`: they run on the loop of their connection.
//! - [`RequestBody`] — what a request carries: hyper's incoming stream (or a buffer, for
//!   requests made in-process by tests), with the server's size limit enforced as it is read.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Full};

/// Any error, boxed: the error type of streaming bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
pub struct Body {
    kind: Kind,
}

/// A boxed body that need not be `Send` (`http-body-util`'s `UnsyncBoxBody` still asks for
/// `Send`; bodies here live on one loop).
type LocalBoxBody = Pin<Box<dyn HttpBody<Data = Bytes, Error = BoxError>>>;

enum Kind {
    /// A buffer sent at once (no allocation per response), or nothing.
    Full(Full<Bytes>),
    Stream(LocalBoxBody),
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body { kind: Kind::Full(Full::default()) }
    }

    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body { kind: Kind::Full(Full::new(bytes.into())) }
    }

    /// A body streamed from `stream` (sent chunked): each item is written as it comes, so the
    /// client sees the first chunk before the last is produced. If the client goes away, the
    /// stream is dropped (and with it whatever produces it).
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + 'static,
        E: Into<BoxError> + 'static,
    {
        Body { kind: Kind::Stream(Box::pin(StreamBody { stream })) }
    }

    /// Any [`http_body::Body`] of bytes. A `Body` given here is returned as it is, not
    /// boxed again (a middleware that left a response's body alone costs nothing).
    pub fn new<B>(body: B) -> Body
    where
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        match unchanged::<B, Body>(body) {
            Ok(same) => same,
            Err(body) => Body { kind: Kind::Stream(Box::pin(body.map_err(Into::into))) },
        }
    }

    /// Whether the body is a stream (its length is not known in advance).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(full) => {
                f.debug_tuple("Body::Full").field(&full.size_hint().exact()).finish()
            }
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::full(bytes)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::full(text)
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body::full(Bytes::from_static(text.as_bytes()))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::full(bytes)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(full) => Pin::new(full).poll_frame(cx).map_err(|never| match never {}),
            Kind::Stream(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(full) => full.is_end_stream(),
            Kind::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(full) => full.size_hint(),
            Kind::Stream(body) => body.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A `Stream` of byte chunks seen as an `http_body::Body`.
    struct StreamBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S, E> HttpBody for StreamBody<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().stream.poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `value` as a `T` if it is one (`Ok`), else back as it was (`Err`): how a body that a
/// middleware passed through unchanged avoids a second box.
fn unchanged<B: 'static, T: 'static>(value: B) -> Result<T, B> {
    let mut slot = Some(value);
    if let Some(same) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
        if let Some(same) = same.take() {
            return Ok(same);
        }
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("the value is taken only when it is returned"),
    }
}

/// A request body: the bytes a client sends, read on demand, within the server's size limit.
pub struct RequestBody {
    source: Source,
    read: u64,
    limit: Option<u64>,
    /// The client's address, for a request that came over a connection. Kept here rather
    /// than in the request's extensions, which cost two allocations per request to fill.
    client: Option<SocketAddr>,
    /// `https` for a request that came over TLS (or that a trusted proxy says did), else
    /// `http`; `None` for one made in-process.
    scheme: Option<http::uri::Scheme>,
}

enum Source {
    Incoming(hyper::body::Incoming),
    Full(Full<Bytes>),
    /// A body a middleware wrapped (tower-http's `RequestBodyLimitLayer` makes a `Limited`):
    /// `Send`, as a request body must be to reach a sync handler or a `Send` parser.
    Wrapped(Pin<Box<dyn HttpBody<Data = Bytes, Error = BoxError> + Send>>),
}

impl RequestBody {
    pub(crate) fn incoming(
        body: hyper::body::Incoming,
        limit: Option<u64>,
        client: Option<SocketAddr>,
        scheme: http::uri::Scheme,
    ) -> Self {
        RequestBody { source: Source::Incoming(body), read: 0, limit, client, scheme: Some(scheme) }
    }

    /// The address of the client that sent the request: the connection's peer, or — when the
    /// peer is a trusted proxy ([`ServerConfig::forwarded_allow_ips`](crate::ServerConfig::forwarded_allow_ips))
    /// — the client the proxy forwarded for (port 0 when it gave none). `None` for a request
    /// made in-process, or whose body a middleware replaced with one of its own, and for one
    /// over a Unix socket that no trusted proxy forwarded (its peer has no address).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client
    }

    /// The same body, from `client`: for a middleware that knows better (a trusted proxy's
    /// forwarded address) or a request made in-process.
    pub fn with_client_addr(mut self, client: SocketAddr) -> Self {
        self.client = Some(client);
        self
    }

    /// The scheme the client used: `https` over TLS, `http` in the clear — or what a trusted
    /// proxy says (`X-Forwarded-Proto`, `Forwarded: proto=`), since a proxy that terminates
    /// TLS speaks plain HTTP to the server. `None` for a request made in-process, or whose
    /// body a middleware replaced.
    pub fn scheme(&self) -> Option<&http::uri::Scheme> {
        self.scheme.as_ref()
    }

    /// The same body, with the client's `scheme`: for a request made in-process, or a
    /// middleware that knows better.
    pub fn with_scheme(mut self, scheme: http::uri::Scheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// A body made of these bytes — for requests built in-process (tests, internal calls).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        RequestBody {
            source: Source::Full(Full::new(bytes.into())),
            read: 0,
            limit: None,
            client: None,
            scheme: None,
        }
    }

    /// Any [`http_body::Body`] of bytes as a request body: how a request whose body a
    /// middleware replaced (a tower layer's `Limited<RequestBody>`, say) reaches the handler.
    /// A `RequestBody` given here is returned as it is, not wrapped again. Its errors surface
    /// as they are when they are a [`BodyError`], else as [`BodyError::Wrapped`].
    pub fn new<B>(body: B) -> Self
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match unchanged::<B, RequestBody>(body) {
            Ok(same) => same,
            Err(body) => RequestBody {
                source: Source::Wrapped(Box::pin(body.map_err(Into::into))),
                read: 0,
                limit: None,
                client: None,
                scheme: None,
            },
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        RequestBody {
            source: Source::Full(Full::default()),
            read: 0,
            limit: None,
            client: None,
            scheme: None,
        }
    }

    /// Reads the whole body into one buffer.
    ///
    /// Fails with [`BodyError::TooLarge`] as soon as the body passes the server's limit (the
    /// rest is not read), which a framework answers with `413 Content Too Large`.
    pub async fn bytes(self) -> Result<Bytes, BodyError> {
        Ok(self.collect().await?.to_bytes())
    }
}

impl Default for RequestBody {
    fn default() -> Self {
        RequestBody::empty()
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody").field("read", &self.read).field("limit", &self.limit).finish()
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let frame = match &mut this.source {
            Source::Full(full) => match Pin::new(full).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame.map(|f| f.map_err(|never| match never {})),
            },
            Source::Incoming(body) => match Pin::new(body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame.map(|f| f.map_err(BodyError::Read)),
            },
            Source::Wrapped(body) => match body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame.map(|f| f.map_err(BodyError::unwrap_boxed)),
            },
        };
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                this.read += data.len() as u64;
                if let Some(limit) = this.limit {
                    if this.read > limit {
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit })));
                    }
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Full(full) => full.is_end_stream(),
            Source::Incoming(body) => body.is_end_stream(),
            Source::Wrapped(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(full) => full.size_hint(),
            Source::Incoming(body) => body.size_hint(),
            Source::Wrapped(body) => body.size_hint(),
        }
    }
}

/// Why reading a request body failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the server accepts (`max_body_size`).
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The connection failed while the body was being read (the client went away, or sent
    /// malformed chunked encoding).
    Read(hyper::Error),
    /// A body a middleware wrapped ([`RequestBody::new`]) failed for a reason of its own:
    /// tower-http's `RequestBodyLimitLayer` fails with `http_body_util::LengthLimitError`
    /// past its limit (see [`is_too_large`](BodyError::is_too_large)).
    Wrapped(BoxError),
}

impl BodyError {
    /// A boxed error back as the `BodyError` it is, or wrapped.
    fn unwrap_boxed(error: BoxError) -> BodyError {
        match error.downcast::<BodyError>() {
            Ok(error) => *error,
            Err(error) => BodyError::Wrapped(error),
        }
    }

    /// Whether the body was refused for its size: past the server's limit, or past a limit a
    /// middleware set (`http_body_util::LengthLimitError`). What a framework answers `413`.
    pub fn is_too_large(&self) -> bool {
        match self {
            BodyError::TooLarge { .. } => true,
            BodyError::Wrapped(error) => error.is::<http_body_util::LengthLimitError>(),
            BodyError::Read(_) => false,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(
                f,
                "the request body is larger than the server accepts ({limit} bytes); send less, \
                 or raise max_body_size"
            ),
            BodyError::Read(e) => write!(f, "reading the request body failed: {e}"),
            BodyError::Wrapped(e) if self.is_too_large() => {
                write!(f, "the request body is larger than this route accepts ({e}); send less")
            }
            BodyError::Wrapped(e) => write!(f, "reading the request body failed: {e}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Read(e) => Some(e),
            BodyError::Wrapped(e) => Some(&**e),
            BodyError::TooLarge { .. } => None,
        }
    }
}

/// Never happens; lets `Infallible` streams be bodies.
impl From<Infallible> for BodyError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}
