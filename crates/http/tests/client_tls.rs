//! The client over TLS and HTTP/2, black-box against a kairos server over loopback sockets,
//! with certificates made here (rcgen): trusted roots, names, ALPN's choice of protocol, one
//! HTTP/2 connection shared by concurrent requests, and handshakes that fail or never finish.
//! And its pool against a hand-written server that closes a kept-alive connection under it.

use std::error::Error as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode, Version};
use kairos_http::{
    Body, Client, ClientConfig, ClientError, Request, Response, RunningServer, Server,
    ServerConfig, TlsConfig,
};
use rustls::CertificateError;

/// A self-signed certificate for `names` (a DNS name or an IP address each) and its key, PEM.
struct Identity {
    certificate: String,
    key: String,
}

fn identity(names: &[&str]) -> Identity {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    // A subject of its own: two certificates with one subject would pass for issuer and
    // issued, and a stranger would fail as a bad signature rather than an unknown issuer.
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let subject = format!("kairos test {}", SERIAL.fetch_add(1, Ordering::SeqCst));
    params.distinguished_name.push(rcgen::DnType::CommonName, subject);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    Identity { certificate: certificate.pem(), key: key.serialize_pem() }
}

/// Requests that are in the server at once, and what they wait for (see `/together`).
#[derive(Default)]
struct Meeting {
    arrived: AtomicUsize,
}

/// `/` text, `/echo` the body, `/together?n=N` answers `together` once N requests have come
/// to it at once (`alone` if they have not after 10 s): only requests in progress together,
/// not one after another, can all say `together`.
async fn app(request: Request, meeting: Arc<Meeting>) -> Response {
    match request.uri().path() {
        "/echo" => Response::new(Body::from(request.into_body().bytes().await.unwrap())),
        "/together" => {
            let n: usize = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("n="))
                .map_or(1, |n| n.parse().unwrap());
            meeting.arrived.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while meeting.arrived.load(Ordering::SeqCst) < n && Instant::now() < deadline {
                kairos_rt::sleep(Duration::from_millis(5)).await;
            }
            let met = meeting.arrived.load(Ordering::SeqCst) >= n;
            Response::new(Body::from(if met { "together" } else { "alone" }))
        }
        _ => Response::new(Body::from("Hello, World!")),
    }
}

/// A server on a loopback port, over TLS with `identity` when given, with HTTP/2 on or off.
fn start(identity: Option<&Identity>, http2: bool) -> (RunningServer, Arc<Meeting>) {
    let tls = identity
        .map(|id| TlsConfig::from_pem(id.certificate.as_bytes(), id.key.as_bytes()).unwrap());
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        access_log: false,
        tls,
        http2,
        graceful_shutdown_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let meeting = Arc::new(Meeting::default());
    let shared = Arc::clone(&meeting);
    let server = Server::new(config)
        .start(move || {
            let meeting = Arc::clone(&shared);
            move |request| app(request, Arc::clone(&meeting))
        })
        .unwrap();
    (server, meeting)
}

/// A client trusting only `identity`'s certificate.
fn trusting(identity: &Identity) -> ClientConfig {
    ClientConfig { platform_roots: false, ..ClientConfig::default() }
        .with_root_pem(identity.certificate.as_bytes())
        .unwrap()
}

/// Runs a test's client side on a loop, failing rather than hanging past 60 s.
fn run<F: std::future::Future<Output = ()>>(test: F) {
    kairos_rt::run(async {
        kairos_rt::timeout(Duration::from_secs(60), test).await.expect("the test hung");
    });
}

/// A TCP relay in front of `target` that counts the connections made through it: what the
/// server sees as distinct peers.
fn relay(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let outbound = TcpStream::connect(target).unwrap();
            pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
            pipe(outbound, inbound);
        }
    });
    (addr, connections)
}

/// Copies `from` to `to` on a thread until `from` ends, then ends `to`'s sending side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// The rustls error under a TLS failure.
fn rustls_error(error: &ClientError) -> &rustls::Error {
    assert!(matches!(error, ClientError::Tls(..)), "not a TLS error: {error:?}");
    let io = error.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
    io.get_ref().unwrap().downcast_ref::<rustls::Error>().unwrap()
}

