//! TLS for the server: a certificate chain and its key, read from PEM (uvicorn's
//! `--ssl-certfile` / `--ssl-keyfile`), served by rustls with ALPN offering `h2` and
//! `http/1.1`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server's TLS settings: what [`ServerConfig::tls`](super::ServerConfig::tls) holds.
/// Cheap to clone (the rustls configuration is shared).
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ServerConfig>,
}

/// Why TLS settings could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The certificate file holds no PEM `CERTIFICATE` block.
    NoCertificate,
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    NoKey,
    /// A PEM block could not be parsed.
    Pem(pem::Error),
    /// rustls refused the certificate and key (a key that does not match the certificate, an
    /// unsupported key type).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            TlsError::NoCertificate => {
                f.write_str("no certificate found: the certificate file must hold PEM `-----BEGIN CERTIFICATE-----` blocks, the server's first")
            }
            TlsError::NoKey => f.write_str(
                "no private key found: the key file must hold a PEM private key (PKCS#8 `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)",
            ),
            TlsError::Pem(error) => write!(f, "invalid PEM: {error}"),
            TlsError::Rustls(error) => write!(f, "the certificate and key were refused: {error}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl TlsConfig {
    /// Reads a certificate chain (the server's certificate first, then intermediates) and its
    /// private key from PEM files.
    pub fn from_pem_files(
        certificate: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| TlsError::Read { path: path.to_owned(), error })
        };
        TlsConfig::from_pem(&read(certificate.as_ref())?, &read(key.as_ref())?)
    }

    /// A certificate chain and its private key, from PEM text.
    pub fn from_pem(certificate: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let chain = CertificateDer::pem_slice_iter(certificate)
            .collect::<Result<Vec<_>, _>>()
            .map_err(TlsError::Pem)?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = match PrivateKeyDer::from_pem_slice(key) {
            Ok(key) => key,
            Err(pem::Error::NoItemsFound) => return Err(TlsError::NoKey),
            Err(error) => return Err(TlsError::Pem(error)),
        };
        // ring's provider, named rather than taken from the process default, so that another
        // crate enabling a second provider cannot make this ambiguous.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Rustls)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig { rustls: Arc::new(config) })
    }

    /// Settings made with rustls directly (client certificates, session tickets, another
    /// crypto provider). Its `alpn_protocols` are replaced by the server's (`h2` when HTTP/2
    /// is on, and `http/1.1`).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { rustls: config }
    }

    /// The acceptor a worker uses, offering `h2` by ALPN only when `http2` is on.
    pub(crate) fn acceptor(&self, http2: bool) -> futures_rustls::TlsAcceptor {
        let alpn: Vec<Vec<u8>> = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let config = if self.rustls.alpn_protocols == alpn {
            Arc::clone(&self.rustls)
        } else {
            let mut config = (*self.rustls).clone();
            config.alpn_protocols = alpn;
            Arc::new(config)
        };
        futures_rustls::TlsAcceptor::from(config)
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").field("alpn", &self.rustls.alpn_protocols.len()).finish()
    }
}
