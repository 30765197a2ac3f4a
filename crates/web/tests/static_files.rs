//! StaticFiles, black-box over real loopback sockets: a directory made in the temp dir for
//! each test, served by a TestClient (or raw bytes where the protocol matters), and read
//! back by a real `curl` in the last test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kairos_web::openapi::DocsConfig;
use kairos_web::{App, StaticFiles, TestClient, TestResponse};

/// What lies beside the served directory, and must never come out of it.
const SECRET: &str = "TOP-SECRET-4d1c9e";
const HELLO: &str = "hello, static world\n";

/// A directory tree in the temp dir, removed when dropped:
///
/// ```text
/// {base}/secret.txt          the secret, outside the root
/// {base}/public/             the root
///     hello.txt  style.css  data.json  logo.png  blob  empty.txt
///     index.html  sub/index.html  sub/page.txt  bare/ (no index)
///     app.js  app.js.br  app.js.gz  only-gz.css  only-gz.css.gz
///     .env  .well-known/security.txt
/// ```
struct Site {
    base: PathBuf,
    root: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base =
            std::env::temp_dir().join(format!("kairos-static-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("public");
        let site = Site { base, root };
        site.write("../secret.txt", SECRET.as_bytes());
        site.write("hello.txt", HELLO.as_bytes());
        site.write("style.css", b"body { color: red }");
        site.write("data.json", b"{\"a\": 1}");
        site.write("logo.png", b"\x89PNG\r\n\x1a\n(not really)");
        site.write("blob", b"no extension");
        site.write("empty.txt", b"");
        site.write("index.html", b"<h1>home</h1>");
        site.write("sub/index.html", b"<h1>sub</h1>");
        site.write("sub/page.txt", b"a page");
        std::fs::create_dir_all(site.root.join("bare")).unwrap();
        site.write("app.js", b"console.log('plain')");
        site.write("app.js.br", b"BROTLI-BYTES");
        site.write("app.js.gz", b"GZIP-BYTES!");
        site.write("only-gz.css", b"p { margin: 0 }");
        site.write("only-gz.css.gz", b"GZ-CSS");
        site.write(".env", format!("PASSWORD={SECRET}").as_bytes());
        site.write(".well-known/security.txt", b"Contact: mailto:security@example.com");
        site
    }

    fn write(&self, relative: &str, contents: &[u8]) {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn files(&self) -> StaticFiles {
        StaticFiles::new(&self.root)
    }

    fn client(&self, files: StaticFiles) -> TestClient {
        TestClient::new(App::new().mount_static("/static", files))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Sends `request` as is (it must say `Connection: close`) and reads until the server
/// closes: the head as text, and every byte after it.
fn raw(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
    let body = response.split_off(end);
    (String::from_utf8(response).unwrap(), body)
}

fn header<'a>(response: &'a TestResponse, name: &str) -> &'a str {
    response.header(name).unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
}

/// The response's headers but `Date` (which changes with the second).
fn without_date(response: &TestResponse) -> Vec<(String, String)> {
    let headers = response.headers().iter().filter(|(name, _)| *name != "date");
    headers.map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned())).collect()
}

/// The file's modification time as an HTTP-date, as the server must send it.
fn http_date_of(path: &Path) -> String {
    httpdate::fmt_http_date(std::fs::metadata(path).unwrap().modified().unwrap())
}

#[test]
fn a_file_gets_200_with_its_type_length_validators_and_body() {
    let site = Site::new("get");
    let client = site.client(site.files());
    let response = client.get("/static/hello.txt").send();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), HELLO);
    assert_eq!(header(&response, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&response, "content-length"), HELLO.len().to_string());
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "last-modified"), http_date_of(&site.path("hello.txt")));
    let etag = header(&response, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "strong: {etag}");
    assert_eq!(response.header("cache-control"), None, "none unless configured");
    assert_eq!(response.header("vary"), None, "nothing varies without precompressed files");

    for (path, content_type) in [
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/data.json", "application/json"),
        ("/static/logo.png", "image/png"),
        ("/static/blob", "application/octet-stream"),
        ("/static/sub/page.txt", "text/plain; charset=utf-8"),
    ] {
        let response = client.get(path).send();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), content_type, "{path}");
    }
    let empty = client.get("/static/empty.txt").send();
    assert_eq!((empty.status().as_u16(), header(&empty, "content-length")), (200, "0"));
    assert!(empty.bytes().is_empty());
}

