//! [`Compression`]: response bodies compressed with gzip, brotli or zstd, as the client's
//! `Accept-Encoding` allows; streams flushed chunk by chunk. The story is on [`Compression`].

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use compression_codecs::core::util::{PartialBuffer, WriteBuffer};
use compression_codecs::core::Level;
use compression_codecs::EncodeV2;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kairos_http::{Body, BoxError};
use tower_layer::Layer;
use tower_service::Service;

use crate::{header_list, Response};

/// Bodies below this many bytes are sent as they are, by default.
pub const DEFAULT_MIN_SIZE: u64 = 1024;

/// A stream whose chunks keep coming without a pause is still flushed after this much input.
const FLUSH_EVERY: usize = 64 * 1024;

/// A content coding `Compression` can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncoding {
    /// `gzip` (RFC 1952), through flate2 on miniz_oxide.
    Gzip,
    /// `br`, Brotli (RFC 7932).
    Br,
    /// `zstd`, Zstandard (RFC 8878).
    Zstd,
}

impl ContentEncoding {
    /// The default preference: br, zstd, gzip (see [`Compression`]).
    const PREFERENCE: [ContentEncoding; 3] =
        [ContentEncoding::Br, ContentEncoding::Zstd, ContentEncoding::Gzip];

    /// The name in `Accept-Encoding` and `Content-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Br => "br",
            ContentEncoding::Zstd => "zstd",
        }
    }

    fn index(self) -> usize {
        match self {
            ContentEncoding::Gzip => 0,
            ContentEncoding::Br => 1,
            ContentEncoding::Zstd => 2,
        }
    }
}

impl fmt::Display for ContentEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How hard each encoder works.
///
/// | level | gzip | br | zstd |
/// |---|---|---|---|
/// | `Fastest` | 1 | 0 | 1 |
/// | `Default` | 6 | 4 | 3 |
/// | `Best` | 9 | 11 | 19 |
/// | `Precise(n)` | `n`, at most 9 | `n`, at most 11 | `n`, from 1 to 19 |
///
/// zstd's levels past 19 are not offered: they need windows of up to 128 MiB per response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompressionLevel {
    /// The fastest each algorithm has, and the largest output.
    Fastest,
    /// Fast levels fit for compressing on every request (tower-http's).
    #[default]
    Default,
    /// The smallest output, slowly: for bodies compressed once and cached.
    Best,
    /// A level of each algorithm's own scale, clamped to its range.
    Precise(u32),
}

impl CompressionLevel {
    /// The level `encoding` is given.
    fn of(self, encoding: ContentEncoding) -> u32 {
        let (fastest, default, best, lowest) = match encoding {
            ContentEncoding::Gzip => (1, 6, 9, 0),
            ContentEncoding::Br => (0, 4, 11, 0),
            ContentEncoding::Zstd => (1, 3, 19, 1),
        };
        match self {
            CompressionLevel::Fastest => fastest,
            CompressionLevel::Default => default,
            CompressionLevel::Best => best,
            CompressionLevel::Precise(level) => level.clamp(lowest, best),
        }
    }
}

