//! `[server.acme]` (the ACME CA and account) and the ACME form of a site's
//! `tls` (`tls = "acme"`, `tls = { acme = true, challenge = "http-01" }`).

use std::path::PathBuf;
use std::time::Duration;

use super::problem::{join, unknown_key};
use super::walk::{entries, Val, Walker};
use crate::config::raw;
use crate::config::TlsChoice;
use crate::server::acme::Challenge;

/// Keys of `[server.acme]`.
pub(super) const ACME_KEYS: &[&str] = &["email", "directory", "staging", "ca_root", "first_retry"];

/// `challenge` values.
const CHALLENGES: &[(&str, Challenge)] = &[
    ("http-01", Challenge::Http01),
    ("tls-alpn-01", Challenge::TlsAlpn01),
    ("any", Challenge::Any),
];

/// The `[server.acme]` table. `None`: not in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcmeKeys {
    /// The contact address given to the CA.
    pub email: Option<String>,
    /// The CA's directory URL (`https://`).
    pub directory: Option<String>,
    /// Let's Encrypt's staging directory.
    pub staging: Option<bool>,
    /// A PEM root trusted for the directory's HTTPS (resolved).
    pub ca_root: Option<PathBuf>,
    /// The first wait after a failed order.
    pub first_retry: Option<Duration>,
}

impl Walker<'_> {
    /// `[server.acme]`.
    pub(super) fn acme(&mut self, key: &str, v: &Val<'_>) -> Option<AcmeKeys> {
        let table = self.table(key, v, "a table ([server.acme])")?;
        let mut out = AcmeKeys::default();
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub = join(key, name);
            let read = match name {
                "email" => {
                    out.email = self.string(&sub, v, "an address (a string)").and_then(|s| {
                        match crate::config::raw::parse_email(s) {
                            Ok(email) => Some(email),
                            Err(why) => {
                                self.report(v.span().start, &sub, why);
                                None
                            }
                        }
                    });
                    out.email.is_some()
                }
                "directory" => {
                    out.directory = self.string(&sub, v, "a URL (a string)").and_then(|s| {
                        match raw::parse_acme_directory(s) {
                            Ok(url) => Some(url),
                            Err(e) => {
                                self.report(v.span().start, &sub, e);
                                None
                            }
                        }
                    });
                    out.directory.is_some()
                }
                "staging" => {
                    out.staging = self.boolean(&sub, v);
                    out.staging.is_some()
                }
                "ca_root" => {
                    out.ca_root = self.path(&sub, v);
                    out.ca_root.is_some()
                }
                "first_retry" => {
                    out.first_retry = self.duration(&sub, v, raw::parse_positive_duration);
                    out.first_retry.is_some()
                }
                _ => {
                    self.report(k.span().start, &sub, unknown_key(name, ACME_KEYS));
                    false
                }
            };
            ok &= read;
        }
        if out.staging == Some(true) && out.directory.is_some() {
            self.report(
                v.span().start,
                key,
                "staging = true and directory name two CAs: keep one",
            );
            return None;
        }
        ok.then_some(out)
    }

    /// `tls = "acme"`.
    pub(super) fn tls_word(&mut self, key: &str, v: &Val<'_>) -> Option<TlsChoice> {
        let s = self.string(key, v, "\"acme\" or a table")?;
        if s == "acme" {
            return Some(TlsChoice::Acme(Challenge::Any));
        }
        self.report(
            v.span().start,
            key,
            format!("unknown value '{s}'; expected \"acme\" or a table such as {{ cert = \"...\", key = \"...\" }}"),
        );
        None
    }

    /// `challenge = "http-01"` in a site's `tls` table.
    pub(super) fn challenge(&mut self, key: &str, v: &Val<'_>) -> Option<Challenge> {
        self.choice(key, v, CHALLENGES)
    }
}
