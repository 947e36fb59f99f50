//! TLS with rustls and its `ring` provider: TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`. Each certificate is chosen by SNI against the names it is valid
//! for (the first one is the default); SIGHUP reloads the files in place, and a
//! bad new file keeps the old certificates.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// A certificate chain and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// Full chain, leaf first.
    pub cert: PathBuf,
    /// PKCS#8, PKCS#1 or SEC1 private key.
    pub key: PathBuf,
}

/// A certificate or key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The flag the file came from (`--tls-cert`, `--tls-key`).
    pub flag: &'static str,
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.flag, self.path.display(), self.message)
    }
}

impl std::error::Error for TlsError {}

/// The server's TLS set-up; cheap to share.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    /// The resolver over `files`, which [`Tls::reload`] refills; `None` when
    /// another resolver chooses (the sites').
    resolver: Option<Arc<SniResolver>>,
    files: Vec<CertFiles>,
}

impl Tls {
    /// Loads every certificate and key.
    pub fn from_files(files: Vec<CertFiles>) -> Result<Tls, TlsError> {
        let provider = provider();
        let keys = files
            .iter()
            .map(|f| load(f, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        let first = files.first().map(|f| f.cert.clone()).unwrap_or_default();
        Self::with_keys(keys, files, provider).map_err(|e| TlsError {
            flag: "--tls-cert",
            path: first,
            message: format!("rustls: {e}"),
        })
    }

    /// An in-memory certificate for `localhost`, `127.0.0.1` and `::1`, for local
    /// development. Returns it with the SHA-256 fingerprint of its certificate.
    pub fn self_signed() -> Result<(Tls, String), String> {
        let (key, fingerprint) = self_signed_key()?;
        let tls = Self::with_keys(vec![key], Vec::new(), provider()).map_err(|e| e.to_string())?;
        Ok((tls, fingerprint))
    }

    /// TLS whose certificate for each handshake `resolver` picks.
    /// Its ALPN list also offers `acme-tls/1`, which only an ACME CA's
    /// TLS-ALPN-01 validation asks for (RFC 8737).
    pub fn with_resolver(resolver: Arc<dyn ResolvesServerCert>) -> Result<Tls, rustls::Error> {
        let mut config = server_config(resolver, provider())?;
        if let Some(config) = Arc::get_mut(&mut config) {
            config
                .alpn_protocols
                .push(super::acme::ACME_TLS_ALPN.to_vec());
        }
        Ok(Tls {
            config,
            resolver: None,
            files: Vec::new(),
        })
    }

    fn with_keys(
        keys: Vec<Arc<CertifiedKey>>,
        files: Vec<CertFiles>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Tls, rustls::Error> {
        let resolver = Arc::new(SniResolver {
            keys: RwLock::new(Arc::new(keys)),
        });
        Ok(Tls {
            config: server_config(resolver.clone(), provider)?,
            resolver: Some(resolver),
            files,
        })
    }

    /// The rustls configuration for an acceptor.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// Reads the certificate files again and swaps them in for new handshakes.
    /// On any error the old certificates stay.
    pub fn reload(&self) -> Result<usize, TlsError> {
        if self.files.is_empty() {
            return Ok(0);
        }
        let provider = provider();
        let keys = self
            .files
            .iter()
            .map(|f| load(f, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        let count = keys.len();
        if let Some(Ok(mut slot)) = self.resolver.as_ref().map(|r| r.keys.write()) {
            *slot = Arc::new(keys);
        }
        Ok(count)
    }
}

/// TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`, session tickets.
fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if let Ok(ticketer) = rustls::crypto::ring::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Ok(Arc::new(config))
}

/// A certificate for `localhost`, `127.0.0.1` and `::1`, made in memory, with
/// the SHA-256 fingerprint of its certificate.
pub fn self_signed_key() -> Result<(Arc<CertifiedKey>, String), String> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    let der = generated.cert.der().clone();
    let fingerprint = fingerprint(&der);
    let key = PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    Ok((Arc::new(CertifiedKey::new(vec![der], signer)), fingerprint))
}

/// Loads one certificate chain and its key, checking that they match.
pub fn load_pair(files: &CertFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    load(files, &provider())
}

/// The first of `keys` valid for the SNI `name`, else the first.
pub fn pick_for_name(keys: &[Arc<CertifiedKey>], name: Option<&str>) -> Option<Arc<CertifiedKey>> {
    if let Some(name) = name.and_then(|n| ServerName::try_from(n).ok()) {
        let valid = |key: &&Arc<CertifiedKey>| {
            key.end_entity_cert()
                .ok()
                .and_then(|leaf| webpki::EndEntityCert::try_from(leaf).ok())
                .is_some_and(|leaf| leaf.verify_is_valid_for_subject_name(&name).is_ok())
        };
        if let Some(key) = keys.iter().find(valid) {
            return Some(key.clone());
        }
    }
    keys.first().cloned()
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `AB:CD:...`: the SHA-256 of a certificate, as browsers show it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn load(files: &CertFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_error = |message: String| TlsError {
        flag: "--tls-cert",
        path: files.cert.clone(),
        message,
    };
    let key_error = |message: String| TlsError {
        flag: "--tls-key",
        path: files.key.clone(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(pem_message(&files.cert, e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(pem_message(&files.cert, e)))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            key_error("no private key in the file (expected PEM: PKCS#8, PKCS#1 or SEC1)".into())
        }
        other => key_error(pem_message(&files.key, other)),
    })?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_error(format!("unusable key: {e}")))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|_| {
        key_error(format!(
            "does not match the certificate in {}",
            files.cert.display()
        ))
    })?;
    Ok(Arc::new(certified))
}

fn pem_message(path: &Path, e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item in the file".into(),
        other => format!("not valid PEM ({other:?}) in {}", path.display()),
    }
}

/// Picks the first certificate valid for the client's SNI name, else the first.
#[derive(Debug)]
struct SniResolver {
    keys: RwLock<Arc<Vec<Arc<CertifiedKey>>>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.keys.read().ok()?.clone();
        pick_for_name(&keys, hello.server_name())
    }
}