/// Compresses response bodies with gzip, brotli or zstd as the client's `Accept-Encoding`
/// allows: a tower [`Layer`] for [`App::layer`](crate::App::layer),
/// [`ApiRouter::layer`](crate::ApiRouter::layer) or a route's [`layer`](super::RouteLayer::layer).
///
/// Starlette's `GZipMiddleware` and tower-http's `CompressionLayer`, for kairos. A stream — an
/// [`Sse`](crate::Sse) event, a line of a [`StreamingResponse`](crate::StreamingResponse) — is
/// flushed to the client whenever it pauses, so every chunk can be decoded as soon as it
/// arrives.
///
/// tower-http's layer needs no runtime and works on an App too. Whether it flushes a stream
/// depends on the async-compression under it: since 0.4.31 its encoders flush when their
/// input waits (a test here saw a first chunk decode before the second was produced, with
/// 0.4.52); before, a chunk sat in the encoder until a block filled. kairos has its own
/// because tower-http reads bodies through tokio's `AsyncRead` (tokio and tokio-util become
/// dependencies, which kairos' libraries never have) and because of what it does not do:
/// it keeps a strong `ETag` on a compressed body, sends a buffered body chunked without a
/// `Content-Length`, ignores `*` in `Accept-Encoding`, and has a fixed server preference.
///
/// # What is compressed
///
/// A response is compressed when all of these hold (else it passes as it is):
///
/// | rule | why |
/// |---|---|
/// | the request is not `HEAD` | its response has no body; its headers stay those of an uncompressed `GET` |
/// | the status is not `1xx`, `204`, `206` or `304`, and there is no `Content-Range` | no body, or a range of the uncompressed bytes that compression would make meaningless |
/// | the response has no `Content-Encoding` | it is compressed already (a pre-compressed file, a proxied answer) |
/// | no `Cache-Control: no-transform` | the response's own opt-out: the representation must reach the client byte for byte |
/// | the body is at least [`min_size`](Compression::min_size) bytes, 1 KiB by default, or of unknown size (a stream) | see below |
/// | its content type compresses: [`Compression::compressible_by_default`], or [your own rule](Compression::compressible) | images, audio, video, archives are compressed already |
/// | not `text/event-stream`, unless [`compress_sse(true)`](Compression::compress_sse) | see below |
/// | the client accepts one of the enabled encodings (below) | |
///
/// The threshold is 1 KiB (Starlette uses 500 bytes, tower-http 32): a body that small saves a
/// few hundred bytes at most, less than one TCP segment, while each compressed response
/// allocates an encoder whose window and tables take from hundreds of KiB to a few MiB.
///
/// Server-sent events are left alone by default, as Starlette does: an event stream is often
/// long-lived, and its encoder's state is held for as long as the stream lasts — per client.
/// Turn it on with [`compress_sse(true)`](Compression::compress_sse) where events are large
/// and clients few; each event still reaches the client as soon as it is sent.
///
/// # Negotiation
///
/// `Accept-Encoding` is read with its q-values (RFC 9110, section 12.5.3): `gzip;q=0.5, br`
/// prefers brotli; `*` stands for every encoding not named; `q=0` refuses one (`*;q=0`
/// refuses all that are not named); `x-gzip` is gzip; unknown encodings and malformed items are
/// ignored. Of the encodings the client accepts with the highest q, the server's preference
/// decides: **br, then zstd, then gzip** by default ([`prefer`](Compression::prefer) changes
/// it). Brotli first because at these levels it gives the smallest text and every browser in
/// use decodes it; zstd next, close in size and cheaper to encode, but decoded only by recent
/// browsers; gzip last, the one every client understands. A client that names `identity` with
/// a higher q than every encoding it accepts gets the body as it is. With no
/// `Accept-Encoding`, an empty one, or nothing acceptable, the body is sent as it is (never a
/// `406`: the uncompressed body is always a valid answer). Each encoding can be turned off
/// ([`gzip`](Compression::gzip), [`br`](Compression::br), [`zstd`](Compression::zstd)).
///
/// # What changes in a compressed response
///
/// - `Content-Encoding` names the encoding; `Content-Length` and `Accept-Ranges` are removed
///   (a buffered body gets the compressed length back from the server; a stream is sent
///   chunked, and ranges of the compressed bytes are not offered).
/// - `Vary: Accept-Encoding` is appended — to the `Vary` values already there, not over them —
///   on every response that *could* be compressed, also when this client did not ask, so a
///   cache never gives one client's encoding to another.
/// - A strong `ETag` becomes weak (`"x"` → `W/"x"`), as nginx does: a strong validator
///   promises the same bytes, which the compressed and the plain bodies are not, while a weak
///   one still lets `If-None-Match` revalidate either — a handler that answers
///   `If-None-Match` itself should compare weakly, ignoring a `W/`. (tower-http and Starlette
///   leave the `ETag` as it is.)
///
/// # Buffered and streamed bodies
///
/// A buffered body (a `String`, [`Json`](crate::Json), `Bytes`...) is compressed at once into
/// one buffer, and sent with its compressed `Content-Length`. If compressing does not make it
/// smaller (data that was compressed already, under a content type that did not say so), the
/// original is sent instead.
///
/// A streamed body is compressed as it comes. Each chunk is fed to the encoder, and whenever
/// the stream has nothing more ready — the generator awaits — the encoder is flushed and
/// what it made is sent: the client can decode everything produced so far, and each chunk
/// reaches it as promptly as it would uncompressed. Chunks that are ready together are
/// compressed together (a flush costs a few bytes and some compression), with a flush at
/// least every 64 KiB of input. Trailers are passed through after the compressed data.
///
/// # Levels
///
/// [`CompressionLevel::Default`] is tower-http's: fast levels fit for compressing on every
/// request — gzip 6, brotli 4 (not brotli's own 11, which is for compressing once, ahead of
/// time), zstd 3. See [`CompressionLevel`] for the others.
///
/// Compressing is CPU work on the worker's loop, as every layer's work is, in proportion to
/// the body's size. A large body that is the same on every request is better compressed
/// once, ahead of time, and served with its `Content-Encoding` (which this layer leaves
/// alone).
///
/// # Errors
///
/// An encoder that fails on a buffered body is logged and the body sent uncompressed. On a
/// stream, it is logged and ends the body with an error — the client sees a truncated
/// response, as with a stream that fails — and never panics. An error of the stream itself
/// passes through as it is.
///
/// # Where it goes
///
/// Layers outside it — added before it with [`App::layer`](crate::App::layer), which is
/// outermost first — see the compressed body and its headers; layers inside it see the body
/// as the handler made it. On an [`ApiRouter`](crate::ApiRouter) or one route
/// ([`RouteLayer`](super::RouteLayer)) it compresses their responses only.
///
/// ```
/// use std::io::Read;
/// use kairos_web::middleware::Compression;
/// use kairos_web::{App, TestClient};
///
/// let report = "every system nominal\n".repeat(100); // 2,100 bytes of text
/// let expected = report.clone();
/// let app = App::new()
///     .layer(Compression::new())
///     .get("/report", move || { let report = report.clone(); async move { report } });
/// let client = TestClient::new(app);
///
/// let response = client.get("/report").header("accept-encoding", "gzip, br;q=0.5").send();
/// assert_eq!(response.header("content-encoding"), Some("gzip"));
/// assert_eq!(response.header("vary"), Some("accept-encoding"));
/// assert!(response.bytes().len() < 100);
/// let mut text = String::new();
/// flate2::read::GzDecoder::new(&response.bytes()[..]).read_to_string(&mut text).unwrap();
/// assert_eq!(text, expected);
///
/// // A client that does not ask gets the body as it is.
/// let plain = client.get("/report").send();
/// assert_eq!(plain.header("content-encoding"), None);
/// assert_eq!(plain.text(), expected);
/// ```
///
/// # Settings
///
/// ```
/// use kairos_web::middleware::{Compression, CompressionLevel, ContentEncoding};
///
/// let compression = Compression::new()
///     .prefer([ContentEncoding::Zstd]) // then br, then gzip
///     .gzip(false)
///     .min_size(512)
///     .level(CompressionLevel::Fastest)
///     .compress_sse(true)
///     .compressible(|media_type| {
///         media_type != "application/x-ndjson" && Compression::compressible_by_default(media_type)
///     });
/// # drop(kairos_web::App::new().layer(compression));
/// ```
#[derive(Clone)]
pub struct Compression {
    /// Every encoding, the server's favourite first.
    order: Vec<ContentEncoding>,
    /// Per [`ContentEncoding::index`]: whether it is offered.
    enabled: [bool; 3],
    min_size: u64,
    level: CompressionLevel,
    compress_sse: bool,
    compressible: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl Compression {
    /// gzip, br and zstd (br preferred, then zstd), for bodies of 1 KiB or more, at
    /// [`CompressionLevel::Default`], server-sent events left alone.
    pub fn new() -> Compression {
        Compression {
            order: ContentEncoding::PREFERENCE.to_vec(),
            enabled: [true; 3],
            min_size: DEFAULT_MIN_SIZE,
            level: CompressionLevel::Default,
            compress_sse: false,
            compressible: Arc::new(Compression::compressible_by_default),
        }
    }

    /// Turns gzip on (the default) or off.
    pub fn gzip(mut self, on: bool) -> Compression {
        self.enabled[ContentEncoding::Gzip.index()] = on;
        self
    }

    /// Turns brotli on (the default) or off.
    pub fn br(mut self, on: bool) -> Compression {
        self.enabled[ContentEncoding::Br.index()] = on;
        self
    }

    /// Turns zstd on (the default) or off.
    pub fn zstd(mut self, on: bool) -> Compression {
        self.enabled[ContentEncoding::Zstd.index()] = on;
        self
    }

    /// The server's preference among encodings the client accepts equally: those given, in
    /// this order, then the others in the default order (br, zstd, gzip). It turns none on or
    /// off.
    pub fn prefer(mut self, order: impl IntoIterator<Item = ContentEncoding>) -> Compression {
        let mut preference: Vec<ContentEncoding> = Vec::new();
        for encoding in order.into_iter().chain(ContentEncoding::PREFERENCE) {
            if !preference.contains(&encoding) {
                preference.push(encoding);
            }
        }
        self.order = preference;
        self
    }

    /// The encodings offered, the server's favourite first.
    fn offered(&self) -> impl Iterator<Item = ContentEncoding> + '_ {
        self.order.iter().copied().filter(|encoding| self.enabled[encoding.index()])
    }

