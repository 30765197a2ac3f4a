//! `kairos serve` over TLS and HTTP/2, black-box: the real binary with a self-signed
//! certificate made here, driven by curl (HTTP/2 by ALPN, HTTP/1.1 over TLS, h2c by prior
//! knowledge in the clear). Every route works over each; these check the kinds of route —
//! plain, JSON, the database, a stream, the docs — and the stall detector over HTTP/2.

mod support;

use std::process::Command;

use support::Serve;

/// A certificate for `localhost` in files of its own, removed at the end.
struct Certificate {
    dir: std::path::PathBuf,
}

impl Certificate {
    fn new(name: &str) -> Certificate {
        let names = vec!["localhost".into(), "127.0.0.1".into()];
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("https-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        Certificate { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// curl with `args`; returns ("STATUS VERSION", body).
fn curl(args: &[&str]) -> (String, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl runs (scripts/test.sh installs it)");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

#[test]
fn serve_over_tls_speaks_http2_and_http1_on_every_kind_of_route() {
    let certificate = Certificate::new("serve");
    let (cert, key) = (certificate.file("cert.pem"), certificate.file("key.pem"));
    let serve = Serve::start(&["--ssl-certfile", &cert, "--ssl-keyfile", &key]);
    let port = serve.addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let tls = |extra: &[&str], path: &str| {
        let mut args = vec!["--cacert", &cert, "--resolve", &resolve];
        args.extend_from_slice(extra);
        let url = url(path);
        args.push(&url);
        curl(&args)
    };
    assert_eq!(tls(&["--http2"], "/plaintext"), ("200 2".into(), "Hello, World!".into()));
    assert_eq!(tls(&["--http1.1"], "/plaintext"), ("200 1.1".into(), "Hello, World!".into()));
    let (status, body) = tls(&["--http2"], "/json");
    assert_eq!((status.as_str(), body.as_str()), ("200 2", r#"{"message":"Hello, World!"}"#));
    // The database, over HTTP/2: a user registered and logged in, a row created, read back.
    let user = r#"{"username":"h2.user","password":"a password over tls"}"#;
    let json = "content-type: application/json";
    assert_eq!(tls(&["--http2", "-H", json, "-d", user], "/users").0, "201 2");
    let form = "username=h2.user&password=a+password+over+tls";
    let (status, token) = tls(&["--http2", "-d", form], "/token");
    assert_eq!(status, "200 2", "{token}");
    let token = serde_json::from_str::<serde_json::Value>(&token).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("authorization: Bearer {token}");
    let (status, created) = tls(
        &["--http2", "-H", json, "-H", &bearer, "-d", r#"{"name":"h2","price":2.5}"#],
        "/items",
    );
    assert_eq!(status, "201 2", "{created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"].as_i64().unwrap();
    let (status, read) = tls(&["--http2", "-H", &bearer], &format!("/items/{id}"));
    assert_eq!(status, "200 2");
    assert!(read.contains(r#""name":"h2""#), "{read}");
    // A stream (the SSE twin of the chapter's StreamingResponse): every event arrives.
    let (status, events) = tls(&["--http2", "-N"], "/stream?n=3&interval_ms=10");
    assert_eq!(status, "200 2");
    assert_eq!(events.matches("data: ").count(), 3, "{events}");
    // /external calls this server over https (its client trusts the served certificate),
    // over HTTP/2: one shared connection for the calls.
    let (status, external) = tls(&["--http2"], "/external?n=4&limit=2&ms=10");
    assert_eq!(status, "200 2", "{external}");
    let external: serde_json::Value = serde_json::from_str(&external).unwrap();
    assert_eq!((external["n"].as_u64(), external["max_in_flight"].as_u64()), (Some(4), Some(2)));
    let (status, docs) = tls(&["--http2"], "/docs");
    assert_eq!(status, "200 2");
    assert!(docs.contains("swagger"), "the docs page");
}

#[test]
fn serve_in_the_clear_speaks_h2c_by_prior_knowledge_and_the_stall_detector_sees_it() {
    let serve = Serve::start(&["--slow-callback-ms", "100", "--log-level", "warn"]);
    let url = |path: &str| format!("http://{}{path}", serve.addr);
    let h2c = |path: &str| curl(&["--http2-prior-knowledge", &url(path)]);
    assert_eq!(h2c("/plaintext"), ("200 2".into(), "Hello, World!".into()));
    let slow_polls = || {
        let (_, stats) = h2c("/debug/loop");
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()["slow_polls"].as_u64().unwrap()
    };
    let before = slow_polls();
    let (status, _) = h2c("/bad?ms=300");
    assert_eq!(status, "200 2");
    assert!(slow_polls() > before, "the blocking route over HTTP/2 was not reported");
    assert!(serve.log().contains("/bad"), "the report names the route: {}", serve.log());
}

#[test]
fn a_key_file_that_is_not_a_key_stops_serve_with_a_clear_error() {
    let certificate = Certificate::new("badkey");
    let cert = certificate.file("cert.pem");
    let output = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--bind", "127.0.0.1:0", "--ssl-certfile", &cert, "--ssl-keyfile", &cert])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no private key found"), "{stderr}");
}
