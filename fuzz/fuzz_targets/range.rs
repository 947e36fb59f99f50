//! `handler::range::parse` on any Range value, representation length and range
//! cap. It never panics, and:
//!
//! - `Partial` ranges each lie within 0..len and hold at least one byte, are
//!   sorted, neither overlap nor touch, number at most the cap, and add up to
//!   no more than len;
//! - on a value in the plain form `bytes=SPEC,SPEC` (SPEC = `A-B`, `A-` or
//!   `-N`, no spaces), the answer is exactly what the module documents: `Full`
//!   when a spec is invalid, there are more than the cap, or several ranges ask
//!   for more than the file; `Unsatisfiable` when none overlaps the file (but
//!   `Full` for a suffix on an empty file); else the union of the requested
//!   bytes, coalesced.
#![no_main]

use arbitrary::Arbitrary;
use ferrox::handler::range::{parse, ByteRange, Ranges};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    len: u64,
    max_ranges: u8,
    value: &'a str,
}

fuzz_target!(|input: Input| {
    let Input {
        len,
        max_ranges,
        value,
    } = input;
    let max_ranges = usize::from(max_ranges);
    let got = parse(value, len, max_ranges);
    if let Ranges::Partial(ranges) = &got {
        assert!(!ranges.is_empty(), "Partial with no range");
        assert!(ranges.len() <= max_ranges, "more ranges than the cap");
        for r in ranges {
            assert!(r.start <= r.end && r.end < len, "{r:?} outside 0..{len}");
        }
        for w in ranges.windows(2) {
            assert!(
                w[0].end + 1 < w[1].start,
                "{w:?} unsorted, overlapping or touching"
            );
        }
        let total: u64 = ranges.iter().map(ByteRange::len).sum();
        assert!(total <= len, "ranges add up to {total} of {len}");
    }
    if let Some(specs) = plain_specs(value) {
        assert_eq!(got, expected(&specs, len, max_ranges), "{value:?} of {len}");
    }
});

/// One spec of the plain form, None for a number that is invalid.
enum Spec {
    /// `A-B`
    Span(Option<u64>, Option<u64>),
    /// `A-`
    From(Option<u64>),
    /// `-N`
    Suffix(Option<u64>),
}

/// The specs of `bytes=SPEC,...` when the value has that plain form; a number
/// of more than 19 digits is invalid (the module refuses what could overflow).
fn plain_specs(value: &str) -> Option<Vec<Spec>> {
    let number = |s: &str| match s.len() {
        1..=19 => s.parse::<u64>().ok(),
        _ => None,
    };
    let set = value.strip_prefix("bytes=")?;
    set.split(',')
        .map(|spec| {
            let (first, last) = spec.split_once('-')?;
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if !digits(first) || !digits(last) || first.is_empty() && last.is_empty() {
                return None;
            }
            Some(match (first, last) {
                ("", _) => Spec::Suffix(number(last)),
                (_, "") => Spec::From(number(first)),
                _ => Spec::Span(number(first), number(last)),
            })
        })
        .collect()
}

/// RFC 9110 §14 as the module documents it, spelled out on the plain form.
fn expected(specs: &[Spec], len: u64, max_ranges: usize) -> Ranges {
    if specs.len() > max_ranges {
        return Ranges::Full;
    }
    let mut ranges = Vec::new();
    let mut suffix_on_empty = false;
    for spec in specs {
        let (start, end) = match *spec {
            Spec::From(Some(a)) => (a, u64::MAX),
            Spec::Span(Some(a), Some(b)) if b >= a => (a, b),
            Spec::Suffix(Some(n)) => {
                suffix_on_empty |= n > 0 && len == 0;
                if n == 0 || len == 0 {
                    continue;
                }
                (len - n.min(len), len - 1)
            }
            _ => return Ranges::Full,
        };
        if start < len {
            ranges.push((start, end.min(len - 1)));
        }
    }
    if ranges.is_empty() {
        return match suffix_on_empty {
            true => Ranges::Full,
            false => Ranges::Unsatisfiable,
        };
    }
    let requested = ranges
        .iter()
        .fold(0u64, |t, (a, b)| t.saturating_add(b - a + 1));
    if ranges.len() > 1 && requested > len {
        return Ranges::Full;
    }
    // The union, byte runs merged when they overlap or touch.
    ranges.sort();
    let mut union: Vec<ByteRange> = Vec::new();
    for (start, end) in ranges {
        match union.last_mut() {
            Some(last) if start <= last.end + 1 => last.end = last.end.max(end),
            _ => union.push(ByteRange { start, end }),
        }
    }
    Ranges::Partial(union)
}