    /// Leaves bodies smaller than `bytes` as they are ([`DEFAULT_MIN_SIZE`], 1 KiB, by
    /// default). The size is the buffered body's, or a stream's `Content-Length` if it has
    /// one; a stream of unknown length is compressed.
    pub fn min_size(mut self, bytes: u64) -> Compression {
        self.min_size = bytes;
        self
    }

    /// How hard the encoders work ([`CompressionLevel::Default`] by default).
    pub fn level(mut self, level: CompressionLevel) -> Compression {
        self.level = level;
        self
    }

    /// Compresses `text/event-stream` responses too (off by default); each event is still
    /// flushed to the client as it is sent.
    pub fn compress_sse(mut self, on: bool) -> Compression {
        self.compress_sse = on;
        self
    }

    /// Decides by content type which responses compress, instead of
    /// [`compressible_by_default`](Compression::compressible_by_default). The rule is given
    /// the media type in lower case without its parameters (`text/html`), or `""` for a
    /// response without `Content-Type`. Server-sent events are decided by
    /// [`compress_sse`](Compression::compress_sse), not by this rule.
    pub fn compressible(
        mut self,
        rule: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Compression {
        self.compressible = Arc::new(rule);
        self
    }

    /// The default rule: everything but what is compressed already — images (except SVG,
    /// BMP and icons), audio, video, WOFF fonts, and archives (`application/zip`, `gzip`,
    /// `x-gzip`, `zstd`, `x-bzip2`, `x-xz`, `x-7z-compressed`, `x-rar-compressed`,
    /// `vnd.rar`). A response without a content type is compressed, as tower-http does.
    pub fn compressible_by_default(media_type: &str) -> bool {
        let (kind, subtype) = media_type.split_once('/').unwrap_or((media_type, ""));
        match kind {
            "image" => matches!(subtype, "svg+xml" | "bmp" | "x-icon" | "vnd.microsoft.icon"),
            "audio" | "video" => false,
            "font" => !matches!(subtype, "woff" | "woff2"),
            "application" => !matches!(
                subtype,
                "zip"
                    | "gzip"
                    | "x-gzip"
                    | "zstd"
                    | "x-bzip2"
                    | "x-xz"
                    | "x-7z-compressed"
                    | "x-rar-compressed"
                    | "vnd.rar"
            ),
            _ => true,
        }
    }

    /// The encoding for a request with these headers, if any: the highest q the client gives
    /// an enabled encoding, ties broken by the server's preference.
    fn negotiate(&self, headers: &HeaderMap) -> Option<ContentEncoding> {
        let accepted = Accepted::parse(headers);
        let mut best: Option<(u16, ContentEncoding)> = None;
        for encoding in self.offered() {
            let q = accepted.q(encoding);
            if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, encoding));
            }
        }
        let (q, encoding) = best?;
        // The body as it is, when the client says it prefers that.
        if accepted.identity.is_some_and(|identity| identity > q) {
            return None;
        }
        Some(encoding)
    }

    /// Whether this response may be compressed for a client that accepts it (and so varies
    /// by `Accept-Encoding`). `size` is the body's, if known.
    fn eligible(&self, parts: &http::response::Parts, size: Option<u64>) -> bool {
        let status = parts.status;
        let headers = &parts.headers;
        if status.is_informational()
            || matches!(
                status,
                StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
            )
            || headers.contains_key(header::CONTENT_ENCODING)
            || headers.contains_key(header::CONTENT_RANGE)
            || header_list::lists(headers, &header::CACHE_CONTROL, "no-transform")
            || size.is_some_and(|size| size < self.min_size)
        {
            return false;
        }
        let media_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media_type == "text/event-stream" {
            return self.compress_sse;
        }
        (self.compressible)(&media_type)
    }

    /// `response`, compressed with `encoding` if it is eligible (the rules on [`Compression`]).
    async fn compress(&self, response: Response, encoding: Option<ContentEncoding>) -> Response {
        let (mut parts, body) = response.into_parts();
        let size = body.size_hint().exact().or_else(|| {
            parts.headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
        });
        if !self.eligible(&parts, size) {
            return Response::from_parts(parts, body);
        }
        header_list::add_vary(&mut parts.headers, "accept-encoding");
        let Some(encoding) = encoding else { return Response::from_parts(parts, body) };

        let body = if body.is_stream() {
            let encoder = Encoder::new(encoding, self.level, None);
            Body::new(CompressedBody::new(body, encoder))
        } else {
            let plain = match buffered(body).await {
                Ok(plain) => plain,
                Err(error) => return Response::from_parts(parts, failed(error)),
            };
            let mut encoder = Encoder::new(encoding, self.level, Some(plain.len()));
            let mut compressed = Vec::new();
            let done = encoder
                .encode(&plain, &mut compressed)
                .and_then(|()| encoder.finish(&mut compressed));
            match done {
                Ok(()) if compressed.len() < plain.len() => Body::full(compressed),
                // Not smaller: the original serves everyone better.
                Ok(()) => return Response::from_parts(parts, Body::full(plain)),
                Err(error) => {
                    tracing::error!(
                        target: "kairos::web",
                        "compressing a response with {encoding} failed ({error}); it is sent \
                         uncompressed"
                    );
                    return Response::from_parts(parts, Body::full(plain));
                }
            }
        };
        let headers = &mut parts.headers;
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::ACCEPT_RANGES);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.as_str()));
        if let Some(etag) = headers.get(header::ETAG)
            && etag.as_bytes().starts_with(b"\"")
        {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(etag.as_bytes());
            if let Ok(weak) = HeaderValue::from_bytes(&weak) {
                headers.insert(header::ETAG, weak);
            }
        }
        Response::from_parts(parts, body)
    }
}

