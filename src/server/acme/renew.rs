//! Keeping one certificate fresh: a small loop of states.
//!
//! ```text
//! wait until due ──▶ lock ──▶ stored one fresh? ──yes──▶ install ──┐
//!      ▲                          │ no                              │
//!      │                          ▼                                 │
//!      │                 order ──ok──▶ store, install ──────────────┤
//!      │                          │ failed                          │
//!      └── backoff (jittered, doubling) ◀──┘         ◀──────────────┘
//! ```
//!
//! Due: when the CA's renewal information (RFC 9773) suggests (a random point
//! of its window), else when a third of the certificate's life is left; at
//! once when there is none. Sleeps are cut into pieces of at most
//! [`MAX_SLEEP`] so a clock that jumps (a suspended machine) is noticed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::CertificateIdentifier;
use rustls::pki_types::CertificateDer;

use super::order::{self, OrderError};
use super::store::{self, Store};
use super::{Acme, Installed, Managed};
use crate::server::shutdown::Shutdown;

/// The longest single sleep: the due time is computed again after it.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The longest wait between two tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// The bound on one whole attempt (lock, account, order), so that a CA that
/// stops answering mid-way cannot stall renewal for good.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(900);

/// The renewal loop of `managed`, until shutdown (or until aborted, when a
/// reload removes its site).
pub(super) async fn maintain(acme: Arc<Acme>, managed: Arc<Managed>, shutdown: Shutdown) {
    let names = managed.names.join(", ");
    let mut failures: u32 = 0;
    loop {
        let due = match managed.current.load_full() {
            Some(installed) => due(&acme, &installed).await,
            None => SystemTime::now(),
        };
        if due > SystemTime::now() {
            tracing::info!("acme: next renewal of {names} at {}", when(due));
            loop {
                let left = due.duration_since(SystemTime::now()).unwrap_or_default();
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    () = shutdown.triggered() => return,
                    () = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
                }
                if left > MAX_SLEEP {
                    // Ask again: the window may have moved, the clock jumped.
                    break;
                }
            }
            if due > SystemTime::now() {
                continue;
            }
        }
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, obtain(&acme, &managed));
        let result = tokio::select! {
            () = shutdown.triggered() => return,
            result = attempt => result.unwrap_or_else(|_| {
                Err(OrderError(format!("no answer within {ATTEMPT_TIMEOUT:?}")))
            }),
        };
        match result {
            Ok(installed) => {
                failures = 0;
                tracing::info!(
                    "acme: certificate for {names} installed, valid until {}",
                    when(installed.not_after)
                );
                managed.install(installed);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = backoff(acme.options.first_retry, failures, jitter());
                tracing::error!(
                    "acme: cannot get a certificate for {names}: {e}; next try in {} (attempt {failures})",
                    humantime::format_duration(round(wait))
                );
                tokio::select! {
                    () = shutdown.triggered() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// One attempt, under the certificate's lock: a fresh certificate another
/// instance stored meanwhile is taken as it is; else a new order.
async fn obtain(acme: &Acme, managed: &Managed) -> Result<Installed, OrderError> {
    let store = acme.store().map_err(OrderError)?;
    let first = managed.names.first().map(String::as_str).unwrap_or("_");
    let _lock = store
        .lock_cert(first)
        .await
        .map_err(|e| OrderError(format!("the state folder's lock: {e}")))?;
    let now = SystemTime::now();
    let current = managed.current.load_full();
    if let Ok(Some(stored)) = load_stored(store, &managed.names, now) {
        let newer = current
            .as_ref()
            .is_none_or(|c| stored.not_after > c.not_after);
        if newer && third_left(&stored) > now {
            tracing::info!(
                "acme: another instance renewed {}: taking its certificate",
                managed.names.join(", ")
            );
            return Ok(stored);
        }
    }
    let replaces = current.as_ref().and_then(|c| identifier(c));
    let issued = acme.order(managed, replaces).await?;
    let key = order::certified(&issued.chain, &issued.key).map_err(OrderError)?;
    let installed = installed(key).map_err(OrderError)?;
    let dir = store.cert_dir(first);
    store::make_dir(&dir)
        .and_then(|()| store::put(&dir.join("key.pem"), issued.key.as_bytes()))
        .and_then(|()| store::put(&dir.join("cert.pem"), issued.chain.as_bytes()))
        .map_err(|e| OrderError(format!("cannot keep it in {}: {e}", dir.display())))?;
    tracing::info!(
        "acme: certificate for {} kept in {}",
        managed.names.join(", "),
        dir.display()
    );
    Ok(installed)
}

/// The stored certificate for `names`, if there is one that covers them all
/// and has not expired.
pub(super) fn load_stored(
    store: &Store,
    names: &[String],
    now: SystemTime,
) -> Result<Option<Installed>, String> {
    let Some(first) = names.first() else {
        return Ok(None);
    };
    let dir = store.cert_dir(first);
    let read = |file: &str| -> Result<Option<String>, String> {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", Path::new(&dir).join(file).display())),
        }
    };
    let (Some(chain), Some(key)) = (read("cert.pem")?, read("key.pem")?) else {
        return Ok(None);
    };
    let installed = installed(order::certified(&chain, &key)?)?;
    let leaf = installed.key.cert.first().ok_or("no certificate")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| e.to_string())?;
    let covered: Vec<String> = match parsed.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(dns) => {
                    Some(dns.to_ascii_lowercase())
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !names
        .iter()
        .all(|n| covered.contains(&n.to_ascii_lowercase()))
    {
        return Ok(None);
    }
    if installed.not_after <= now {
        return Ok(None);
    }
    Ok(Some(installed))
}

/// The dates of `key`'s leaf.
fn installed(key: Arc<rustls::sign::CertifiedKey>) -> Result<Installed, String> {
    let leaf = key.cert.first().ok_or("no certificate")?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("not a certificate: {e}"))?;
    let validity = parsed.validity();
    Ok(Installed {
        not_before: timestamp(validity.not_before.timestamp()),
        not_after: timestamp(validity.not_after.timestamp()),
        key,
    })
}

/// When to renew `installed`: in the CA's suggested window if it has
/// renewal information, else with a third of its life left.
async fn due(acme: &Acme, installed: &Installed) -> SystemTime {
    if let Some(suggested) = ari_due(acme, installed).await {
        return suggested;
    }
    third_left(installed)
}

/// With a third of the life left (Let's Encrypt's advice; Caddy's too).
fn third_left(installed: &Installed) -> SystemTime {
    let life = installed
        .not_after
        .duration_since(installed.not_before)
        .unwrap_or_default();
    installed.not_before + life * 2 / 3
}

/// RFC 9773: a random point of the window the CA suggests; `None` when the
/// CA has no renewal information (Pebble 2.4 has none) or cannot be asked.
async fn ari_due(acme: &Acme, installed: &Installed) -> Option<SystemTime> {
    let id = identifier(installed)?;
    let account = acme.account().await.ok()?;
    match account.renewal_info(&id).await {
        Ok((info, _)) => {
            let start = SystemTime::from(info.suggested_window.start);
            let end = SystemTime::from(info.suggested_window.end);
            let span = end.duration_since(start).unwrap_or_default();
            let at = start + span.mul_f64(jitter() / 2.0 + 0.5).min(span);
            tracing::info!(
                "acme: the CA suggests renewing between {} and {}",
                when(start),
                when(end)
            );
            Some(at)
        }
        Err(instant_acme::Error::Unsupported(_)) => None,
        Err(e) => {
            tracing::debug!("acme: no renewal information: {e}");
            None
        }
    }
}

fn identifier(installed: &Installed) -> Option<CertificateIdentifier<'static>> {
    let leaf: &CertificateDer<'_> = installed.key.cert.first()?;
    CertificateIdentifier::try_from(leaf)
        .ok()
        .map(CertificateIdentifier::into_owned)
}

