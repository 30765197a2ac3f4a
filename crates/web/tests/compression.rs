//! `Compression` over real sockets: each encoding decodes back to the body, `Accept-Encoding`
//! is negotiated by q-value and the server's preference, what must not be compressed is not,
//! and a streamed body — SSE included, when asked — can be decoded chunk by chunk as it is
//! produced. Also checked with a real client: `curl --compressed`.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::StreamExt;
use http::{Method, StatusCode};
use kairos_web::middleware::{Compression, ContentEncoding, RouteLayer};
use kairos_web::sse::{Event, Sse};
use kairos_web::{ApiRouter, App, Bytes, StreamingResponse, TestClient, TestResponse, TestStream};

/// About 40 KB of text that compresses well but not trivially.
fn text() -> String {
    (0..800)
        .map(|i| format!("line {i:04}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

/// `bytes` decoded from `encoding` (`None`: as they are).
fn decode(encoding: Option<&str>, bytes: &[u8]) -> String {
    let mut decoded = String::new();
    match encoding {
        None => return String::from_utf8(bytes.to_vec()).unwrap(),
        Some("gzip") => flate2::read::GzDecoder::new(bytes).read_to_string(&mut decoded),
        Some("br") => brotli::Decompressor::new(bytes, 4096).read_to_string(&mut decoded),
        Some("zstd") => {
            zstd::stream::read::Decoder::new(bytes).unwrap().read_to_string(&mut decoded)
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    .unwrap_or_else(|e| panic!("the {encoding:?} body does not decode: {e}"));
    decoded
}

/// The body of `response`, decoded as its `Content-Encoding` says.
fn decoded(response: &TestResponse) -> String {
    decode(response.header("content-encoding"), response.bytes())
}

/// A decoder fed a compressed stream piece by piece, which tells what it has decoded so far.
enum Incremental {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Incremental {
    fn new(encoding: &str) -> Incremental {
        match encoding {
            "gzip" => Incremental::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "br" => Incremental::Br(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096))),
            "zstd" => Incremental::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap()),
            other => panic!("unexpected content-encoding {other}"),
        }
    }

    /// Feeds `bytes` and returns all the text decoded so far.
    fn feed(&mut self, bytes: &[u8]) -> String {
        let fed = match self {
            Incremental::Gzip(d) => d.write_all(bytes).and_then(|()| d.flush()),
            Incremental::Br(d) => d.write_all(bytes).and_then(|()| d.flush()),
            Incremental::Zstd(d) => d.write_all(bytes).and_then(|()| d.flush()),
        };
        fed.expect("the chunk decodes");
        let decoded = match self {
            Incremental::Gzip(d) => d.get_ref(),
            Incremental::Br(d) => d.get_ref(),
            Incremental::Zstd(d) => d.get_ref(),
        };
        String::from_utf8(decoded.clone()).unwrap()
    }

    /// Reads chunks from `stream` until the decoded text is `expected`; panics if the
    /// stream ends first (or after the client's 30 s read timeout: the bytes were held back).
    fn read_until(&mut self, stream: &mut TestStream, expected: &str) {
        let mut so_far = self.feed(&[]);
        while so_far != expected {
            assert!(expected.starts_with(&so_far), "decoded {so_far:?}, expected {expected:?}");
            let chunk = stream.next_chunk().unwrap_or_else(|| {
                panic!("the stream ended with {so_far:?} decoded, expected {expected:?}")
            });
            so_far = self.feed(&chunk);
        }
    }
}

fn big_text_app(compression: Compression) -> TestClient {
    TestClient::new(App::new().layer(compression).get("/text", || async { text() }))
}

#[test]
fn each_encoding_decodes_back_to_the_body_with_its_compressed_length() {
    let client = big_text_app(Compression::new());
    for encoding in ["gzip", "br", "zstd"] {
        let response = client.get("/text").header("accept-encoding", encoding).send();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert_eq!(response.header("vary"), Some("accept-encoding"));
        assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
        // A buffered body keeps a Content-Length: the compressed one.
        let length: usize = response.header("content-length").unwrap().parse().unwrap();
        assert_eq!(length, response.bytes().len());
        assert!(length < text().len() / 4, "{encoding}: {length} bytes");
        assert_eq!(decoded(&response), text(), "{encoding}");
    }
}

#[test]
fn accept_encoding_is_negotiated_by_q_value_then_by_the_servers_preference() {
    let table: &[(&str, Option<&str>)] = &[
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("zstd", Some("zstd")),
        ("GZip", Some("gzip")),
        ("x-gzip", Some("gzip")),
        // All equal: the server's preference, br > zstd > gzip.
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, zstd", Some("zstd")),
        // The client's q-values first.
        ("gzip;q=0.5, br", Some("br")),
        ("gzip, br;q=0.5", Some("gzip")),
        ("br;q=0.8, zstd;q=0.9, gzip;q=0.1", Some("zstd")),
        ("gzip;q=1.0, br;q=0.999", Some("gzip")),
        (" gzip ; q=0.2 ,br;Q=0.1", Some("gzip")),
        // `*` stands for what is not named.
        ("*", Some("br")),
        ("*;q=0.5, gzip", Some("gzip")),
        ("br;q=0, *", Some("zstd")),
        ("br;q=0, zstd;q=0, *;q=0.1", Some("gzip")),
        // Refusals, identity, and what the server does not know.
        ("gzip;q=0", None),
        ("*;q=0", None),
        ("identity", None),
        ("identity;q=0", None),
        ("identity, gzip;q=0.5", None),
        ("identity;q=0.5, gzip", Some("gzip")),
        ("identity, gzip", Some("gzip")),
        ("deflate, compress, lzma", None),
        ("", None),
        // A malformed item is ignored, the rest counts.
        ("gzip;q=high, br;q=0.2", Some("br")),
        ("gzip;q=2", None),
    ];
    let client = big_text_app(Compression::new());
    for &(accept, expected) in table {
        let response = client.get("/text").header("accept-encoding", accept).send();
        assert_eq!(response.header("content-encoding"), expected, "Accept-Encoding: {accept:?}");
        assert_eq!(response.header("vary"), Some("accept-encoding"), "{accept:?}");
        assert_eq!(decoded(&response), text(), "{accept:?}");
    }
    // No Accept-Encoding at all: as it is, but it still varies.
    let plain = client.get("/text").send();
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));
    assert_eq!(plain.text(), text());

    // The server's preference and the encodings it offers are its own.
    let zstd_first = big_text_app(Compression::new().prefer([ContentEncoding::Zstd]));
    let all = || zstd_first.get("/text").header("accept-encoding", "gzip, br, zstd");
    assert_eq!(all().send().header("content-encoding"), Some("zstd"));
    let no_br = big_text_app(Compression::new().br(false));
    let send = |accept| no_br.get("/text").header("accept-encoding", accept).send();
    assert_eq!(send("br, gzip").header("content-encoding"), Some("gzip"));
    assert_eq!(send("br").header("content-encoding"), None);
}

#[test]
fn small_bodies_are_left_alone_below_the_threshold() {
    let app = App::new()
        .layer(Compression::new())
        .get("/1023", || async { "a".repeat(1023) })
        .get("/1024", || async { "a".repeat(1024) });
    let client = TestClient::new(app);
    let small = client.get("/1023").header("accept-encoding", "gzip").send();
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.header("vary"), None, "it never varies");
    assert_eq!(small.header("content-length"), Some("1023"));
    let large = client.get("/1024").header("accept-encoding", "gzip").send();
    assert_eq!(large.header("content-encoding"), Some("gzip"));
    assert_eq!(decoded(&large), "a".repeat(1024));

    let lower =
        App::new().layer(Compression::new().min_size(100)).get("/", || async { "b".repeat(100) });
    let response = TestClient::new(lower).get("/").header("accept-encoding", "br").send();
    assert_eq!(response.header("content-encoding"), Some("br"));
}