impl Default for Compression {
    fn default() -> Compression {
        Compression::new()
    }
}

impl fmt::Debug for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compression")
            .field("offered", &self.offered().collect::<Vec<_>>())
            .field("min_size", &self.min_size)
            .field("level", &self.level)
            .field("compress_sse", &self.compress_sse)
            .finish_non_exhaustive()
    }
}

/// What a request's `Accept-Encoding` says, as q-values in thousandths.
#[derive(Debug, Default)]
struct Accepted {
    /// Per [`ContentEncoding::index`], when named.
    named: [Option<u16>; 3],
    /// `*`: every encoding not named.
    star: Option<u16>,
    identity: Option<u16>,
}

impl Accepted {
    fn parse(headers: &HeaderMap) -> Accepted {
        let mut accepted = Accepted::default();
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut params = item.split(';');
                let coding = params.next().unwrap_or("").trim();
                let mut q = Some(1000);
                for param in params {
                    if let Some((name, value)) = param.split_once('=')
                        && name.trim().eq_ignore_ascii_case("q")
                    {
                        q = parse_q(value.trim());
                    }
                }
                let Some(q) = q else { continue }; // a malformed q: the item is ignored
                let slot = if coding.eq_ignore_ascii_case("gzip")
                    || coding.eq_ignore_ascii_case("x-gzip")
                {
                    &mut accepted.named[ContentEncoding::Gzip.index()]
                } else if coding.eq_ignore_ascii_case("br") {
                    &mut accepted.named[ContentEncoding::Br.index()]
                } else if coding.eq_ignore_ascii_case("zstd") {
                    &mut accepted.named[ContentEncoding::Zstd.index()]
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut accepted.identity
                } else if coding == "*" {
                    &mut accepted.star
                } else {
                    continue;
                };
                // Named twice: the higher q counts.
                *slot = Some(slot.map_or(q, |before| before.max(q)));
            }
        }
        accepted
    }

    /// The q the client gives `encoding`: its own, else `*`'s, else 0 (not acceptable).
    fn q(&self, encoding: ContentEncoding) -> u16 {
        self.named[encoding.index()].or(self.star).unwrap_or(0)
    }
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A buffered body's bytes (it is ready at once).
async fn buffered(mut body: Body) -> Result<Bytes, BoxError> {
    let mut bytes = Bytes::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            bytes = if bytes.is_empty() { data } else { [bytes, data].concat().into() };
        }
    }
    Ok(bytes)
}

