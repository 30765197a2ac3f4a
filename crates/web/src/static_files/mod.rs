//! [`StaticFiles`]: a directory served under a prefix (Starlette's `StaticFiles`, tower-http's
//! `ServeDir`), and [`App::mount_static`].
//!
//! A request goes through four steps, one file each:
//!
//! 1. `path.rs` — the request's path below the mount is checked and split into names, on the
//!    loop, before the disk is touched: `..`, `.`, empty segments, encoded separators
//!    (`%2f`, `%5c`), NUL and (by default) dotfiles are refused here.
//! 2. `resolve.rs` — one job on the loop's default executor does every file-system call of
//!    the request: canonicalize, check that the result is inside the canonicalized root, pick
//!    the index file or a precompressed variant, open the file, `fstat` it and check where
//!    the open file really is.
//! 3. `conditional.rs`, `range.rs` and `encoding.rs` — back on the loop, the request's
//!    `If-*`, `Range` and `Accept-Encoding` headers are weighed against what was found: a
//!    304, 412 or 416, or what to send.
//! 4. `body.rs` — the body is streamed from a [`kairos_rt::fs::File`] in chunks of 64 KiB,
//!    only the bytes the answer needs.
//!
//! tower-http's `ServeDir` cannot be used: its file I/O runs on tokio's blocking pool and
//! needs a tokio runtime, which kairos-web never has; here the same calls run on the loop's
//! default executor ([`kairos_rt::fs`]).

mod body;
mod conditional;
mod encoding;
mod path;
mod range;
mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};
use kairos_rt::executor::JobError;

use self::body::Piece;
use self::conditional::{Precondition, Validators};
use self::range::Ranges;
use self::resolve::{Found, Resolved};
use crate::extract::{FromRequestParts, RouteContext};
use crate::openapi::RouteDocs;
use crate::response::IntoResponse;
use crate::{App, HttpError, Response};

/// The name of the catch-all parameter of a mount's route (`/static/{*path}`).
const TAIL: &str = "path";