#[test]
fn cache_control_and_nosniff_are_configured_on_the_mount() {
    let site = Site::new("cache");
    let files = site.files().cache_control("public, max-age=60").nosniff(false);
    let client = site.client(files);
    let response = client.get("/static/hello.txt").send();
    assert_eq!(header(&response, "cache-control"), "public, max-age=60");
    assert_eq!(response.header("x-content-type-options"), None);
    let etag = header(&response, "etag").to_owned();
    let not_modified = client.get("/static/hello.txt").header("if-none-match", &etag).send();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, "cache-control"), "public, max-age=60", "on a 304 too");
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let site = Site::new("head");
    let client = site.client(site.files());
    let get = client.get("/static/hello.txt").send();
    let (head, body) = raw(
        client.addr(),
        "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(body.is_empty(), "HEAD sent a body: {body:?}");
    for name in ["content-type", "content-length", "etag", "last-modified", "accept-ranges"] {
        let line = format!("{name}: {}\r\n", header(&get, name));
        assert!(head.contains(&line), "{line:?} missing from HEAD's head:\n{head}");
    }
    // A ranged HEAD describes the slice it would send.
    let (head, body) = raw(
        client.addr(),
        "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{head}");
    assert!(head.contains("content-length: 5\r\n"), "{head}");
    assert!(body.is_empty());
}

#[test]
fn a_current_etag_or_date_gets_304_with_no_body() {
    let site = Site::new("304");
    let client = site.client(site.files());
    let first = client.get("/static/hello.txt").send();
    let etag = header(&first, "etag").to_owned();
    let date = header(&first, "last-modified").to_owned();

    let by_etag = client.get("/static/hello.txt").header("if-none-match", &etag).send();
    assert_eq!(by_etag.status(), 304);
    assert_eq!(header(&by_etag, "etag"), etag);
    assert_eq!(header(&by_etag, "last-modified"), date);
    let listed = format!("\"stale\", W/{etag}");
    let by_list = client.get("/static/hello.txt").header("if-none-match", &listed).send();
    assert_eq!(by_list.status(), 304, "If-None-Match compares weakly, in a list");

    let by_date = client.get("/static/hello.txt").header("if-modified-since", &date).send();
    assert_eq!(by_date.status(), 304);
    let older = "Thu, 01 Jan 2015 00:00:00 GMT";
    let changed = client.get("/static/hello.txt").header("if-modified-since", older).send();
    assert_eq!((changed.status().as_u16(), changed.text()), (200, HELLO.to_owned()));

    // If-None-Match takes precedence: a stale tag with a current date is a 200.
    let stale = client
        .get("/static/hello.txt")
        .header("if-none-match", "\"stale\"")
        .header("if-modified-since", &date)
        .send();
    assert_eq!(stale.status(), 200);

    // A 304 has no body, on the wire.
    let request = format!(
        "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\
         Connection: close\r\n\r\n"
    );
    let (head, body) = raw(client.addr(), &request);
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    assert!(body.is_empty(), "{body:?}");
}

