//! The development certificate of `--tls-self-signed` (and `tls = {
//! self_signed = true }`), kept in the state folder so that a browser's
//! exception, or a trust a developer added, survives restarts. It is reused
//! until it nears expiry, then made again.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::sign::CertifiedKey;

use super::tls::{self, CertFiles};

/// The names it covers.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long a new one is valid: months, so that it is rarely replaced, and
/// under the 398 days browsers accept for a leaf certificate.
const VALIDITY: Duration = Duration::from_secs(180 * 24 * 3600);

/// Made again when less than this is left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The certificate and what to tell the user of it.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate and its key, for the resolver.
    pub key: Arc<CertifiedKey>,
    /// The SHA-256 fingerprint of the certificate.
    pub fingerprint: String,
    /// Its PEM file, when it is kept (the one to trust); `None` in memory only.
    pub file: Option<PathBuf>,
    /// The end of its validity.
    pub not_after: SystemTime,
    /// Whether it was made at this start (rather than reused).
    pub made: bool,
}

/// The kept certificate under `state_dir`, or a new one written there; in
/// memory only, with a warning, when there is no state folder or it cannot
/// be written.
pub fn obtain(state_dir: Option<&Path>, now: SystemTime) -> Result<SelfSigned, String> {
    let Some(state_dir) = state_dir else {
        return make(now).map(|(made, _)| made);
    };
    let dir = state_dir.join("self-signed");
    let files = CertFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    match reuse(&files, now) {
        Ok(Some(kept)) => return Ok(kept),
        Ok(None) => {}
        Err(why) => tracing::warn!(
            file = %files.cert.display(),
            "the kept development certificate is unusable ({why}): making a new one"
        ),
    }
    let (mut made, pem) = make(now)?;
    match write(&dir, &files, &pem) {
        Ok(()) => made.file = Some(files.cert),
        Err(e) => tracing::warn!(
            folder = %dir.display(),
            error = %e,
            "cannot keep the development certificate: it will change at the next start"
        ),
    }
    Ok(made)
}

/// The kept pair, if there is one with enough validity left for every name.
fn reuse(files: &CertFiles, now: SystemTime) -> Result<Option<SelfSigned>, String> {
    if !files.cert.exists() && !files.key.exists() {
        return Ok(None);
    }
    let key = tls::load_pair(files).map_err(|e| e.message)?;
    let leaf = key
        .cert
        .first()
        .ok_or_else(|| "no certificate in the file".to_string())?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("not a certificate: {e}"))?;
    let not_after = timestamp(parsed.validity().not_after.timestamp());
    let left = not_after.duration_since(now).unwrap_or_default();
    let covers = |name: &str| {
        let Ok(Some(names)) = parsed.subject_alternative_name() else {
            return false;
        };
        names
            .value
            .general_names
            .iter()
            .any(|general| match general {
                x509_parser::extensions::GeneralName::DNSName(dns) => *dns == name,
                x509_parser::extensions::GeneralName::IPAddress(ip) => name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|want| match want {
                        std::net::IpAddr::V4(v4) => *ip == v4.octets(),
                        std::net::IpAddr::V6(v6) => *ip == v6.octets(),
                    }),
                _ => false,
            })
    };
    if left < RENEW_BEFORE || !NAMES.iter().all(|name| covers(name)) {
        return Ok(None);
    }
    Ok(Some(SelfSigned {
        fingerprint: tls::fingerprint(leaf),
        key,
        file: Some(files.cert.clone()),
        not_after,
        made: false,
    }))
}

/// A new certificate, and its PEM text (certificate, key).
fn make(now: SystemTime) -> Result<(SelfSigned, (String, String)), String> {
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(
        rcgen::DnType::CommonName,
        "Ferrox development certificate (localhost)",
    );
    subject.push(rcgen::DnType::OrganizationName, "Ferrox");
    params.distinguished_name = subject;
    // A day back, for clocks a little behind.
    let from = now
        .checked_sub(Duration::from_secs(24 * 3600))
        .unwrap_or(now);
    let not_after = now + VALIDITY;
    params.not_before = time::OffsetDateTime::from(from);
    params.not_after = time::OffsetDateTime::from(not_after);
    let key_pair = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
    let pem = (cert.pem(), key_pair.serialize_pem());
    let der = cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    let signer = tls::provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| e.to_string())?;
    let made = SelfSigned {
        fingerprint: tls::fingerprint(&der),
        key: Arc::new(CertifiedKey::new(vec![der], signer)),
        file: None,
        not_after,
        made: true,
    };
    Ok((made, pem))
}

/// Writes the pair: the folder and the key readable by the user alone, each
/// file whole or not at all (written aside, then renamed).
fn write(dir: &Path, files: &CertFiles, (cert, key): &(String, String)) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let put = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
        let aside = path.with_extension("pem.new");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&aside)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&aside, path)
    };
    put(&files.key, key, 0o600)?;
    put(&files.cert, cert, 0o644)
}

fn timestamp(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(s) => SystemTime::UNIX_EPOCH + Duration::from_secs(s),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// `2027-06-03`: the date of `at`, UTC.
pub fn date(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).date().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrox-self-signed-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn kept_across_starts_and_renewed_near_expiry() {
        let state = scratch("kept");
        let now = SystemTime::now();
        let first = obtain(Some(&state), now).unwrap();
        assert!(first.made);
        let file = first.file.clone().unwrap();
        assert_eq!(file, state.join("self-signed/cert.pem"));
        // Months of validity, not decades.
        let days = first.not_after.duration_since(now).unwrap().as_secs() / 86_400;
        assert!((179..=180).contains(&days), "{days} days");
        // The next start reuses it: same fingerprint.
        let again = obtain(Some(&state), now + Duration::from_secs(3600)).unwrap();
        assert!(!again.made);
        assert_eq!(again.fingerprint, first.fingerprint);
        // With less than 30 days left it is made again, and kept.
        let late = now + VALIDITY - Duration::from_secs(29 * 86_400);
        let renewed = obtain(Some(&state), late).unwrap();
        assert!(renewed.made);
        assert_ne!(renewed.fingerprint, first.fingerprint);
        let after = obtain(Some(&state), late).unwrap();
        assert_eq!(after.fingerprint, renewed.fingerprint);
        fs::remove_dir_all(&state).unwrap();
    }

    #[test]
    fn the_key_is_private_and_a_broken_pair_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let state = scratch("broken");
        let first = obtain(Some(&state), SystemTime::now()).unwrap();
        let key = state.join("self-signed/key.pem");
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(state.join("self-signed"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        fs::write(&key, "not a key").unwrap();
        let next = obtain(Some(&state), SystemTime::now()).unwrap();
        assert!(next.made);
        assert_ne!(next.fingerprint, first.fingerprint);
        assert!(fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
        fs::remove_dir_all(&state).unwrap();
    }

    #[test]
    fn without_a_state_folder_it_lives_in_memory() {
        let made = obtain(None, SystemTime::now()).unwrap();
        assert!(made.made && made.file.is_none());
    }

    #[test]
    fn an_unwritable_state_folder_still_serves() {
        let state = scratch("unwritable");
        fs::write(&state, "a file, not a folder").unwrap();
        let made = obtain(Some(&state), SystemTime::now()).unwrap();
        assert!(made.made && made.file.is_none());
        fs::remove_file(&state).unwrap();
    }
}
