//! One certificate order, step by step (RFC 8555 §7.4), each step logged:
//! the account (kept in the state folder, made once), the order, one
//! challenge per name (its answer published for the listeners, withdrawn
//! when the order ends, whatever way), validation, the key and CSR, the
//! finalisation, the chain.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{store, Acme, Challenge, Managed};
use crate::server::tls;

/// How long the CA may take to validate, then to issue: generous for a
/// public CA under load, and a bound all the same.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// The PEM texts of a new certificate: the chain, leaf first, and its key.
pub(super) struct Issued {
    pub chain: String,
    pub key: String,
}

/// Why an order failed, with the CA's problem document when it sent one.
#[derive(Debug)]
pub(super) struct OrderError(pub String);

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<instant_acme::Error> for OrderError {
    fn from(e: instant_acme::Error) -> Self {
        OrderError(match e {
            instant_acme::Error::Api(problem) => format!("the CA answered: {problem}"),
            other => format!("{other}"),
        })
    }
}

fn fail(message: impl Into<String>) -> OrderError {
    OrderError(message.into())
}

impl Acme {
    /// The account: the one in use, else the one kept in the state folder,
    /// else a new one (registered once, under the account lock).
    pub(super) async fn account(&self) -> Result<Account, OrderError> {
        let mut slot = self.account.lock().await;
        if let Some(account) = &*slot {
            return Ok(account.clone());
        }
        let store = self.store().map_err(fail)?;
        let _lock = store
            .lock_account()
            .await
            .map_err(|e| fail(format!("the account lock: {e}")))?;
        let file = store.account_file();
        let account = match std::fs::read(&file) {
            Ok(bytes) => {
                let credentials: AccountCredentials = serde_json::from_slice(&bytes)
                    .map_err(|e| fail(format!("{} is not an account: {e}", file.display())))?;
                let account = self.builder()?.from_credentials(credentials).await?;
                tracing::info!(
                    "acme: using the account kept in {} with {}",
                    file.display(),
                    self.options.directory
                );
                account
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let contact = self.options.email.as_ref().map(|e| format!("mailto:{e}"));
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (account, credentials) = self
                    .builder()?
                    .create(&new, self.options.directory.clone(), None)
                    .await?;
                let json = serde_json::to_vec(&credentials)
                    .map_err(|e| fail(format!("the account's credentials: {e}")))?;
                store::put(&file, &json).map_err(|e| {
                    fail(format!(
                        "cannot keep the account in {}: {e}",
                        file.display()
                    ))
                })?;
                tracing::info!(
                    "acme: registered an account with {} (kept in {})",
                    self.options.directory,
                    file.display()
                );
                account
            }
            Err(e) => return Err(fail(format!("{}: {e}", file.display()))),
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, OrderError> {
        Ok(match &self.options.ca_root {
            Some(root) => Account::builder_with_root(root)
                .map_err(|e| fail(format!("the CA root {}: {e}", root.display())))?,
            None => Account::builder()?,
        })
    }

    /// Orders a certificate for `managed`'s names, replacing `replaces` (for
    /// renewal information) when the CA supports that.
    pub(super) async fn order(
        &self,
        managed: &Managed,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<Issued, OrderError> {
        let names = managed.names.join(", ");
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = managed
            .names
            .iter()
            .map(|n| Identifier::Dns(n.clone()))
            .collect();
        let mut new = NewOrder::new(&identifiers);
        if let Some(replaces) = replaces.clone() {
            new = new.replaces(replaces);
        }
        let mut order = match account.new_order(&new).await {
            Err(instant_acme::Error::Unsupported(_)) if replaces.is_some() => {
                account.new_order(&NewOrder::new(&identifiers)).await?
            }
            other => other?,
        };
        tracing::info!("acme: ordered a certificate for {names} ({})", order.url());
        // Withdrawn however this ends.
        let mut published = Published {
            acme: self,
            tokens: Vec::new(),
            names: Vec::new(),
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            let name = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => {
                    tracing::info!("acme: {name} is already validated for this account");
                    continue;
                }
                other => return Err(fail(format!("the authorization of {name} is {other:?}"))),
            }
            let offered: Vec<ChallengeType> = authorization
                .challenges
                .iter()
                .map(|c| c.r#type.clone())
                .collect();
            let kind = pick(managed.challenge, &offered).ok_or_else(|| {
                fail(format!(
                    "the CA offers no {} challenge for {name} (it offers {offered:?})",
                    managed.challenge
                ))
            })?;
            let mut challenge = authorization
                .challenge(kind.clone())
                .ok_or_else(|| fail(format!("no {kind:?} challenge for {name}")))?;
            let key_authorization = challenge.key_authorization();
            match kind {
                ChallengeType::Http01 => {
                    published.http01(&challenge.token, key_authorization.as_str())
                }
                _ => published.alpn01(&name, key_authorization.digest().as_ref())?,
            }
            challenge.set_ready().await?;
            tracing::info!(
                "acme: answering the {} challenge for {name}",
                challenge_name(&kind)
            );
        }
        let retries = RetryPolicy::new().timeout(POLL_TIMEOUT);
        let status = order.poll_ready(&retries).await?;
        if status != OrderStatus::Ready {
            return Err(fail(why_invalid(&mut order, status).await));
        }
        tracing::info!("acme: {names} validated");
        drop(published);
        let key = rcgen::KeyPair::generate().map_err(|e| fail(format!("a key: {e}")))?;
        let csr = rcgen::CertificateParams::new(managed.names.clone())
            .and_then(|params| params.serialize_request(&key))
            .map_err(|e| fail(format!("the CSR: {e}")))?;
        order.finalize_csr(csr.der()).await?;
        let chain = order.poll_certificate(&retries).await?;
        tracing::info!("acme: certificate issued for {names}");
        Ok(Issued {
            chain,
            key: key.serialize_pem(),
        })
    }
}

/// The challenge to answer among those `offered`.
fn pick(want: Challenge, offered: &[ChallengeType]) -> Option<ChallengeType> {
    let has = |t: ChallengeType| offered.contains(&t).then_some(t);
    match want {
        Challenge::Http01 => has(ChallengeType::Http01),
        Challenge::TlsAlpn01 => has(ChallengeType::TlsAlpn01),
        Challenge::Any => has(ChallengeType::TlsAlpn01).or_else(|| has(ChallengeType::Http01)),
    }
}

fn challenge_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "HTTP-01",
        ChallengeType::TlsAlpn01 => "TLS-ALPN-01",
        _ => "other",
    }
}

/// The problem documents of the failed challenges of an order that did not
/// become ready.
async fn why_invalid(order: &mut instant_acme::Order, status: OrderStatus) -> String {
    let mut problems = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        let name = authorization.identifier().to_string();
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    match problems.is_empty() {
        true => format!("the order is {status:?}, not ready"),
        false => format!("validation failed: {}", problems.join("; ")),
    }
}

/// The challenge answers of one order, published for the listeners while it
/// lasts.
struct Published<'a> {
    acme: &'a Acme,
    tokens: Vec<String>,
    names: Vec<String>,
}