#[test]
fn if_match_and_if_unmodified_since_refuse_another_version_with_412() {
    let site = Site::new("412");
    let client = site.client(site.files());
    let first = client.get("/static/hello.txt").send();
    let etag = header(&first, "etag").to_owned();
    let get = |name: &str, value: &str| client.get("/static/hello.txt").header(name, value).send();
    assert_eq!(get("if-match", &etag).status(), 200);
    let failed = get("if-match", "\"another\"");
    assert_eq!(failed.status(), 412);
    assert_eq!(failed.text(), r#"{"detail":"Precondition Failed"}"#);
    assert_eq!(get("if-unmodified-since", "Thu, 01 Jan 2015 00:00:00 GMT").status(), 412);
    assert_eq!(get("if-unmodified-since", header(&first, "last-modified")).status(), 200);
}

#[test]
fn each_form_of_range_gets_206_and_a_range_past_the_end_416() {
    let site = Site::new("range");
    let client = site.client(site.files());
    let len = HELLO.len();
    let range = |value: &str| client.get("/static/hello.txt").header("range", value).send();
    for (value, start, end) in [
        ("bytes=0-4", 0, 4),
        ("bytes=7-", 7, len - 1),
        ("bytes=-6", len - 6, len - 1),
        ("bytes=3-3", 3, 3),
        ("bytes=5-10000", 5, len - 1),
    ] {
        let response = range(value);
        assert_eq!(response.status(), 206, "{value}");
        assert_eq!(header(&response, "content-range"), format!("bytes {start}-{end}/{len}"));
        assert_eq!(header(&response, "content-length"), (end - start + 1).to_string());
        assert_eq!(response.text(), HELLO[start..=end], "{value}");
        assert_eq!(header(&response, "content-type"), "text/plain; charset=utf-8");
    }

    let past = range(&format!("bytes={len}-"));
    assert_eq!(past.status(), 416);
    assert_eq!(header(&past, "content-range"), format!("bytes */{len}"));
    assert_eq!(past.text(), r#"{"detail":"Range Not Satisfiable"}"#);
    assert_eq!(range("bytes=-0").status(), 416);

    // Not valid, or another unit: ignored, the whole file.
    for value in ["bytes=9-2", "bytes=x-y", "lines=0-1", "bytes"] {
        let response = range(value);
        assert_eq!((response.status().as_u16(), response.text()), (200, HELLO.to_owned()));
    }
}

#[test]
fn several_ranges_are_sent_as_multipart_byteranges() {
    let site = Site::new("multipart");
    let client = site.client(site.files());
    let len = HELLO.len();
    let response = client.get("/static/hello.txt").header("range", "bytes=7-12,0-4").send();
    assert_eq!(response.status(), 206);
    let content_type = header(&response, "content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let expected = format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-4/{len}\
         \r\n\r\n{}\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Range: bytes 7-12/{len}\r\n\r\n{}\r\n--{boundary}--\r\n",
        &HELLO[0..5],
        &HELLO[7..13],
    );
    assert_eq!(response.text(), expected);
    assert_eq!(header(&response, "content-length"), expected.len().to_string());

    // Ranges that overlap are merged: one part left is a plain 206.
    let merged = client.get("/static/hello.txt").header("range", "bytes=0-4,3-8").send();
    assert_eq!(header(&merged, "content-range"), format!("bytes 0-8/{len}"));
    assert_eq!(merged.text(), HELLO[0..9]);
}

#[test]
fn if_range_naming_another_version_gets_the_whole_file() {
    let site = Site::new("if-range");
    let client = site.client(site.files());
    let first = client.get("/static/hello.txt").send();
    let etag = header(&first, "etag").to_owned();
    let date = header(&first, "last-modified").to_owned();
    let ranged = |if_range: &str| {
        client.get("/static/hello.txt").header("range", "bytes=0-4").header("if-range", if_range)
    };
    let stale = ranged("\"an-older-version\"").send();
    assert_eq!((stale.status().as_u16(), stale.text()), (200, HELLO.to_owned()));
    let old_date = ranged("Thu, 01 Jan 2015 00:00:00 GMT").send();
    assert_eq!(old_date.status(), 200);
    assert_eq!(ranged(&format!("W/{etag}")).send().status(), 200, "If-Range compares strongly");

    let current = ranged(&etag).send();
    assert_eq!((current.status().as_u16(), current.text()), (206, HELLO[..5].to_owned()));
    assert_eq!(ranged(&date).send().status(), 206);
}

#[test]
fn precompressed_variants_follow_accept_encoding() {
    let site = Site::new("precompressed");
    let client = site.client(site.files().precompressed(true));
    let get = |path: &str, accept: Option<&str>| {
        let request = client.get(path);
        match accept {
            Some(accept) => request.header("accept-encoding", accept),
            None => request,
        }
        .send()
    };
    // (accept-encoding, the encoding sent, the body)
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br"), Some("br"), "BROTLI-BYTES"),
        (Some("gzip"), Some("gzip"), "GZIP-BYTES!"),
        (Some("br;q=0, gzip"), Some("gzip"), "GZIP-BYTES!"),
        (Some("gzip;q=1.0, br;q=0.4"), Some("gzip"), "GZIP-BYTES!"),
        (Some("*"), Some("br"), "BROTLI-BYTES"),
        (Some("gzip;q=0, br;q=0"), None, "console.log('plain')"),
        (Some("identity"), None, "console.log('plain')"),
        (None, None, "console.log('plain')"),
    ] {
        let response = get("/static/app.js", accept);
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(response.header("content-encoding"), encoding, "{accept:?}");
        assert_eq!(response.text(), body, "{accept:?}");
        assert_eq!(header(&response, "content-length"), body.len().to_string());
        assert_eq!(header(&response, "vary"), "accept-encoding", "{accept:?}");
        let content_type = header(&response, "content-type");
        assert!(content_type.ends_with("javascript; charset=utf-8"), "{content_type}");
    }
    // Each representation has its own tag: a br tag does not validate the gzip body.
    let br = get("/static/app.js", Some("br"));
    let gzip = get("/static/app.js", Some("gzip"));
    let plain = get("/static/app.js", None);
    let tags = [header(&br, "etag"), header(&gzip, "etag"), header(&plain, "etag")];
    assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2], "{tags:?}");
    let revalidated = client
        .get("/static/app.js")
        .header("accept-encoding", "br")
        .header("if-none-match", tags[0]);
    let revalidated = revalidated.send();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(header(&revalidated, "vary"), "accept-encoding");

    // Only a .gz beside it: br is wanted but gzip is what exists.
    let css = get("/static/only-gz.css", Some("br, gzip"));
    assert_eq!(css.header("content-encoding"), Some("gzip"));
    assert_eq!(css.text(), "GZ-CSS");
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    // No variant at all: as it is.
    let hello = get("/static/hello.txt", Some("br, gzip"));
    assert_eq!((hello.header("content-encoding"), hello.text()), (None, HELLO.to_owned()));

    // A range of an encoded file is a range of its encoded bytes.
    let ranged = client
        .get("/static/app.js")
        .header("accept-encoding", "br")
        .header("range", "bytes=0-5")
        .send();
    assert_eq!(ranged.status(), 206);
    assert_eq!(header(&ranged, "content-range"), "bytes 0-5/12");
    assert_eq!((ranged.header("content-encoding"), ranged.text()), (Some("br"), "BROTLI".into()));

    // Off (the default), the variants are never chosen.
    let off = site.client(site.files());
    let response = off.get("/static/app.js").header("accept-encoding", "br, gzip").send();
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.text(), "console.log('plain')");
}

