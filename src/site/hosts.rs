//! The host → site table. A request's host (already without its port) is
//! lower-cased and loses one trailing dot, in a buffer on the stack; then exact
//! names are looked up in a hash map, then one-label wildcards (`*.example.com`
//! matches `a.example.com`, not `example.com` nor `a.b.example.com`), then the
//! default site. No allocation, and O(1) however many sites there are.

use std::collections::HashMap;
use std::fmt;

/// Longest host name looked up (RFC 1035: 253 characters, plus room for an
/// IPv6 literal with a zone).
pub const MAX_HOST: usize = 255;

type Map = HashMap<Box<str>, usize, foldhash::fast::RandomState>;

/// Where a host leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The site at this index.
    Site(usize),
    /// No site has this name, and there is no default site.
    Unknown,
    /// Not a host name at all (empty, too long, or a character no host has).
    Malformed,
}

/// A name that cannot be put in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// Not a host name, or a wildcard other than one whole leading label.
    Invalid(String),
    /// Two sites claim the same name.
    Duplicate(String),
    /// Two sites claim to be the default.
    TwoDefaults,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Invalid(name) => write!(f, "'{name}' is not a host name or '*.' wildcard"),
            HostError::Duplicate(name) => write!(f, "'{name}' is claimed by two sites"),
            HostError::TwoDefaults => f.write_str("more than one site is the default"),
        }
    }
}

impl std::error::Error for HostError {}

/// The table.
#[derive(Debug, Default)]
pub struct HostTable {
    exact: Map,
    /// Keyed by what follows `*.`.
    wildcard: Map,
    default: Option<usize>,
}

impl HostTable {
    /// An empty table: every host is [`Pick::Unknown`].
    pub fn new() -> HostTable {
        HostTable::default()
    }

    /// Adds the names of the site at `index` (and makes it the default).
    /// Nothing is added when any name is refused.
    pub fn add(&mut self, index: usize, names: &[String], default: bool) -> Result<(), HostError> {
        if default && self.default.is_some() {
            return Err(HostError::TwoDefaults);
        }
        let mut keys: Vec<(bool, Box<str>)> = Vec::with_capacity(names.len());
        for name in names {
            let (wild, bare) = match name.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, name.as_str()),
            };
            let mut buf = [0u8; MAX_HOST];
            let key: Box<str> = normalise(bare, &mut buf)
                .filter(|k| !k.contains('*') && !k.starts_with('.') && !k.contains(".."))
                .ok_or_else(|| HostError::Invalid(name.clone()))?
                .into();
            let map = if wild { &self.wildcard } else { &self.exact };
            if map.contains_key(&key) || keys.contains(&(wild, key.clone())) {
                return Err(HostError::Duplicate(name.clone()));
            }
            keys.push((wild, key));
        }
        for (wild, key) in keys {
            let map = if wild {
                &mut self.wildcard
            } else {
                &mut self.exact
            };
            map.insert(key, index);
        }
        if default {
            self.default = Some(index);
        }
        Ok(())
    }

    /// The default site, if any.
    pub fn default_site(&self) -> Option<usize> {
        self.default
    }

    /// Whether the table names no host (every request goes to the default).
    pub fn has_names(&self) -> bool {
        !self.exact.is_empty() || !self.wildcard.is_empty()
    }

    /// The site for `host` (`None`: the request named none, as HTTP/1.0 may).
    pub fn pick(&self, host: Option<&str>) -> Pick {
        let fallback = self.default.map_or(Pick::Unknown, Pick::Site);
        let Some(host) = host else {
            return fallback;
        };
        if !self.has_names() {
            // One site serving everything (the usual command line): the host
            // decides nothing, and the parser has already checked its syntax.
            return fallback;
        }
        let mut buf = [0u8; MAX_HOST];
        let Some(host) = normalise(host, &mut buf) else {
            return Pick::Malformed;
        };
        if let Some(&index) = self.exact.get(host) {
            return Pick::Site(index);
        }
        if let Some((_, parent)) = host.split_once('.') {
            if let Some(&index) = self.wildcard.get(parent) {
                return Pick::Site(index);
            }
        }
        fallback
    }
}

