//! [`StreamingResponse`]: a response body from any `Stream`, sent as it is produced.

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::header;
use http::StatusCode;
use kairos_http::{Body, BoxError};

use crate::response::{IntoResponse, InvalidHeader};
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
    // The first header that could not be set: the response becomes a logged 500.
    invalid: Option<InvalidHeader>,
}

impl StreamingResponse {
    /// A `200` response streaming `stream` with this `Content-Type` (`media_type`).
    ///
    /// A `media_type` that is not a valid header value (a line break in it, say) makes the
    /// response a `500`, logged with what to fix ([`InvalidHeader`]); it does not panic.
    pub fn new<S>(stream: S, media_type: &str) -> StreamingResponse
    where
        S: Stream + 'static,
        S::Item: IntoChunk,
    {
        let body = Body::from_stream(stream.map(IntoChunk::into_chunk));
        let mut response = Response::new(body);
        let invalid =
            InvalidHeader::insert(response.headers_mut(), header::CONTENT_TYPE, media_type).err();
        StreamingResponse { response, invalid }
    }

    /// Sets the status (default `200`).
    pub fn status(mut self, status: StatusCode) -> StreamingResponse {
        *self.response.status_mut() = status;
        self
    }

    /// Sets a header (replacing that name's values).
    ///
    /// A `name` or `value` that is not valid in HTTP makes the response a `500`, logged with
    /// the header's name and what to fix ([`InvalidHeader`]); it does not panic.
    pub fn header(mut self, name: &str, value: &str) -> StreamingResponse {
        if self.invalid.is_none() {
            self.invalid = InvalidHeader::insert(self.response.headers_mut(), name, value).err();
        }
        self
    }
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("response", &self.response)
            .field("invalid", &self.invalid)
            .finish()
    }
}

impl IntoResponse for StreamingResponse {
    fn into_response(self) -> Response {
        match self.invalid {
            None => self.response,
            Some(invalid) => invalid.into_response(), // the stream is dropped unpolled
        }
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