#[test]
fn get_and_post_over_https_with_a_given_root() {
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let base = format!("https://{}", server.local_addr());
    run(async move {
        let client = Client::with_config(trusting(&id));
        let response = client.get(&format!("{base}/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "Hello, World!");

        let sent = serde_json::json!({"n": 20, "limit": 5});
        let response = client.post_json(&format!("{base}/echo"), &sent).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2, "the server offers h2: a body over it");
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), sent);

        // Past HTTP/2's initial 64 KiB windows both ways: flow control moves it all.
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let url = format!("{base}/echo");
        let response =
            client.send(Method::POST, &url, HeaderMap::new(), Body::from(big.clone())).await;
        assert_eq!(response.unwrap().bytes().await.unwrap(), big);
    });
}

#[test]
fn a_given_root_adds_to_the_platform_roots() {
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let config = ClientConfig::default().with_root_pem(id.certificate.as_bytes()).unwrap();
        let response = Client::with_config(config).get(&url).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "Hello, World!");
    });
}

#[test]
fn http2_is_chosen_and_one_connection_carries_concurrent_requests() {
    const N: usize = 8;
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let (addr, connections) = relay(server.local_addr());
    run(async move {
        let client = Client::with_config(trusting(&id));
        // All N start before any connection exists: they share the first one's.
        let url = format!("https://{addr}/together?n={N}");
        let requests = (0..N).map(|_| async {
            let response = client.get(&url).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_2);
            response.text().await.unwrap()
        });
        let answers = futures::future::join_all(requests).await;
        assert_eq!(answers, vec!["together"; N], "the requests were not in progress at once");
        assert_eq!(client.http2_connections(), 1);
        assert_eq!(client.idle_connections(), 0, "HTTP/2 is shared, not pooled as idle");

        // A later request takes the same connection.
        let response = client.get(&format!("https://{addr}/")).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.text().await.unwrap(), "Hello, World!");
    });
    assert_eq!(connections.load(Ordering::SeqCst), 1, "{N} + 1 requests, one connection");
}

#[test]
fn a_server_without_http2_is_spoken_to_in_http1_over_tls() {
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), false);
    let (addr, connections) = relay(server.local_addr());
    run(async move {
        let client = Client::with_config(trusting(&id));
        for _ in 0..3 {
            let response = client.get(&format!("https://{addr}/")).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_11);
            assert_eq!(response.text().await.unwrap(), "Hello, World!");
        }
        assert_eq!(client.idle_connections(), 1, "one keep-alive connection, reused");
        assert_eq!(client.http2_connections(), 0);
        assert_eq!(connections.load(Ordering::SeqCst), 1);

        // Requests at once need a connection each (the pooled one, and two new ones).
        let url = format!("https://{addr}/together?n=3");
        let answers = futures::future::join_all(
            (0..3).map(|_| async { client.get(&url).await.unwrap().text().await.unwrap() }),
        )
        .await;
        assert_eq!(answers, vec!["together"; 3]);
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn a_client_with_http2_off_speaks_http1_to_an_http2_server() {
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let client = Client::with_config(ClientConfig { http2: false, ..trusting(&id) });
        let response = client.get(&url).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_11);
        assert_eq!(response.text().await.unwrap(), "Hello, World!");
    });
}

#[test]
fn cleartext_is_http1_unless_http2_is_known_to_be_spoken() {
    let (server, _) = start(None, true);
    let url = format!("http://{}/", server.local_addr());
    run(async move {
        let response = Client::new().get(&url).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_11);

        let client = Client::with_config(ClientConfig {
            http2_prior_knowledge: true,
            ..ClientConfig::default()
        });
        let response = client.get(&url).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.text().await.unwrap(), "Hello, World!");
        assert_eq!(client.http2_connections(), 1);
    });
}

#[test]
fn an_unknown_authority_is_refused_with_what_to_do() {
    let id = identity(&["127.0.0.1"]);
    let stranger = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let error = Client::with_config(trusting(&stranger)).get(&url).await.unwrap_err();
        assert!(
            matches!(
                rustls_error(&error),
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("ClientConfig::with_root_pem"), "{error}");
        assert!(!error.is_timeout());
    });
}

#[test]
fn the_platform_roots_load_and_do_not_vouch_for_a_self_signed_server() {
    // Loading them fails with `RootCertificates` (install Debian's ca-certificates); loaded,
    // they know nothing of this certificate.
    let id = identity(&["127.0.0.1"]);
    let (server, _) = start(Some(&id), true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let error = Client::new().get(&url).await.unwrap_err();
        assert!(
            matches!(
                rustls_error(&error),
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{error}"
        );
    });
}