/// Whether every byte may appear in a host: letters, digits, `-`, `.`, `_`,
/// and `:` and `%` for IPv6 literals (which arrive without brackets).
fn valid(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'%'))
}

/// `host` lower-cased and without one trailing dot, written into `buf`.
fn normalise<'b>(host: &str, buf: &'b mut [u8; MAX_HOST]) -> Option<&'b str> {
    if !valid(host) {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let out = buf.get_mut(..host.len())?;
    for (o, b) in out.iter_mut().zip(host.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    let out = std::str::from_utf8(out).ok()?;
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> HostTable {
        let mut t = HostTable::new();
        t.add(0, &["example.com".into(), "www.example.com".into()], false)
            .unwrap();
        t.add(1, &["*.example.com".into()], false).unwrap();
        // A bad name leaves the table as it was.
        t.add(2, &["docs.example.com".into(), "[::1]".into()], true)
            .unwrap_err();
        t
    }

    #[test]
    fn picks_exact_then_wildcard_then_default() {
        let mut t = HostTable::new();
        t.add(0, &["example.com".into(), "www.example.com".into()], false)
            .unwrap();
        t.add(1, &["*.example.com".into()], false).unwrap();
        t.add(2, &["docs.example.com".into(), "::1".into()], true)
            .unwrap();
        let cases = [
            (Some("example.com"), Pick::Site(0)),
            (Some("EXAMPLE.com."), Pick::Site(0)),
            (Some("www.example.com"), Pick::Site(0)),
            (Some("docs.example.com"), Pick::Site(2)),
            (Some("api.example.com"), Pick::Site(1)),
            (Some("API.Example.COM."), Pick::Site(1)),
            (Some("a.b.example.com"), Pick::Site(2)),
            (Some("other.org"), Pick::Site(2)),
            (Some("::1"), Pick::Site(2)),
            (None, Pick::Site(2)),
            (Some(""), Pick::Malformed),
            (Some("."), Pick::Malformed),
            (Some("a b"), Pick::Malformed),
            (Some("a/b"), Pick::Malformed),
            (Some("é.example.com"), Pick::Malformed),
        ];
        for (host, want) in cases {
            assert_eq!(t.pick(host), want, "{host:?}");
        }
        let long = "a".repeat(MAX_HOST + 1);
        assert_eq!(t.pick(Some(&long)), Pick::Malformed);
    }

    #[test]
    fn without_a_default_an_unknown_host_is_unknown() {
        let t = table();
        assert_eq!(t.pick(Some("other.org")), Pick::Unknown);
        assert_eq!(t.pick(None), Pick::Unknown);
        assert_eq!(t.pick(Some("x.example.com")), Pick::Site(1));
    }

    #[test]
    fn one_site_for_everything_needs_no_lookup() {
        let mut t = HostTable::new();
        t.add(0, &[], true).unwrap();
        assert!(!t.has_names());
        assert_eq!(t.pick(Some("anything.example")), Pick::Site(0));
        assert_eq!(t.pick(Some("bad!host")), Pick::Site(0));
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut t = HostTable::new();
        t.add(0, &["a.com".into()], true).unwrap();
        assert_eq!(
            t.add(1, &["A.com".into()], false),
            Err(HostError::Duplicate("A.com".into()))
        );
        assert_eq!(t.add(1, &[], true), Err(HostError::TwoDefaults));
        for bad in [
            "*",
            "a.*.com",
            "**.a.com",
            "a b",
            "",
            ".a.com",
            "a..com",
            "*.*.a.com",
        ] {
            assert_eq!(
                HostTable::new().add(0, &[bad.into()], false),
                Err(HostError::Invalid(bad.into())),
                "{bad}"
            );
        }
    }
}
