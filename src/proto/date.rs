//! The `Date` header value, formatted at most once a second per thread rather than
//! once per response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
    /// The same text as a header value, for engines that need one (HTTP/2).
    value: Option<HeaderValue>,
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { second: u64::MAX, text: [b' '; DATE_LEN], value: None })
    };
}

/// Runs `f` on this thread's date, reformatted if the second has changed.
fn with_current<R>(f: impl FnOnce(&Cached) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.second != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == DATE_LEN {
                cached.text.copy_from_slice(text.as_bytes());
                cached.value = HeaderValue::from_str(&text).ok();
                cached.second = second;
            }
        }
        f(&cached)
    })
}

/// Appends the current date as an IMF-fixdate.
pub fn extend(out: &mut Vec<u8>) {
    with_current(|cached| out.extend_from_slice(&cached.text));
}

/// The current date as a header value: a cheap clone of this second's value.
pub fn header_value() -> Option<HeaderValue> {
    with_current(|cached| cached.value.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_a_parseable_date() {
        let mut out = Vec::new();
        super::extend(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(text.len(), super::DATE_LEN);
        assert!(text.ends_with(" GMT"), "{text}");
        httpdate::parse_http_date(text).unwrap();
        let value = super::header_value().unwrap();
        httpdate::parse_http_date(value.to_str().unwrap()).unwrap();
        assert_eq!(value.len(), super::DATE_LEN);
    }
}
