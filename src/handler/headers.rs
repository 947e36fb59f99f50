//! Response headers for files: content type, validators. Pure functions.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// 10000-01-01T00:00:00Z: an HTTP-date has four digits of year.
const END_OF_HTTP_DATES: u64 = 253_402_300_800;

/// The modification time the response states, if any: the mtime, except that an
/// mtime ahead of the clock is replaced by the clock (RFC 9110 §8.8.2.1), and
/// none when it cannot be written as an HTTP-date (before 1970). Conditional
/// requests compare against this, the date the client was given.
pub fn modified(meta: &Metadata) -> Option<SystemTime> {
    modified_at(meta.modified().ok()?, SystemTime::now())
}

/// [`modified`] with the clock given.
pub fn modified_at(mtime: SystemTime, now: SystemTime) -> Option<SystemTime> {
    let time = mtime.min(now);
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs < END_OF_HTTP_DATES).then_some(time)
}

/// `Last-Modified` for a time from [`modified`], in whole seconds (RFC 9110
/// §8.8.2). `None` for a time an HTTP-date cannot state (formatting one would
/// panic).
pub fn last_modified(time: SystemTime) -> Option<HeaderValue> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs >= END_OF_HTTP_DATES {
        return None;
    }
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).ok()
}

/// A strong `ETag` from inode, size and mtime with nanoseconds: it changes
/// whenever the file is replaced or rewritten, even within one second.
pub fn etag(meta: &Metadata) -> HeaderValue {
    let tag = format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    // Hex digits, dashes, dots and quotes only: always a valid value.
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn modification_dates_are_clamped_and_bounded() {
        let now = at(1_700_000_000);
        assert_eq!(modified_at(at(1_000), now), Some(at(1_000)));
        assert_eq!(modified_at(at(0), now), Some(at(0)));
        // In the future: the time of the response instead.
        assert_eq!(modified_at(at(1_800_000_000), now), Some(now));
        // Before 1970: no date at all.
        assert_eq!(modified_at(UNIX_EPOCH - Duration::from_secs(1), now), None);
        // A clock past year 9999 cannot be stated either.
        let far = at(END_OF_HTTP_DATES + 5);
        assert_eq!(modified_at(far, far), None);
    }

    #[test]
    fn last_modified_never_panics() {
        assert_eq!(
            last_modified(at(981_173_106)).unwrap(),
            "Sat, 03 Feb 2001 04:05:06 GMT"
        );
        assert_eq!(
            last_modified(at(END_OF_HTTP_DATES - 1)).unwrap(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert!(last_modified(at(END_OF_HTTP_DATES)).is_none());
        assert!(last_modified(UNIX_EPOCH - Duration::from_secs(1)).is_none());
    }
}
