//! Behind a proxy: who the client is, which scheme it used and which host it asked for, read
//! from the headers a *trusted* proxy adds — uvicorn's `--proxy-headers` and
//! `--forwarded-allow-ips` ([`ForwardedAllowIps`]), with RFC 7239's `Forwarded` beside the
//! `X-Forwarded-*` family.
//!
//! Why trust is needed at all: any client can send `X-Forwarded-For: 10.0.0.1`. Those headers
//! mean something only when the connection comes from a proxy we run, which overwrites or
//! appends to them; from anyone else they are ignored, and the connection's peer is the client.
//!
//! Which address is the client (uvicorn's rule): each proxy appends the address it received
//! the request from, so `X-Forwarded-For` is read from the right, and the first address that
//! is not a trusted proxy is the client — an address a client wrote itself sits further left
//! and is never reached. When every address is trusted, the leftmost is the client; with
//! `*` (trust everything) the leftmost is the client too. An entry that is not an IP address
//! (`unknown`, an obfuscated name, garbage) cannot be an address to report: the peer stays the
//! client, and the request is served as usual.
//!
//! Which header: `X-Forwarded-For` / `-Proto` / `-Host` when the request has
//! `X-Forwarded-For`, else RFC 7239's `Forwarded` (`for=`, `proto=`, `host=` of the element
//! the walk stops at). A proxy must remove the family it does not write (the configurations
//! in `deploy/` do), or a client could send it through.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::header::{HeaderName, HeaderValue};
use http::uri::Scheme;
use http::HeaderMap;
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The proxies whose forwarded headers are believed: uvicorn's `--forwarded-allow-ips`.
///
/// A comma-separated list of IP addresses and networks (`127.0.0.1, 10.0.0.0/8, fd00::/8`),
/// or `*` for every peer — including a Unix socket's, which has no address and is trusted
/// only by `*` (as in uvicorn). The default is `127.0.0.1`, uvicorn's: a proxy on the same
/// machine. IPv4 peers that reach an IPv6 socket (`::ffff:127.0.0.1`) are matched as IPv4.
///
/// ```
/// use kairos_http::server::ForwardedAllowIps;
///
/// let trusted: ForwardedAllowIps = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
/// assert!("*".parse::<ForwardedAllowIps>().unwrap().contains("192.0.2.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<ForwardedAllowIps>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardedAllowIps {
    all: bool,
    networks: Vec<IpNet>,
}

impl ForwardedAllowIps {
    /// Every peer is a trusted proxy (`*`): only for a server that nothing but the proxy can
    /// reach (a Unix socket, a private network).
    pub fn all() -> ForwardedAllowIps {
        ForwardedAllowIps { all: true, networks: Vec::new() }
    }

    /// No peer is trusted: forwarded headers are always ignored.
    pub fn none() -> ForwardedAllowIps {
        ForwardedAllowIps { all: false, networks: Vec::new() }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.all || self.networks.iter().any(|network| network.contains(&ip))
    }

    /// Whether every peer is trusted (`*`).
    pub fn trusts_all(&self) -> bool {
        self.all
    }
}

impl Default for ForwardedAllowIps {
    /// uvicorn's default: `127.0.0.1`.
    fn default() -> Self {
        ForwardedAllowIps { all: false, networks: vec![IpNet::from(IpAddr::from([127, 0, 0, 1]))] }
    }
}

impl fmt::Debug for ForwardedAllowIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ForwardedAllowIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("*");
        }
        let mut first = true;
        for network in &self.networks {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if network.prefix_len() == network.max_prefix_len() {
                write!(f, "{}", network.addr())?;
            } else {
                write!(f, "{network}")?;
            }
        }
        Ok(())
    }
}

/// Why a `--forwarded-allow-ips` list was refused: the entry, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedAllowIpsError {
    entry: String,
}

impl fmt::Display for ForwardedAllowIpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an IP address or network: give a comma-separated list such as \
             127.0.0.1,10.0.0.0/8,::1, or * to trust every peer",
            self.entry
        )
    }
}

impl std::error::Error for ForwardedAllowIpsError {}

impl FromStr for ForwardedAllowIps {
    type Err = ForwardedAllowIpsError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut trusted = ForwardedAllowIps::none();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            if entry == "*" {
                trusted.all = true;
                continue;
            }
            let network = match entry.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip.to_canonical()),
                    Err(_) => return Err(ForwardedAllowIpsError { entry: entry.to_owned() }),
                },
            };
            trusted.networks.push(network);
        }
        Ok(trusted)
    }
}

/// What a trusted proxy said about a request; each part only when it said it, validly.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// The client's address (port 0 when the proxy gave none).
    pub(crate) client: Option<SocketAddr>,
    /// The scheme the client used (`ws`/`wss` read as `http`/`https`).
    pub(crate) scheme: Option<Scheme>,
    /// The host the client asked for, a valid `Host` value.
    pub(crate) host: Option<HeaderValue>,
}

