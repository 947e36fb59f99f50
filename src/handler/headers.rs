//! Response headers for files: content type, validators. Pure functions.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// `Last-Modified` from the file's mtime, in seconds (RFC 9110 §8.8.2).
pub fn last_modified(meta: &Metadata) -> Option<HeaderValue> {
    let mtime = meta.modified().ok()?;
    HeaderValue::from_str(&httpdate::fmt_http_date(mtime)).ok()
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

/// The modification time of a metadata record, or the epoch when unknown.
pub fn modified(meta: &Metadata) -> SystemTime {
    meta.modified().unwrap_or(UNIX_EPOCH + Duration::ZERO)
}