#[test]
fn a_five_megabyte_file_is_streamed_whole_and_in_slices() {
    let site = Site::new("large");
    let len = 5 * 1024 * 1024 + 123;
    let contents: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    site.write("large.bin", &contents);
    let client = site.client(site.files());

    let whole = client.get("/static/large.bin").send();
    assert_eq!(whole.status(), 200);
    assert_eq!(header(&whole, "content-length"), len.to_string());
    assert_eq!(header(&whole, "content-type"), "application/octet-stream");
    assert!(whole.bytes()[..] == contents[..], "the 5 MB body differs from the file");

    // A slice across several 64 KiB chunks, not starting at one.
    let (start, end) = (65_530, 1_000_000);
    let slice = client.get("/static/large.bin").header("range", &format!("bytes={start}-{end}"));
    let slice = slice.send();
    assert_eq!(slice.status(), 206);
    assert!(slice.bytes()[..] == contents[start..=end], "the slice differs from the file");
    // Two slices far apart, in one multipart body.
    let parts = client.get("/static/large.bin").header("range", "bytes=10-19,-10").send();
    let body = parts.bytes();
    assert!(body.windows(10).any(|w| w == &contents[10..20]));
    assert!(body.windows(10).any(|w| w == &contents[len - 10..]));
}

#[test]
fn directories_answer_with_their_index_or_not_at_all() {
    let site = Site::new("index");
    let client = site.client(site.files());
    let root = client.get("/static/").send();
    assert_eq!((root.status().as_u16(), root.text()), (200, "<h1>home</h1>".into()));
    assert_eq!(header(&root, "content-type"), "text/html; charset=utf-8");
    let sub = client.get("/static/sub/").send();
    assert_eq!((sub.status().as_u16(), sub.text()), (200, "<h1>sub</h1>".into()));

    // Without the slash: a redirect, so that the page's relative links resolve; relative
    // itself, so that it holds under a prefix a proxy strips.
    for (path, location) in [
        ("/static/sub", "./sub/"),
        ("/static", "./static/"),
        ("/static/sub?lang=en", "./sub/?lang=en"),
    ] {
        let response = client.get(path).send();
        assert_eq!(response.status(), 307, "{path}");
        assert_eq!(header(&response, "location"), location, "{path}");
    }
    // No index, a file asked for as a directory, a missing one: 404.
    for path in ["/static/bare/", "/static/bare", "/static/hello.txt/", "/static/nope/"] {
        let response = client.get(path).send();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.text(), r#"{"detail":"Not Found"}"#);
    }

    // With the index off, directories are 404 and the mount has one route.
    let no_index = site.files().index(false);
    let app = App::new().mount_static("/static", no_index.clone());
    assert_eq!(app.routes().len(), 1);
    let client = site.client(no_index);
    for path in ["/static/", "/static/sub/", "/static/sub", "/static"] {
        assert_eq!(client.get(path).send().status(), 404, "{path}");
    }
    assert_eq!(client.get("/static/sub/index.html").send().status(), 200);
}