/// A directory served as static files: mount it on an [`App`] with
/// [`App::mount_static`] (FastAPI's `app.mount("/static", StaticFiles(directory="public"))`).
/// Its file-system calls run on the loop's default executor, as [`kairos_rt::fs`]'s do
/// (tower-http's `ServeDir` needs a tokio runtime for them, which kairos-web never has), and
/// files are streamed in chunks, never read whole.
///
/// ```
/// use kairos_web::{App, StaticFiles, TestClient};
///
/// let root = std::env::temp_dir().join(format!("kairos-static-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&root).unwrap();
/// std::fs::write(root.join("hello.txt"), "hello, static").unwrap();
///
/// let app = App::new().mount_static(
///     "/static",
///     StaticFiles::new(&root).cache_control("public, max-age=3600"),
/// );
/// let client = TestClient::new(app);
///
/// let response = client.get("/static/hello.txt").send();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
/// assert_eq!(response.text(), "hello, static");
///
/// // Revalidation: the same ETag again is a 304 with no body.
/// let etag = response.header("etag").unwrap();
/// let again = client.get("/static/hello.txt").header("if-none-match", etag).send();
/// assert_eq!(again.status(), 304);
///
/// // A slice: 206 with its Content-Range.
/// let part = client.get("/static/hello.txt").header("range", "bytes=0-4").send();
/// assert_eq!(part.status(), 206);
/// assert_eq!(part.header("content-range"), Some("bytes 0-4/13"));
/// assert_eq!(part.text(), "hello");
///
/// // Nothing outside the directory, however the path is spelled.
/// assert_eq!(client.get("/static/../hello.txt").send().status(), 404);
/// assert_eq!(client.get("/static/%2e%2e/etc/passwd").send().status(), 404);
/// # drop(client);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
///
/// # What a request gets
///
/// | request | answer |
/// |---|---|
/// | `GET /static/css/site.css` | `200`, the file streamed, with `Content-Type` (by extension, `charset=utf-8` for text), `Content-Length`, `ETag`, `Last-Modified`, `Accept-Ranges: bytes`, `X-Content-Type-Options: nosniff` and your `Cache-Control` |
/// | `HEAD` of the same | the same headers, no body (the file is opened, never read) |
/// | `If-None-Match` naming the current `ETag` (or `*`), else `If-Modified-Since` not older than the file | `304 Not Modified`, no body |
/// | `If-Match` not naming it, else `If-Unmodified-Since` older than the file | `412 Precondition Failed` |
/// | `Range: bytes=0-99`, `bytes=100-`, `bytes=-100` | `206 Partial Content` with `Content-Range`, only that slice read |
/// | several ranges, `bytes=0-9,100-109` | `206`, `multipart/byteranges` (see below) |
/// | a range past the end, `bytes=5000-` of a smaller file | `416 Range Not Satisfiable`, `Content-Range: bytes */{len}` |
/// | a `Range` with `If-Range` naming an older version | `200`, the whole current file |
/// | `GET /static/` or `/static/docs/` | the directory's `index.html` (if [`index`](StaticFiles::index) is on) |
/// | `GET /static/docs` (a directory, no slash) | `307` to `/static/docs/`, if it has an `index.html` |
/// | a missing file, a directory without an index, anything refused | `404 {"detail":"Not Found"}` |
/// | `POST` | `405` with `Allow: GET, HEAD` (the router's) |
///
/// # Validators
///
/// The `ETag` is strong and made from the file's modification time (to the nanosecond) and
/// size — nginx's recipe, no hashing of the content — so a file replaced by another of the
/// same size within the file system's time resolution keeps its tag. `If-None-Match` is
/// compared weakly, `If-Match` and `If-Range` strongly, as RFC 9110 says; `If-None-Match`
/// takes precedence over `If-Modified-Since` and `If-Match` over `If-Unmodified-Since`.
/// Dates are HTTP-dates, compared to the second. A precompressed variant has tags of its own
/// (`...-br"`, `...-gz"`): it is another representation.
///
/// # Ranges
///
/// One range is answered with its slice. Several are sorted and merged where they overlap
/// or touch; if one range remains it is answered alone, else as `multipart/byteranges`
/// (each part with its `Content-Type` and `Content-Range`). More than 16 ranges after
/// merging, a `Range` that is not valid syntax, a unit other than `bytes`, and any `Range`
/// on an empty file are ignored — the whole file is sent, as RFC 9110 allows — so a `Range`
/// can never make the answer much larger than the file. Only when no range is left —
/// each starts past the end, or is `-0` — is the answer `416`. A precompressed variant is
/// sent in ranges too (of its compressed bytes: the `Content-Range` counts those), but only
/// one: several ranges of an encoded file get the whole file, since a `Content-Encoding` on
/// a multipart body would misname it.
///
/// # Precompressed variants
///
/// With [`precompressed`](StaticFiles::precompressed) on, a request for `app.js` whose
/// `Accept-Encoding` allows `br` or `gzip` gets `app.js.br` or `app.js.gz` if it exists
/// beside `app.js`, with `Content-Encoding`, the `Content-Type` of `app.js`, and
/// `Vary: Accept-Encoding` (on every answer of the mount, as the choice depends on it). The
/// higher `q` wins, `br` on a tie; `q=0` refuses a coding, and `*` stands for those not
/// named. Without an `Accept-Encoding` the file is sent as it is. Nothing is compressed on
/// the fly.
///
/// # What is refused
///
/// Everything refused is answered exactly as a missing file is — `404 {"detail":"Not
/// Found"}`, the router's own 404 — so a client learns nothing of the file system: not the
/// root's path, not whether a file outside exists, not why. Refused are:
///
/// - a segment `..` or `.`, however it is encoded (`%2e%2e`, `.%2E`), an empty segment
///   (`a//b`), a segment that decodes to a separator or NUL (`%2f`, `%5c`, `%00`, a
///   backslash), or whose percent-encoding is not UTF-8;
/// - a path that leaves the root once symlinks are followed: the path is canonicalized and
///   must be inside the canonicalized root. Symlinks that stay inside the root are followed
///   (as Starlette does); one pointing out of it is a 404. The file, once open, is checked
///   again where the kernel says it is (`/proc/self/fd`), so a directory swapped for a
///   symlink between the check and the open does not slip a file from outside through;
/// - hidden names (a segment starting with `.`: `.env`, `.git/config`), also when reached
///   through a symlink, unless [`allow_hidden`](StaticFiles::allow_hidden) is on;
/// - anything but a regular file (a directory without an index, a FIFO, a device);
/// - a file the server may not read (permission denied).
///
/// The root is canonicalized on every request, so a root that is a symlink switched to a
/// new release (`public -> releases/42`) is followed at once. A root that does not exist
/// makes every request a 404 and logs an error (target `kairos::web`). The checks hold
/// against what a client sends; whoever can write inside the root can make it serve what
/// they like.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    index: bool,
    precompressed: bool,
    hidden: bool,
    nosniff: bool,
    cache_control: Option<HeaderValue>,
}

