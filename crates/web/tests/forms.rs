//! Forms and uploads over real loopback sockets: `Form<T>` read and validated as FastAPI's
//! `Form()`, multipart streamed field by field, files spooled to memory or disk, per-route
//! limits answered with 413 — and nothing of a refused upload left on disk.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kairos_http::ServerConfig;
use kairos_web::multipart::{Multipart, MultipartLimits};
use kairos_web::{sync, App, Form, FormData, HttpError, Json, MultipartConfig, TestClient};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use support::wait_until;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// How long a test waits for the server to have removed its files: a bound against a hang,
/// not a verdict on speed.
const CLEANUP: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The app under test.

#[derive(Deserialize, JsonSchema, Debug)]
struct Signup {
    #[schemars(length(min = 3))]
    username: String,
    #[schemars(range(min = 18))]
    age: u32,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    newsletter: bool,
    nickname: Option<String>,
}

async fn signup(Form(form): Form<Signup>) -> Json<Value> {
    Json(json!({
        "username": form.username, "age": form.age, "tags": form.tags,
        "newsletter": form.newsletter, "nickname": form.nickname,
    }))
}

/// Every part in order: name, file name, content type and size, read chunk by chunk.
async fn fields(mut multipart: Multipart) -> Result<Json<Value>, HttpError> {
    let mut seen = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        let (name, file_name, content_type) = (
            field.name().to_owned(),
            field.file_name().map(str::to_owned),
            field.content_type().map(str::to_owned),
        );
        let (mut size, mut chunks) = (0, 0);
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
            chunks += 1;
        }
        assert!(size == 0 || chunks > 0);
        seen.push(json!({"name": name, "file_name": file_name, "content_type": content_type,
                         "size": size}));
    }
    Ok(Json(Value::Array(seen)))
}

/// The form's text fields, and each file with where it was kept and the SHA-256 of what
/// `read` gives back.
async fn upload(mut form: FormData) -> Result<Json<Value>, HttpError> {
    let texts: Vec<Value> = form.texts().iter().map(|(n, v)| json!([n, v])).collect();
    let mut files = Vec::new();
    for name in ["doc", "other"] {
        for mut file in form.take_files(name) {
            let mut hasher = Sha256::new();
            let mut buf = vec![0; 64 * KIB];
            loop {
                let n = file.read(&mut buf).await.map_err(|_| HttpError::internal())?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            // Read again from the start, whole: the same bytes.
            file.seek(0);
            let mut all = Vec::new();
            file.read_to_end(&mut all).await.map_err(|_| HttpError::internal())?;
            let whole = file.bytes().await.map_err(|_| HttpError::internal())?;
            assert_eq!(all.len() as u64, file.size());
            assert!(whole == all);
            files.push(json!({
                "name": file.name(), "filename": file.filename(),
                "content_type": file.content_type(), "size": file.size(),
                "in_memory": file.is_in_memory(),
                "on_disk": file.path().is_some_and(|p| p.exists()),
                "sha256": format!("{:x}", hasher.finalize()),
            }));
        }
    }
    Ok(Json(json!({"texts": texts, "files": files})))
}

/// Keeps the file `doc` at the path given in the field `to`.
async fn keep(mut form: FormData) -> Result<String, HttpError> {
    let to = form.text("to").ok_or_else(|| HttpError::bad_request("no `to`"))?.to_owned();
    let file = form.take_file("doc")?;
    let was_on_disk = !file.is_in_memory();
    file.persist(&to).await.map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(format!("kept (spooled: {was_on_disk})"))
}

/// A `def` route: the form is read on the loop, then handed to a pool thread, where a
/// spooled file may be read with `std::fs` — and is removed when the form drops there.
fn sizes_on_a_thread(form: FormData) -> String {
    let file = form.file("doc").expect("a file named doc");
    let on_disk = file.path().map(|path| std::fs::metadata(path).unwrap().len());
    format!("{} bytes, on disk: {on_disk:?}", file.size())
}

/// A route of its own limits: files of at most 512 KiB.
struct Small;

impl MultipartLimits for Small {
    fn limits(app: MultipartConfig) -> MultipartConfig {
        app.max_file_size(512 * KIB as u64)
    }
}

async fn small(form: FormData<Small>) -> String {
    format!("{} files", form.files().len())
}

/// A route that takes one file named `doc`, a `title`, and a body of at most 1 MiB.
struct OneDoc;

impl MultipartLimits for OneDoc {
    fn limits(app: MultipartConfig) -> MultipartConfig {
        app.allowed_fields(["doc", "title"]).max_files(1).max_body_size(MIB as u64)
    }
}

async fn one_doc(form: FormData<OneDoc>) -> String {
    format!("{} files", form.files().len())
}

/// The App, whose uploads spool to `dir` past 64 KiB.
fn app(dir: &Path) -> App {
    App::new()
        .with_state(MultipartConfig::new().temp_dir(dir).spool_threshold(64 * KIB))
        .post("/signup", signup)
        .post("/fields", fields)
        .post("/upload", upload)
        .post("/keep", keep)
        .post("/sync", sync(sizes_on_a_thread))
        .post("/small", small)
        .post("/one-doc", one_doc)
}

/// A served App and the temporary directory its uploads go to.
struct Served {
    client: TestClient,
    dir: tempfile::TempDir,
}

fn serve() -> Served {
    serve_with(ServerConfig { max_body_size: Some(64 * MIB as u64), ..ServerConfig::default() })
}

fn serve_with(config: ServerConfig) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let client = TestClient::with_config(app(dir.path()), config);
    Served { client, dir }
}

