//! Request path → a safe relative path beneath the root.
//!
//! Contract: the result never starts with `/`, never contains a `..`, `.` or
//! empty segment, a NUL or a control character; a segment starting with `.` only
//! when hidden files are allowed. The path is percent-decoded exactly once, so
//! `%252e` is the literal name `%2e`, never `.`.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::Error;

/// Bytes escaped when a segment is put back into a URL: everything but
/// unreserved characters and the sub-delimiters that are safe in a path.
pub const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\'');

/// A normalised request path: its segments joined with `/`, without a leading
/// one (one buffer, borrowed as a [`Path`] for every lookup).
/// Borrowed from the request when it was already normal (the usual case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafePath<'a> {
    joined: Cow<'a, [u8]>,
    trailing_slash: bool,
}

impl SafePath<'_> {
    /// The same path, owning its bytes.
    pub fn into_owned(self) -> SafePath<'static> {
        SafePath {
            joined: Cow::Owned(self.joined.into_owned()),
            trailing_slash: self.trailing_slash,
        }
    }

    /// The path relative to the root; `.` for the root itself.
    pub fn relative(&self) -> &Path {
        if self.joined.is_empty() {
            return Path::new(".");
        }
        Path::new(OsStr::from_bytes(&self.joined))
    }

    /// The decoded, normalised path without its leading or trailing `/`.
    pub fn bytes(&self) -> &[u8] {
        &self.joined
    }

    /// Whether the request path ended in `/`.
    pub fn has_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// True for the root folder.
    pub fn is_root(&self) -> bool {
        self.joined.is_empty()
    }

    /// The decoded segments, for breadcrumbs. None contains a `/`.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        self.joined
            .split(|&b| b == b'/')
            .filter(|_| !self.joined.is_empty())
    }

    /// The normalised path as a percent-encoded URL path, with a trailing slash
    /// when `slash` is set. Safe to put in a header: every byte outside the
    /// unreserved set is escaped.
    pub fn to_url(&self, slash: bool) -> String {
        let mut url = String::from("/");
        for (i, s) in self.segments().enumerate() {
            if i > 0 {
                url.push('/');
            }
            url.push_str(&encode_segment(s));
        }
        if slash && !self.is_root() {
            url.push('/');
        }
        url
    }
}

/// Percent-encodes one path segment (any bytes, UTF-8 or not).
pub fn encode_segment(segment: &[u8]) -> String {
    match std::str::from_utf8(segment) {
        Ok(s) => utf8_percent_encode(s, SEGMENT).to_string(),
        Err(_) => segment
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    }
}

/// Decodes and normalises `path` (the path part of the request target, without
/// the query). `hidden` allows segments starting with `.`.
pub fn sanitize(path: &str, hidden: bool) -> Result<SafePath<'_>, Error> {
    // percent_decode borrows too when nothing decodes, but finds that out a
    // byte at a time; `contains` is one memchr.
    let decoded: Cow<[u8]> = match path.as_bytes().contains(&b'%') {
        true => percent_decode_str(path).into(),
        false => Cow::Borrowed(path.as_bytes()),
    };
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(Error::BadPath("control character in path"));
    }
    if let Cow::Borrowed(bytes) = decoded {
        if let Some(joined) = already_normal(bytes, hidden) {
            return Ok(SafePath {
                joined: Cow::Borrowed(joined),
                trailing_slash: bytes.ends_with(b"/"),
            });
        }
    }
    let mut joined = Vec::with_capacity(decoded.len());
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                if joined.is_empty() {
                    return Err(Error::BadPath("path leaves the root"));
                }
                // Drop the last segment and the `/` before it, if any.
                let cut = joined.iter().rposition(|&b| b == b'/').unwrap_or(0);
                joined.truncate(cut);
            }
            s if s.first() == Some(&b'.') && !hidden => return Err(Error::NotFound),
            s => {
                if !joined.is_empty() {
                    joined.push(b'/');
                }
                joined.extend_from_slice(s);
            }
        }
    }
    // RFC 3986 §5.2.4: a final `.` or `..` leaves the path ending in `/`, so
    // `/a.txt/.` names a directory (and is 404 on a file), not `/a.txt`.
    let last = decoded.rsplit(|&b| b == b'/').next().unwrap_or_default();
    Ok(SafePath {
        joined: Cow::Owned(joined),
        trailing_slash: matches!(last, b"" | b"." | b".."),
    })
}

