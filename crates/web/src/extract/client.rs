//! [`ClientAddr`]: who sent the request; [`RequestUrl`]: the URL it asked for, as the client
//! wrote it (behind a proxy: the scheme, host and prefix the client saw).

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

/// The URL the client asked for — Starlette's `request.url` — for links and redirects that
/// must work from where the client is: the scheme it used (`https` over TLS, or what a trusted
/// proxy forwarded: `X-Forwarded-Proto`), the host it asked for (`Host`, or a trusted proxy's
/// `X-Forwarded-Host`), the App's [`root_path`](crate::App::root_path) a proxy stripped, then
/// the path and query as routed.
///
/// ```
/// use kairos_web::{App, RequestUrl, TestClient};
///
/// async fn here(RequestUrl(url): RequestUrl) -> String {
///     url.to_string()
/// }
///
/// let client = TestClient::new(App::new().root_path("/api").get("/here", here));
/// let url = client.get("/here?x=1").send().text();
/// assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/api/here?x=1"), "{url}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl(pub http::Uri);

impl FromRequestParts for RequestUrl {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let context = RouteContext::of(parts, "RequestUrl")?;
        let scheme = context.scheme.clone().unwrap_or(http::uri::Scheme::HTTP);
        let host = parts
            .uri
            .authority()
            .map(|authority| authority.as_str().to_owned())
            .or_else(|| {
                let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
                (!host.is_empty()).then(|| host.to_owned())
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let root = context.root_path.as_deref().unwrap_or("");
        let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
        http::Uri::builder()
            .scheme(scheme)
            .authority(host)
            .path_and_query(format!("{root}{target}"))
            .build()
            .map(RequestUrl)
            .map_err(|_| HttpError::bad_request("the request's host does not make a URL"))
    }
}