impl Served {
    /// The files in the upload directory now.
    fn files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path()).unwrap().map(|e| e.unwrap().path()).collect()
    }

    /// Waits (generously) until the upload directory is empty; says whether it became so.
    fn emptied(&self) -> bool {
        wait_until(CLEANUP, || self.files().is_empty())
    }
}

// ---------------------------------------------------------------------------------------
// Bodies.

enum Part<'a> {
    Text(&'a str, &'a str),
    File { name: &'a str, filename: &'a str, content_type: &'a str, data: &'a [u8] },
}

const BOUNDARY: &str = "kairos-test-boundary-7MA4YWxkTrZu0gW";

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        write!(body, "--{BOUNDARY}\r\n").unwrap();
        match part {
            Part::Text(name, value) => {
                write!(body, "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                    .unwrap();
            }
            Part::File { name, filename, content_type, data } => {
                write!(
                    body,
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: {content_type}\r\n\r\n"
                )
                .unwrap();
                body.extend_from_slice(data);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    body
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// `len` bytes that do not repeat (xorshift), so a misplaced chunk changes the digest.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn post_multipart(client: &TestClient, path: &str, parts: &[Part<'_>]) -> kairos_web::TestResponse {
    client.post(path).header("content-type", &multipart_type()).body(multipart(parts)).send()
}

/// Sends `head` and `body` from a thread of its own while this one reads the answer: a
/// server may answer (413) before the body is all sent. Returns the status and the body.
fn exchange(addr: SocketAddr, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut received = Vec::new();
    let read = stream.read_to_end(&mut received);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&received);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
        panic!("no complete answer ({read:?}): {text:?}");
    });
    let status = head[9..12].parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

// ---------------------------------------------------------------------------------------
// Form<T>.

const URLENCODED: &str = "application/x-www-form-urlencoded";