/// A body that fails with `error` at once.
fn failed(error: BoxError) -> Body {
    Body::from_stream(futures_util::stream::once(std::future::ready(Err::<Bytes, _>(error))))
}

/// One response's encoder, driven through compression-codecs' `EncodeV2`.
struct Encoder {
    encoding: ContentEncoding,
    codec: Box<dyn EncodeV2>,
}

/// How many bytes of output room each step of the encoder is given, at least and at most.
const MIN_ROOM: usize = 4 * 1024;
const MAX_ROOM: usize = 64 * 1024;

impl Encoder {
    /// An encoder of `encoding` at `level`; `size`, if known, lets brotli size its window.
    fn new(encoding: ContentEncoding, level: CompressionLevel, size: Option<usize>) -> Encoder {
        use compression_codecs::{brotli, BrotliEncoder, GzipEncoder, ZstdEncoder};
        let n = level.of(encoding);
        let codec: Box<dyn EncodeV2> = match encoding {
            ContentEncoding::Gzip => Box::new(GzipEncoder::new(Level::Precise(n as i32).into())),
            ContentEncoding::Br => {
                let params =
                    brotli::params::EncoderParams::default().quality(Level::Precise(n as i32));
                let params = match size {
                    Some(size) => params.size_hint(size),
                    None => params,
                };
                Box::new(BrotliEncoder::new(params))
            }
            ContentEncoding::Zstd => Box::new(ZstdEncoder::new(n as i32)),
        };
        Encoder { encoding, codec }
    }