/// Whether `headers` may carry forwarded information: a cheap test before [`resolve`].
pub(crate) fn present(headers: &HeaderMap) -> bool {
    headers.contains_key(X_FORWARDED_FOR)
        || headers.contains_key(X_FORWARDED_PROTO)
        || headers.contains_key(X_FORWARDED_HOST)
        || headers.contains_key(http::header::FORWARDED)
}

/// What the proxy headers of a request from `peer` say, or nothing when `peer` (`None`: a
/// Unix socket's) is not trusted.
pub(crate) fn resolve(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &ForwardedAllowIps,
) -> Forwarded {
    let peer_trusted = match peer {
        Some(ip) => trusted.contains(ip),
        None => trusted.all,
    };
    if !peer_trusted {
        return Forwarded::default();
    }
    if headers.contains_key(X_FORWARDED_FOR) || !headers.contains_key(http::header::FORWARDED) {
        x_forwarded(headers, trusted)
    } else {
        rfc7239(headers, trusted)
    }
}

/// The `X-Forwarded-*` family. Several `X-Forwarded-For` lines are one list, in order.
fn x_forwarded(headers: &HeaderMap, trusted: &ForwardedAllowIps) -> Forwarded {
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let client = client_of(&hops, trusted, node_address);
    // The proxy that writes these sets them whole (nginx's `$scheme`, haproxy's `set-header`);
    // a list's first entry is the outermost proxy's.
    let first = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
    };
    Forwarded {
        client,
        scheme: first(X_FORWARDED_PROTO).and_then(scheme),
        host: first(X_FORWARDED_HOST).and_then(host),
    }
}

/// RFC 7239's `Forwarded`: the element the walk from the right stops at gives the client
/// (`for=`), the scheme (`proto=`) and the host (`host=`) its proxy received.
fn rfc7239(headers: &HeaderMap, trusted: &ForwardedAllowIps) -> Forwarded {
    let mut elements = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        let Ok(value) = value.to_str() else { return Forwarded::default() };
        let Some(parsed) = parse_forwarded(value) else { return Forwarded::default() };
        elements.extend(parsed);
    }
    let index = walk(elements.len(), trusted, |i| {
        elements[i].for_.as_deref().and_then(node_address).map(|addr| addr.ip())
    });
    let Some(element) = index.map(|i| &elements[i]) else { return Forwarded::default() };
    Forwarded {
        client: element.for_.as_deref().and_then(node_address),
        scheme: element.proto.as_deref().and_then(scheme),
        host: element.host.as_deref().and_then(host),
    }
}

/// The client among `hops` (left to right, as the proxies appended them).
fn client_of(
    hops: &[&str],
    trusted: &ForwardedAllowIps,
    address: impl Fn(&str) -> Option<SocketAddr>,
) -> Option<SocketAddr> {
    let index = walk(hops.len(), trusted, |i| address(hops[i]).map(|addr| addr.ip()))?;
    address(hops[index])
}

/// uvicorn's walk over `count` hops whose addresses `ip_at` gives: from the right, the first
/// hop that is not a trusted proxy (a hop that is not an address is not one); all trusted, or
/// everything trusted (`*`): the leftmost.
fn walk(
    count: usize,
    trusted: &ForwardedAllowIps,
    ip_at: impl Fn(usize) -> Option<IpAddr>,
) -> Option<usize> {
    if count == 0 {
        return None;
    }
    if trusted.all {
        return Some(0);
    }
    (0..count).rev().find(|&i| !ip_at(i).is_some_and(|ip| trusted.contains(ip))).or(Some(0))
}

/// A node of `X-Forwarded-For` or of `for=`: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, `[2001:db8::1]`; anything else (`unknown`, `_hidden`) is `None`.
fn node_address(node: &str) -> Option<SocketAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip.to_canonical(), 0));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(SocketAddr::new(addr.ip().to_canonical(), addr.port()));
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(|ip| SocketAddr::new(IpAddr::V6(ip), 0))
}

/// `http`/`https` (and `ws`/`wss`, a WebSocket's names for them), in any case.
fn scheme(value: &str) -> Option<Scheme> {
    match value.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(Scheme::HTTP),
        "https" | "wss" => Some(Scheme::HTTPS),
        _ => None,
    }
}

/// A host the client asked for, if it is a valid, non-empty `Host` value.
fn host(value: &str) -> Option<HeaderValue> {
    (!value.is_empty() && super::request::valid_host(value.as_bytes()))
        .then(|| HeaderValue::from_str(value).ok())
        .flatten()
}

