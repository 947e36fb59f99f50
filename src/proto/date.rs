//! The `Date` header value, formatted at most once a second per thread rather than
//! once per response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, text: [b' '; DATE_LEN] }) };
}

/// Appends the current date as an IMF-fixdate.
pub fn extend(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.second != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == DATE_LEN {
                cached.text.copy_from_slice(text.as_bytes());
                cached.second = second;
            }
        }
        out.extend_from_slice(&cached.text);
    });
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
    }
}
