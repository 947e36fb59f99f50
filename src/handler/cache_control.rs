//! Which `Cache-Control` a file gets. In order, the first that applies:
//!
//! 1. the first user rule whose pattern matches (`--cache-rule PATTERN=VALUE`);
//! 2. with fingerprint defaults on: a fingerprinted name (see [`is_fingerprinted`])
//!    gets `public, max-age=31536000, immutable`, and HTML gets `no-cache`;
//! 3. the default (`--cache-control VALUE`);
//! 4. nothing.
//!
//! A pattern without `/` matches the file name (`*.woff2`, `logo.png`); one with
//! `/` matches the path from the root (`/assets/**`, `docs/*.pdf`). A bare
//! extension (`.js`) is short for `*.js`.

use globset::{GlobBuilder, GlobMatcher};
use http::HeaderValue;

/// What a fingerprinted file gets: a year, and no revalidation on reload.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One `PATTERN=VALUE` rule.
#[derive(Debug, Clone)]
pub struct Rule {
    matcher: GlobMatcher,
    whole_path: bool,
    value: HeaderValue,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

impl Rule {
    /// Parses `PATTERN=VALUE`.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let (pattern, value) = text
            .split_once('=')
            .ok_or_else(|| RuleError(format!("'{text}' is not PATTERN=VALUE")))?;
        let (pattern, value) = (pattern.trim(), value.trim());
        if pattern.is_empty() {
            return Err(RuleError(format!("'{text}' has an empty pattern")));
        }
        let value = header_value(value)?;
        let pattern = match pattern.strip_prefix('.') {
            Some(ext) if !ext.contains(['/', '*', '?', '[', '{']) => format!("*.{ext}"),
            _ => pattern.to_string(),
        };
        let whole_path = pattern.contains('/');
        let pattern = pattern.trim_start_matches('/');
        // `*` and `?` stay within a segment; only `**` crosses `/`.
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| RuleError(format!("pattern '{pattern}': {e}")))?
            .compile_matcher();
        Ok(Rule {
            matcher,
            whole_path,
            value,
        })
    }
}

fn header_value(value: &str) -> Result<HeaderValue, RuleError> {
    if value.is_empty() {
        return Err(RuleError("empty Cache-Control value".into()));
    }
    HeaderValue::from_str(value)
        .map_err(|_| RuleError(format!("{value:?} is not a valid header value")))
}

/// The whole policy.
#[derive(Debug, Clone, Default)]
pub struct CachePolicy {
    /// User rules, first match wins.
    pub rules: Vec<Rule>,
    /// `--cache-control`: for files no rule or default covers.
    pub default: Option<HeaderValue>,
    /// Immutable for fingerprinted names, no-cache for HTML.
    pub fingerprint_defaults: bool,
}

impl CachePolicy {
    /// Parses the `--cache-control` value.
    pub fn default_value(value: &str) -> Result<HeaderValue, RuleError> {
        header_value(value)
    }

    /// The header for a file at `rel` (relative to the root, `/`-separated) of
    /// the given content type.
    pub fn for_file(&self, rel: &str, content_type: &str) -> Option<HeaderValue> {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        for rule in &self.rules {
            let subject = if rule.whole_path { rel } else { name };
            if rule.matcher.is_match(subject) {
                return Some(rule.value.clone());
            }
        }
        if self.fingerprint_defaults {
            if is_fingerprinted(name) {
                return Some(HeaderValue::from_static(IMMUTABLE));
            }
            if content_type.starts_with("text/html") {
                return Some(HeaderValue::from_static("no-cache"));
            }
        }
        self.default.clone()
    }
}