    /// Feeds `input` to the encoder, appending what it makes to `out` (not flushed).
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut input = PartialBuffer::new(input);
        let mut stalled = 0;
        while !input.unwritten().is_empty() {
            let room = (input.unwritten().len() / 2).clamp(MIN_ROOM, MAX_ROOM);
            let before = input.written_len();
            let (_, wrote) = step(out, room, |output| self.codec.encode(&mut input, output))?;
            stalled = if wrote == 0 && input.written_len() == before { stalled + 1 } else { 0 };
            check_progress(stalled)?;
        }
        Ok(())
    }

    /// Makes everything fed so far decodable by the client, appending it to `out`.
    fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.until_done(out, |codec, output| codec.flush(output))
    }

    /// Ends the compressed stream (gzip's trailer, brotli's and zstd's last block).
    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.until_done(out, |codec, output| codec.finish(output))
    }

    fn until_done(
        &mut self,
        out: &mut Vec<u8>,
        mut call: impl FnMut(&mut dyn EncodeV2, &mut WriteBuffer<'_>) -> io::Result<bool>,
    ) -> io::Result<()> {
        let mut stalled = 0;
        loop {
            let (done, wrote) = step(out, MIN_ROOM, |output| call(&mut *self.codec, output))?;
            if done {
                return Ok(());
            }
            stalled = if wrote == 0 { stalled + 1 } else { 0 };
            check_progress(stalled)?;
        }
    }
}

/// Gives `call` `room` bytes at the end of `out` to write into; keeps what it wrote.
fn step<R>(
    out: &mut Vec<u8>,
    room: usize,
    call: impl FnOnce(&mut WriteBuffer<'_>) -> io::Result<R>,
) -> io::Result<(R, usize)> {
    let start = out.len();
    out.resize(start + room, 0);
    let mut output = WriteBuffer::new_initialized(&mut out[start..]);
    let result = call(&mut output);
    let wrote = output.written_len();
    out.truncate(start + wrote);
    result.map(|value| (value, wrote))
}

/// An encoder that neither takes input nor writes output with room to spare is broken: an
/// error, not an endless loop.
fn check_progress(stalled: u32) -> io::Result<()> {
    if stalled > 2 {
        return Err(io::Error::other("the encoder made no progress"));
    }
    Ok(())
}

/// Why a compressed stream ended early.
#[derive(Debug)]
struct CompressionError {
    encoding: ContentEncoding,
    source: io::Error,
}

impl fmt::Display for CompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "compressing the response body with {} failed: {}; the response was cut short",
            self.encoding, self.source
        )
    }
}

impl std::error::Error for CompressionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A streamed body, compressed as it comes and flushed whenever the stream pauses.
struct CompressedBody {
    inner: Body,
    /// `None` once the compressed stream is finished (or broken).
    encoder: Option<Encoder>,
    /// Compressed bytes not yet sent.
    out: Vec<u8>,
    /// Input fed since the last flush.
    unflushed: usize,
    /// The stream's trailers, sent after the compressed data.
    trailers: Option<HeaderMap>,
}

