//! Opening a connection to an origin: resolving its host, TCP, the TLS handshake for
//! `https://`, and hyper's HTTP/1.1 over the result.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use futures_rustls::TlsConnector;
use hyper::client::conn::http1;
use kairos_rt::net::TcpStream;

use super::pool::Origin;
use super::{tls, ClientError};
use crate::transport::Transport;
use crate::{Body, HyperIo};

/// Opens a connection to `origin`, over TLS when `tls` is given.
pub(super) async fn connect(
    origin: &Origin,
    tls: Option<&TlsConnector>,
) -> Result<http1::SendRequest<Body>, ClientError> {
    let addr = resolve(origin).await?;
    let tcp = TcpStream::connect(addr).await.map_err(|e| ClientError::Connect(addr, e))?;
    let _ = tcp.set_nodelay(true);
    let transport = match tls {
        None => Transport::Tcp(tcp),
        Some(connector) => {
            Transport::TlsClient(Box::new(tls::handshake(connector, origin, tcp).await?))
        }
    };
    let io = HyperIo::over(transport);
    let (sender, connection) =
        http1::Builder::new().handshake(io).await.map_err(ClientError::Http)?;
    // The connection's I/O runs as a task on this loop until it closes.
    spawn_connection(connection);
    Ok(sender)
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
