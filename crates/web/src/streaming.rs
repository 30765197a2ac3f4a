//! [`StreamingResponse`]: a response body from any `Stream`, sent as it is produced.

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use kairos_http::{Body, BoxError};

use crate::response::IntoResponse;
use crate::Response;

/// A response whose body is a stream of chunks, each sent (chunked) as soon as it is produced:
/// Starlette's `StreamingResponse` over an async generator.
///
/// When the client goes away the stream is dropped — and with it whatever produces it (the
/// state of a `stream::unfold`, a channel's receiver...). An item that is an `Err` ends the
/// response abruptly (the client sees a truncated chunked body).
///
/// ```
/// use std::time::Duration;
/// use futures_util::stream;
/// use kairos_web::StreamingResponse;
///
/// // async def generate(): for i in range(3): yield f"line {i}\n"; await asyncio.sleep(0.01)
/// async fn lines() -> StreamingResponse {
///     let stream = stream::unfold(0, |i| async move {
///         if i == 3 { return None; }
///         kairos_rt::sleep(Duration::from_millis(10)).await;
///         Some((format!("line {i}\n"), i + 1))
///     });
///     StreamingResponse::new(stream, "text/plain; charset=utf-8")
/// }
/// # drop(kairos_web::App::new().get("/lines", lines));
/// ```
pub struct StreamingResponse {
    response: Response,
}

impl StreamingResponse {
    /// A `200` response streaming `stream` with this `Content-Type` (`media_type`).
    ///
    /// # Panics
    ///
    /// If `media_type` is not a valid header value.
    pub fn new<S>(stream: S, media_type: &str) -> StreamingResponse
    where
        S: Stream + 'static,
        S::Item: IntoChunk,
    {
        let body = Body::from_stream(stream.map(IntoChunk::into_chunk));
        let mut response = Response::new(body);
        let media_type = HeaderValue::try_from(media_type)
            .unwrap_or_else(|e| panic!("invalid media type {media_type:?}: {e}"));
        response.headers_mut().insert(header::CONTENT_TYPE, media_type);
        StreamingResponse { response }
    }

    /// Sets the status (default `200`).
    pub fn status(mut self, status: StatusCode) -> StreamingResponse {
        *self.response.status_mut() = status;
        self
    }

    /// Sets a header.
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not valid in HTTP: fix the literal.
    pub fn header(mut self, name: &str, value: &str) -> StreamingResponse {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|e| panic!("invalid header name {name:?}: {e}"));
        let value = HeaderValue::try_from(value)
            .unwrap_or_else(|e| panic!("invalid header value {value:?}: {e}"));
        self.response.headers_mut().insert(name, value);
        self
    }
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse").field("response", &self.response).finish()
    }
}

impl IntoResponse for StreamingResponse {
    fn into_response(self) -> Response {
        self.response
    }
}

/// An item of a streamed body: bytes or text, or a `Result` of them (an `Err` ends the body).
pub trait IntoChunk {
    /// The bytes to send, or the error that ends the stream.
    fn into_chunk(self) -> Result<Bytes, BoxError>;
}

impl IntoChunk for Bytes {
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        Ok(self)
    }
}

impl IntoChunk for String {
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        Ok(Bytes::from(self))
    }
}

impl IntoChunk for &'static str {
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        Ok(Bytes::from_static(self.as_bytes()))
    }
}

impl IntoChunk for Vec<u8> {
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        Ok(Bytes::from(self))
    }
}

impl<C: IntoChunk, E: Into<BoxError>> IntoChunk for Result<C, E> {
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        self.map_err(Into::into).and_then(IntoChunk::into_chunk)
    }
}