/// One element of a `Forwarded` value.
#[derive(Debug, Default)]
struct Element {
    for_: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

/// `Forwarded`'s `element *( "," element )`, each `pair *( ";" pair )`, a pair
/// `token "=" ( token / quoted-string )`. `None` for a value that does not parse: the whole
/// header is then ignored rather than half-believed.
fn parse_forwarded(value: &str) -> Option<Vec<Element>> {
    let mut elements = vec![Element::default()];
    let mut rest = value.trim_start();
    loop {
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || !key.bytes().all(is_token_byte) {
            return None;
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => out.push(chars.next()?.1),
                    (_, c) => out.push(c),
                }
            };
            (out, &quoted[end + 1..])
        } else {
            let end = after.find([';', ',']).unwrap_or(after.len());
            let token = after[..end].trim_end();
            if token.is_empty() || !token.bytes().all(is_token_byte) {
                return None;
            }
            (token.to_owned(), &after[end..])
        };
        let element = elements.last_mut().expect("one element at least");
        match key.as_str() {
            "for" => element.for_ = Some(value),
            "proto" => element.proto = Some(value),
            "host" => element.host = Some(value),
            _ => {} // `by` and extensions: not needed here
        }
        rest = after.trim_start();
        match rest.as_bytes().first() {
            None => break,
            Some(b';') => rest = rest[1..].trim_start(),
            Some(b',') => {
                elements.push(Element::default());
                rest = rest[1..].trim_start();
            }
            Some(_) => return None,
        }
    }
    Some(elements)
}

/// RFC 9110's `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:[]".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn client(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let h = headers(&[("x-forwarded-for", "10.0.0.9"), ("x-forwarded-proto", "https")]);
        let trusted = ForwardedAllowIps::default();
        assert_eq!(resolve(&h, ip("192.0.2.7"), &trusted), Forwarded::default());
        // A Unix socket's peer: only `*` trusts it.
        assert_eq!(resolve(&h, None, &trusted), Forwarded::default());
        assert_eq!(resolve(&h, None, &ForwardedAllowIps::all()).client, client("10.0.0.9:0"));
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted: ForwardedAllowIps = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        // The client wrote 6.6.6.6 itself; the proxies appended 203.0.113.5 and 10.1.1.1.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.5, 10.1.1.1")]);
        assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted).client, client("203.0.113.5:0"));
        // All trusted: the leftmost. `*`: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.0.0.1"), ("x-forwarded-for", "10.0.0.2")]);
        assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted).client, client("10.0.0.1:0"));
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.5")]);
        let all = ForwardedAllowIps::all();
        assert_eq!(resolve(&h, ip("192.0.2.1"), &all).client, client("6.6.6.6:0"));
    }

    #[test]
    fn proto_and_host_are_taken_from_a_trusted_peer_only_when_valid() {
        let trusted = ForwardedAllowIps::default();
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.4"),
            ("x-forwarded-proto", "HTTPS"),
            ("x-forwarded-host", "api.example.com:8443"),
        ]);
        let got = resolve(&h, ip("127.0.0.1"), &trusted);
        assert_eq!(got.scheme, Some(Scheme::HTTPS));
        assert_eq!(got.host.unwrap(), "api.example.com:8443");
        let h = headers(&[("x-forwarded-proto", "gopher"), ("x-forwarded-host", "a b")]);
        assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted), Forwarded::default());
    }

    #[test]
    fn garbled_hops_leave_the_peer_as_the_client() {
        let trusted = ForwardedAllowIps::default();
        for garbled in ["unknown", "", ",,,", "999.1.1.1", "[::1", "_hidden, 127.0.0.1"] {
            let h = headers(&[("x-forwarded-for", garbled)]);
            assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted).client, None, "{garbled:?}");
        }
    }

    #[test]
    fn rfc_7239_elements_are_walked_like_x_forwarded_for() {
        let trusted: ForwardedAllowIps = "127.0.0.1,2001:db8::/32".parse().unwrap();
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6;proto=http, for=\"[2001:db9::17]:4711\";proto=https;host=\"shop.example\", \
             For=\"[2001:db8::1]\";proto=http",
        )]);
        let got = resolve(&h, ip("127.0.0.1"), &trusted);
        assert_eq!(got.client, client("[2001:db9::17]:4711"));
        assert_eq!(got.scheme, Some(Scheme::HTTPS));
        assert_eq!(got.host.unwrap(), "shop.example");
        // X-Forwarded-For wins when both are there.
        let h = headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted).client, client("198.51.100.1:0"));
        for garbled in
            ["for", "for=\"unterminated", "for=a b", "=x", "for=1.2.3.4;;", "for=1.2.3.4 x"]
        {
            let h = headers(&[("forwarded", garbled)]);
            assert_eq!(resolve(&h, ip("127.0.0.1"), &trusted).client, None, "{garbled:?}");
        }
    }

    #[test]
    fn allow_lists_parse_as_uvicorn_reads_them() {
        let list: ForwardedAllowIps = " 127.0.0.1 ,10.0.0.0/8,::1,".parse().unwrap();
        assert_eq!(list.to_string(), "127.0.0.1,10.0.0.0/8,::1");
        assert!(list.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!("*".parse::<ForwardedAllowIps>().unwrap().trusts_all());
        let error = "127.0.0.1,proxy.local".parse::<ForwardedAllowIps>().unwrap_err();
        assert!(error.to_string().contains("\"proxy.local\" is not an IP address"), "{error}");
    }
}