impl CompressedBody {
    fn new(inner: Body, encoder: Encoder) -> CompressedBody {
        CompressedBody {
            inner,
            encoder: Some(encoder),
            out: Vec::new(),
            unflushed: 0,
            trailers: None,
        }
    }

    /// Runs `work` on the encoder; an error drops it and becomes the body's error.
    fn with_encoder(
        &mut self,
        work: impl FnOnce(&mut Encoder, &mut Vec<u8>) -> io::Result<()>,
    ) -> Result<(), BoxError> {
        let Some(encoder) = self.encoder.as_mut() else { return Ok(()) };
        match work(encoder, &mut self.out) {
            Ok(()) => Ok(()),
            Err(source) => {
                let error = CompressionError { encoding: encoder.encoding, source };
                tracing::error!(target: "kairos::web", "{error}");
                self.encoder = None;
                self.out.clear();
                Err(Box::new(error))
            }
        }
    }

    /// The compressed bytes made so far as a frame, if any.
    fn take_out(&mut self) -> Option<Frame<Bytes>> {
        (!self.out.is_empty()).then(|| Frame::data(Bytes::from(std::mem::take(&mut self.out))))
    }

    /// Flushes the encoder and hands out what it made.
    fn flushed(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.unflushed = 0;
        if let Err(error) = self.with_encoder(|encoder, out| encoder.flush(out)) {
            return Poll::Ready(Some(Err(error)));
        }
        match self.take_out() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Poll::Pending,
        }
    }
}

