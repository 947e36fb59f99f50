//! Automatic HTTPS: certificates from an ACME CA (RFC 8555), obtained and
//! renewed by the server itself.
//!
//! The protocol is [instant-acme]'s: a maintained, async (tokio) client whose
//! HTTP goes through hyper and rustls, the stack we already run, with ring as
//! its crypto (no second crypto library to build), and which supports ACME
//! Renewal Information (RFC 9773). rustls-acme was the other candidate; it
//! owns the TLS acceptor and the whole certificate life, which would hide the
//! steps we want to log and leave no room for our per-site SNI resolver.
//!
//! What is here:
//! - [`Acme`]: one per server, shared by every generation: the certificates
//!   being managed ([`Managed`], one per site, by its names), the answers to
//!   the challenges in flight, the account.
//! - Challenges: HTTP-01 answered from memory before any route, auth, access
//!   or dotfile rule ([`Acme::http01_answer`]); TLS-ALPN-01 (RFC 8737) answered
//!   by the resolver when a handshake offers only `acme-tls/1`
//!   ([`Acme::alpn_certificate`]); the connection then closes.
//! - `store`: the state folder (private files, written then renamed, lock
//!   files for instances sharing it).
//! - `order`: one order, step by step, each step logged.
//! - `renew`: the loop that keeps one certificate fresh: renewal when a third
//!   of its life is left, or in the window the CA's renewal information
//!   suggests; failures retried with jittered exponential backoff; the new
//!   certificate swapped in for new handshakes.
//!
//! A site whose certificate is not there yet fails its handshakes with an
//! alert (and a log line, at most one every [`REFUSAL_LOG_EVERY`]); the others
//! serve. A reload that drops a site's names stops their renewal.
//!
//! [instant-acme]: https://docs.rs/instant-acme

mod order;
mod renew;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use rustls::sign::CertifiedKey;

use super::shutdown::Shutdown;
use crate::body::Body;
use store::Store;

/// Let's Encrypt's production directory: the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Let's Encrypt's staging directory (`staging = true`): untrusted
/// certificates, generous rate limits, for trying a set-up out.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Where HTTP-01 challenges are fetched (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The refusal of a handshake for a site still waiting for its certificate
/// is logged at most this often per site: a busy site would otherwise flood
/// the log.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The first wait after a failed order, by default; each next one doubles.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);

/// The process-wide ACME settings (`[server.acme]`, `--acme-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeOptions {
    /// The CA's directory URL.
    pub directory: String,
    /// The contact address given to the CA (expiry notices, problems).
    pub email: Option<String>,
    /// A PEM root to trust for the directory's HTTPS (a test CA such as
    /// Pebble); `None`: the system's roots.
    pub ca_root: Option<PathBuf>,
    /// The first wait after a failure (then 2×, 4×, … up to a day), jittered.
    pub first_retry: Duration,
}

impl Default for AcmeOptions {
    fn default() -> Self {
        AcmeOptions {
            directory: LETS_ENCRYPT.to_string(),
            email: None,
            ca_root: None,
            first_retry: FIRST_RETRY,
        }
    }
}

/// Which challenge proves control of a site's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Challenge {
    /// TLS-ALPN-01 when the CA offers it, else HTTP-01.
    #[default]
    Any,
    /// HTTP-01: a file on the plain listener (port 80 for a public CA).
    Http01,
    /// TLS-ALPN-01: a special handshake on the TLS listener (port 443).
    TlsAlpn01,
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Challenge::Any => "any",
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        })
    }
}

/// A certificate in use, and the dates its renewal is planned from.
#[derive(Debug)]
pub(crate) struct Installed {
    key: Arc<CertifiedKey>,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// One site's certificate, kept up to date by a renewal task: what the
/// handshakes of that site read.
#[derive(Debug)]
pub struct Managed {
    names: Vec<String>,
    challenge: Challenge,
    current: ArcSwapOption<Installed>,
    /// When a refused handshake was last logged (seconds since the epoch).
    refusal_logged: AtomicU64,
}

impl Managed {
    /// The names the certificate covers, the first naming its folder.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The certificate installed now, if any, without a word (for the
    /// metrics: a scrape is no refused handshake).
    pub fn installed(&self) -> Option<Arc<CertifiedKey>> {
        self.current
            .load()
            .as_ref()
            .map(|installed| installed.key.clone())
    }

    /// The certificate for a handshake; `None` (logged) while there is none.
    pub fn certificate(&self) -> Option<Arc<CertifiedKey>> {
        if let Some(installed) = &*self.current.load() {
            return Some(installed.key.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.refusal_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= REFUSAL_LOG_EVERY.as_secs()
            && self
                .refusal_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                names = %self.names.join(", "),
                "acme: no certificate yet for {}: handshake refused",
                self.names.join(", ")
            );
        }
        None
    }