#[test]
fn traversal_is_refused_with_a_404_that_leaks_nothing() {
    let site = Site::new("traversal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(site.base.join("secret.txt"), site.path("link-out")).unwrap();
        symlink(&site.base, site.path("dir-out")).unwrap();
        symlink(site.path(".env"), site.path("env-link")).unwrap();
        symlink("/etc/passwd", site.path("passwd")).unwrap();
    }
    let client = site.client(site.files());
    let missing = client.get("/static/no-such-file.txt").send();
    let base = site.base.to_str().unwrap();
    let paths = [
        "/static/../Cargo.toml",
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/static/a/..%2f..%2fsecret.txt",
        "/static/sub/../../secret.txt",
        "/static/..%5csecret.txt",
        "/static/..%5c..%5csecret.txt",
        "/static/%5c..%5csecret.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/hello.txt%00.png",
        "/static/%252e%252e/secret.txt",
        "/static/.env",
        "/static/%2eenv",
        "/static/.well-known/security.txt",
        #[cfg(unix)]
        "/static/link-out",
        #[cfg(unix)]
        "/static/dir-out/secret.txt",
        #[cfg(unix)]
        "/static/env-link",
        #[cfg(unix)]
        "/static/passwd",
    ];
    for path in paths {
        let response = client.get(path).send();
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text();
        assert_eq!(body, r#"{"detail":"Not Found"}"#, "{path}");
        assert!(!body.contains(SECRET) && !body.contains(base), "{path} leaked: {body}");
        // Exactly what a missing file gets: nothing tells a refusal from an absence.
        assert_eq!(without_date(&response), without_date(&missing), "{path}");
    }

    // Over raw bytes, for what a client library would clean up first.
    for target in ["/static/../secret.txt", "/static/sub/%2e%2e/%2e%2e/secret.txt"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (head, body) = raw(client.addr(), &request);
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{target}: {head}");
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains(SECRET) && !body.contains(base), "{target} leaked: {body}");
    }
    // A raw backslash passes HTTP parsing and routing; the mount refuses it.
    let (head, body) = raw(
        client.addr(),
        "GET /static/..\\secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, br#"{"detail":"Not Found"}"#);
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_root_are_followed() {
    let site = Site::new("symlink-in");
    std::os::unix::fs::symlink(site.path("hello.txt"), site.path("greeting")).unwrap();
    std::os::unix::fs::symlink(site.path("sub"), site.path("section")).unwrap();
    let client = site.client(site.files());
    assert_eq!(client.get("/static/greeting").send().text(), HELLO);
    assert_eq!(client.get("/static/section/page.txt").send().text(), "a page");
    assert_eq!(client.get("/static/section/").send().text(), "<h1>sub</h1>");
}

#[test]
fn hidden_files_are_served_only_when_allowed() {
    let site = Site::new("hidden");
    let client = site.client(site.files().allow_hidden(true));
    let response = client.get("/static/.well-known/security.txt").send();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "Contact: mailto:security@example.com");
    // Parents stay out of reach.
    for path in [
        "/static/../secret.txt",
        "/static/.well-known/../../secret.txt",
        "/static/%2e%2e/secret.txt",
    ] {
        assert_eq!(client.get(path).send().status(), 404, "{path}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_root_is_a_404_not_a_hung_request() {
    let site = Site::new("fifo");
    let fifo = site.path("pipe.txt");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let client = site.client(site.files());
    assert_eq!(client.get("/static/pipe.txt").send().status(), 404);
    // The pool thread was never blocked on it: the next request is answered.
    assert_eq!(client.get("/static/hello.txt").send().status(), 200);
}

#[test]
fn a_missing_root_answers_404() {
    let missing = std::env::temp_dir().join(format!("kairos-static-none-{}", std::process::id()));
    let client = TestClient::new(App::new().mount_static("/static", StaticFiles::new(missing)));
    let response = client.get("/static/hello.txt").send();
    assert_eq!(
        (response.status().as_u16(), response.text()),
        (404, r#"{"detail":"Not Found"}"#.into())
    );
}

#[test]
fn other_methods_get_405_from_the_router() {
    let site = Site::new("405");
    let client = site.client(site.files());
    let response = client.post("/static/hello.txt").send();
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "GET, HEAD");
}

#[test]
fn a_mount_lives_beside_routes_at_any_prefix_and_out_of_the_openapi_document() {
    let site = Site::new("prefix");
    let app = App::new()
        .get("/api/health", || async { "ok" })
        .nest("/v1", App::new().mount_static("/assets", site.files()));
    assert_eq!(app.openapi()["paths"].as_object().unwrap().len(), 1, "only /api/health");
    let client = TestClient::new(app);
    assert_eq!(client.get("/v1/assets/sub/page.txt").send().text(), "a page");
    assert_eq!(header(&client.get("/v1/assets/sub").send(), "location"), "./sub/");
    assert_eq!(client.get("/v1/assets/../secret.txt").send().status(), 404);
    assert_eq!(client.get("/v1/assets/a/..%2f..%2fsecret.txt").send().status(), 404);
    assert!(client.get("/openapi.json").send().text().contains("/api/health"));

    // At the root, the mount answers every GET no route has — the docs' URLs too, so the
    // docs move or go.
    let app = App::new()
        .get("/api/health", || async { "ok" })
        .mount_static("/", site.files())
        .docs(DocsConfig { openapi_url: None, ..DocsConfig::default() });
    let client = TestClient::new(app);
    assert_eq!(client.get("/api/health").send().text(), "ok");
    assert_eq!(client.get("/hello.txt").send().text(), HELLO);
    assert_eq!(client.get("/").send().text(), "<h1>home</h1>");
    assert_eq!(client.get("/sub/page.txt").send().text(), "a page");
    assert_eq!(client.get("/../secret.txt").send().status(), 404);
}

#[test]
#[should_panic(expected = "must start with '/' and not end with it")]
fn a_prefix_with_a_trailing_slash_is_refused_at_once() {
    let _ = App::new().mount_static("/static/", StaticFiles::new("."));
}

// ---- a real client ----

/// Whether `curl` can be run: found on the `PATH`, or installed with apt-get when missing
/// and this runs as root. When it cannot, says so: the test that needs it is then skipped.
fn have_curl() -> bool {
    let on_path = || {
        Command::new("sh")
            .args(["-c", "command -v curl"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if on_path() {
        return true;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        eprintln!("SKIPPED: curl is not installed and this user is not root to install it");
        return false;
    }
    let apt_get = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let installed = apt_get(&["update"]) && apt_get(&["install", "-y", "curl"]);
    assert!(installed && on_path(), "curl is missing and `apt-get install -y curl` failed");
    true
}

/// Runs curl with `args`; returns its standard output.
fn run_curl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn curl_gets_ranges_304s_and_precompressed_files() {
    if !have_curl() {
        return;
    }
    let site = Site::new("curl");
    // A real gzip file, for curl to decode.
    let original = "function hello() { return 'hello from a real gzip file'; }\n".repeat(20);
    site.write("real.js", original.as_bytes());
    let gzipped = Command::new("gzip").args(["-k", "-9"]).arg(site.path("real.js")).status();
    assert!(gzipped.expect("gzip runs").success());
    let client = site.client(site.files().precompressed(true));
    let url = |path: &str| format!("http://{}{path}", client.addr());

    // Range: curl -r 0-9.
    let headers = site.base.join("headers.txt");
    let headers_arg = headers.to_str().unwrap();
    let body = run_curl(&["-r", "0-9", "-D", headers_arg, &url("/static/hello.txt")]);
    assert_eq!(body, HELLO.as_bytes()[..10]);
    let head = std::fs::read_to_string(&headers).unwrap();
    assert!(head.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{head}");
    assert!(head.contains(&format!("content-range: bytes 0-9/{}\r\n", HELLO.len())), "{head}");

    // 304 by date: curl -z <file> sends the file's time as If-Modified-Since.
    let hello = site.path("hello.txt");
    let code = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        all.extend_from_slice(args);
        String::from_utf8(run_curl(&all)).unwrap()
    };
    assert_eq!(code(&["-z", hello.to_str().unwrap(), &url("/static/hello.txt")]), "304");
    assert_eq!(code(&["-z", "1 Jan 2015", &url("/static/hello.txt")]), "200");

    // 304 by ETag.
    run_curl(&["-D", headers_arg, "-o", "/dev/null", &url("/static/hello.txt")]);
    let head = std::fs::read_to_string(&headers).unwrap();
    let etag = head
        .lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no etag in {head}"));
    let if_none_match = format!("If-None-Match: {etag}");
    assert_eq!(code(&["-H", &if_none_match, &url("/static/hello.txt")]), "304");

    // --compressed: curl asks for br and gzip, gets the .gz beside the file (there is no .br),
    // and decodes it to the original.
    let decoded = run_curl(&["--compressed", "-D", headers_arg, &url("/static/real.js")]);
    assert_eq!(String::from_utf8(decoded).unwrap(), original);
    let head = std::fs::read_to_string(&headers).unwrap();
    assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
    let raw_gzip = run_curl(&["-H", "Accept-Encoding: gzip", &url("/static/real.js")]);
    assert_eq!(raw_gzip, std::fs::read(site.path("real.js.gz")).unwrap(), "the .gz as it is");

    // Traversal, with curl told not to clean the path up.
    let refused = run_curl(&["--path-as-is", &url("/static/../secret.txt")]);
    assert_eq!(String::from_utf8(refused).unwrap(), r#"{"detail":"Not Found"}"#);
}