impl HttpBody for CompressedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.encoder.is_none() {
                // Finished: the last compressed bytes, then the trailers, then the end.
                let last = this.take_out().or_else(|| this.trailers.take().map(Frame::trailers));
                return Poll::Ready(last.map(Ok));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                // The stream pauses: what it gave so far goes to the client now.
                Poll::Pending if this.unflushed > 0 => return this.flushed(),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if let Err(error) =
                            this.with_encoder(|encoder, out| encoder.encode(&data, out))
                        {
                            return Poll::Ready(Some(Err(error)));
                        }
                        this.unflushed += data.len();
                        if this.unflushed >= FLUSH_EVERY
                            && let Poll::Ready(frame) = this.flushed()
                        {
                            return Poll::Ready(frame);
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.trailers = Some(trailers);
                        }
                    }
                },
                Poll::Ready(Some(Err(error))) => {
                    this.encoder = None;
                    this.out.clear();
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    if let Err(error) = this.with_encoder(|encoder, out| encoder.finish(out)) {
                        return Poll::Ready(Some(Err(error)));
                    }
                    this.encoder = None;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.out.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<S> Layer<S> for Compression {
    type Service = CompressionService<S>;

    fn layer(&self, inner: S) -> CompressionService<S> {
        CompressionService { compression: Arc::new(self.clone()), inner }
    }
}

/// The service of a [`Compression`] around `S`.
#[derive(Debug, Clone)]
pub struct CompressionService<S> {
    compression: Arc<Compression>,
    inner: S,
}

impl<S, ReqBody, B> Service<http::Request<ReqBody>> for CompressionService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<B>>,
    S::Future: 'static,
    B: HttpBody<Data = Bytes> + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // HEAD: no body, and the headers of an uncompressed GET.
        let negotiated = (request.method() != Method::HEAD)
            .then(|| self.compression.negotiate(request.headers()));
        let compression = Arc::clone(&self.compression);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?.map(Body::new);
            Ok(match negotiated {
                Some(encoding) => compression.compress(response, encoding).await,
                None => response,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn qvalues_parse_as_rfc_9110_writes_them() {
        let cases = [
            ("1", Some(1000)),
            ("1.0", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.25", Some(250)),
            ("0.001", Some(1)),
            ("1.5", None),
            ("2", None),
            ("0.1234", None),
            ("-1", None),
            ("", None),
            ("x", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_q(text), expected, "q={text}");
        }
    }

    #[test]
    fn the_preference_and_the_encodings_offered_are_set_apart() {
        use ContentEncoding::*;
        let offered = |compression: Compression| compression.offered().collect::<Vec<_>>();
        assert_eq!(offered(Compression::new()), [Br, Zstd, Gzip]);
        assert_eq!(offered(Compression::new().prefer([Gzip])), [Gzip, Br, Zstd]);
        assert_eq!(offered(Compression::new().prefer([Zstd, Gzip, Zstd])), [Zstd, Gzip, Br]);
        assert_eq!(offered(Compression::new().br(false).prefer([Br, Gzip])), [Gzip, Zstd]);
        assert_eq!(
            offered(Compression::new().prefer([Gzip]).zstd(false).zstd(true)),
            [Gzip, Br, Zstd]
        );
        assert_eq!(offered(Compression::new().zstd(false)), [Br, Gzip]);
    }

    #[test]
    fn negotiation_follows_q_then_the_server() {
        use ContentEncoding::*;
        let compression = Compression::new();
        assert_eq!(compression.negotiate(&accept("gzip;q=0.5, br")), Some(Br));
        assert_eq!(compression.negotiate(&HeaderMap::new()), None);
        let only_gzip = Compression::new().br(false).zstd(false);
        assert_eq!(only_gzip.negotiate(&accept("br, x-gzip;q=0.1")), Some(Gzip));
    }

    /// A stream of `chunks`, then `trailers`.
    struct Chunks {
        chunks: Vec<Bytes>,
        trailers: Option<HeaderMap>,
    }

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            let this = self.get_mut();
            if !this.chunks.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.chunks.remove(0)))));
            }
            Poll::Ready(this.trailers.take().map(|trailers| Ok(Frame::trailers(trailers))))
        }
    }

    fn frames(body: CompressedBody) -> Vec<Result<Frame<Bytes>, BoxError>> {
        use futures_util::StreamExt;
        let mut body = body;
        futures::executor::block_on(
            futures_util::stream::poll_fn(move |cx| Pin::new(&mut body).poll_frame(cx))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn trailers_come_after_the_compressed_data() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", HeaderValue::from_static("abc"));
        let inner = Chunks {
            chunks: vec![Bytes::from("hello "), Bytes::from("world")],
            trailers: Some(trailers),
        };
        let encoder = Encoder::new(ContentEncoding::Gzip, CompressionLevel::Default, None);
        let frames = frames(CompressedBody::new(Body::new(inner), encoder));
        let (last, data) = frames.split_last().unwrap();
        assert_eq!(last.as_ref().unwrap().trailers_ref().unwrap()["x-checksum"], "abc");
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        for frame in data {
            decoder.write_all(frame.as_ref().unwrap().data_ref().unwrap()).unwrap();
        }
        assert_eq!(decoder.finish().unwrap(), b"hello world");
    }

    /// A codec that fails on its first input.
    struct Broken;

    impl EncodeV2 for Broken {
        fn encode(
            &mut self,
            _: &mut PartialBuffer<&[u8]>,
            _: &mut WriteBuffer<'_>,
        ) -> io::Result<()> {
            Err(io::Error::other("out of order"))
        }

        fn flush(&mut self, _: &mut WriteBuffer<'_>) -> io::Result<bool> {
            Ok(true)
        }

        fn finish(&mut self, _: &mut WriteBuffer<'_>) -> io::Result<bool> {
            Ok(true)
        }
    }

    #[test]
    fn an_encoder_error_ends_the_stream_with_an_error() {
        let inner = Chunks { chunks: vec![Bytes::from("a"), Bytes::from("b")], trailers: None };
        let encoder = Encoder { encoding: ContentEncoding::Br, codec: Box::new(Broken) };
        let frames = frames(CompressedBody::new(Body::new(inner), encoder));
        assert_eq!(frames.len(), 1, "the error is the last frame");
        let error = frames[0].as_ref().unwrap_err().to_string();
        assert!(error.contains("compressing the response body with br failed: out of order"));
    }

    /// A codec that never writes nor consumes.
    struct Stuck;

    impl EncodeV2 for Stuck {
        fn encode(
            &mut self,
            _: &mut PartialBuffer<&[u8]>,
            _: &mut WriteBuffer<'_>,
        ) -> io::Result<()> {
            Ok(())
        }

        fn flush(&mut self, _: &mut WriteBuffer<'_>) -> io::Result<bool> {
            Ok(false)
        }

        fn finish(&mut self, _: &mut WriteBuffer<'_>) -> io::Result<bool> {
            Ok(false)
        }
    }

    #[test]
    fn an_encoder_that_makes_no_progress_is_an_error_not_a_hang() {
        let mut encoder = Encoder { encoding: ContentEncoding::Zstd, codec: Box::new(Stuck) };
        let mut out = Vec::new();
        assert!(encoder.encode(b"abc", &mut out).is_err());
        assert!(encoder.flush(&mut out).is_err());
        assert!(encoder.finish(&mut out).is_err());
    }
}