impl StaticFiles {
    /// Serves the files under `root` (relative paths are relative to the working directory
    /// of the server, resolved on each request). Defaults: `index.html` for directories, no
    /// precompressed variants, hidden files refused, `X-Content-Type-Options: nosniff`, no
    /// `Cache-Control`.
    pub fn new(root: impl Into<PathBuf>) -> StaticFiles {
        StaticFiles {
            root: root.into(),
            index: true,
            precompressed: false,
            hidden: false,
            nosniff: true,
            cache_control: None,
        }
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a directory is answered with its `index.html` (default: yes; Starlette's
    /// `html=True`). `/static/docs/` serves `docs/index.html`; `/static/docs` redirects there
    /// (`307`) so that the page's relative links resolve; a directory without `index.html`
    /// is a 404. Off, every directory is a 404 and the mount registers only
    /// `{prefix}/{*path}`.
    pub fn index(mut self, index: bool) -> StaticFiles {
        self.index = index;
        self
    }

    /// Whether to send `file.br` or `file.gz` in place of `file` to clients that accept
    /// them (default: no; tower-http's `precompressed_br` and `precompressed_gzip`). Make
    /// the variants at build time (`brotli -k`, `gzip -k`); see
    /// [Precompressed variants](StaticFiles#precompressed-variants).
    ///
    /// ```
    /// use kairos_web::{App, StaticFiles, TestClient};
    ///
    /// let root = std::env::temp_dir().join(format!("kairos-static-br-{}", std::process::id()));
    /// std::fs::create_dir_all(&root).unwrap();
    /// std::fs::write(root.join("app.js"), "console.log('hi')").unwrap();
    /// std::fs::write(root.join("app.js.br"), b"(brotli bytes)").unwrap();
    ///
    /// let files = StaticFiles::new(&root).precompressed(true);
    /// let client = TestClient::new(App::new().mount_static("/assets", files));
    /// let response = client.get("/assets/app.js").header("accept-encoding", "gzip, br").send();
    /// assert_eq!(response.header("content-encoding"), Some("br"));
    /// assert_eq!(response.header("content-type"), Some("text/javascript; charset=utf-8"));
    /// assert_eq!(response.header("vary"), Some("accept-encoding"));
    /// assert_eq!(response.text(), "(brotli bytes)");
    /// # drop(client);
    /// # std::fs::remove_dir_all(&root).unwrap();
    /// ```
    pub fn precompressed(mut self, precompressed: bool) -> StaticFiles {
        self.precompressed = precompressed;
        self
    }

    /// Whether names starting with `.` may be served (default: no). Refusing them keeps a
    /// `.env`, `.git/` or `.htpasswd` that ended up in the directory private; turn this on
    /// for a directory such as `.well-known/`. `.` and `..` stay refused.
    pub fn allow_hidden(mut self, allow: bool) -> StaticFiles {
        self.hidden = allow;
        self
    }

    /// Whether answers carry `X-Content-Type-Options: nosniff` (default: yes), which stops
    /// browsers from guessing a type other than the `Content-Type` sent — so an uploaded
    /// `.txt` is never run as a script.
    pub fn nosniff(mut self, nosniff: bool) -> StaticFiles {
        self.nosniff = nosniff;
        self
    }

    /// The `Cache-Control` header of every file answer (`200`, `206`, `304`), say
    /// `"public, max-age=31536000, immutable"` for fingerprinted assets or `"no-cache"` to
    /// have clients revalidate each time (with the `ETag`, cheaply). None by default.
    ///
    /// # Panics
    ///
    /// If `value` is not a valid header value (a line break, a control character): it is
    /// set once at start-up, so this is a programming error, reported at once.
    pub fn cache_control(mut self, value: &str) -> StaticFiles {
        match HeaderValue::from_str(value) {
            Ok(value) => self.cache_control = Some(value),
            Err(e) => panic!("StaticFiles::cache_control({value:?}) is not a header value: {e}"),
        }
        self
    }
}

impl App {
    /// Serves `files` under `prefix` (FastAPI's `app.mount("/static", StaticFiles(...))`):
    /// `GET` (and so `HEAD`) on `{prefix}/{*path}`, and with the
    /// [`index`](StaticFiles::index) on, `{prefix}/` (the root's `index.html`) and `{prefix}`
    /// (a redirect to `{prefix}/`). The routes run on the loop, do their file-system calls on
    /// the loop's default executor, and are left out of the OpenAPI document (as FastAPI
    /// leaves out mounts). See [`StaticFiles`] for what each request gets.
    ///
    /// A prefix of `"/"` serves the directory at the root of the App, beside its other
    /// routes, which match first (a literal path beats the catch-all). It also matches the
    /// URLs of the App's API docs (`/openapi.json`, `/docs`, `/redoc`), which the App then
    /// refuses to start with: move them, or turn them off, with
    /// [`App::docs`](crate::App::docs).
    ///
    /// ```
    /// use kairos_web::{App, StaticFiles};
    ///
    /// let app = App::new()
    ///     .get("/api/health", || async { "ok" })
    ///     .mount_static("/static", StaticFiles::new("public"));
    /// let paths: Vec<String> = app.routes().into_iter().map(|route| route.path).collect();
    /// assert_eq!(paths, ["/api/health", "/static", "/static/", "/static/{*path}"]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/`, ends with `/` (other than `"/"` itself), or holds
    /// a route parameter (`{`, `}`); or if the routes clash with others.
    pub fn mount_static(self, prefix: &str, files: StaticFiles) -> App {
        assert!(
            prefix.starts_with('/') && (prefix == "/" || !prefix.ends_with('/')),
            "mount_static prefix {prefix:?} must start with '/' and not end with it (like \
             \"/static\"), or be \"/\""
        );
        assert!(
            !prefix.contains(['{', '}']),
            "mount_static prefix {prefix:?} must be a literal path, without parameters"
        );
        let base = prefix.trim_end_matches('/');
        let files = Arc::new(files);
        let mut app = self;
        if files.index {
            if !base.is_empty() {
                app = route(app, base, &files, Entry::Bare);
            }
            app = route(app, &format!("{base}/"), &files, Entry::Tail);
        }
        route(app, &format!("{base}/{{*{TAIL}}}"), &files, Entry::Tail)
    }
}

/// Which of a mount's routes a request came through.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// `{prefix}` itself: the root directory asked for without its slash.
    Bare,
    /// `{prefix}/` or `{prefix}/{*path}`.
    Tail,
}

/// Adds one of a mount's routes: an async closure on the loop, hidden from the OpenAPI
/// document.
fn route(app: App, path: &str, files: &Arc<StaticFiles>, entry: Entry) -> App {
    let files = Arc::clone(files);
    let serve_static = move |request: StaticRequest| serve(Arc::clone(&files), entry, request);
    app.get(path, serve_static.hidden())
}

/// What a mount's handler reads of a request.
struct StaticRequest {
    method: Method,
    /// The path as sent, percent-encoded.
    raw_path: String,
    query: Option<String>,
    headers: HeaderMap,
    /// How many segments the router's catch-all matched (0 without one).
    tail_segments: usize,
}

impl FromRequestParts for StaticRequest {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let tail = RouteContext::of(parts, "StaticFiles")?
            .params
            .iter()
            .rev()
            .find(|(name, _)| name == TAIL)
            .map(|(_, value)| value.split('/').count());
        Ok(StaticRequest {
            method: parts.method.clone(),
            raw_path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            // The handler's only extractor: nothing else reads the headers after it.
            headers: std::mem::take(&mut parts.headers),
            tail_segments: tail.unwrap_or(0),
        })
    }
}