#[test]
fn a_urlencoded_form_is_read_into_a_typed_model_laxly() {
    let served = serve();
    let response = served
        .client
        .post("/signup")
        .header("content-type", URLENCODED)
        .body("username=J%C3%BCrgen+K&age=30&tags=a&tags=b&newsletter=on&nickname=")
        .send();
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(
        response.json::<Value>(),
        json!({"username": "Jürgen K", "age": 30, "tags": ["a", "b"], "newsletter": true,
               "nickname": null}),
        "lax scalars, repeated keys into a Vec, an empty value absent"
    );
    // The media type's parameters and case do not matter.
    let response = served
        .client
        .post("/signup")
        .header("content-type", "Application/X-WWW-Form-URLEncoded; charset=UTF-8")
        .body("username=ada&age=18")
        .send();
    assert_eq!(response.json::<Value>()["username"], "ada");
}

#[test]
fn a_bad_form_gets_one_422_listing_every_bad_field() {
    let served = serve();
    let response = served
        .client
        .post("/signup")
        .header("content-type", URLENCODED)
        .body("username=al&age=seventeen&newsletter=maybe")
        .send();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>(),
        json!({"detail": [
            {"type": "string_too_short", "loc": ["body", "username"],
             "msg": "String should have at least 3 characters", "input": "al",
             "ctx": {"min_length": 3}},
            {"type": "int_parsing", "loc": ["body", "age"],
             "msg": "Input should be a valid integer, unable to parse string as an integer",
             "input": "seventeen"},
            {"type": "bool_parsing", "loc": ["body", "newsletter"],
             "msg": "Input should be a valid boolean, unable to interpret input",
             "input": "maybe"},
        ]})
    );

    // Missing and out of range; an empty value counts as missing, as in FastAPI's forms.
    let response = served
        .client
        .post("/signup")
        .header("content-type", URLENCODED)
        .body("username=&age=12")
        .send();
    assert_eq!(
        response.json::<Value>(),
        json!({"detail": [
            {"type": "missing", "loc": ["body", "username"], "msg": "Field required",
             "input": null},
            {"type": "greater_than_equal", "loc": ["body", "age"],
             "msg": "Input should be greater than or equal to 18", "input": "12",
             "ctx": {"ge": 18}},
        ]})
    );
}

/// FastAPI reads a body of another type as an empty form: every required field is missing.
#[test]
fn a_form_of_another_content_type_is_an_empty_form_as_in_fastapi() {
    let served = serve();
    let response =
        served.client.post("/signup").json(&json!({"username": "ada", "age": 30})).send();
    assert_eq!(response.status(), 422);
    let detail = response.json::<Value>()["detail"].clone();
    let missing: Vec<&Value> = detail.as_array().unwrap().iter().map(|i| &i["loc"]).collect();
    assert_eq!(missing, [&json!(["body", "username"]), &json!(["body", "age"])]);
    assert!(detail.as_array().unwrap().iter().all(|item| item["type"] == "missing"));
    // No Content-Type at all: the same.
    assert_eq!(served.client.post("/signup").body("username=ada&age=30").send().status(), 422);
}

#[test]
fn a_form_also_reads_the_text_fields_of_a_multipart_body() {
    let served = serve();
    let response = post_multipart(
        &served.client,
        "/signup",
        &[
            Part::Text("username", "grace"),
            Part::Text("age", "85"),
            Part::File { name: "cv", filename: "cv.txt", content_type: "text/plain", data: b"x" },
            Part::Text("tags", "navy"),
            Part::Text("tags", "cobol"),
        ],
    );
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(
        response.json::<Value>(),
        json!({"username": "grace", "age": 85, "tags": ["navy", "cobol"], "newsletter": false,
               "nickname": null})
    );
}

// ---------------------------------------------------------------------------------------
// Multipart, streamed.

