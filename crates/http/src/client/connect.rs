//! Opening a connection to an origin: resolving its host, TCP, the TLS handshake for
//! `https://`, and hyper's HTTP/1.1 or HTTP/2 over the result — HTTP/2 when the TLS handshake
//! chose it by ALPN, or in the clear with prior knowledge when configured.

use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use futures_rustls::TlsConnector;
use hyper::client::conn::{http1, http2};
use kairos_rt::net::TcpStream;

use super::pool::{Origin, Pool};
use super::{tls, ClientError};
use crate::executor::LoopExecutor;
use crate::transport::Transport;
use crate::{Body, HyperIo};

/// A connection ready for a request.
pub(super) enum Sender {
    /// An HTTP/1.1 connection: this request has it to itself, and gives it back to the pool
    /// when its response has been read.
    Http1(http1::SendRequest<Body>),
    /// A handle on the origin's shared HTTP/2 connection, and its clock of use.
    Http2(http2::SendRequest<Body>, Rc<Cell<Instant>>),
}

/// Opens a connection to `origin`, over TLS when `tls` is given. An HTTP/2 connection is kept
/// in `pool` as the origin's shared one.
pub(super) async fn connect(
    origin: &Origin,
    tls: Option<&TlsConnector>,
    http2_prior_knowledge: bool,
    pool: &Pool,
) -> Result<Sender, ClientError> {
    let addr = resolve(origin).await?;
    let tcp = TcpStream::connect(addr).await.map_err(|e| ClientError::Connect(addr, e))?;
    let _ = tcp.set_nodelay(true);
    let (transport, http2) = match tls {
        None => (Transport::Tcp(tcp), http2_prior_knowledge),
        Some(connector) => {
            let stream = tls::handshake(connector, origin, tcp).await?;
            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            if !http2 {
                pool.note_http1(origin);
            }
            (Transport::TlsClient(Box::new(stream)), http2)
        }
    };
    let io = HyperIo::over(transport);
    // Either way the connection's I/O runs as a task on this loop until it closes: for
    // HTTP/2, once every handle on it is dropped and its last stream is done.
    if http2 {
        let (sender, connection) =
            http2::Builder::new(LoopExecutor).handshake(io).await.map_err(ClientError::Http)?;
        spawn_connection(connection);
        let last_used = pool.share(origin.clone(), sender.clone());
        Ok(Sender::Http2(sender, last_used))
    } else {
        let (sender, connection) =
            http1::Builder::new().handshake(io).await.map_err(ClientError::Http)?;
        spawn_connection(connection);
        Ok(Sender::Http1(sender))
    }
}

fn spawn_connection(connection: impl Future<Output = hyper::Result<()>> + 'static) {
    kairos_rt::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(target: "kairos::client", "connection closed with an error: {e}");
        }
    })
    .detach();
}

/// An IP literal needs no lookup; a name is resolved on the default executor (getaddrinfo
/// blocks, so it must not run on the loop).
async fn resolve(origin: &Origin) -> Result<SocketAddr, ClientError> {
    let port = origin.port;
    if let Ok(ip) = origin.bare_host().parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let host = origin.host.clone();
    let lookup = kairos_rt::to_thread(move || {
        use std::net::ToSocketAddrs;
        (host.as_str(), port).to_socket_addrs().map(|mut addrs| addrs.next())
    });
    let failed = |e| ClientError::Resolve(origin.host.clone(), e);
    match lookup.await {
        Ok(Ok(Some(addr))) => Ok(addr),
        Ok(Ok(None)) => {
            Err(failed(std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))
        }
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(std::io::Error::other(e.to_string()))),
    }
}
