//! Byte ranges (RFC 9110 §14): parsing, coalescing, the cap that keeps a range
//! request from making the server send much more than the file (the
//! CVE-2011-3192 class), and multipart/byteranges bodies streamed part by part.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use crate::body::Part;

/// Ranges honoured in one request by default; more are answered with the whole
/// file. Real clients (video players, download managers) ask for one or two.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range within the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `bytes 0-99/1000`
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.start, self.end)
    }
}

/// What a Range header asks of a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// Serve the whole representation: the header is invalid, of another unit,
    /// or asks for too much.
    Full,
    /// 206 with these ranges: sorted, disjoint, non-adjacent.
    Partial(Vec<ByteRange>),
    /// 416: valid syntax, but no range overlaps the representation.
    Unsatisfiable,
}

/// Interprets a Range header value for a representation of `len` bytes.
pub fn parse(value: &str, len: u64, max_ranges: usize) -> Ranges {
    let Some((unit, set)) = value.split_once('=') else {
        return Ranges::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Full;
    }
    let mut ranges = Vec::new();
    let mut requested: u64 = 0;
    let mut count = 0;
    // RFC 9110 §14.1.1: on an empty representation a suffix range of non-zero
    // length is satisfiable, yet no Content-Range can state it: the whole
    // (empty) representation answers it.
    let mut empty_suffix = false;
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        count += 1;
        if count > max_ranges {
            return Ranges::Full;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // Suffix: the last N bytes.
            let Some(n) = number(last) else {
                return Ranges::Full;
            };
            empty_suffix |= n > 0 && len == 0;
            (n > 0 && len > 0).then(|| ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            })
        } else {
            let Some(start) = number(first) else {
                return Ranges::Full;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(end) if end >= start => end,
                    _ => return Ranges::Full,
                }
            };
            (start < len).then(|| ByteRange {
                start,
                end: end.min(len - 1),
            })
        };
        if let Some(range) = range {
            requested = requested.saturating_add(range.len());
            ranges.push(range);
        }
    }
    if count == 0 {
        return Ranges::Full;
    }
    if ranges.is_empty() {
        return if empty_suffix {
            Ranges::Full
        } else {
            Ranges::Unsatisfiable
        };
    }
    // Overlapping requests that add up to more than the file are an attack or a
    // broken client: the whole file is cheaper for both.
    if ranges.len() > 1 && requested > len {
        return Ranges::Full;
    }
    Ranges::Partial(coalesce(ranges))
}

/// 1*DIGIT, without signs or overflow.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Sorts and merges overlapping or adjacent ranges.
pub fn coalesce(mut ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// A fresh multipart boundary: 16 random hex digits, so it cannot collide with
/// file contents by design of an attacker who does not know it.
pub fn boundary() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    format!("{:016x}", hasher.finish())
}

/// The parts of a multipart/byteranges body: each range's header block, then its
/// bytes (`slice(start, len)`: a file slice sent zero-copy, or cached bytes),
/// then the closing delimiter.
pub fn multipart(
    ranges: &[ByteRange],
    total: u64,
    content_type: &str,
    boundary: &str,
    slice: impl Fn(u64, u64) -> Part,
) -> Vec<Part> {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, r) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
            r.content_range(total)
        );
        parts.push(Part::Bytes(Bytes::from(head)));
        parts.push(slice(r.start, r.len()));
    }
    parts.push(Part::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn table() {
        use Ranges::*;
        let len = 1000;
        let cases: Vec<(&str, Ranges)> = vec![
            ("bytes=0-99", Partial(vec![r(0, 99)])),
            ("bytes=100-", Partial(vec![r(100, 999)])),
            ("bytes=-100", Partial(vec![r(900, 999)])),
            ("bytes=-5000", Partial(vec![r(0, 999)])),
            ("bytes=990-5000", Partial(vec![r(990, 999)])),
            ("BYTES = 0-0", Partial(vec![r(0, 0)])),
            ("bytes=0-9,20-29", Partial(vec![r(0, 9), r(20, 29)])),
            ("bytes=20-29,0-9", Partial(vec![r(0, 9), r(20, 29)])),
            ("bytes=0-9,10-19", Partial(vec![r(0, 19)])),
            ("bytes=0-9,5-14", Partial(vec![r(0, 14)])),
            ("bytes=0-9, ,20-29", Partial(vec![r(0, 9), r(20, 29)])),
            ("bytes=0-9,2000-3000", Partial(vec![r(0, 9)])),
            ("bytes=1000-", Unsatisfiable),
            ("bytes=1000-2000,3000-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=5-1", Full),
            ("bytes=a-b", Full),
            ("bytes=+1-2", Full),
            ("bytes=1-2-3", Full),
            ("bytes=", Full),
            ("bytes=0-99999999999999999999", Full),
            ("items=0-9", Full),
            ("0-9", Full),
            // Overlaps adding up to more than the file: the whole file instead.
            ("bytes=0-999,0-999", Full),
            ("bytes=0-600,400-999", Full),
        ];
        for (value, want) in cases {
            assert_eq!(parse(value, len, MAX_RANGES), want, "{value}");
        }
    }

    #[test]
    fn more_than_the_cap_gets_the_whole_file() {
        let many: Vec<String> = (0..17)
            .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
            .collect();
        let value = format!("bytes={}", many.join(","));
        assert_eq!(parse(&value, 1000, MAX_RANGES), Ranges::Full);
        let value = format!("bytes={}", many[..16].join(","));
        assert!(matches!(parse(&value, 1000, MAX_RANGES), Ranges::Partial(v) if v.len() == 16));
    }

    #[test]
    fn empty_representations_satisfy_only_suffixes() {
        assert_eq!(parse("bytes=0-", 0, MAX_RANGES), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=0-0,5-9", 0, MAX_RANGES), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 0, MAX_RANGES), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-1", 0, MAX_RANGES), Ranges::Full);
        assert_eq!(parse("bytes=0-,-5", 0, MAX_RANGES), Ranges::Full);
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
        assert_eq!(boundary().len(), 16);
    }
}
