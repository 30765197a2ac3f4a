//! TLS for the client: the roots it trusts (the platform's, given ones, or both), the rustls
//! settings made from them, and the handshake, whose failures say what to do.

use std::io;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use kairos_rt::net::TcpStream;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, RootCertStore};

use super::pool::Origin;
use super::ClientError;

/// What the client's TLS settings are made from, taken from its
/// [`ClientConfig`](super::ClientConfig).
#[derive(Clone)]
pub(super) struct Trust {
    pub(super) platform_roots: bool,
    pub(super) root_certificates: Vec<CertificateDer<'static>>,
    pub(super) http2: bool,
}

impl Trust {
    /// The connector for `https://`: roots, ring's crypto, and ALPN offering `h2` (when HTTP/2
    /// is on) and `http/1.1`. Reads the platform's store from disk, so it blocks: run it on a
    /// pool thread.
    pub(super) fn connector(self) -> Result<TlsConnector, ClientError> {
        let mut roots = RootCertStore::empty();
        if self.platform_roots {
            let (added, _unparsable) = roots.add_parsable_certificates(platform_roots()?);
            if added == 0 {
                return Err(ClientError::RootCertificates(format!(
                    "none of the platform's root certificates could be used; {}",
                    WHAT_TO_DO
                )));
            }
        }
        for certificate in self.root_certificates {
            roots.add(certificate).map_err(|e| {
                ClientError::RootCertificates(format!("a root certificate given is refused: {e}"))
            })?;
        }
        if roots.is_empty() {
            return Err(ClientError::RootCertificates(
                "no root certificates to verify servers with: `platform_roots` is off and none \
                 were given; add your CA with ClientConfig::with_root_pem"
                    .to_owned(),
            ));
        }
        // ring's provider, named rather than taken from the process default, as the server's
        // is (see server/tls.rs).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                ClientError::RootCertificates(format!("rustls refused its settings: {e}"))
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = if self.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// How to get roots, said by every error about the platform's.
const WHAT_TO_DO: &str = "install them (Debian: `apt-get install ca-certificates`), point \
    SSL_CERT_FILE at a PEM bundle, or trust only your own CA: `ClientConfig { platform_roots: \
    false, ..ClientConfig::default() }.with_root_pem(ca)`";

/// The platform's root certificates. rustls-native-certs finds them where OpenSSL would (on
/// Debian, `/etc/ssl/certs` from the `ca-certificates` package; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override), so this client trusts what `curl` and Python's `ssl` trust on the
/// same machine, and the roots are updated with the system, not with a release of kairos (as
/// a compiled-in list such as webpki-roots would be).
pub(super) fn platform_roots() -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::debug!(target: "kairos::client", "reading the platform's root certificates: {error}");
    }
    if loaded.certs.is_empty() {
        let why = if loaded.errors.is_empty() {
            "none found".to_owned()
        } else {
            loaded.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        };
        return Err(ClientError::RootCertificates(format!(
            "no root certificates could be loaded from the platform's store ({why}); {WHAT_TO_DO}"
        )));
    }
    Ok(loaded.certs)
}

/// Every `CERTIFICATE` block of `pem`, each checked to be usable as a root.
pub(super) fn roots_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| ClientError::RootCertificates(format!("the PEM given is not valid: {e}")))?;
    if certificates.is_empty() {
        return Err(ClientError::RootCertificates(
            "the PEM given holds no `-----BEGIN CERTIFICATE-----` block".to_owned(),
        ));
    }
    for certificate in &certificates {
        RootCertStore::empty().add(certificate.clone()).map_err(|e| {
            ClientError::RootCertificates(format!("a certificate given cannot be a root: {e}"))
        })?;
    }
    Ok(certificates)
}

/// The name the server's certificate must hold: sent by SNI when it is a DNS name, matched
/// against an IP address SAN when it is an address.
pub(super) fn server_name(origin: &Origin) -> Result<ServerName<'static>, ClientError> {
    ServerName::try_from(origin.bare_host().to_owned()).map_err(|e| {
        ClientError::InvalidUrl(format!("{:?} cannot be a TLS server name: {e}", origin.host))
    })
}

/// The TLS handshake over a connected socket.
pub(super) async fn handshake(
    connector: &TlsConnector,
    origin: &Origin,
    tcp: TcpStream,
) -> Result<futures_rustls::client::TlsStream<TcpStream>, ClientError> {
    let name = server_name(origin)?;
    connector.connect(name, tcp).await.map_err(|e| ClientError::Tls(origin.host.clone(), e))
}

/// What rustls said, when a handshake's error is rustls' (futures-rustls wraps it in an
/// `io::Error`); `None` when the socket failed instead.
pub(super) fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The question a handshake that failed on garbage or a closed socket raises.
const NOT_TLS: &str = "does the server speak TLS on this port? (an http:// URL speaks plain HTTP)";

/// A failed handshake explained, with what to do about it.
pub(super) fn explain(host: &str, error: &io::Error) -> String {
    let Some(rustls_error) = rustls_error(error) else {
        return format!("the TLS handshake with {host} failed: {error}; {NOT_TLS}");
    };
    match rustls_error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the TLS certificate of {host} is not signed by an authority this client trusts; if \
             you trust it, add its CA (or a self-signed server's own certificate) with \
             ClientConfig::with_root_pem, or install the CA in the platform's store"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the TLS certificate of {host} does not list {host} ({rustls_error}); connect by a \
             name or IP address it lists, or give the server a certificate that lists {host}"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => format!(
            "the TLS certificate of {host} is outside its validity period ({rustls_error}); \
             renew it, or check this machine's clock"
        ),
        rustls::Error::InvalidCertificate(_) => {
            format!("the TLS certificate of {host} was refused: {rustls_error}")
        }
        rustls::Error::InvalidMessage(_) => {
            format!("the TLS handshake with {host} failed: {rustls_error}; {NOT_TLS}")
        }
        _ => format!("the TLS handshake with {host} failed: {rustls_error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::pool::Scheme;

    fn origin(host: &str) -> Origin {
        Origin { scheme: Scheme::Https, host: host.to_owned(), port: 443 }
    }

    #[test]
    fn the_platform_roots_load() {
        // On Debian they come from the ca-certificates package; the error says so if missing.
        let roots = platform_roots().unwrap_or_else(|e| panic!("{e}"));
        assert!(!roots.is_empty());
        let trust = Trust { platform_roots: true, root_certificates: Vec::new(), http2: true };
        trust.connector().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn no_roots_at_all_is_an_error_that_says_what_to_do() {
        let trust = Trust { platform_roots: false, root_certificates: Vec::new(), http2: true };
        let Err(error) = trust.connector() else { panic!("a connector without roots") };
        assert!(matches!(error, ClientError::RootCertificates(_)), "{error}");
        assert!(error.to_string().contains("ClientConfig::with_root_pem"), "{error}");
    }

    #[test]
    fn pem_without_a_certificate_is_refused() {
        for pem in
            [&b""[..], b"hello", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
        {
            let error = roots_from_pem(pem).unwrap_err();
            assert!(matches!(error, ClientError::RootCertificates(_)), "{error}");
        }
    }

    #[test]
    fn server_names_are_dns_names_or_ip_addresses() {
        assert!(matches!(server_name(&origin("example.com")).unwrap(), ServerName::DnsName(_)));
        assert!(matches!(server_name(&origin("127.0.0.1")).unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name(&origin("[::1]")).unwrap(), ServerName::IpAddress(_)));
    }
}
