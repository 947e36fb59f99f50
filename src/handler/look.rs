//! The look the built-in pages share (listings and error pages): one
//! stylesheet with a dark variant, the favicon, and the Content-Security-Policy
//! of the error pages, which allows their one style block by its hash.

use std::sync::LazyLock;

use base64::Engine as _;

/// The shared stylesheet: colours (light and dark), type, headings.
pub const CSS: &str = include_str!("look.css");

/// A folder on a blue tile, as a `data:` URL: pages that link it are never
/// followed by a request for `/favicon.ico` (and its 404 in the log).
pub const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E\
%3Crect width='32' height='32' rx='7' fill='%230969da'/%3E\
%3Cpath d='M7 10.5c0-.8.7-1.5 1.5-1.5H13l2 2.5h8.5c.8 0 1.5.7 1.5 1.5v8.5c0 .8-.7 1.5-1.5 1.5h-15c-.8 0-1.5-.7-1.5-1.5z' fill='%23fff'/%3E%3C/svg%3E";

/// The Content-Security-Policy of a built-in error page: nothing but its
/// style block (by hash) and the favicon.
pub static ERROR_PAGE_CSP: LazyLock<String> = LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
});

/// The Content-Security-Policy of a listing whose script and style carry
/// `nonce`: its own script, style and icons, requests to its own origin
/// (uploads, the live-reload stream), README images from its own origin.
pub fn listing_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'self'"
    )
}

/// A fresh nonce: 16 bytes from the system's random source, in unpadded
/// base64url ([`super::listing::NONCE_LEN`] characters).
pub fn nonce() -> [u8; super::listing::NONCE_LEN] {
    let mut raw = [0u8; 16];
    // The system source does not fail on the systems we run on; if it ever
    // did, a time-derived value still differs per response.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        raw = now.to_le_bytes();
    }
    let mut out = [b'A'; super::listing::NONCE_LEN];
    let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(raw, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ_and_are_base64url() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'));
    }

    #[test]
    fn the_error_page_policy_names_the_style_hash() {
        assert!(
            ERROR_PAGE_CSP.contains("style-src 'sha256-"),
            "{}",
            *ERROR_PAGE_CSP
        );
        assert!(
            !ERROR_PAGE_CSP.contains("script-src"),
            "{}",
            *ERROR_PAGE_CSP
        );
    }
}