/// Answers one request for a file.
async fn serve(files: Arc<StaticFiles>, entry: Entry, request: StaticRequest) -> Response {
    let tail_segments = match entry {
        Entry::Bare => None,
        // `{prefix}/` has no parameter: its tail is the empty segment after the slash.
        Entry::Tail => Some(request.tail_segments.max(1)),
    };
    let Some(wanted) = path::wanted(&request.raw_path, tail_segments, files.hidden) else {
        tracing::debug!(target: "kairos::web", path = %request.raw_path, "static files: refused");
        return not_found();
    };
    let encodings =
        if files.precompressed { encoding::accepted(&request.headers) } else { Vec::new() };
    let job = {
        let files = Arc::clone(&files);
        kairos_rt::to_thread(move || resolve::resolve(&files, &wanted, &encodings))
    };
    match job.await {
        Ok(Resolved::File(found)) => respond(&files, &request, found),
        Ok(Resolved::Redirect) => redirect(&request),
        Ok(Resolved::NotFound) => not_found(),
        Err(JobError::QueueFull) => {
            HttpError::unavailable("the file pool is busy; retry shortly").into_response()
        }
        Err(e) => {
            tracing::error!(target: "kairos::web", "static files: the file job failed: {e}");
            HttpError::internal().into_response()
        }
    }
}

