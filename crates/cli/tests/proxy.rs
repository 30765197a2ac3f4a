//! `kairos serve` behind a proxy and under health checks, black-box over loopback: forwarded
//! headers believed from trusted peers only, `--root-path` in what goes back to the browser,
//! `/healthz` naming a stuck worker, `/readyz` failing as soon as a graceful shutdown begins.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Serve;

/// One request with extra header lines over HTTP/1.0; the status and the body.
fn get_with(serve: &Serve, path: &str, headers: &[&str]) -> (u16, String) {
    let mut stream = TcpStream::connect(serve.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("GET {path} HTTP/1.0\r\nHost: localhost:8000\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

/// `/debug/request`'s answer to a request with these headers.
fn seen(serve: &Serve, headers: &[&str]) -> Value {
    let (status, body) = get_with(serve, "/debug/request?x=1", headers);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn forwarded_headers_are_believed_from_trusted_proxies_only() {
    let spoof = [
        "X-Forwarded-For: 6.6.6.6, 203.0.113.9",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: shop.example",
    ];
    // By default (uvicorn's) the proxy on this machine, 127.0.0.1, is trusted: the client is
    // the first address from the right that is not a trusted proxy.
    let trusting = Serve::start(&["--log-level", "info"]);
    let got = seen(&trusting, &spoof);
    assert_eq!(got["client"], "203.0.113.9:0");
    assert_eq!(got["scheme"], "https");
    assert_eq!(got["url"], "https://shop.example/debug/request?x=1");
    // RFC 7239's Forwarded, when no X-Forwarded-For is there.
    let got =
        seen(&trusting, &["Forwarded: for=\"[2001:db8::7]:4711\";proto=https;host=a.example"]);
    assert_eq!(got["client"], "[2001:db8::7]:4711");
    assert_eq!(got["url"], "https://a.example/debug/request?x=1");
    // Garbled headers are ignored, never a 500: the peer stays the client.
    for garbled in [
        "X-Forwarded-For: unknown",
        "X-Forwarded-For: 999.1.1.1, ,",
        "Forwarded: for=\"unterminated",
        "Forwarded: ;;;==",
        "X-Forwarded-Proto: gopher",
        "X-Forwarded-Host: a b/c",
    ] {
        let got = seen(&trusting, &[garbled]);
        assert!(got["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{garbled}: {got}");
        assert_eq!(got["url"], "http://localhost:8000/debug/request?x=1", "{garbled}");
    }
    // The access log names the forwarded client and scheme.
    get_with(&trusting, "/json", &spoof);
    let logged = support::eventually(|| {
        trusting.log().lines().any(|line| line.contains("203.0.113.9:0 https \"GET /json\" 200"))
    });
    assert!(logged, "{}", trusting.log());

    // A peer that is not a trusted proxy is the client, whatever it says.
    let distrusting = Serve::start(&["--forwarded-allow-ips", "10.0.0.0/8"]);
    for headers in [&spoof[..], &["Forwarded: for=6.6.6.6;proto=https"]] {
        let got = seen(&distrusting, headers);
        assert!(got["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{got}");
        assert_eq!(got["url"], "http://localhost:8000/debug/request?x=1");
    }
    // --no-proxy-headers: nobody is believed.
    let off = Serve::start(&["--no-proxy-headers"]);
    assert!(seen(&off, &spoof)["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    // `*` trusts every peer, and the leftmost address is the client.
    let all = Serve::start(&["--forwarded-allow-ips", "*"]);
    assert_eq!(seen(&all, &spoof)["client"], "6.6.6.6:0");
}

#[test]
fn a_bad_allow_list_is_refused_at_the_command_line_with_what_to_give() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--forwarded-allow-ips", "127.0.0.1,proxy.local"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"proxy.local\" is not an IP address or network"), "{stderr}");
}

#[test]
fn the_root_path_is_in_the_document_the_docs_page_and_the_index() {
    let serve = Serve::start(&["--root-path", "/api/"]);
    let (document, _) = serve.json("/openapi.json");
    assert_eq!(document["servers"], serde_json::json!([{"url": "/api"}]));
    let flows = &document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"];
    assert_eq!(flows["password"]["tokenUrl"], "/api/token");
    support::validate_openapi(&serde_json::to_string(&document).unwrap());
    // The health checks are documented like every route.
    assert_eq!(document["paths"]["/healthz"]["get"]["operationId"], "liveness");
    assert!(document["paths"]["/readyz"]["get"]["responses"]["503"].is_object());

    let (_, docs, _) = serve.get("/docs");
    assert!(docs.contains("url: \"/api/openapi.json\""), "{docs}");
    assert!(docs.contains("src=\"/api/docs/swagger-ui-bundle.js\""), "{docs}");
    let (_, redoc, _) = serve.get("/redoc");
    assert!(redoc.contains("/api/openapi.json"), "{redoc}");
    let (_, index, _) = serve.get("/");
    assert!(index.contains("<base href=\"/api/\">"), "{index}");
    // What a handler sees: the prefix in the URL the client asked for.
    assert_eq!(seen(&serve, &[])["url"], "http://localhost:8000/api/debug/request?x=1");
}

#[test]
fn healthz_names_the_stuck_worker_from_another_one() {
    let serve = Serve::start(&["--workers", "2"]);
    let (alive, _) = serve.json("/healthz");
    assert_eq!(alive, serde_json::json!({"status": "alive", "workers": 2}));
    // /bad blocks the loop of the worker that takes it for 4 s; the other one answers.
    let addr = serve.addr;
    let blocker = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /bad?ms=4000 HTTP/1.0\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    });
    // Once its heartbeat is a second old (generous: up to 3.5 s into the 4 s block).
    let started = Instant::now();
    let mut answer = None;
    while started.elapsed() < Duration::from_millis(3500) {
        let (status, body) = get_with(&serve, "/healthz", &[]);
        if status == 503 {
            answer = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = answer.expect("/healthz answered 503 while a worker was blocked");
    let detail: Value = serde_json::from_str(&body).unwrap();
    let detail = detail["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("worker 0's event loop has not turned")
            || detail.starts_with("worker 1's event loop has not turned"),
        "{detail}"
    );
    assert!(blocker.join().unwrap().starts_with("HTTP/1.0 200"));
    // Unblocked: alive again.
    assert!(support::eventually(|| get_with(&serve, "/healthz", &[]).0 == 200));
    // And the health checks are not in the access log by default.
    assert!(!serve.log().contains("/healthz"), "{}", serve.log());
}

#[test]
fn readyz_fails_as_soon_as_shutdown_begins_while_the_request_in_flight_completes() {
    let mut serve = Serve::start(&["--shutdown-delay", "3", "--log-level", "info"]);
    assert_eq!(serve.json("/readyz").0, serde_json::json!({"status": "ready"}));
    let addr = serve.addr;
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /async?ms=2500 HTTP/1.0\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    });
    // The slow request is in progress (its access line is not written until it ends).
    std::thread::sleep(Duration::from_millis(500));
    serve.terminate();
    // Not ready from the signal on, while the socket still accepts (--shutdown-delay 3).
    let not_ready = support::eventually(|| {
        let (status, body) = get_with(&serve, "/readyz", &[]);
        status == 503 && body.contains("shutting down")
    });
    assert!(not_ready, "{}", serve.log());
    // Other requests are still served meanwhile, and liveness holds.
    assert_eq!(get_with(&serve, "/json", &[]).0, 200);
    assert_eq!(get_with(&serve, "/healthz", &[]).0, 200);
    let answer = slow.join().unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("\"slept_ms\":2500"), "{answer}");
    let status = serve.wait_exit(Duration::from_secs(30)).expect("the server exits");
    assert!(status.success(), "{status:?}");
}

/// `curl --unix-socket PATH` for `path`: the status and the body.
fn curl_unix(socket: &std::path::Path, path: &str, headers: &[&str]) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command.args(["-s", "-w", "\n%{http_code}", "--unix-socket"]).arg(socket);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.arg(format!("http://localhost{path}")).output().expect("curl runs");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn uds_serves_over_a_unix_socket_and_removes_it_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("kairos.sock");
    // A stale socket file, as a server killed without its shutdown leaves: replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("uds.db").display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--log-level", "error", "--database-url", &database, "--uds"])
        .arg(&socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim_end(), format!("listening on unix:{}", socket.display()));

    assert_eq!(curl_unix(&socket, "/json", &[]), (200, r#"{"message":"Hello, World!"}"#.into()));
    assert_eq!(curl_unix(&socket, "/readyz", &[]).0, 200);
    // A Unix socket's peer has no address, and is not a trusted proxy unless `*` says so.
    let (_, body) = curl_unix(&socket, "/debug/request", &["X-Forwarded-For: 198.51.100.1"]);
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["client"], Value::Null);
    // Another server cannot take the path while this one listens.
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--database-url", &database, "--uds"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another server listens on it"), "{stderr}");

    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!socket.exists(), "the socket file is removed when the server stops");
}
