//! The opening handshake (RFC 6455 §4.2): what a request must carry to become a WebSocket,
//! the answers to one that does not, the `Sec-WebSocket-Accept` of one that does, and the
//! choice of a subprotocol.

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, UPGRADE};
use http::request::Parts;
use http::{Method, StatusCode, Version};

use crate::{header_list, HttpError};

pub(super) const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
pub(super) const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");
pub(super) const SEC_WEBSOCKET_VERSION: HeaderName =
    HeaderName::from_static("sec-websocket-version");
pub(super) const SEC_WEBSOCKET_PROTOCOL: HeaderName =
    HeaderName::from_static("sec-websocket-protocol");

/// A handshake that is valid: what the 101 answers with, and what the client offered.
#[derive(Debug)]
pub(super) struct Handshake {
    /// `Sec-WebSocket-Accept`: the key's SHA-1 with RFC 6455's GUID, in base64.
    pub(super) accept: HeaderValue,
    /// The subprotocols the client offered, in its order of preference.
    pub(super) offered: Vec<String>,
}

/// Checks `parts` as RFC 6455 §4.2.1 asks a server to, in the order a client's mistakes are
/// most usefully reported: a request that is no WebSocket handshake at all (426, naming the
/// protocol), a malformed one (400), a version not spoken here (426 with the one that is).
pub(super) fn check(parts: &Parts) -> Result<Handshake, HttpError> {
    if parts.method != Method::GET {
        return Err(HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake is a GET request",
        )
        .with_header("allow", "GET"));
    }
    if !header_list::lists(&parts.headers, &UPGRADE, "websocket") {
        return Err(HttpError::new(
            StatusCode::UPGRADE_REQUIRED,
            "this route is a WebSocket: connect with a WebSocket client (Upgrade: websocket)",
        )
        .with_header("upgrade", "websocket")
        .with_header("sec-websocket-version", "13"));
    }
    if parts.version != Version::HTTP_11 {
        return Err(HttpError::bad_request(
            "a WebSocket handshake needs HTTP/1.1 (WebSockets over HTTP/2, RFC 8441, are not \
             served)",
        ));
    }
    if !header_list::lists(&parts.headers, &CONNECTION, "upgrade") {
        return Err(HttpError::bad_request(
            "a WebSocket handshake's Connection header must include the token `upgrade`",
        ));
    }
    let version = parts.headers.get(SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|version| version.as_bytes() != b"13") {
        let said = version.map_or_else(|| "none".to_owned(), |v| shown(v.as_bytes()));
        return Err(HttpError::new(
            StatusCode::UPGRADE_REQUIRED,
            format!("Sec-WebSocket-Version {said} is not spoken here: use 13 (RFC 6455)"),
        )
        .with_header("sec-websocket-version", "13"));
    }
    let key = match parts.headers.get(SEC_WEBSOCKET_KEY) {
        None => {
            return Err(HttpError::bad_request(
                "a WebSocket handshake needs a Sec-WebSocket-Key header",
            ))
        }
        Some(key) if !is_valid_key(key.as_bytes()) => {
            return Err(HttpError::bad_request(format!(
                "Sec-WebSocket-Key must be 16 random bytes in base64 (24 characters), not {}",
                shown(key.as_bytes())
            )))
        }
        Some(key) => key,
    };
    let accept = HeaderValue::try_from(derive_accept_key(key.as_bytes()))
        .expect("base64 is a valid header value");
    Ok(Handshake { accept, offered: offered_protocols(&parts.headers) })
}

/// RFC 6455 §4.1: the key is a nonce of 16 bytes, base64-encoded.
fn is_valid_key(key: &[u8]) -> bool {
    use base64::Engine as _;
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|decoded| decoded.len() == 16)
}

/// The subprotocols a client offers, in its order: every `Sec-WebSocket-Protocol` line,
/// split at commas.
fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The subprotocol to speak: the first of the server's, in its order of preference, that the
/// client offered (names compared exactly); none when they share none, and the session then
/// speaks none (RFC 6455 lets the server answer without one; a client that insists closes).
pub(super) fn choose<'a>(server: &'a [String], offered: &[String]) -> Option<&'a String> {
    server.iter().find(|protocol| offered.contains(protocol))
}