/// `first × 2^(failures-1)`, capped at a day, times `spread` (0.5 to 1.5):
/// instances that failed together do not retry together.
fn backoff(first: Duration, failures: u32, spread: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let base = first
        .checked_mul(1u32 << doublings)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    base.mul_f64(spread.clamp(0.5, 1.5))
}

/// A random factor from 0.5 to 1.5.
fn jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    0.5 + f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX)
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64 / 100 * 100)
}

fn timestamp(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(s) => SystemTime::UNIX_EPOCH + Duration::from_secs(s),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// `2026-06-01 12:00:00 UTC`.
pub(super) fn when(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_day_and_spreads() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(60), 1, 1.0), s(60));
        assert_eq!(backoff(s(60), 2, 1.0), s(120));
        assert_eq!(backoff(s(60), 4, 1.0), s(480));
        assert_eq!(backoff(s(60), 40, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(s(60), u32::MAX, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(s(60), 1, 0.5), s(30));
        assert_eq!(backoff(s(60), 1, 9.0), s(90));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.5..=1.5).contains(&j), "{j}");
        }
    }

    #[test]
    fn renewal_with_a_third_of_the_life_left() {
        let key = crate::server::tls::self_signed_key().unwrap().0;
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let installed = Installed {
            key,
            not_before: start,
            not_after: start + Duration::from_secs(90 * 86_400),
        };
        assert_eq!(
            third_left(&installed),
            start + Duration::from_secs(60 * 86_400)
        );
    }
}
