//! `parse_head` on arbitrary bytes, with the default limits and with small
//! limits taken from the first byte. It never panics, and:
//!
//! - on `Ok(Some(head))` it took a prefix of the input that ends in a blank line
//!   and fits the limit, and left the rest of the input in the buffer as it was;
//! - `Framing::Length(n)` only with n > 0, every `Content-Length` value in the
//!   raw head equal to n, and no `Transfer-Encoding`;
//! - `Framing::Chunked` only when the raw head's last transfer coding is
//!   `chunked` and it has no `Content-Length`; `Framing::None` only with
//!   neither a `Transfer-Encoding` nor a non-zero `Content-Length`;
//! - an HTTP/1.1 request has exactly one `Host` line (at most one on 1.0);
//! - the input fed in two reads, split at a point taken from the data, gives
//!   the same outcome (request, framing, keep-alive, or the same error) and
//!   leaves the same bytes in the buffer.
#![no_main]

use bytes::BytesMut;
use ferrox::proto::h1::parse::{parse_head, Framing, Head, HeadLimits, ParseError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Some(&first), Some(&last)) = (data.first(), data.last()) else {
        return;
    };
    let small = HeadLimits {
        max_head_bytes: 8 + usize::from(first) * 2,
        max_headers: usize::from(first % 8),
    };
    let split = (usize::from(first) * 256 + usize::from(last)) % (data.len() + 1);
    for limits in [HeadLimits::default(), small] {
        check(data, &limits, split);
    }
});

/// What a caller can observe of one `parse_head` outcome.
type Outcome = Result<Option<Seen>, ParseError>;

#[derive(Debug, PartialEq)]
struct Seen {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    headers: http::HeaderMap,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

fn seen(head: &Head) -> Seen {
    Seen {
        method: head.request.method().clone(),
        uri: head.request.uri().clone(),
        version: head.request.version(),
        headers: head.request.headers().clone(),
        framing: head.framing,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
    }
}

fn check(input: &[u8], limits: &HeadLimits, split: usize) {
    let mut buf = BytesMut::from(input);
    let whole = parse_head(&mut buf, limits);
    if let Ok(Some(head)) = &whole {
        let taken = input.len() - buf.len();
        assert_eq!(
            &buf[..],
            &input[taken..],
            "bytes after the head were changed"
        );
        let raw = &input[..taken];
        assert!(taken <= limits.max_head_bytes, "head over the limit");
        assert!(
            raw.ends_with(b"\n\n") || raw.ends_with(b"\n\r\n"),
            "head does not end in a blank line"
        );
        check_head(raw, head);
    }
    let whole: Outcome = whole.map(|h| h.as_ref().map(seen));

    // The same bytes in two reads, the second appended to what the first left.
    let (a, b) = input.split_at(split);
    let mut pieces = BytesMut::from(a);
    let mut outcome = parse_head(&mut pieces, limits);
    pieces.extend_from_slice(b);
    if matches!(outcome, Ok(None)) {
        outcome = parse_head(&mut pieces, limits);
    }
    let outcome: Outcome = outcome.map(|h| h.as_ref().map(seen));
    assert_eq!(whole, outcome, "split at {split} changed the outcome");
    if whole.is_ok() {
        assert_eq!(buf, pieces, "split at {split} left other bytes");
    }
}

/// The raw field lines of a head that parsed: (name, value) after the request line.
fn fields(raw: &[u8]) -> Vec<(&[u8], &[u8])> {
    raw.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .skip_while(|line| line.is_empty())
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let (name, value) = line.split_at(colon);
            (name, value.get(1..).unwrap_or_default())
        })
        .collect()
}

fn values<'a>(fields: &[(&[u8], &'a [u8])], name: &str) -> Vec<&'a [u8]> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| *v)
        .collect()
}

/// The comma-separated elements of some field lines, trimmed, empty ones dropped.
fn elements<'a>(lines: &[&'a [u8]]) -> Vec<&'a [u8]> {
    lines
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
        .collect()
}

fn check_head(raw: &[u8], head: &Head) {
    let fields = fields(raw);
    let lengths = values(&fields, "content-length");
    let codings = values(&fields, "transfer-encoding");
    let length_values: Vec<u64> = elements(&lengths)
        .iter()
        .map(|e| {
            std::str::from_utf8(e)
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("accepted a Content-Length that is not a number")
        })
        .collect();
    match head.framing {
        Framing::Length(n) => {
            assert!(n > 0, "Length(0)");
            assert!(codings.is_empty(), "Length with Transfer-Encoding");
            assert!(!length_values.is_empty(), "Length without Content-Length");
            assert!(
                length_values.iter().all(|&v| v == n),
                "Length({n}) from {length_values:?}"
            );
        }
        Framing::Chunked => {
            assert!(lengths.is_empty(), "Chunked with Content-Length");
            let last = elements(&codings).last().copied().unwrap_or_default();
            assert!(
                last.eq_ignore_ascii_case(b"chunked"),
                "Chunked but the last coding is {:?}",
                String::from_utf8_lossy(last)
            );
        }
        Framing::None => {
            assert!(codings.is_empty(), "no framing despite Transfer-Encoding");
            assert!(
                length_values.iter().all(|&v| v == 0),
                "no framing despite Content-Length {length_values:?}"
            );
        }
    }
    let hosts = values(&fields, "host").len();
    if head.request.version() == http::Version::HTTP_11 {
        assert_eq!(hosts, 1, "HTTP/1.1 request with {hosts} Host lines");
    } else {
        assert!(hosts <= 1, "request with {hosts} Host lines");
    }
}
