//! `tlsload`: the client side of issue 15's TLS handshake benchmark (`bench/protocols.py`).
//!
//! ```text
//! tlsload --addr HOST:PORT --ca FILE [--server-name NAME] [--connections 16] [--duration-s 5]
//!         [--alpn h2,http/1.1] [--timeout-s 10]
//! ```
//!
//! `--connections` loops run at once for `--duration-s`, each again and again: a new TCP
//! connection, a full TLS handshake, a close. The client is rustls (`ring` provider) trusting
//! only the certificates of the PEM file `--ca` (the server's self-signed one, or its CA),
//! checking the server's chain and name, with session resumption off — no session ids, no
//! tickets — so that every handshake is a full one. `--server-name` is the name checked
//! against the certificate (default: `--addr`'s host, an IP address is checked against the
//! certificate's IP SANs); `--alpn` the protocols offered (`none` for no ALPN).
//!
//! The close: the client sends its `close_notify` and reads until the server ends the
//! connection. So a handshake is counted once the server has verified the client's Finished
//! and let the connection go (what it does after the handshake is what it does at an HTTP
//! connection's end of input), and the TIME_WAIT states fall on the server's side, not on the
//! client's ephemeral ports. A server that keeps the connection open past `--timeout-s` is an
//! error.
//!
//! One tokio current-thread runtime (pin it with `taskset -c 1`). The client is not what is
//! measured, yet a full handshake costs the client more than the server (verifying an ECDSA
//! signature costs a few times making one), so it may well be the bottleneck — which is why
//! the benchmark reports the server's CPU per handshake beside the rate. To leave the server
//! as much of the load core as can be done honestly, the certificate chain — the same bytes
//! every time — goes through webpki's full path validation once per distinct chain and server
//! name ([`ChainVerifiedOnce`]), while the handshake's own signature, the proof that this
//! server holds the key, is verified on every handshake. The server's work is the same
//! either way.
//!
//! Prints one JSON object: `handshakes`, `handshakes_per_s`, `handshake_ms` {p50, p99, max}
//! (from connect to the client's handshake done), the protocols ALPN chose and the TLS
//! versions, `errors` with samples.
#![forbid(unsafe_code)]
#[allow(dead_code)] // loadgen's parser; this binary needs only some of its accessors
#[path = "loadgen/cli.rs"]
mod cli;
#[path = "loadgen/fdlimit.rs"]
mod fdlimit;
#[allow(dead_code)] // loadgen's statistics; `Errors::samples_only` is not needed here
#[path = "loadgen/stats.rs"]
mod stats;

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use stats::{round, summary, Errors};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

const USAGE: &str = "\
usage: tlsload --addr HOST:PORT --ca FILE [--server-name NAME] [--connections 16]
               [--duration-s 5] [--alpn h2,http/1.1|none] [--timeout-s 10]
  each connection loop: TCP connect, full TLS handshake (no resumption), close_notify, wait
  for the server to close; one JSON object on stdout";

struct Options {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    connections: usize,
    duration: Duration,
    timeout: Duration,
}