/// Whether a file name carries a content hash, so its content can never change
/// under that name. Two shapes, as bundlers write them:
///
/// - hex: a dot-separated segment other than the first and the last, of 8 to 64
///   hex digits with at least one decimal digit: `app.3f9c1a2b.js`,
///   `main.3f9c1a2b4e5d6f70.chunk.js`;
/// - base64url: the 8 characters right before the extension, after a `-` or
///   `.`, from `[A-Za-z0-9_-]`, with at least one digit and one letter:
///   `main-DyG3k9Qa.css`, `index.B_x9-k2A.js`.
///
/// Dates such as `photo-20240101.jpg` (digits only) and words such as
/// `user-settings.js` (letters only) do not count.
pub fn is_fingerprinted(name: &str) -> bool {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.len() >= 3 {
        let middle = &segments[1..segments.len() - 1];
        if middle.iter().any(|s| {
            (8..=64).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_hexdigit())
                && s.bytes().any(|b| b.is_ascii_digit())
        }) {
            return true;
        }
    }
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    let bytes = stem.as_bytes();
    if bytes.len() < 10 {
        return false;
    }
    let (before, token) = bytes.split_at(bytes.len() - 8);
    matches!(before.last(), Some(b'-') | Some(b'.'))
        && token
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && token.iter().any(u8::is_ascii_digit)
        && token.iter().any(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        for name in [
            "app.3f9c1a2b.js",
            "main.3f9c1a2b4e5d6f70.chunk.js",
            "main-DyG3k9Qa.css",
            "index.B_x9-k2A.js",
            "vendor-a1b2c3d4.js",
            "logo.0123abcd.svg",
        ] {
            assert!(is_fingerprinted(name), "{name}");
        }
        for name in [
            "app.js",
            "index.html",
            "user-settings.js",
            "photo-20240101.jpg",
            "jquery-3.7.1.min.js",
            "deadbeef.js",
            "a.deadbeef.js",
            "report-2024-final.pdf",
            "README",
            ".hidden12345678.js",
        ] {
            assert!(!is_fingerprinted(name), "{name}");
        }
    }

    #[test]
    fn precedence() {
        let policy = CachePolicy {
            rules: vec![
                Rule::parse("*.woff2 = public, max-age=604800").unwrap(),
                Rule::parse("/docs/**=no-store").unwrap(),
                Rule::parse(".pdf=private").unwrap(),
            ],
            default: Some(HeaderValue::from_static("max-age=60")),
            fingerprint_defaults: true,
        };
        let get = |rel: &str, ct: &str| {
            policy
                .for_file(rel, ct)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            get("fonts/a.woff2", "font/woff2").as_deref(),
            Some("public, max-age=604800")
        );
        assert_eq!(
            get("docs/app.3f9c1a2b.js", "text/javascript").as_deref(),
            Some("no-store")
        );
        assert_eq!(
            get("x/report.pdf", "application/pdf").as_deref(),
            Some("private")
        );
        assert_eq!(
            get("app.3f9c1a2b.js", "text/javascript").as_deref(),
            Some(IMMUTABLE)
        );
        assert_eq!(
            get("index.html", "text/html; charset=utf-8").as_deref(),
            Some("no-cache")
        );
        assert_eq!(get("a.png", "image/png").as_deref(), Some("max-age=60"));
        let scoped = CachePolicy {
            rules: vec![
                Rule::parse("docs/*.pdf=private").unwrap(),
                Rule::parse("/assets/**=no-store").unwrap(),
            ],
            default: None,
            fingerprint_defaults: false,
        };
        let scoped = |rel: &str| scoped.for_file(rel, "application/pdf");
        assert_eq!(scoped("docs/a.pdf").unwrap(), "private");
        assert_eq!(scoped("docs/old/a.pdf"), None, "`*` crossed a `/`");
        assert_eq!(scoped("assets/a/b/c.js").unwrap(), "no-store");
        assert_eq!(scoped("assets/c.js").unwrap(), "no-store");
        assert_eq!(scoped("x/assets/c.js"), None);
        let off = CachePolicy {
            fingerprint_defaults: false,
            ..policy
        };
        assert_eq!(
            off.for_file("index.html", "text/html").unwrap(),
            "max-age=60"
        );
        assert_eq!(CachePolicy::default().for_file("a.png", "image/png"), None);
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(Rule::parse("*.js").unwrap_err().0.contains("PATTERN=VALUE"));
        assert!(Rule::parse("=x").unwrap_err().0.contains("empty pattern"));
        assert!(Rule::parse("*.js=").unwrap_err().0.contains("empty"));
        assert!(Rule::parse("[=x").is_err());
    }
}