#[test]
fn multipart_fields_arrive_in_order_with_their_names_and_types() {
    let served = serve();
    let big = data(300 * KIB, 1);
    let response = post_multipart(
        &served.client,
        "/fields",
        &[
            Part::Text("title", "Report"),
            Part::File {
                name: "doc",
                filename: "r.pdf",
                content_type: "application/pdf",
                data: &big,
            },
            Part::Text("empty", ""),
            Part::File {
                name: "doc",
                filename: "notes.txt",
                content_type: "text/plain",
                data: b"hi",
            },
        ],
    );
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(
        response.json::<Value>(),
        json!([
            {"name": "title", "file_name": null, "content_type": null, "size": 6},
            {"name": "doc", "file_name": "r.pdf", "content_type": "application/pdf",
             "size": 300 * KIB},
            {"name": "empty", "file_name": null, "content_type": null, "size": 0},
            {"name": "doc", "file_name": "notes.txt", "content_type": "text/plain", "size": 2},
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Uploads: spooled, intact, removed.

#[test]
fn a_small_upload_stays_in_memory_and_a_large_one_is_spooled_to_disk_intact() {
    let served = serve();
    let small = data(10 * KIB, 2);
    let large = data(3 * MIB + 17, 3);
    let response = post_multipart(
        &served.client,
        "/upload",
        &[
            Part::Text("title", "two files"),
            Part::File {
                name: "doc",
                filename: "small.bin",
                content_type: "application/octet-stream",
                data: &small,
            },
            Part::File {
                name: "doc",
                filename: "large.bin",
                content_type: "application/octet-stream",
                data: &large,
            },
        ],
    );
    assert_eq!(response.status(), 200, "{}", response.text());
    let answer = response.json::<Value>();
    assert_eq!(answer["texts"], json!([["title", "two files"]]));
    assert_eq!(
        answer["files"],
        json!([
            {"name": "doc", "filename": "small.bin", "content_type": "application/octet-stream",
             "size": small.len(), "in_memory": true, "on_disk": false, "sha256": sha256(&small)},
            {"name": "doc", "filename": "large.bin", "content_type": "application/octet-stream",
             "size": large.len(), "in_memory": false, "on_disk": true, "sha256": sha256(&large)},
        ])
    );
    assert!(served.emptied(), "spooled files left behind: {:?}", served.files());
}

#[test]
fn a_sync_handler_gets_the_uploads_and_they_are_removed_after_it() {
    let served = serve();
    let contents = data(MIB, 11);
    let part = Part::File { name: "doc", filename: "d.bin", content_type: "a/b", data: &contents };
    let response = post_multipart(&served.client, "/sync", &[part]);
    assert_eq!(response.text(), "1048576 bytes, on disk: Some(1048576)");
    assert!(served.emptied(), "{:?}", served.files());
}

#[test]
fn an_upload_persisted_by_the_handler_is_kept_and_its_temporary_file_is_gone() {
    let served = serve();
    let kept = tempfile::tempdir().unwrap();
    for (name, len) in [("in-memory.bin", 1000), ("spooled.bin", 2 * MIB)] {
        let contents = data(len, len as u64);
        let to = kept.path().join(name);
        let response = post_multipart(
            &served.client,
            "/keep",
            &[
                Part::Text("to", to.to_str().unwrap()),
                Part::File { name: "doc", filename: name, content_type: "x/y", data: &contents },
            ],
        );
        assert_eq!(response.status(), 200, "{}", response.text());
        assert_eq!(response.text(), format!("kept (spooled: {})", len > 64 * KIB));
        assert_eq!(sha256(&std::fs::read(&to).unwrap()), sha256(&contents));
    }
    assert!(served.emptied(), "{:?}", served.files());
}

#[test]
fn a_file_over_the_routes_limit_gets_413_and_leaves_nothing_on_disk() {
    let served = serve();
    // Past the threshold (64 KiB) first, so it is on disk when it passes the limit (512 KiB).
    let too_big = data(2 * MIB, 4);
    let body = multipart(&[Part::File {
        name: "doc",
        filename: "big.bin",
        content_type: "application/octet-stream",
        data: &too_big,
    }]);
    let (status, answer) = exchange(served.client.addr(), "/small", &multipart_type(), body);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer,
        json!({"detail": "The file in field \"doc\" is larger than this route accepts: \
                          max_file_size is 524288 bytes"})
    );
    assert!(served.emptied(), "a refused upload left {:?}", served.files());

    // The same route takes a file within its limit; the App's other routes are not limited.
    let fits = data(500 * KIB, 5);
    let part = Part::File { name: "doc", filename: "ok.bin", content_type: "a/b", data: &fits };
    assert_eq!(post_multipart(&served.client, "/small", &[part]).text(), "1 files");
    let part = Part::File { name: "doc", filename: "big.bin", content_type: "a/b", data: &too_big };
    assert_eq!(post_multipart(&served.client, "/upload", &[part]).status(), 200);
    assert!(served.emptied(), "{:?}", served.files());
}

#[test]
fn a_body_over_the_routes_limit_gets_413_before_it_is_read() {
    let served = serve();
    let doc = data(2 * MIB, 6);
    let body =
        multipart(&[Part::File { name: "doc", filename: "d", content_type: "a/b", data: &doc }]);
    let (status, answer) = exchange(served.client.addr(), "/one-doc", &multipart_type(), body);
    assert_eq!(status, 413);
    assert_eq!(
        answer["detail"],
        "The body is larger than this route accepts: max_body_size is 1048576 bytes"
    );
    assert!(served.emptied(), "{:?}", served.files());
}

#[test]
fn the_routes_field_names_and_file_count_are_enforced() {
    let served = serve();
    let response = post_multipart(
        &served.client,
        "/one-doc",
        &[Part::Text("title", "t"), Part::Text("evil", "x")],
    );
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>(),
        json!({"detail": [{"type": "extra_forbidden", "loc": ["body", "evil"],
                           "msg": "Extra inputs are not permitted", "input": null}]})
    );

    let one = Part::File { name: "doc", filename: "1", content_type: "a/b", data: b"one" };
    let two = Part::File { name: "doc", filename: "2", content_type: "a/b", data: b"two" };
    assert_eq!(post_multipart(&served.client, "/one-doc", &[one]).text(), "1 files");
    let one = Part::File { name: "doc", filename: "1", content_type: "a/b", data: b"one" };
    let response = post_multipart(&served.client, "/one-doc", &[one, two]);
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>()["detail"],
        "Too many files: this route accepts at most 1 (max_files)"
    );
}

/// The server's own `max_body_size` holds for a multipart body whose length is not declared
/// (chunked): the parser's read fails with it, and that is a 413 too.
#[test]
fn the_servers_body_limit_during_an_upload_is_a_413() {
    let served = serve_with(ServerConfig {
        max_body_size: Some(256 * KIB as u64),
        ..ServerConfig::default()
    });
    let doc = data(MIB, 7);
    let body =
        multipart(&[Part::File { name: "doc", filename: "d", content_type: "a/b", data: &doc }]);
    let mut stream = TcpStream::connect(served.client.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        multipart_type()
    );
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        for chunk in body.chunks(16 * KIB) {
            if writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                || writer.write_all(chunk).is_err()
                || writer.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("262144 bytes"), "the detail names the server's limit: {text}");
    assert!(served.emptied(), "{:?}", served.files());
}

#[test]
fn a_malformed_body_gets_400_and_leaves_nothing_on_disk() {
    let served = serve();
    // Truncated: a file past the spool threshold, then the body ends without its boundary.
    let mut body = multipart(&[Part::File {
        name: "doc",
        filename: "cut.bin",
        content_type: "a/b",
        data: &data(MIB, 8),
    }]);
    body.truncate(body.len() - BOUNDARY.len() - 10);
    let response =
        served.client.post("/upload").header("content-type", &multipart_type()).body(body).send();
    assert_eq!(response.status(), 400);
    let detail = response.json::<Value>()["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("There was an error parsing the body: "), "{detail}");
    assert!(served.emptied(), "a malformed upload left {:?}", served.files());

    // No boundary in the Content-Type.
    let response = served
        .client
        .post("/upload")
        .header("content-type", "multipart/form-data")
        .body(multipart(&[Part::Text("a", "b")]))
        .send();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>()["detail"],
        "There was an error parsing the body: Missing boundary in multipart."
    );

    // A part without a name.
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--{BOUNDARY}--\r\n"
    );
    let response =
        served.client.post("/upload").header("content-type", &multipart_type()).body(body).send();
    assert_eq!(response.status(), 400);
    assert!(response.text().contains("no name"), "{}", response.text());

    // A body that is not multipart at all under a multipart Content-Type.
    let response = served
        .client
        .post("/fields")
        .header("content-type", &multipart_type())
        .body("just some text")
        .send();
    assert_eq!(response.status(), 400);
}