    fn install(&self, installed: Installed) {
        self.current.store(Some(Arc::new(installed)));
    }
}

/// A managed certificate's identity: its names and challenge.
type CertKey = (Vec<String>, Challenge);

/// The ACME side of a server: every managed certificate, the challenge
/// answers in flight, and the account. Shared by every generation.
pub struct Acme {
    options: AcmeOptions,
    store: Option<Store>,
    /// Managed certificates by names and challenge; a reload that keeps a
    /// site keeps its entry (and its renewal task).
    managed: Mutex<HashMap<CertKey, Arc<Managed>>>,
    tasks: Mutex<HashMap<CertKey, tokio::task::AbortHandle>>,
    /// HTTP-01: token → key authorization.
    http01: RwLock<HashMap<String, String>>,
    /// Whether `http01` may hold anything: requests skip the lock otherwise.
    http01_pending: AtomicBool,
    /// TLS-ALPN-01: name → the challenge certificate.
    alpn01: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    account: tokio::sync::Mutex<Option<instant_acme::Account>>,
}

impl fmt::Debug for Acme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acme")
            .field("options", &self.options)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Acme {
    /// ACME with `options`, keeping its files under `state_dir` (without
    /// one, any ACME site is a configuration problem).
    pub fn new(options: AcmeOptions, state_dir: Option<PathBuf>) -> Arc<Acme> {
        // instant-acme's HTTPS client asks rustls for the process's provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = state_dir.map(|dir| Store::new(&dir, &options.directory));
        Arc::new(Acme {
            options,
            store,
            managed: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            http01: RwLock::new(HashMap::new()),
            http01_pending: AtomicBool::new(false),
            alpn01: RwLock::new(HashMap::new()),
            account: tokio::sync::Mutex::new(None),
        })
    }

    /// The settings.
    pub fn options(&self) -> &AcmeOptions {
        &self.options
    }

    /// The managed certificate of a site with `names`: the one already
    /// managed, or a new one with the certificate kept in the state folder,
    /// if any (a restart reuses it: no new order). Checks the state folder.
    pub fn managed(&self, names: &[String], challenge: Challenge) -> Result<Arc<Managed>, String> {
        let store = self.store()?;
        store.check()?;
        if names.is_empty() {
            return Err("an ACME site needs hosts: the names to get a certificate for".into());
        }
        let key = (names.to_vec(), challenge);
        let mut managed = self.managed.lock().map_err(|_| "poisoned".to_string())?;
        if let Some(found) = managed.get(&key) {
            return Ok(found.clone());
        }
        let entry = Arc::new(Managed {
            names: names.to_vec(),
            challenge,
            current: ArcSwapOption::empty(),
            refusal_logged: AtomicU64::new(0),
        });
        match renew::load_stored(store, names, SystemTime::now()) {
            Ok(Some(installed)) => {
                tracing::info!(
                    "acme: reusing the stored certificate for {} (valid until {})",
                    names.join(", "),
                    renew::when(installed.not_after)
                );
                entry.install(installed);
            }
            Ok(None) => {}
            Err(why) => tracing::warn!(
                "acme: the stored certificate for {} is unusable ({why}): a new one will be ordered",
                names.join(", ")
            ),
        }
        managed.insert(key, entry.clone());
        Ok(entry)
    }

    /// Starts a renewal task for each of `wanted` without one, and stops
    /// those of certificates no longer wanted (a reload removed their site).
    /// Called on the runtime, after each generation is swapped in; calling it
    /// again with the same list changes nothing.
    pub fn reconcile(self: &Arc<Self>, wanted: &[Arc<Managed>], shutdown: &Shutdown) {
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        let keys: Vec<_> = wanted
            .iter()
            .map(|m| (m.names.clone(), m.challenge))
            .collect();
        tasks.retain(|key, task| {
            let keep = keys.contains(key);
            if !keep {
                task.abort();
                tracing::info!(
                    "acme: stopped renewing the certificate for {} (no longer configured)",
                    key.0.join(", ")
                );
            }
            keep
        });
        if let Ok(mut managed) = self.managed.lock() {
            managed.retain(|key, _| keys.contains(key));
        }
        for managed in wanted {
            let key = (managed.names.clone(), managed.challenge);
            if tasks.contains_key(&key) {
                continue;
            }
            let task = tokio::spawn(renew::maintain(
                self.clone(),
                managed.clone(),
                shutdown.clone(),
            ));
            tasks.insert(key, task.abort_handle());
        }
    }

    /// The answer to an HTTP-01 request for `path`, if it is one in flight.
    pub fn http01_answer(&self, path: &str) -> Option<Response<Body>> {
        if !self.http01_pending.load(Ordering::Acquire) {
            return None;
        }
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        let answer = self.http01.read().ok()?.get(token)?.clone();
        tracing::info!("acme: answered the HTTP-01 challenge {token}");
        let mut response = Response::new(Body::Bytes(Bytes::from(answer)));
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        Some(response)
    }

    /// The TLS-ALPN-01 certificate for `name`, if its challenge is in flight.
    pub fn alpn_certificate(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let name = name?.to_ascii_lowercase();
        let found = self.alpn01.read().ok()?.get(&name).cloned();
        match &found {
            Some(_) => tracing::info!("acme: answered the TLS-ALPN-01 challenge for {name}"),
            None => tracing::debug!("acme: a TLS-ALPN-01 handshake for {name}, not in flight"),
        }
        found
    }

    fn store(&self) -> Result<&Store, String> {
        self.store.as_ref().ok_or_else(|| {
            "ACME needs a state folder for its account and certificates: set --state-dir \
             (or [server] state_dir)"
                .to_string()
        })
    }
}