#[test]
fn compressed_images_archives_and_already_encoded_bodies_are_left_alone() {
    let body = || Bytes::from(text());
    let app = App::new()
        .layer(Compression::new())
        .get("/png", move || async move { ([("content-type", "image/png")], body()) })
        .get("/zip", move || async move { ([("content-type", "application/zip")], body()) })
        .get("/mp4", move || async move { ([("content-type", "video/mp4")], body()) })
        .get("/svg", move || async move { ([("content-type", "image/svg+xml")], body()) })
        .get("/gzipped", move || async move {
            ([("content-type", "text/plain"), ("content-encoding", "gzip")], body())
        })
        .get("/no-transform", move || async move {
            ([("content-type", "text/plain"), ("cache-control", "public, no-transform")], body())
        });
    let client = TestClient::new(app);
    let get = |path| client.get(path).header("accept-encoding", "gzip, br, zstd").send();
    for path in ["/png", "/zip", "/mp4", "/no-transform"] {
        let response = get(path);
        assert_eq!(response.header("content-encoding"), None, "{path}");
        assert_eq!(response.header("vary"), None, "{path}");
        assert_eq!(response.text(), text(), "{path}");
    }
    let gzipped = get("/gzipped");
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.text(), text(), "passed through, not compressed again");
    let svg = get("/svg");
    assert_eq!(svg.header("content-encoding"), Some("br"), "SVG is text");
    assert_eq!(decoded(&svg), text());
}