/// A client's header value as an error message shows it: quoted, cut at 40 bytes.
fn shown(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(&value[..value.len().min(40)]);
    let more = if value.len() > 40 { "…" } else { "" };
    format!("{text:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, version: Version, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method(method).version(version).uri("/ws");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    const GOOD: &[(&str, &str)] = &[
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn with(change: (&'static str, Option<&'static str>)) -> Vec<(&'static str, &'static str)> {
        let mut headers: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != change.0).collect();
        if let Some(value) = change.1 {
            headers.push((change.0, value));
        }
        headers
    }

    #[test]
    fn the_rfcs_example_is_accepted_with_its_accept_key() {
        let handshake = check(&parts(Method::GET, Version::HTTP_11, GOOD)).unwrap();
        // RFC 6455 §1.3's worked example.
        assert_eq!(handshake.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(handshake.offered.is_empty());
    }

    /// A request, the status it gets and what its detail says.
    type Case = (Method, Version, Vec<(&'static str, &'static str)>, u16, &'static str);

    #[test]
    fn each_mistake_gets_its_status() {
        let cases: &[Case] = &[
            (Method::POST, Version::HTTP_11, with(("x", None)), 405, "GET"),
            (Method::GET, Version::HTTP_11, with(("upgrade", None)), 426, "WebSocket client"),
            (Method::GET, Version::HTTP_11, with(("upgrade", Some("h2c"))), 426, "WebSocket"),
            (Method::GET, Version::HTTP_10, with(("x", None)), 400, "HTTP/1.1"),
            (Method::GET, Version::HTTP_11, with(("connection", None)), 400, "upgrade"),
            (Method::GET, Version::HTTP_11, with(("connection", Some("close"))), 400, "upgrade"),
            (Method::GET, Version::HTTP_11, with(("sec-websocket-version", None)), 426, "none"),
            (
                Method::GET,
                Version::HTTP_11,
                with(("sec-websocket-version", Some("8"))),
                426,
                "\"8\"",
            ),
            (Method::GET, Version::HTTP_11, with(("sec-websocket-key", None)), 400, "needs a Sec"),
            (
                Method::GET,
                Version::HTTP_11,
                with(("sec-websocket-key", Some("c2hvcnQ="))),
                400,
                "16",
            ),
            (
                Method::GET,
                Version::HTTP_11,
                with(("sec-websocket-key", Some("!!!!!!!!!!!!!!!!!!!!!!!!"))),
                400,
                "base64",
            ),
        ];
        for (method, version, headers, status, says) in cases {
            let error = check(&parts(method.clone(), *version, headers)).unwrap_err();
            assert_eq!(error.status().as_u16(), *status, "{method} {version:?} {headers:?}");
            let detail = error.detail().as_str().unwrap();
            assert!(detail.contains(says), "{detail:?} should say {says:?}");
        }
    }

    #[test]
    fn tokens_are_found_in_lists_of_any_case() {
        let headers = with(("connection", Some("keep-alive, UPGRADE")));
        assert!(check(&parts(Method::GET, Version::HTTP_11, &headers)).is_ok());
        let headers = with(("upgrade", Some("WebSocket")));
        assert!(check(&parts(Method::GET, Version::HTTP_11, &headers)).is_ok());
    }

    #[test]
    fn the_first_of_the_servers_protocols_the_client_offered_is_chosen() {
        let server: Vec<String> = vec!["v2.chat".into(), "v1.chat".into()];
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", "v1.chat, other"));
        headers.push(("sec-websocket-protocol", "v2.chat"));
        let offered = check(&parts(Method::GET, Version::HTTP_11, &headers)).unwrap().offered;
        assert_eq!(offered, ["v1.chat", "other", "v2.chat"]);
        assert_eq!(choose(&server, &offered).map(String::as_str), Some("v2.chat"));
        assert_eq!(choose(&server, &["other".into()]), None);
        assert_eq!(choose(&[], &offered), None);
    }
}
