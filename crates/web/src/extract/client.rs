//! [`ClientAddr`]: who sent the request.

use std::net::SocketAddr;

use http::request::Parts;

use super::{FromRequestParts, RouteContext};
use crate::HttpError;

/// The address of the client that sent the request — Starlette's `request.client` — for
/// limits per client, logs and audits. Behind a proxy it is the proxy's (the service's proxy
/// settings decide whether a forwarded address replaces it). `None` when the request did not
/// come over a connection (made in-process) or a middleware replaced its body.
///
/// ```
/// use kairos_web::{App, ClientAddr, TestClient};
///
/// async fn whoami(ClientAddr(client): ClientAddr) -> String {
///     client.map_or("unknown".to_owned(), |addr| addr.ip().to_string())
/// }
///
/// let client = TestClient::new(App::new().get("/whoami", whoami));
/// assert_eq!(client.get("/whoami").send().text(), "127.0.0.1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<SocketAddr>);

impl FromRequestParts for ClientAddr {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(ClientAddr(RouteContext::of(parts, "ClientAddr")?.client))
    }
}