#[test]
fn a_client_that_leaves_mid_upload_leaves_nothing_on_disk() {
    let served = serve();
    let mut stream = TcpStream::connect(served.client.addr()).unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"gone.bin\"\r\n\
         \r\n",
        multipart_type(),
        50 * MIB
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Well past the spool threshold: the file is on disk while the client is still sending.
    for piece in data(2 * MIB, 9).chunks(64 * KIB) {
        stream.write_all(piece).unwrap();
    }
    assert!(
        wait_until(CLEANUP, || !served.files().is_empty()),
        "the upload never reached the disk"
    );
    drop(stream); // the client goes away half-way
    assert!(served.emptied(), "an abandoned upload left {:?}", served.files());
    // The server goes on serving.
    let part = Part::Text("title", "after");
    assert_eq!(post_multipart(&served.client, "/fields", &[part]).status(), 200);
}

/// A client nobody here wrote: curl's `-F` builds the multipart body (its own boundary,
/// headers and file name) from a file on disk.
#[test]
fn curl_uploads_a_file_as_a_browser_would() {
    let Ok(curl) = which_curl() else {
        panic!("this test needs curl (scripts/test.sh installs it: apt-get install curl)");
    };
    let served = serve();
    let source = tempfile::tempdir().unwrap();
    let contents = data(3 * MIB + 5, 10);
    let path = source.path().join("report final.pdf");
    std::fs::write(&path, &contents).unwrap();
    let output = std::process::Command::new(curl)
        .args(["--silent", "--show-error", "--fail-with-body"])
        .args(["-F", "title=Quarterly report"])
        .arg("-F")
        .arg(format!("doc=@{};type=application/pdf", path.display()))
        .arg(format!("http://{}/upload", served.client.addr()))
        .output()
        .unwrap();
    assert!(output.status.success(), "curl: {}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["texts"], json!([["title", "Quarterly report"]]));
    assert_eq!(
        answer["files"],
        json!([{"name": "doc", "filename": "report final.pdf", "content_type": "application/pdf",
                "size": contents.len(), "in_memory": false, "on_disk": true,
                "sha256": sha256(&contents)}])
    );
    assert!(served.emptied(), "{:?}", served.files());
}

fn which_curl() -> Result<PathBuf, ()> {
    let paths = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&paths).map(|dir| dir.join("curl")).find(|p| p.is_file()).ok_or(())
}

// ---------------------------------------------------------------------------------------
// OpenAPI.

#[test]
fn forms_and_uploads_are_documented_as_their_media_types() {
    let dir = tempfile::tempdir().unwrap();
    let document = app(dir.path()).openapi();
    let signup = &document["paths"]["/signup"]["post"];
    assert_eq!(
        signup["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"],
        json!({"$ref": "#/components/schemas/Signup"})
    );
    assert!(signup["responses"]["422"].is_object(), "{signup}");
    assert_eq!(document["components"]["schemas"]["Signup"]["properties"]["age"]["minimum"], 18);
    let upload = &document["paths"]["/upload"]["post"];
    assert!(upload["requestBody"]["content"]["multipart/form-data"].is_object(), "{upload}");
    assert!(upload["responses"]["413"].is_object(), "{upload}");
}