#[test]
fn the_content_type_rule_can_be_replaced() {
    let no_json = Compression::new().compressible(|media_type| {
        media_type != "application/json" && Compression::compressible_by_default(media_type)
    });
    let app = App::new()
        .layer(no_json)
        .get("/json", || async { kairos_web::Json(vec![text()]) })
        .get("/text", || async { text() });
    let client = TestClient::new(app);
    let json = client.get("/json").header("accept-encoding", "gzip").send();
    assert_eq!(json.header("content-encoding"), None);
    let plain = client.get("/text").header("accept-encoding", "gzip").send();
    assert_eq!(plain.header("content-encoding"), Some("gzip"));
}

#[test]
fn vary_is_appended_the_etag_weakened_and_ranges_no_longer_offered() {
    let app = App::new().layer(Compression::new()).get("/", || async {
        let headers = [("vary", "origin"), ("etag", "\"v1\""), ("accept-ranges", "bytes")];
        (headers, text())
    });
    let client = TestClient::new(app);
    let response = client.get("/").header("accept-encoding", "gzip").send();
    let vary: Vec<_> =
        response.headers().get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(vary, ["origin", "accept-encoding"]);
    assert_eq!(response.header("etag"), Some("W/\"v1\""));
    assert_eq!(response.header("accept-ranges"), None);
    assert_eq!(decoded(&response), text());

    // Uncompressed for this client: the ETag is strong, ranges are offered, it still varies.
    let plain = client.get("/").send();
    assert_eq!(plain.header("etag"), Some("\"v1\""));
    assert_eq!(plain.header("accept-ranges"), Some("bytes"));
    assert_eq!(plain.headers().get_all("vary").iter().count(), 2);

    // A Vary that already names Accept-Encoding (or `*`) is left as it is.
    let named = App::new()
        .layer(Compression::new())
        .get("/", || async { ([("vary", "Accept-Encoding, Origin")], text()) });
    let response = TestClient::new(named).get("/").header("accept-encoding", "br").send();
    let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
    assert_eq!(vary, ["Accept-Encoding, Origin"]);
}

