//! `files::sanitize` on any UTF-8 string, with hidden files refused and allowed.
//! It never panics, and on success:
//!
//! - the relative path is `.` for the root, and otherwise never starts with
//!   `/` and has no empty, `.` or `..` segment, no NUL or control character;
//! - with hidden files refused, no segment starts with `.`, and allowing them
//!   changes nothing about a path that was accepted without them;
//! - `to_url` escapes every byte a header must not carry raw, and sanitizing
//!   it again gives the same path and trailing slash (idempotence).
#![no_main]

use std::os::unix::ffi::OsStrExt;

use ferrox::files::{sanitize, SafePath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let refused = sanitize(path, false);
    let allowed = sanitize(path, true);
    if let Ok(p) = &refused {
        check(p, false);
        let q = allowed
            .as_ref()
            .expect("allowing hidden files refused a path");
        assert_eq!(p, q, "allowing hidden files changed a path");
    }
    if let Ok(p) = &allowed {
        check(p, true);
    }
});

fn check(p: &SafePath, hidden: bool) {
    let rel = p.relative().as_os_str().as_bytes();
    if p.is_root() {
        assert_eq!(rel, b".");
        assert_eq!(p.segments().count(), 0);
    } else {
        let segments: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        assert_eq!(segments, p.segments().collect::<Vec<_>>());
        for s in segments {
            assert!(!s.is_empty(), "empty segment in {rel:?}");
            assert!(s != b"." && s != b"..", "dot segment in {rel:?}");
            assert!(
                !s.iter().any(|&b| b < 0x20 || b == 0x7f),
                "control character in {rel:?}"
            );
            assert!(hidden || !s.starts_with(b"."), "hidden segment in {rel:?}");
        }
    }

    let url = p.to_url(p.has_trailing_slash());
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/%".contains(&b);
    assert!(url.bytes().all(safe), "unescaped byte in {url:?}");
    assert!(url.starts_with('/'), "{url:?} is not absolute");
    let again = sanitize(&url, hidden).expect("the URL of a safe path was refused");
    assert_eq!(again.relative(), p.relative(), "not idempotent: {url:?}");
    assert_eq!(
        again.has_trailing_slash(),
        p.has_trailing_slash(),
        "{url:?}"
    );
}