impl Published<'_> {
    fn http01(&mut self, token: &str, answer: &str) {
        if let Ok(mut map) = self.acme.http01.write() {
            map.insert(token.to_string(), answer.to_string());
            self.acme.http01_pending.store(true, Ordering::Release);
        }
        self.tokens.push(token.to_string());
    }

    fn alpn01(&mut self, name: &str, digest: &[u8]) -> Result<(), OrderError> {
        let key = alpn_certificate(name, digest)?;
        if let Ok(mut map) = self.acme.alpn01.write() {
            map.insert(name.to_ascii_lowercase(), key);
        }
        self.names.push(name.to_ascii_lowercase());
        Ok(())
    }
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.acme.http01.write() {
            for token in &self.tokens {
                map.remove(token);
            }
            if map.is_empty() {
                self.acme.http01_pending.store(false, Ordering::Release);
            }
        }
        if let Ok(mut map) = self.acme.alpn01.write() {
            for name in &self.names {
                map.remove(name);
            }
        }
    }
}

/// RFC 8737 §3: a self-signed certificate for `name` with the critical
/// acmeIdentifier extension holding the SHA-256 of the key authorization.
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, OrderError> {
    let made = |e: rcgen::Error| fail(format!("the TLS-ALPN-01 certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(made)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest));
    let key = rcgen::KeyPair::generate().map_err(made)?;
    let cert = params.self_signed(&key).map_err(made)?;
    let private = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer = tls::provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| fail(format!("the TLS-ALPN-01 key: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}

/// The chain and key of PEM texts, for the resolver.
pub(super) fn certified(chain: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the chain is not PEM: {e:?}"))?;
    if chain.is_empty() {
        return Err("no certificate in the chain".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the key is not PEM: {e:?}"))?;
    let signer = tls::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable key: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|_| "the key does not match the certificate".to_string())?;
    Ok(Arc::new(certified))
}