/// The router's own 404: a refusal looks exactly like a missing file.
fn not_found() -> Response {
    HttpError::new(StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// `307` to the same path with a slash: a directory's index is served at `dir/`, where its
/// relative links resolve. The `Location` is relative (`./dir/`, RFC 9110 §10.2.2): the
/// browser resolves it against the URL it asked for, so it holds behind a proxy that strips
/// a prefix (`/app/static/dir` → `/app/static/dir/`) without the App knowing the prefix.
fn redirect(request: &StaticRequest) -> Response {
    let last = request.raw_path.rsplit('/').next().unwrap_or_default();
    // `./` first: a segment with a colon would otherwise read as a scheme.
    let mut location = format!("./{last}/");
    if let Some(query) = &request.query {
        location.push('?');
        location.push_str(query);
    }
    // The path and query came in a valid request line, so they make a valid header value.
    match HeaderValue::try_from(location) {
        Ok(location) => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => not_found(),
    }
}

/// The answer for a file found: 304, 412, 416, 206 or 200, from the request's headers.
fn respond(files: &StaticFiles, request: &StaticRequest, found: Found) -> Response {
    let validators = Validators::of(&found);
    let mut headers = HeaderMap::new();
    validators.write(&mut headers);
    if let Some(cache_control) = &files.cache_control {
        headers.insert(header::CACHE_CONTROL, cache_control.clone());
    }
    if files.precompressed {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    match conditional::evaluate(&request.headers, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            *response.headers_mut() = headers;
            return response;
        }
        Precondition::Failed => {
            return HttpError::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
                .into_response();
        }
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if files.nosniff {
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }

    let len = found.len;
    let ranges = match request.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(range) if conditional::if_range_holds(&request.headers, &validators) => {
            range::ranges(range, len)
        }
        _ => Ranges::Full,
    };
    let ranges = match ranges {
        // Several ranges of an encoded file: the whole file (see the type's docs).
        Ranges::Partial(several) if several.len() > 1 && found.encoding.is_some() => Ranges::Full,
        ranges => ranges,
    };
    let content_type = content_type(&found.name);
    let (status, pieces, length) = match ranges {
        Ranges::Full => (StatusCode::OK, vec![Piece::File(0..len)], len),
        Ranges::Unsatisfiable => {
            let mut error =
                HttpError::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                    .with_header("content-range", &format!("bytes */{len}"))
                    .with_header("accept-ranges", "bytes");
            if files.precompressed {
                error = error.with_header("vary", "accept-encoding");
            }
            return error.into_response();
        }
        Ranges::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0].clone();
            let value = format!("bytes {}-{}/{len}", range.start, range.end - 1);
            headers.insert(header::CONTENT_RANGE, header_value(value));
            let length = range.end - range.start;
            (StatusCode::PARTIAL_CONTENT, vec![Piece::File(range)], length)
        }
        Ranges::Partial(ranges) => {
            let multipart = range::multipart(&ranges, len, content_type.to_str().unwrap_or(""));
            let value = format!("multipart/byteranges; boundary={}", multipart.boundary);
            headers.insert(header::CONTENT_TYPE, header_value(value));
            (StatusCode::PARTIAL_CONTENT, multipart.pieces, multipart.length)
        }
    };
    headers.entry(header::CONTENT_TYPE).or_insert(content_type);
    if let Some(encoding) = found.encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));

    let body = if request.method == Method::HEAD {
        // hyper sends no body for HEAD and keeps the Content-Length set here.
        kairos_http::Body::empty()
    } else {
        body::stream(found.file, found.path, pieces)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The `Content-Type` of a file by its name's extension, `charset=utf-8` for text and
/// JavaScript; `application/octet-stream` when the extension says nothing.
fn content_type(name: &str) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(name).first() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let text =
        mime.type_() == mime_guess::mime::TEXT || mime.essence_str() == "application/javascript";
    let value = if text && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    };
    header_value(value)
}

/// A header value made here from numbers and known tokens.
fn header_value(value: String) -> HeaderValue {
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension_with_a_charset_for_text() {
        for (name, expected) in [
            ("a.txt", "text/plain; charset=utf-8"),
            ("index.html", "text/html; charset=utf-8"),
            ("site.css", "text/css; charset=utf-8"),
            ("data.json", "application/json"),
            ("logo.png", "image/png"),
            ("logo.svg", "image/svg+xml"),
            ("archive.tar.gz", "application/gzip"),
            ("no-extension", "application/octet-stream"),
            ("odd.zzzz", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), expected, "{name}");
        }
        let js = content_type("app.js");
        assert!(js.to_str().unwrap().ends_with("javascript; charset=utf-8"), "{js:?}");
    }
}