/// `path` without its leading and trailing `/` when that is already the
/// normal form: no empty, `.` or `..` segment and, unless `hidden`, none that
/// starts with `.`. Anything else takes the general loop, whatever it comes to.
fn already_normal(path: &[u8], hidden: bool) -> Option<&[u8]> {
    let inner = path.strip_prefix(b"/")?;
    let inner = inner.strip_suffix(b"/").unwrap_or(inner);
    if inner.is_empty() {
        return Some(inner);
    }
    let normal = |s: &[u8]| match s.first() {
        None => false,
        Some(b'.') => hidden && s != b"." && s != b"..",
        Some(_) => true,
    };
    inner.split(|&b| b == b'/').all(normal).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(path: &str) -> Result<String, Error> {
        sanitize(path, false).map(|p| p.relative().to_string_lossy().into_owned())
    }

    #[test]
    fn traversal_table() {
        let cases: &[(&str, Result<&str, Error>)] = &[
            ("/", Ok(".")),
            ("/a/b.txt", Ok("a/b.txt")),
            ("//a//b/", Ok("a/b")),
            ("/a/./b", Ok("a/b")),
            ("/a/../b", Ok("b")),
            ("/a/b/c/../../d", Ok("a/d")),
            ("/ab/cd/..", Ok("ab")),
            ("/a/..", Ok(".")),
            ("/a/b/../..", Ok(".")),
            ("/a/%2e%2e/b", Ok("b")),
            ("/../x", Err(Error::BadPath("path leaves the root"))),
            ("/%2e%2e/x", Err(Error::BadPath("path leaves the root"))),
            ("/%2E%2E%2Fx", Err(Error::BadPath("path leaves the root"))),
            ("/..%2fx", Err(Error::BadPath("path leaves the root"))),
            ("/a/../../x", Err(Error::BadPath("path leaves the root"))),
            ("/%252e%252e/x", Ok("%2e%2e/x")),
            ("/..\\x", Err(Error::NotFound)),
            ("/a%00b", Err(Error::BadPath("control character in path"))),
            (
                "/a%0d%0ab",
                Err(Error::BadPath("control character in path")),
            ),
            ("/a%7f", Err(Error::BadPath("control character in path"))),
            ("/.env", Err(Error::NotFound)),
            ("/a/.env/..", Err(Error::NotFound)),
            ("//", Ok(".")),
            ("/a//", Ok("a")),
            ("/a/b/", Ok("a/b")),
            ("/a..b/c.", Ok("a..b/c.")),
            ("/a/.git/config", Err(Error::NotFound)),
            ("/a%20b+c", Ok("a b+c")),
            ("/caf%C3%A9", Ok("café")),
        ];
        for (path, want) in cases {
            match (want, rel(path)) {
                (Ok(w), Ok(g)) => assert_eq!(*w, g, "{path}"),
                (Err(w), Err(g)) => assert_eq!(*w, g, "{path}"),
                (w, g) => panic!("{path}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn trailing_slash_after_dot_segments() {
        for (path, slash) in [
            ("/a", false),
            ("/a/", true),
            ("/a/.", true),
            ("/a/%2e", true),
            ("/a/b/..", true),
            ("/a/b/%2E%2E", true),
            ("/a/..b", false),
            ("/a/.b", false),
        ] {
            assert_eq!(
                sanitize(path, true).unwrap().has_trailing_slash(),
                slash,
                "{path}"
            );
        }
    }

    #[test]
    fn a_normal_path_is_borrowed_and_any_other_is_normalised() {
        let borrowed = |p: &str| matches!(sanitize(p, true).unwrap().joined, Cow::Borrowed(_));
        for path in ["/", "/a", "/a/b.txt", "/a/b/", "/.env/x"] {
            assert!(borrowed(path), "{path} was copied");
        }
        for path in [
            "//a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a%20b", "/a/b/..",
        ] {
            assert!(!borrowed(path), "{path} was not normalised");
        }
        let dot_dirs = sanitize("/./../x", true);
        assert_eq!(dot_dirs, Err(Error::BadPath("path leaves the root")));
    }

    #[test]
    fn hidden_allowed_when_asked() {
        assert_eq!(
            sanitize("/.env", true).unwrap().relative(),
            Path::new(".env")
        );
    }

    #[test]
    fn urls_are_escaped() {
        let p = sanitize("/a%20b/%22%3Cx%3E%0A", false);
        assert!(p.is_err());
        let p = sanitize("/a%20b/%22%3Cx%3E'?#", false).unwrap();
        assert_eq!(p.to_url(true), "/a%20b/%22%3Cx%3E%27%3F%23/");
        let p = sanitize("/%FF%FE", false).unwrap();
        assert_eq!(p.to_url(false), "/%FF%FE");
    }
}