impl Options {
    fn from_args(args: &cli::Args) -> Result<Options, String> {
        args.allow(&[
            "addr",
            "ca",
            "server-name",
            "connections",
            "duration-s",
            "alpn",
            "timeout-s",
        ])?;
        let addr_text = args.required("addr")?;
        let addr = addr_text
            .to_socket_addrs()
            .map_err(|e| format!("--addr {addr_text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("--addr {addr_text:?}: no address"))?;
        let host = match args.value("server-name")? {
            Some(name) => name.to_string(),
            None => addr_text.rsplit_once(':').map_or(addr_text, |(host, _)| host).to_string(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let server_name =
            ServerName::try_from(host.clone()).map_err(|e| format!("server name {host:?}: {e}"))?;

        let ca = args.required("ca")?;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("--ca {ca}: {e}"))?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("--ca {ca}: no usable certificate in the file"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("the certificate verifier: {e}"))?;
        let verifier = Arc::new(ChainVerifiedOnce { webpki, verified: Mutex::default() });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("the TLS configuration: {e}"))?
            .dangerous() // only in that a verified chain is remembered; see ChainVerifiedOnce
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Every handshake a full one: nothing kept to resume with.
        config.resumption = rustls::client::Resumption::disabled();
        config.alpn_protocols = match args.value("alpn")?.unwrap_or("h2,http/1.1") {
            "none" | "" => Vec::new(),
            list => list.split(',').map(|p| p.trim().as_bytes().to_vec()).collect(),
        };
        Ok(Options {
            addr,
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
            connections: args.number("connections", 16)?,
            duration: args.duration("duration-s", 5.0, 1.0)?,
            timeout: args.duration("timeout-s", 10.0, 1.0)?,
        })
    }
}

/// webpki's verifier, with the result of a chain's path validation kept: a chain seen before
/// (the same certificates, in the same order, for the same server name) is not validated
/// again, for the few seconds that a run lasts. A chain never seen, or one that fails, goes
/// through webpki in full; every handshake's signature is verified by webpki as usual.
#[derive(Debug)]
struct ChainVerifiedOnce {
    webpki: Arc<WebPkiServerVerifier>,
    /// The chains (and names) that passed: DER bytes of each certificate, then the name.
    verified: Mutex<HashSet<Vec<u8>>>,
}

impl ServerCertVerifier for ChainVerifiedOnce {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Length-prefixed parts, so that no two different chains make the same key.
        let mut key = Vec::new();
        for part in std::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|c| c.as_ref()))
            .chain(std::iter::once(server_name.to_str().as_bytes()))
        {
            key.extend_from_slice(&(part.len() as u64).to_le_bytes());
            key.extend_from_slice(part);
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.contains(&key) {
            return Ok(ServerCertVerified::assertion());
        }
        let passed = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        verified.insert(key);
        Ok(passed)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// One handshake that went through.
struct Handshake {
    ms: f64,
    alpn: String,
    version: String,
}

/// Connect, handshake, close as the module's docs say; each phase under `limit`.
async fn handshake(o: &Options) -> Result<Handshake, String> {
    let limit = o.timeout;
    let started = Instant::now();
    let tcp = timeout(limit, TcpStream::connect(o.addr))
        .await
        .map_err(|_| "connect: timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = timeout(limit, o.connector.connect(o.server_name.clone(), tcp))
        .await
        .map_err(|_| "handshake: timed out".to_string())?
        .map_err(|e| format!("handshake: {e}"))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let connection = tls.get_ref().1;
    let alpn = connection
        .alpn_protocol()
        .map_or_else(|| "none".to_string(), |p| String::from_utf8_lossy(p).into_owned());
    let version =
        connection.protocol_version().map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
    tls.get_mut().1.send_close_notify();
    let mut sink = [0u8; 4096];
    let closed = timeout(limit, async {
        tls.flush().await?;
        // What the server sends until it closes (tickets, an HTTP/2 SETTINGS frame, its own
        // close_notify) is read and dropped.
        while tls.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
    match closed {
        Ok(Ok(())) => Ok(Handshake { ms, alpn, version }),
        // A close without the server's close_notify, or a reset, still ended the connection
        // after the handshake (servers differ in how they let go; none of it is the
        // handshake's work).
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(Handshake { ms, alpn, version })
        }
        Ok(Err(e)) => Err(format!("after the handshake: {e}")),
        Err(_) => Err("the server kept the connection open after close_notify".to_string()),
    }
}

/// What one loop did.
#[derive(Default)]
struct Looped {
    done: Vec<Handshake>,
    errors: Vec<String>,
}

async fn run_loop(o: Arc<Options>, deadline: Instant) -> Looped {
    let mut looped = Looped::default();
    while Instant::now() < deadline {
        match handshake(&o).await {
            Ok(done) => looped.done.push(done),
            Err(e) => {
                looped.errors.push(e);
                // A server refusing everything must not turn this loop into a busy one.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    looped
}

async fn run(o: Options) -> Value {
    let o = Arc::new(o);
    let started = Instant::now();
    let deadline = started + o.duration;
    let loops: Vec<_> =
        (0..o.connections).map(|_| tokio::spawn(run_loop(Arc::clone(&o), deadline))).collect();
    let mut errors = Errors::default();
    let (mut times, mut alpn, mut versions) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
    for handle in loops {
        match handle.await {
            Ok(looped) => {
                for done in looped.done {
                    times.push(done.ms);
                    *alpn.entry(done.alpn).or_insert(0u64) += 1;
                    *versions.entry(done.version).or_insert(0u64) += 1;
                }
                looped.errors.into_iter().for_each(|e| errors.push(e));
            }
            Err(e) => errors.push(format!("a loop's task failed: {e}")),
        }
    }
    // Every loop ends with its last close: the window is until then.
    let elapsed_s = started.elapsed().as_secs_f64().max(1e-9);
    json!({
        "addr": o.addr.to_string(),
        "connections": o.connections,
        "duration_s": round(elapsed_s, 3),
        "handshakes": times.len(),
        "handshakes_per_s": round(times.len() as f64 / elapsed_s, 1),
        "handshake_ms": summary(&times, &["p50", "p99", "max"]),
        "alpn": alpn,
        "tls_versions": versions,
        "errors": errors.count,
        "error_samples": errors.samples,
    })
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("tlsload: {message}");
    println!("{}", json!({ "error": message }));
    ExitCode::from(code)
}

fn main() -> ExitCode {
    // loadgen's parser wants a subcommand first; tlsload has only the one.
    let args = match cli::Args::parse(
        std::iter::once("tlsload".to_string()).chain(std::env::args().skip(1)),
    ) {
        Ok(args) if args.flag("help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(args) => args,
        Err(e) => return fail(&format!("{e}\n{USAGE}"), 2),
    };
    let options = match Options::from_args(&args) {
        Ok(options) => options,
        Err(e) => return fail(&format!("{e}\n{USAGE}"), 2),
    };
    if let Err(e) = fdlimit::ensure(options.connections as u64 + 16) {
        return fail(&e, 1);
    }
    // One core, one loop: the measuring side must not compete with the server for cores.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}"), 1),
    };
    println!("{}", runtime.block_on(run(options)));
    ExitCode::SUCCESS
}