#[test]
fn a_certificate_for_another_name_is_refused_with_what_to_do() {
    let id = identity(&["kairos.test"]);
    let (server, _) = start(Some(&id), true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let error = Client::with_config(trusting(&id)).get(&url).await.unwrap_err();
        assert!(
            matches!(
                rustls_error(&error),
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("does not list 127.0.0.1"), "{error}");
    });
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    let (server, _) = start(None, true);
    let url = format!("https://{}/", server.local_addr());
    run(async move {
        let error = Client::new().get(&url).await.unwrap_err();
        assert!(matches!(error, ClientError::Tls(..)), "{error:?}");
        assert!(error.to_string().contains("does the server speak TLS"), "{error}");
    });
}

#[test]
fn a_handshake_that_never_completes_is_a_connect_timeout() {
    // Accepts TCP connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    run(async move {
        let timeout = Duration::from_millis(300);
        let client = Client::with_config(ClientConfig {
            connect_timeout: timeout,
            ..ClientConfig::default()
        });
        let error = client.get(&format!("https://{addr}/")).await.unwrap_err();
        assert!(matches!(error, ClientError::ConnectTimeout(d) if d == timeout), "{error:?}");
        assert!(error.is_timeout());
    });
}

/// A hand-written HTTP/1.1 server for the pool's tests: on its first connection it answers
/// one request, keeps the connection open until `close` says, then reads one more request
/// head if `read_again` (counting it, answering nothing) and closes; later connections
/// answer one request each and stay open. Returns the address and the request count.
fn closing_server(
    close: std::sync::mpsc::Receiver<()>,
    closed: std::sync::mpsc::Sender<()>,
    read_again: bool,
) -> (SocketAddr, Arc<AtomicUsize>) {
    fn read_head(stream: &mut TcpStream) -> bool {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return false,
            }
        }
        true
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            if !read_head(&mut stream) {
                continue;
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let body = if n == 0 { "first" } else { "second" };
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            stream.write_all(answer.as_bytes()).unwrap();
            if n == 0 {
                close.recv().unwrap();
                if read_again && read_head(&mut stream) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                drop(stream);
                closed.send(()).unwrap();
            } else {
                kept.push(stream);
            }
        }
    });
    (addr, requests)
}

#[test]
fn a_request_on_a_pooled_connection_the_server_closed_goes_out_on_a_new_one() {
    let (close, close_rx) = std::sync::mpsc::channel();
    let (closed_tx, closed) = std::sync::mpsc::channel();
    let (addr, requests) = closing_server(close_rx, closed_tx, false);
    run(async move {
        let client = Client::with_config(ClientConfig {
            pool_idle_timeout: Duration::from_secs(60),
            ..ClientConfig::default()
        });
        let url = format!("http://{addr}/");
        assert_eq!(client.get(&url).await.unwrap().text().await.unwrap(), "first");
        assert_eq!(client.idle_connections(), 1);
        // The server closes the pooled connection while this loop is busy (blocked here on
        // purpose), so the client has not seen the close when it takes the connection again:
        // the request cannot go out on it, and goes out on a new one. A POST too — none of
        // it was sent.
        close.send(()).unwrap();
        closed.recv().unwrap();
        std::thread::sleep(Duration::from_millis(300)); // the FIN crosses loopback
        let post = client.send(Method::POST, &url, HeaderMap::new(), Body::from("once"));
        let again = post.await.expect("sent on a new connection");
        assert_eq!(again.text().await.unwrap(), "second");
    });
    assert_eq!(requests.load(Ordering::SeqCst), 2, "one request per connection");
}

#[test]
fn a_request_that_went_out_before_the_connection_closed_is_not_sent_again() {
    let (close, close_rx) = std::sync::mpsc::channel();
    let (closed_tx, closed) = std::sync::mpsc::channel();
    let (addr, requests) = closing_server(close_rx, closed_tx, true);
    run(async move {
        let client = Client::new();
        let url = format!("http://{addr}/");
        assert_eq!(client.get(&url).await.unwrap().text().await.unwrap(), "first");
        close.send(()).unwrap();
        // The server reads this POST on the kept connection and closes it unanswered: the
        // request went out, so only the caller may decide to repeat it.
        let post = client.send(Method::POST, &url, HeaderMap::new(), Body::from("once"));
        let error = post.await.unwrap_err();
        assert!(matches!(error, ClientError::Http(_)), "{error:?}");
        closed.recv().unwrap();
    });
    assert_eq!(requests.load(Ordering::SeqCst), 2, "the POST reached the server once");
}