#[test]
fn bodiless_statuses_ranges_and_head_are_left_alone() {
    let app = App::new()
        .layer(Compression::new())
        .get("/text", || async { text() })
        .get("/no-content", || async { StatusCode::NO_CONTENT })
        .get("/not-modified", || async { (StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")], "") })
        .get("/range", || async {
            let headers = [("content-range", "bytes 0-9999/40000")];
            (StatusCode::PARTIAL_CONTENT, headers, text()[..10_000].to_owned())
        });
    let client = TestClient::new(app);
    let get = |path| client.get(path).header("accept-encoding", "gzip").send();
    assert_eq!(get("/no-content").header("content-encoding"), None);
    let not_modified = get("/not-modified");
    assert_eq!(not_modified.header("content-encoding"), None);
    assert_eq!(not_modified.header("etag"), Some("\"v1\""));
    let range = get("/range");
    assert_eq!(range.status(), 206);
    assert_eq!(range.header("content-encoding"), None);
    assert_eq!(range.text(), text()[..10_000]);

    let head = client.request(Method::HEAD, "/text").header("accept-encoding", "gzip").send();
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(head.header("vary"), None);
    assert_eq!(head.header("content-length"), Some(text().len().to_string().as_str()));
}

#[test]
fn a_body_that_does_not_shrink_is_sent_as_it_is() {
    // 8 KiB from a xorshift generator: no compressor makes it smaller.
    let noise: Vec<u8> = std::iter::successors(Some(0x9e37_79b9_7f4a_7c15_u64), |x| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 7);
        Some(x ^ (x << 17))
    })
    .take(1024)
    .flat_map(u64::to_le_bytes)
    .collect();
    let served = noise.clone();
    let app = App::new().layer(Compression::new()).get("/noise", move || {
        let noise = served.clone();
        async move { noise }
    });
    let client = TestClient::new(app);
    for encoding in ["gzip", "br", "zstd"] {
        let response = client.get("/noise").header("accept-encoding", encoding).send();
        assert_eq!(response.header("content-encoding"), None, "{encoding}");
        assert_eq!(response.header("vary"), Some("accept-encoding"));
        assert_eq!(&response.bytes()[..], &noise[..]);
    }
}

#[test]
fn layers_on_a_router_and_on_one_route_compress_their_routes_only() {
    let router =
        ApiRouter::new().prefix("/r").layer(Compression::new()).get("/text", || async { text() });
    let app = App::new()
        .include_router(router)
        .get("/route", (|| async { text() }).layer(Compression::new()))
        .get("/plain", || async { text() });
    let client = TestClient::new(app);
    let get = |path| client.get(path).header("accept-encoding", "zstd").send();
    assert_eq!(get("/r/text").header("content-encoding"), Some("zstd"));
    assert_eq!(get("/route").header("content-encoding"), Some("zstd"));
    assert_eq!(get("/plain").header("content-encoding"), None);
    assert_eq!(decoded(&get("/route")), text());
}

/// An App whose `/stream` sends, as they come, the chunks the test pushes into the channel;
/// the stream ends when the test drops the sender.
fn channel_app(compression: Compression) -> (TestClient, mpsc::UnboundedSender<String>) {
    let (sender, receiver) = mpsc::unbounded::<String>();
    let receiver = Arc::new(Mutex::new(Some(receiver)));
    let app = App::new().layer(compression).get("/stream", move || {
        let receiver = receiver.lock().unwrap().take().expect("one request");
        async move { StreamingResponse::new(receiver, "text/plain; charset=utf-8") }
    });
    (TestClient::new(app), sender)
}

#[test]
fn a_streamed_body_decodes_chunk_by_chunk_before_the_next_is_produced() {
    for encoding in ["gzip", "br", "zstd"] {
        let (client, sender) = channel_app(Compression::new());
        let first = "event one: the first chunk of a slow stream\n".to_owned();
        sender.unbounded_send(first.clone()).unwrap();
        let mut stream = client.get("/stream").header("accept-encoding", encoding).stream();
        assert_eq!(stream.headers()["content-encoding"], encoding);
        assert_eq!(stream.headers()["vary"], "accept-encoding");
        assert!(stream.headers().get("content-length").is_none());
        assert_eq!(stream.headers()["transfer-encoding"], "chunked");

        // The second chunk does not exist yet: the first must decode on its own.
        let mut decoder = Incremental::new(encoding);
        decoder.read_until(&mut stream, &first);

        let second = "event two: produced only after the first was read\n";
        sender.unbounded_send(second.to_owned()).unwrap();
        decoder.read_until(&mut stream, &format!("{first}{second}"));

        drop(sender); // the generator ends: the encoder's last block, then the end
        let mut rest = Vec::new();
        while let Some(chunk) = stream.next_chunk() {
            rest.extend_from_slice(&chunk);
        }
        assert_eq!(decoder.feed(&rest), format!("{first}{second}"));
        if let Incremental::Gzip(gzip) = decoder {
            gzip.finish().expect("the gzip trailer (CRC and length) is complete");
        }
    }
}

#[test]
fn chunks_ready_together_are_compressed_together() {
    // 100 chunks of 2 KiB, all ready at once: flushed every 64 KiB, not 100 times.
    let chunk = "0123456789abcdef".repeat(128);
    let expected = chunk.repeat(100);
    let app = App::new().layer(Compression::new()).get("/burst", move || {
        let chunk = chunk.clone();
        async move {
            let chunks = futures::stream::iter(std::iter::repeat_n(chunk, 100));
            StreamingResponse::new(chunks, "text/plain")
        }
    });
    let client = TestClient::new(app);
    let mut stream = client.get("/burst").header("accept-encoding", "gzip").stream();
    let mut body = Vec::new();
    let mut pieces = 0;
    while let Some(piece) = stream.next_chunk() {
        body.extend_from_slice(&piece);
        pieces += 1;
    }
    assert!(pieces <= 5, "{pieces} chunks on the wire for 200 KiB ready at once");
    assert_eq!(decode(Some("gzip"), &body), expected);
}

/// An App whose `/events` sends the events the test pushes, as they come.
fn sse_app(compression: Compression) -> (TestClient, mpsc::UnboundedSender<Event>) {
    let (sender, receiver) = mpsc::unbounded::<Event>();
    let receiver = Arc::new(Mutex::new(Some(receiver)));
    let app = App::new().layer(compression).get("/events", move || {
        let receiver = receiver.lock().unwrap().take().expect("one request");
        async move { Sse::new(receiver).no_keep_alive() }
    });
    (TestClient::new(app), sender)
}

#[test]
fn sse_is_left_alone_by_default() {
    let (client, sender) = sse_app(Compression::new());
    sender.unbounded_send(Event::default().data("tick 0")).unwrap();
    let mut stream = client.get("/events").header("accept-encoding", "gzip, br").stream();
    assert!(stream.headers().get("content-encoding").is_none());
    assert!(stream.headers().get("vary").is_none());
    assert_eq!(stream.next_event().unwrap().data, "tick 0");
    sender.unbounded_send(Event::default().data("tick 1")).unwrap();
    assert_eq!(stream.next_event().unwrap().data, "tick 1");
}

#[test]
fn compressed_sse_still_delivers_each_event_as_it_is_sent() {
    let (client, sender) = sse_app(Compression::new().compress_sse(true));
    let event = |n: u32| Event::default().id(&n.to_string()).data(format!("tick {n}"));
    sender.unbounded_send(event(0)).unwrap();
    let mut stream = client.get("/events").header("accept-encoding", "gzip, br").stream();
    assert_eq!(stream.headers()["content-encoding"], "br");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut decoder = Incremental::new("br");
    let mut expected = event(0).to_string();
    decoder.read_until(&mut stream, &expected);
    for n in 1..4 {
        sender.unbounded_send(event(n)).unwrap();
        expected.push_str(&event(n).to_string());
        decoder.read_until(&mut stream, &expected);
    }
}

/// Runs `curl --compressed` against `url` asking for `encoding`: (headers, decoded body).
fn curl(url: &str, encoding: &str) -> (String, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--compressed", "--dump-header", "/dev/stderr"])
        .args(["--header", &format!("accept-encoding: {encoding}"), url])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run curl ({e}): install it (scripts/test.sh does: apt-get install curl)")
        });
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    let headers = String::from_utf8(output.stderr).unwrap().to_ascii_lowercase();
    (headers, String::from_utf8(output.stdout).unwrap())
}

#[test]
fn curl_decodes_what_is_sent_buffered_and_streamed() {
    let app = App::new().layer(Compression::new()).get("/text", || async { text() }).get(
        "/lines",
        || async {
            // Lines with pauses between them: the body is flushed several times.
            let lines =
                futures::stream::iter(text().lines().map(|l| format!("{l}\n")).collect::<Vec<_>>())
                    .then(|line| async move {
                        kairos_web::rt::sleep(std::time::Duration::from_millis(1)).await;
                        line
                    })
                    .take(50);
            StreamingResponse::new(lines, "text/plain")
        },
    );
    let client = TestClient::new(app);
    let fifty: String = text().lines().take(50).map(|l| format!("{l}\n")).collect();
    for encoding in ["gzip", "br", "zstd"] {
        let (headers, body) = curl(&format!("http://{}/text", client.addr()), encoding);
        assert!(headers.contains(&format!("content-encoding: {encoding}\r\n")), "{headers}");
        assert_eq!(body, text(), "{encoding}");
        let (headers, body) = curl(&format!("http://{}/lines", client.addr()), encoding);
        assert!(headers.contains("transfer-encoding: chunked"), "{headers}");
        assert_eq!(body, fifty, "{encoding}, streamed");
    }
}
