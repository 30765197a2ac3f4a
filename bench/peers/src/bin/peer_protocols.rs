//! Issue 15's peers: what `kairos serve` is measured against for WebSockets, HTTP/2 and TLS
//! (`bench/protocols.py`).
//!
//! ```text
//! peer_protocols MODE [--port 0] [--cert FILE --key FILE] [--runtime current-thread]
//! ```
//!
//! - `axum-ws`: axum 0.8 with its `ws` feature (the upgrade by axum, frames by
//!   tokio-tungstenite): `GET /ws/echo` sends every text and binary message back as it came;
//!   `GET /plaintext` answers `Hello, World!`.
//! - `hyper-h2c`: bare hyper 1.x serving `/plaintext`, HTTP/1.1 or HTTP/2 with prior knowledge
//!   (h2c) detected per connection by hyper-util's `auto` builder from the first bytes — what
//!   `kairos serve` does on its plain port, so both pay for the detection.
//! - `hyper-tls`: the same behind tokio-rustls (rustls with the `ring` provider, the PEM
//!   certificate chain `--cert` and private key `--key`), ALPN offering `h2` then `http/1.1`;
//!   each connection is served with the protocol ALPN chose (HTTP/1.1 when the client offered
//!   none). rustls' server defaults otherwise (TLS 1.3 and 1.2, its session cache and its two
//!   TLS 1.3 tickets per handshake), as a user of tokio-rustls gets them.
//!
//! `--runtime`: `current-thread` (the default: one tokio loop on one thread, the way `kairos
//! serve --workers 1` is compared in this repo) or `multi-thread` (one worker per core that
//! `taskset` allows). `--port 0` takes any free port. Once listening, prints `kairos serve`'s
//! line on stdout, `listening on http://127.0.0.1:PORT` (`https://` for `hyper-tls`), with the
//! port it got. Every connection gets `TCP_NODELAY`, as kairos and the other peers set it.
#![forbid(unsafe_code)]
#[allow(dead_code)] // loadgen's parser; this binary needs only some of its accessors
#[path = "loadgen/cli.rs"]
mod cli;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kairos_bench_peers::{reuseport_listeners, PLAINTEXT, TEXT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: peer_protocols axum-ws|hyper-h2c|hyper-tls [--port 0] \
                     [--cert FILE --key FILE] [--runtime current-thread|multi-thread]";

/// How long a TLS handshake may take before the connection is dropped: a client that stalls
/// mid-handshake holds a task and a socket, never the server.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

enum Mode {
    AxumWs,
    HyperH2c,
    HyperTls(TlsAcceptor),
}

fn main() {
    let args = cli::Args::parse(std::env::args().skip(1)).unwrap_or_else(|e| fail(&e));
    args.allow(&["port", "cert", "key", "runtime"]).unwrap_or_else(|e| fail(&e));
    let port: u16 = args.number("port", 0).unwrap_or_else(|e| fail(&e));
    let mode = match args.command.as_str() {
        "axum-ws" => Mode::AxumWs,
        "hyper-h2c" => Mode::HyperH2c,
        "hyper-tls" => {
            let cert = args.required("cert").unwrap_or_else(|e| fail(&e));
            let key = args.required("key").unwrap_or_else(|e| fail(&e));
            Mode::HyperTls(tls_acceptor(cert, key).unwrap_or_else(|e| fail(&e)))
        }
        other => fail(&format!("unknown mode {other:?}")),
    };
    let mut runtime = match args.value("runtime").unwrap_or_else(|e| fail(&e)) {
        None | Some("current-thread") => tokio::runtime::Builder::new_current_thread(),
        Some("multi-thread") => tokio::runtime::Builder::new_multi_thread(),
        Some(other) => fail(&format!("unknown runtime {other:?}")),
    };
    let runtime = runtime.enable_all().build().expect("cannot build a tokio runtime");

    // One listener as the other peers make it (backlog 2048, so a burst of a thousand
    // WebSocket connections is not refused by a short accept queue).
    let listener = reuseport_listeners(port, 1)
        .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")))
        .remove(0);
    let address = listener.local_addr().expect("a bound listener has an address");
    let scheme = if matches!(mode, Mode::HyperTls(_)) { "https" } else { "http" };
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("cannot register the listener");
        println!("listening on {scheme}://{address}");
        match mode {
            Mode::AxumWs => axum_ws(listener).await,
            Mode::HyperH2c => hyper_h2c(listener).await,
            Mode::HyperTls(acceptor) => hyper_tls(listener, acceptor).await,
        }
    });
}

fn fail(message: &str) -> ! {
    eprintln!("peer_protocols: {message}\n{USAGE}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------------
// axum-ws

async fn axum_ws(listener: TcpListener) {
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let app = Router::new()
        .route("/ws/echo", get(ws_echo))
        .route("/plaintext", get(|| async { PLAINTEXT }));
    axum::serve(listener, app).await.expect("the server failed");
}

/// axum's defaults throughout (64 MiB messages, tungstenite's write buffer), as a user of
/// `WebSocketUpgrade` gets them.
async fn ws_echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

/// Sends each text and binary message back. Pings are answered by tungstenite itself (the
/// pong goes out with the next read or write); on a close frame the loop reads once more, so
/// that tungstenite flushes its reply to the close before the socket is dropped, and ends when
/// `recv` says the connection is over.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hyper: h2c and TLS

/// `/plaintext` with kairos' answer (body and content type); anything else 404.
async fn plaintext(request: Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    if request.uri().path() == "/plaintext" {
        *response.body_mut() = Full::new(Bytes::from_static(PLAINTEXT.as_bytes()));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    } else {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(response)
}

/// The next connection, with `TCP_NODELAY`. An accept error (out of descriptors, a handshake
/// aborted in the queue) leaves the listener fine: wait a moment and go on.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// hyper-util's `auto` builder with hyper's defaults for both protocols (HTTP/2: 200
/// concurrent streams, hyper's window sizes); the executor spawns each HTTP/2 stream as a task
/// on the runtime serving the connection.
async fn hyper_h2c(listener: TcpListener) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let stream = accept(&listener).await;
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let _ = builder.serve_connection(TokioIo::new(stream), service_fn(plaintext)).await;
        });
    }
}

async fn hyper_tls(listener: TcpListener, acceptor: TlsAcceptor) {
    // Each builder limited to its protocol: ALPN has chosen, nothing is sniffed.
    let http1 = Arc::new(auto::Builder::new(TokioExecutor::new()).http1_only());
    let http2 = Arc::new(auto::Builder::new(TokioExecutor::new()).http2_only());
    loop {
        let stream = accept(&listener).await;
        let (acceptor, http1, http2) = (acceptor.clone(), Arc::clone(&http1), Arc::clone(&http2));
        tokio::spawn(async move {
            // A failed or stalled handshake costs this task only.
            let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            let builder =
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") { http2 } else { http1 };
            let _ = builder.serve_connection(TokioIo::new(tls), service_fn(plaintext)).await;
        });
    }
}

/// rustls' server configuration from PEM files, on the `ring` provider, ALPN `h2` first.
fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{cert}: no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("the TLS configuration: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
